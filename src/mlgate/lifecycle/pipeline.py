"""The gated lifecycle as plain functions (the Prefect flows in ``flows/`` call these through
thin tasks). Each step is one checkpoint:

* :func:`pre_train` stages every input locally, audits the buckets, validates the datasets and
  scans the base models; :func:`run_training` re-verifies the staged bytes and calls the team's
  training function.
* :func:`publish` scans the produced artifact and audits the artifact bucket (pre-publish), then
  logs and registers the model in MLflow **only if everything passed**, with a model signature and
  a signed verdict attestation beside it and ``mlgate.*`` tags on the version. A blocked attempt
  registers nothing and keeps its reports on a run tagged as blocked.
* :func:`deploy` resolves a version, downloads it, re-hashes and compares with the registered
  manifest, verifies the attestation and the model signature, rescans under the current policy,
  and only then moves the alias and hands the verified copy to the deploy target.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.errors import GateErrored, GateFailed, GateIncomplete, MlgateError, TransientError
from mlgate.evidence import tags as T
from mlgate.evidence.keys import VerificationError
from mlgate.evidence.model_signature import ModelSigner, load_signer
from mlgate.evidence.statement import PIPELINE, build_statement, sign_statement
from mlgate.integrations.mlflow import RegistryClient, is_not_found, looks_transient
from mlgate.lifecycle.checkpoints import CheckpointOutcome, DatasetInput, run_checkpoint
from mlgate.lifecycle.config import PipelineConfig
from mlgate.lifecycle.signing import ATTESTATION_FILE, SIGNATURE_FILE
from mlgate.lifecycle.staging import StagedCopy, hash_tree, stage
from mlgate.model import Report, Verdict, utcnow
from mlgate.policy import Policy, load_policy
from mlgate.report import render

log = logging.getLogger(__name__)

EVIDENCE_DIR = "mlgate"

# Called with (checkpoint, outcome) after every checkpoint, e.g. to publish Prefect artifacts.
OutcomeHook = Callable[[str, CheckpointOutcome], None]


def _noop(_c: str, _o: CheckpointOutcome) -> None:
    return None


class SigningKeyError(MlgateError):
    """The publishing step cannot use its signing key (missing, unreadable, wrong type). Raised
    before anything is logged or registered; publish never creates a key."""


class RegistryStepError(MlgateError):
    """MLflow failed (down, hanging, 5xx, refused) during one named step of a lifecycle step."""


class RegistryTransientError(RegistryStepError, TransientError):
    """As :class:`RegistryStepError`, for an outage a later re-run may not meet."""


_REASONS = (  # what an operator needs from MLflow's long client messages, most specific first
    (re.compile(r"Connection refused|Failed to establish a new connection"), "connection refused (is the server up?)"),
    (re.compile(r"Read timed out|timed out"), "no answer within the client's time-out (MLFLOW_HTTP_REQUEST_TIMEOUT)"),
    (re.compile(r"Connection reset|Connection aborted|RemoteDisconnected|ConnectionResetError"),
     "the connection was reset before an answer"),
    (re.compile(r"too many (\d+) error responses|status code (\d+)|HTTP (\d{3})|Response code (\d{3})"), "HTTP {}"),
)


def _network_reason(text: str) -> str | None:
    """What went wrong on the wire (refused, time-out, reset, an HTTP code), if the text says."""
    for pattern, reason in _REASONS:
        m = pattern.search(text)
        if m:
            code = next((g for g in m.groups() if g), None) if m.groups() else None
            out = reason.format(code) if code else reason
            err = re.search(r"error_code['\"]?:\s*['\"]?([A-Z_]+)", text)
            return f"{out} {err.group(1)}" if err and "{}" in reason else out
    return None


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return _network_reason(text) or (text if len(text) <= 240 else text[:237] + "...")


@contextmanager
def _mlflow_step(tracking_uri: str, what: str) -> Iterator[None]:
    """Turn whatever MLflow (or the HTTP stack under it) raises during ``what`` into one line."""
    try:
        yield
    except MlgateError:
        raise
    except Exception as e:
        cls = RegistryTransientError if looks_transient(e) else RegistryStepError
        raise cls(f"{what}: MLflow at {tracking_uri} failed: {_short(e)}") from e


_NO_RETRY_LOCK = threading.Lock()


@contextmanager
def _no_client_retries() -> Iterator[None]:
    """MLflow's HTTP client retries every method, POST included: a create whose answer was lost
    would be sent again and make a second version. The one non-idempotent request of publish is
    sent once; a lost answer is an error and the re-run adopts the version it made."""
    with _NO_RETRY_LOCK:
        old = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"  # read by MLflow at each request
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES", None)
            else:
                os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = old


def _best_effort(what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
    """Clean-up after a failure must not hide the failure (MLflow may be the thing that failed)."""
    try:
        fn(*args, **kw)
    except Exception as e:
        log.warning("%s failed (%s); the run may need tidying: see docs/operations.md", what, _short(e))


def load_publish_signer(ctx: Context) -> ModelSigner:
    """The publishing step's signer, loaded before anything else happens (never created here)."""
    try:
        return load_signer(ctx.private_key)
    except (VerificationError, OSError, ValueError) as e:
        msg = " ".join(str(e).split())
        raise SigningKeyError(f"publish: {msg}" if msg.startswith("signing key ")
                              else f"publish: signing key {ctx.private_key} unusable: {msg}") from None


@dataclass
class PreTrainResult:
    outcome: CheckpointOutcome
    datasets: dict[str, StagedCopy] = field(default_factory=dict)
    base_models: dict[str, StagedCopy] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)


@dataclass
class PublishResult:
    outcome: CheckpointOutcome
    run_id: str
    version: str | None
    tags: dict[str, str]


@dataclass
class DeployResult:
    outcome: CheckpointOutcome
    version: str
    alias: str
    local_copy: Path
    target_location: str


class Context:
    """Everything a lifecycle run needs, resolved once from the pipeline config."""

    def __init__(self, cfg: PipelineConfig, *, boto3_session: Any | None = None, hook: OutcomeHook | None = None):
        self.cfg = cfg
        self.policy: Policy = load_policy(cfg.policy_path)
        self.session = boto3_session
        self.hook = hook or _noop
        self.run_dir = cfg.work_dir / f"run-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        sk = cfg.doc.signing
        self.private_key = cfg.resolve(sk.private_key)
        # several trusted public keys (a rotation): os.pathsep-separated, each resolved like a path
        self.public_keys = [cfg.resolve(p.strip()) for p in str(sk.public_key).split(os.pathsep) if p.strip()]
        self.public_key = self.public_keys[0]

    def checkpoint(self, name: str, **kw: Any) -> CheckpointOutcome:
        outcome = run_checkpoint(name, self.policy, boto3_session=self.session,
                                 tracking_uri=self.cfg.doc.tracking_uri, **kw)  # the registry's own posture
        self.hook(name, outcome)
        return outcome

    def registry(self) -> RegistryClient:
        return RegistryClient(self.cfg.doc.tracking_uri)

    def mlflow_client(self) -> Any:
        return self.registry().raw


# ---------------------------------------------------------------------------------------------
# pre-train + training
# ---------------------------------------------------------------------------------------------


def pre_train(ctx: Context) -> PreTrainResult:
    cfg = ctx.cfg
    stage_dir = ctx.run_dir / "inputs"
    datasets = {n: stage(cfg.uri(d.uri), stage_dir / "datasets" / n, session=ctx.session)
                for n, d in cfg.doc.datasets.items()}
    models = {n: stage(cfg.uri(u), stage_dir / "base-models" / n, session=ctx.session,
                       tracking_uri=cfg.doc.tracking_uri)
              for n, u in cfg.doc.base_models.items()}
    outcome = ctx.checkpoint(
        "pre-train",
        scan_paths=[str(m.path) for m in models.values()],
        datasets=[DatasetInput(str(datasets[n].path), str(cfg.resolve(d.suite))) for n, d in cfg.doc.datasets.items()],
        buckets=list(cfg.doc.buckets),
    )
    outcome.raise_if_blocked()
    fps = {}
    for r in outcome.reports:
        if r.gate == "data-quality":
            for s in r.subjects:
                for name, copy in datasets.items():
                    if s.subject == str(copy.path) or s.root == str(copy.path):
                        fps[name] = s.sha256 or ""
    return PreTrainResult(outcome, datasets, models, fps)


def run_training(ctx: Context, pre: PreTrainResult) -> Path:
    """Kept for callers of the first release: training never runs in this process any more, it
    runs in its own confined process (:func:`mlgate.lifecycle.train.run_isolated`)."""
    from mlgate.lifecycle.train import run_isolated

    return run_isolated(ctx, pre)


# ---------------------------------------------------------------------------------------------
# pre-publish + register
# ---------------------------------------------------------------------------------------------


def _log_reports(client: Any, run_id: str, reports: list[Report], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(render(reports, "json"))
    (folder / "report.sarif").write_text(render(reports, "sarif"))
    client.log_artifacts(run_id, str(folder), EVIDENCE_DIR)


def publish(ctx: Context, artifact: Path) -> PublishResult:
    """Scan, audit, and register only what passed.

    Safe to re-run after a crash or an MLflow outage: the signing key is loaded first (a missing or
    unusable key fails before anything is logged); a version carries its ``pass`` verdict only
    together with its signed statement (both arrive in the one request that creates it); a
    left-over version of the same bytes is adopted only when its evidence verifies from scratch
    (signed statement for its source, re-hashed bytes, model signature); otherwise a new version is
    made. Every MLflow failure is one line naming the step (:class:`RegistryStepError`)."""
    import mlflow

    signer = load_publish_signer(ctx)  # the publishing step alone reads the key (0600, owner)
    cfg = ctx.cfg
    uri = cfg.doc.tracking_uri
    name = cfg.doc.model_name
    registry = ctx.registry()
    client = registry.raw
    mlflow.set_tracking_uri(uri)
    with _mlflow_step(uri, "publish: creating the run"):
        run = client.create_run(registry.ensure_experiment(cfg.doc.name),
                                tags={T.RUN_PIPELINE: cfg.doc.name, T.CHECKPOINT: "pre-publish"})
    run_id = run.info.run_id
    # one folder per attempt: a Prefect retry of the task (same context) starts clean
    attempt = ctx.run_dir / ("publish" if not (ctx.run_dir / "publish").exists() else f"publish-{uuid.uuid4().hex[:6]}")
    evidence = attempt / "evidence"
    created_model = False
    try:
        # Stage the artifact too: what is scanned is what is uploaded and signed.
        copy = stage(str(artifact), attempt / "model")
        outcome = ctx.checkpoint("pre-publish", scan_paths=[str(copy.path)], buckets=list(cfg.doc.buckets))
        with _mlflow_step(uri, "publish: logging the reports"):
            _log_reports(client, run_id, outcome.reports, evidence)
        try:
            outcome.raise_if_blocked()
        except GateFailed:
            _best_effort("tagging the blocked run", client.set_tag, run_id, T.VERDICT, outcome.verdict.value)
            raise
        copy.reverify("pre-publish")
        with _mlflow_step(uri, "publish: looking for a version left by an earlier attempt"):
            adopted = adoptable_version(ctx, registry, copy)
        if adopted is not None:
            _best_effort("tagging the run", client.set_tag, run_id, T.RUN_ADOPTED_VERSION, adopted.version)
            _best_effort("finishing the run", client.set_terminated, run_id, "FINISHED")
            return PublishResult(outcome, adopted.run_id, adopted.version, dict(adopted.tags))
        with _mlflow_step(uri, "publish: logging the model"):
            client.log_artifacts(run_id, str(copy.path), "model")
        source = f"{run.info.artifact_uri}/model"
        with _mlflow_step(uri, "publish: logging the evidence"):
            tags = attach_evidence(client, run_id, copy, outcome.reports, model_name=name, source=source,
                                   signer=signer, provenance=PIPELINE, folder=evidence)
        with _mlflow_step(uri, "publish: tagging the run"):
            for k, v in tags.items():
                client.set_tag(run_id, k, v)
        # Only now does anything reach the registry.
        with _mlflow_step(uri, "publish: creating the registered model"):
            created_model = ensure_registered_model(client, name)
        # One request: the version never exists without its verdict's signed statement.
        with _mlflow_step(uri, "publish: registering the version"), _no_client_retries():
            mv = client.create_model_version(name, source=source, run_id=run_id, tags=tags,
                                             description=summary_line(tags))
        _best_effort("finishing the run", client.set_terminated, run_id, "FINISHED")
        return PublishResult(outcome, run_id, str(mv.version), tags)
    except BaseException:
        # a blocked (or failed) attempt registers nothing and keeps its run, tagged, for forensics
        _best_effort("tagging the failed run", client.set_tag, run_id, T.RUN_BLOCKED, "true")
        _best_effort("ending the failed run", client.set_terminated, run_id, "FAILED")
        if created_model:
            _best_effort("removing the empty registered model", _delete_if_empty, client, name)
        raise


def ensure_registered_model(client: Any, name: str) -> bool:
    """Create the registered model unless it exists; True when this call created it. Two
    publishes racing on the create both succeed (the loser adopts the winner's model)."""
    try:
        client.get_registered_model(name)
        return False
    except Exception as e:
        if not is_not_found(e):
            raise
    try:
        client.create_registered_model(name, tags={T.MODEL_MANAGED: "true"})
    except Exception as e:
        if getattr(e, "error_code", None) == "RESOURCE_ALREADY_EXISTS":
            return False
        raise
    return True


def _delete_if_empty(client: Any, name: str) -> None:
    if not client.search_model_versions(f"name='{name}'"):
        client.delete_registered_model(name)  # never leave an empty registered model


def adoptable_version(ctx: Context, registry: RegistryClient, copy: StagedCopy) -> Any | None:
    """A registered version of these exact bytes (same manifest) left by an earlier attempt whose
    response was lost, adopted only when its evidence verifies from scratch (the ``deploy``
    verification profile: signed statement by a trusted key for its exact source, the stored
    bytes re-hashed, the model signature). None when there is none: publish makes a new one."""
    from mlgate.gates.model_version import verify_version as run_model_version

    name = ctx.cfg.doc.model_name
    try:
        versions = registry.raw.search_model_versions(f"name='{name}'")
    except Exception as e:
        if is_not_found(e):
            return None
        raise
    for mv in sorted(versions, key=lambda v: -int(v.version)):
        t = dict(mv.tags or {})
        if t.get(T.MANIFEST) != copy.manifest_sha256 or t.get(T.VERDICT) != Verdict.PASS.value:
            continue
        report = run_model_version(registry, name, str(mv.version), policy=ctx.policy,
                                   public_keys=[str(p) for p in ctx.public_keys], profile="deploy",
                                   work_dir=ctx.run_dir / f"adopt-v{mv.version}", checkpoint="pre-publish")
        if report.verdict is Verdict.PASS:
            log.info("publish: adopting version %s of %s (same bytes, evidence verified)", mv.version, name)
            return mv
        log.warning("publish: version %s of %s has the same manifest but its evidence does not verify; "
                    "a new version is made", mv.version, name)
    return None


def summary_line(tags: dict[str, str], reason: str = "") -> str:
    """The version description: the verdict in one line, with a pointer to the report."""
    return T.describe(tags.get(T.VERDICT, "?"), checkpoint=tags.get(T.CHECKPOINT, ""),
                      provenance=tags.get(T.PROVENANCE, ""), gates=tags.get(T.GATES, ""),
                      policy_digest=tags.get(T.POLICY_DIGEST, ""), attestation_id=tags.get(T.ATTESTATION_ID, ""),
                      report=tags.get(T.REPORT, ""), reason=reason)


def attach_evidence(client: Any, run_id: str, copy: StagedCopy, reports: list[Report], *, model_name: str,
                    source: str, signer: ModelSigner, provenance: str, folder: Path) -> dict[str, str]:
    """Sign the checked bytes (OpenSSF model signature), sign a verdict statement binding the
    manifest, the source, the reports and the provenance, log both (plus the manifest and the
    reports) to the run under ``mlgate/``, and return the ``mlgate.*`` tags for the model version.
    Used by publish (``pipeline``), the registry-hook worker (``registry-hook``) and release."""
    folder.mkdir(parents=True, exist_ok=True)
    signer.sign_model(copy.path, folder / SIGNATURE_FILE)
    statement = build_statement(model_name=model_name, manifest_sha256=copy.manifest_sha256,
                                file_count=len(copy.files), reports=reports, source=source,
                                provenance=provenance, run_id=run_id)
    envelope = sign_statement(statement, signer)
    (folder / ATTESTATION_FILE).write_text(json.dumps(json.loads(envelope), indent=2))
    (folder / "manifest.json").write_text(
        json.dumps({"manifest_sha256": copy.manifest_sha256, "files": copy.files}, indent=2, sort_keys=True)
    )
    (folder / "report.json").write_text(render(reports, "json"))
    (folder / "report.sarif").write_text(render(reports, "sarif"))
    client.log_artifacts(run_id, str(folder), EVIDENCE_DIR)
    pred = statement["predicate"]
    return T.evidence_tags(
        reports,
        manifest_sha256=copy.manifest_sha256,
        checked_at=pred["checked_at"],
        attestation_path=f"runs:/{run_id}/{EVIDENCE_DIR}/{ATTESTATION_FILE}",
        signature_path=f"runs:/{run_id}/{EVIDENCE_DIR}/{SIGNATURE_FILE}",
        report_path=f"runs:/{run_id}/{EVIDENCE_DIR}/report.json",
        attestation_sha256=hashlib.sha256(envelope.encode()).hexdigest(),
        attestation_envelope=envelope,
        attestation_id=pred["attestation_id"],
        provenance=provenance,
    )


# ---------------------------------------------------------------------------------------------
# pre-deploy + deploy
# ---------------------------------------------------------------------------------------------


def verify_version(ctx: Context, version: str, checkpoint: str = "pre-deploy") -> tuple[StagedCopy, CheckpointOutcome, Any]:
    """Verify a registered version from scratch with the ``model-version`` gate (profile
    ``deploy``: signed statement by a trusted key, not revoked anywhere, for its exact source, the
    stored bytes re-hashed, the model signature, and the promotion rules of the deploy alias),
    then rescan the verified copy under the current policy. Raises GateFailed on any problem."""
    from mlgate.gates.model_version import explain
    from mlgate.gates.model_version import verify_version as run_model_version

    cfg = ctx.cfg
    registry = ctx.registry()
    name = cfg.doc.model_name
    report = run_model_version(registry, name, version, policy=ctx.policy,
                               public_keys=[str(p) for p in ctx.public_keys], profile="deploy",
                               work_dir=ctx.run_dir / f"verify-v{version}", checkpoint=checkpoint,
                               promote_to=cfg.doc.deploy.alias, keep_bytes=True)
    if report.verdict is not Verdict.PASS:
        ctx.hook(checkpoint, CheckpointOutcome(checkpoint, [report]))
        # an outage while verifying is an error (exit 2), not a judgement on the model (exit 1)
        cls = {Verdict.ERROR: GateErrored, Verdict.INCOMPLETE: GateIncomplete}.get(report.verdict, GateFailed)
        reason = explain(report)
        wire = _network_reason(" ".join(reason.split())) if report.verdict is Verdict.ERROR else None
        if wire:
            reason = f"MLflow at {cfg.doc.tracking_uri} failed: {wire}"  # the client's long message, reduced
        raise cls(checkpoint, report.gate, " ".join(reason.split()), report)
    (subject,) = report.subjects
    d = subject.details
    copy = StagedCopy(uri=str(d["fetched_from"]), path=Path(d["local_copy"]), files=dict(d["files"]),
                      manifest_sha256=str(d["manifest_sha256"]), source_versions={})
    outcome = ctx.checkpoint(checkpoint, scan_paths=[str(copy.path)])
    outcome = CheckpointOutcome(checkpoint, [report, *outcome.reports], outcome.notes)
    outcome.raise_if_blocked()
    copy.reverify(checkpoint)
    return copy, outcome, registry.raw.get_model_version(name, version)


def deploy(ctx: Context, version: str | None = None) -> DeployResult:
    """Verify from scratch, hand the verified copy to the target, then move the alias. The alias
    only ever moves to a version verified in this call; an MLflow failure at any step is one line
    naming it (:class:`RegistryStepError`) and a re-run converges (same verification, same copy,
    the alias set again)."""
    cfg = ctx.cfg
    uri = cfg.doc.tracking_uri
    client = ctx.mlflow_client()
    name = cfg.doc.model_name
    if version is None:
        with _mlflow_step(uri, "deploy: listing the versions"):
            versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            raise GateFailed("pre-deploy", "registry", f"no versions of {name!r} are registered")
        version = str(max(int(v.version) for v in versions))
    with _mlflow_step(uri, f"deploy: verifying version {version}"):
        copy, outcome, mv = verify_version(ctx, version)
    verified = dict(mv.tags or {})
    _still_verified(ctx, version, verified, verified, moved=False)  # changed while being verified
    location = deploy_to_target(ctx, copy, version)
    alias = cfg.doc.deploy.alias
    with _mlflow_step(uri, f"deploy: moving alias {alias!r} to version {version} "
                           f"(target already updated; re-run)"):
        client.set_registered_model_alias(name, alias, version)
    # A rescan (or anyone) may have quarantined the version after it was verified, and removed
    # the alias, before this move put the alias back. The quarantine writes the verdict before it
    # reads the aliases to remove, so reading the verdict after the move closes the race: either
    # this read sees the quarantine, or the quarantine sees (and removes) the moved alias.
    with _mlflow_step(uri, f"deploy: re-reading version {version} after moving alias {alias!r}"):
        now = dict(client.get_model_version(name, version).tags or {})
    _still_verified(ctx, version, verified, now, moved=True)
    return DeployResult(outcome, version, alias, copy.path, location)


def _still_verified(ctx: Context, version: str, verified: dict[str, str], now: dict[str, str], *,
                    moved: bool) -> None:
    """Raise GateFailed (one line) if the version's evidence is no longer the one this deploy
    verified (quarantined, revoked, re-signed); after the alias move, take the alias off it first
    (only if it still points at this version)."""
    keys = (T.VERDICT, T.ENVELOPE, T.REVOKED)
    if T.is_passing(now.get(T.VERDICT)) and all(now.get(k) == verified.get(k) for k in keys):
        return
    cfg = ctx.cfg
    name, alias = cfg.doc.model_name, cfg.doc.deploy.alias
    why = now.get(T.QUARANTINE_REASON) or f"mlgate.verdict is {now.get(T.VERDICT)!r}"
    what = "its evidence changed" if T.is_passing(now.get(T.VERDICT)) else f"it was {now.get(T.VERDICT)}"
    if not moved:
        raise GateFailed("pre-deploy", "registry", f"version {version} of {name!r}: {what} during this deploy "
                         f"({' '.join(why.split())[:300]}); nothing was deployed")
    client = ctx.mlflow_client()
    with _mlflow_step(cfg.doc.tracking_uri, f"deploy: taking alias {alias!r} off version {version} "
                                            f"({what} during this deploy)"):
        try:
            current = str(client.get_model_version_by_alias(name, alias).version)
        except Exception as e:
            if not is_not_found(e):
                raise
            current = None
        if current == version:
            client.delete_registered_model_alias(name, alias)
    raise GateFailed("pre-deploy", "registry", f"version {version} of {name!r}: {what} during this deploy "
                     f"({' '.join(why.split())[:300]}); alias {alias!r} not left on it; the deploy target "
                     f"still holds the copy verified before that: deploy a verified version")


def deploy_to_target(ctx: Context, copy: StagedCopy, version: str) -> str:
    spec = ctx.cfg.doc.deploy
    if spec.target == "folder":
        if not spec.folder:
            raise MlgateError(f"{ctx.cfg.path}: deploy.folder is required for target 'folder'")
        root = ctx.cfg.resolve(spec.folder)
        final = root / ctx.cfg.doc.model_name
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".deploy-", dir=root))
        shutil.copytree(copy.path, tmp / "model")
        if hash_tree(tmp / "model") != copy.files:
            shutil.rmtree(tmp, ignore_errors=True)
            raise GateFailed("pre-deploy", "deploy-target", "copy to the serving folder changed bytes")
        (tmp / "model" / ".mlgate-version").write_text(f"{ctx.cfg.doc.model_name} {version} {copy.manifest_sha256}\n")
        old = root / f".old-{uuid.uuid4().hex[:8]}"
        if final.exists():
            final.rename(old)
        (tmp / "model").rename(final)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        return str(final)
    from mlflow.deployments import get_deploy_client

    if not spec.deployments_uri or not spec.endpoint:
        raise MlgateError(f"{ctx.cfg.path}: deploy.deployments_uri and deploy.endpoint are required")
    dc = get_deploy_client(spec.deployments_uri)  # type: ignore[no-untyped-call]
    model_uri = str(copy.path)
    try:
        dc.get_deployment(spec.endpoint)
        dc.update_deployment(spec.endpoint, model_uri=model_uri)
    except Exception:
        dc.create_deployment(spec.endpoint, model_uri=model_uri)
    return f"{spec.deployments_uri}#{spec.endpoint}"
