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

import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.errors import GateFailed, MlgateError
from mlgate.evidence.attestation import VerificationError, attestation_digest
from mlgate.lifecycle.checkpoints import CheckpointOutcome, DatasetInput, run_checkpoint
from mlgate.lifecycle.config import PipelineConfig
from mlgate.lifecycle.signing import (
    ATTESTATION_FILE,
    SIGNATURE_FILE,
    ModelSigningKey,
    build_attestation,
    ensure_keys,
    sign_attestation,
    verify_attestation,
)
from mlgate.lifecycle.staging import StagedCopy, hash_tree, stage
from mlgate.lifecycle.train import TrainInputs, import_training_function
from mlgate.model import Report, utcnow
from mlgate.policy import Policy, load_policy
from mlgate.registry.experiments import ensure_experiment
from mlgate.report import render
from mlgate.report.mlflow_tags import mlflow_tags

log = logging.getLogger(__name__)

EVIDENCE_DIR = "mlgate"

# Called with (checkpoint, outcome) after every checkpoint, e.g. to publish Prefect artifacts.
OutcomeHook = Callable[[str, CheckpointOutcome], None]


def _noop(_c: str, _o: CheckpointOutcome) -> None:
    return None


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
        self.public_key = cfg.resolve(sk.public_key)

    def checkpoint(self, name: str, **kw: Any) -> CheckpointOutcome:
        outcome = run_checkpoint(name, self.policy, boto3_session=self.session,
                                 tracking_uri=self.cfg.doc.tracking_uri, **kw)  # the registry's own posture
        self.hook(name, outcome)
        return outcome

    def mlflow_client(self) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.cfg.doc.tracking_uri)


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
    fn = import_training_function(ctx.cfg.doc.training.function, str(ctx.cfg.path))
    for copy in [*pre.datasets.values(), *pre.base_models.values()]:
        copy.reverify("pre-train")  # the bytes handed over are the bytes that were checked
    out = ctx.run_dir / "output"
    out.mkdir()
    inputs = TrainInputs(
        datasets={n: c.path for n, c in pre.datasets.items()},
        dataset_fingerprints=pre.fingerprints,
        base_models={n: c.path for n, c in pre.base_models.items()},
        output_dir=out,
        params=dict(ctx.cfg.doc.training.params),
    )
    result = fn(inputs)
    artifact = Path(result) if result is not None else out
    if not artifact.exists() or out.resolve() not in (artifact.resolve(), *artifact.resolve().parents):
        raise MlgateError(f"training function returned {artifact}, which is not inside {out}")
    return artifact


# ---------------------------------------------------------------------------------------------
# pre-publish + register
# ---------------------------------------------------------------------------------------------


def _log_reports(client: Any, run_id: str, reports: list[Report], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(render(reports, "json"))
    (folder / "report.sarif").write_text(render(reports, "sarif"))
    client.log_artifacts(run_id, str(folder), EVIDENCE_DIR)


def publish(ctx: Context, artifact: Path) -> PublishResult:
    """Scan, audit, and register only what passed."""
    import mlflow

    cfg = ctx.cfg
    client = ctx.mlflow_client()
    mlflow.set_tracking_uri(cfg.doc.tracking_uri)
    run = client.create_run(ensure_experiment(client, cfg.doc.name), tags={"mlgate.pipeline": cfg.doc.name, "mlgate.checkpoint": "pre-publish"})
    run_id = run.info.run_id
    evidence = ctx.run_dir / "evidence"
    created_model = False
    try:
        # Stage the artifact too: what is scanned is what is uploaded and signed.
        copy = stage(str(artifact), ctx.run_dir / "publish" / "model")
        outcome = ctx.checkpoint("pre-publish", scan_paths=[str(copy.path)], buckets=list(cfg.doc.buckets))
        _log_reports(client, run_id, outcome.reports, evidence)
        try:
            outcome.raise_if_blocked()
        except GateFailed:
            client.set_tag(run_id, "mlgate.verdict", outcome.verdict.value)
            raise
        copy.reverify("pre-publish")
        ensure_keys(ctx.private_key, ctx.public_key)
        client.log_artifacts(run_id, str(copy.path), "model")
        source = f"{run.info.artifact_uri}/model"
        tags = attach_evidence(client, run_id, copy, outcome.reports, model_name=cfg.doc.model_name, source=source,
                               private_key=ctx.private_key, public_key=ctx.public_key, folder=evidence)
        for k, v in tags.items():
            client.set_tag(run_id, k, v)
        # Only now does anything reach the registry.
        try:
            client.get_registered_model(cfg.doc.model_name)
        except Exception:
            client.create_registered_model(cfg.doc.model_name, tags={"mlgate.managed": "true"})
            created_model = True
        mv = client.create_model_version(cfg.doc.model_name, source=source, run_id=run_id, tags=tags)
        client.set_terminated(run_id, "FINISHED")
        return PublishResult(outcome, run_id, str(mv.version), tags)
    except BaseException:
        # a blocked (or failed) attempt registers nothing and keeps its run, tagged, for forensics
        client.set_tag(run_id, "mlgate.blocked", "true")
        client.set_terminated(run_id, "FAILED")
        if created_model and not client.search_model_versions(f"name='{cfg.doc.model_name}'"):
            client.delete_registered_model(cfg.doc.model_name)  # never leave an empty registered model
        raise


def attach_evidence(client: Any, run_id: str, copy: StagedCopy, reports: list[Report], *, model_name: str,
                    source: str, private_key: Path, public_key: Path, folder: Path) -> dict[str, str]:
    """Sign the checked bytes (OpenSSF model signature), sign a verdict attestation binding the
    manifest, the source and the reports, log both (plus the manifest and the reports) to the run
    under ``mlgate/``, and return the ``mlgate.*`` tags for the model version. Used by publish and
    by the registry-hook flow for versions that arrive any other way."""
    folder.mkdir(parents=True, exist_ok=True)
    ModelSigningKey(private_key, public_key).sign_model(copy.path, folder / SIGNATURE_FILE)
    attestation = build_attestation(model_name=model_name, manifest_sha256=copy.manifest_sha256, files=copy.files,
                                    reports=reports, source=source, extra={"run_id": run_id})
    env = sign_attestation(attestation, private_key)
    (folder / ATTESTATION_FILE).write_text(json.dumps(env, indent=2))
    (folder / "manifest.json").write_text(
        json.dumps({"manifest_sha256": copy.manifest_sha256, "files": copy.files}, indent=2, sort_keys=True)
    )
    (folder / "report.json").write_text(render(reports, "json"))
    (folder / "report.sarif").write_text(render(reports, "sarif"))
    client.log_artifacts(run_id, str(folder), EVIDENCE_DIR)
    return mlflow_tags(
        reports,
        manifest_sha256=copy.manifest_sha256,
        checked_at=attestation["checked_at"],
        attestation_path=f"runs:/{run_id}/{EVIDENCE_DIR}/{ATTESTATION_FILE}",
        signature_path=f"runs:/{run_id}/{EVIDENCE_DIR}/{SIGNATURE_FILE}",
        attestation_sha256=attestation_digest(env),
        attestation_envelope=json.dumps(env, separators=(",", ":")),
    )


# ---------------------------------------------------------------------------------------------
# pre-deploy + deploy
# ---------------------------------------------------------------------------------------------


def _download(client: Any, uri: str, dest: Path, tracking_uri: str) -> Path:
    import mlflow

    dest.mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest), tracking_uri=tracking_uri))


def verify_version(ctx: Context, version: str, checkpoint: str = "pre-deploy") -> tuple[StagedCopy, CheckpointOutcome, Any]:
    """Download a registered version and verify it from scratch: manifest, attestation, model
    signature, rescan. Raises GateFailed on any mismatch."""
    cfg = ctx.cfg
    client = ctx.mlflow_client()
    name = cfg.doc.model_name
    mv = client.get_model_version(name, version)
    tags = dict(mv.tags or {})
    work = ctx.run_dir / f"verify-v{version}"
    # The version's source is what the registry points at: fetch exactly those bytes (a models:/
    # download would add MLflow's own registered_model_meta file).
    copy = stage(mv.source, work / "model", tracking_uri=cfg.doc.tracking_uri)
    if tags.get("mlgate.verdict") != "pass":
        raise GateFailed(checkpoint, "registry", f"version {version} is not tagged mlgate.verdict=pass "
                         f"({tags.get('mlgate.verdict')!r})")
    if copy.manifest_sha256 != tags.get("mlgate.manifest_sha256"):
        raise GateFailed(checkpoint, "manifest", f"version {version}: downloaded bytes (manifest "
                         f"{copy.manifest_sha256[:16]}...) differ from the registered manifest "
                         f"{str(tags.get('mlgate.manifest_sha256'))[:16]}...")
    try:
        env_path = _download(client, tags["mlgate.attestation"], work / "evidence", cfg.doc.tracking_uri)
        sig_path = _download(client, tags["mlgate.signature"], work / "evidence", cfg.doc.tracking_uri)
        payload = verify_attestation(env_path.read_text(), ctx.public_key)
    except KeyError as e:
        raise GateFailed(checkpoint, "attestation", f"version {version}: missing tag {e}") from None
    except (VerificationError, OSError) as e:
        raise GateFailed(checkpoint, "attestation", f"version {version}: {e}") from None
    subj = payload.get("subject", {})
    if subj.get("manifest_sha256") != copy.manifest_sha256 or payload.get("verdict") != "pass":
        raise GateFailed(checkpoint, "attestation", f"version {version}: the signed attestation does not cover "
                         "these bytes with a passing verdict")
    if subj.get("source") not in (None, mv.source):
        raise GateFailed(checkpoint, "attestation", f"version {version}: signed source {subj.get('source')!r} "
                         f"differs from the registered source {mv.source!r}")
    try:
        ModelSigningKey(None, ctx.public_key).verify_model(copy.path, sig_path)
    except VerificationError as e:
        raise GateFailed(checkpoint, "signature", f"version {version}: {e}") from None
    outcome = ctx.checkpoint(checkpoint, scan_paths=[str(copy.path)])
    outcome.raise_if_blocked()
    copy.reverify(checkpoint)
    return copy, outcome, mv


def deploy(ctx: Context, version: str | None = None) -> DeployResult:
    cfg = ctx.cfg
    client = ctx.mlflow_client()
    name = cfg.doc.model_name
    if version is None:
        versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            raise GateFailed("pre-deploy", "registry", f"no versions of {name!r} are registered")
        version = str(max(int(v.version) for v in versions))
    copy, outcome, _mv = verify_version(ctx, version)
    location = deploy_to_target(ctx, copy, version)
    client.set_registered_model_alias(name, cfg.doc.deploy.alias, version)
    return DeployResult(outcome, version, cfg.doc.deploy.alias, copy.path, location)


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
