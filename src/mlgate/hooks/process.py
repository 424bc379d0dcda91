"""What a registry event means for a model version (the logic behind ``flows/registry_hooks.py``).

One idempotent step, :func:`process_version`, re-reads the version and brings it to a checked
state, whatever event triggered it:

* already quarantined -> leave it (only make sure it holds no alias);
* tagged ``mlgate.verdict=pass`` -> the ``model-version`` gate with the ``webhook`` profile
  (statement signed by a trusted key, exact source, not revoked anywhere, the bytes stored now,
  *and* the OpenSSF model signature); quarantine if it does not hold;
* otherwise (new, hand-registered, from a notebook, from another team's job) -> download the
  bytes at the version's storage location, scan them at ``pre-publish`` under the policy, then
  sign with provenance ``registry-hook`` and tag (envelope first, verdict last), or quarantine.
  A ``registry-hook`` statement makes the version usable, not promotable: by default a protected
  alias accepts only ``pipeline`` and ``release`` statements.

Events that trigger it: ``model_version.created``; ``model_version_tag.set`` of a passing
``mlgate.verdict`` or of ``mlgate.attestation_envelope``; ``model_version_tag.deleted`` of the
envelope; ``model_version_alias.created`` for a protected alias. Everything else is recorded as
ignored.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import UsageError
from mlgate.evidence import tags as T
from mlgate.evidence.keys import load_public_keys
from mlgate.evidence.statement import REGISTRY_HOOK
from mlgate.integrations.mlflow import FetchError, RegistryClient, is_not_found
from mlgate.lifecycle.staging import StagedCopy, StagingError
from mlgate.model import Verdict
from mlgate.registry.quarantine import EventEmitter, quarantine

log = logging.getLogger(__name__)

CHECKPOINT = "pre-publish"
DEFAULT_EXPERIMENT = "mlgate-registry-hooks"


@dataclass(frozen=True)
class HookSettings:
    tracking_uri: str
    policy_path: Path
    private_key: Path
    public_key: Path
    work_dir: Path
    protected_aliases: frozenset[str]
    experiment: str = DEFAULT_EXPERIMENT
    emit_events: bool = True

    @classmethod
    def from_env(cls, tracking_uri: str | None = None, env: Mapping[str, str] | None = None) -> HookSettings:
        """``MLFLOW_TRACKING_URI``, ``MLGATE_POLICY``, ``MLGATE_SIGNING_KEY``, ``MLGATE_PUBLIC_KEY``,
        ``MLGATE_PROTECTED_ALIASES``, ``MLGATE_HOOK_WORK_DIR``, ``MLGATE_HOOK_EXPERIMENT``."""
        from mlgate.policy import default_policy_path

        e = os.environ if env is None else env
        uri = tracking_uri or e.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise UsageError("no tracking URI: pass --tracking-uri or set MLFLOW_TRACKING_URI")
        priv, pub = e.get("MLGATE_SIGNING_KEY"), e.get("MLGATE_PUBLIC_KEY")
        if not priv or not pub:
            raise UsageError("MLGATE_SIGNING_KEY and MLGATE_PUBLIC_KEY must name the signing key pair (PEM files)")
        policy = e.get("MLGATE_POLICY")
        work = e.get("MLGATE_HOOK_WORK_DIR") or os.path.join(tempfile.gettempdir(), "mlgate-hooks")
        return cls(
            tracking_uri=uri,
            policy_path=Path(policy) if policy else default_policy_path(),
            private_key=Path(priv),
            public_key=Path(pub),
            work_dir=Path(work),
            protected_aliases=T.parse_protected_aliases(e.get("MLGATE_PROTECTED_ALIASES")),
            experiment=e.get("MLGATE_HOOK_EXPERIMENT") or DEFAULT_EXPERIMENT,
        )

    def is_protected(self, alias: str) -> bool:
        return alias.strip().casefold() in self.protected_aliases

    def validate(self) -> None:
        """Fail at start-up, not on the first event: the key pair and the policy must load."""
        from mlgate.evidence.keys import load_private_key
        from mlgate.policy import load_policy

        try:
            load_private_key(self.private_key)
            load_public_keys(str(self.public_key))
        except Exception as e:
            raise UsageError(f"the signing key pair does not load: {e}") from None
        load_policy(self.policy_path)


def _client(settings: HookSettings) -> Any:
    return RegistryClient(settings.tracking_uri).raw


def _not_found(e: Exception) -> bool:
    return is_not_found(e)


def trigger_of(payload: Mapping[str, Any], settings: HookSettings) -> tuple[str, str] | None:
    """``(name, version)`` if the event needs a version to be (re)checked, else None."""
    kind = f"{payload.get('entity')}.{payload.get('action')}"
    raw = payload.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    name, version = data.get("name"), data.get("version")
    if not isinstance(name, str) or not name or version is None or str(version) == "":
        return None
    key = data.get("key")
    relevant = (
        kind == "model_version.created"
        or (kind == "model_version_tag.set" and ((key == T.VERDICT and T.is_passing(data.get("value")))
                                                  or key == T.ENVELOPE))
        or (kind == "model_version_tag.deleted" and key == T.ENVELOPE)
        or (kind == "model_version_alias.created" and settings.is_protected(str(data.get("alias") or "")))
    )
    return (name, str(version)) if relevant else None


def fetch_version(client: Any, name: str, version: str, dest: Path, tracking_uri: str) -> StagedCopy:
    """The bytes at the version's storage location (what the registry guard hashes)."""
    try:
        got = RegistryClient.wrap(client, tracking_uri).fetch_version(name, version, dest)
    except FetchError as e:
        raise StagingError(str(e)) from e
    return StagedCopy(uri=got.uri, path=got.path, files=got.files, manifest_sha256=got.manifest_sha256,
                      source_versions={})


def _keys(settings: HookSettings) -> list[Any]:
    return load_public_keys(str(settings.public_key))


def process_version(
    client: Any,
    settings: HookSettings,
    name: str,
    version: str,
    *,
    trigger: str = "",
    delivery_id: str | None = None,
    emitter: EventEmitter | None = None,
) -> dict[str, Any]:
    base: dict[str, Any] = {"name": name, "version": version, "trigger": trigger}

    def _quarantine(reason: str) -> dict[str, Any]:
        q = quarantine(client, name, version, reason, emit_event=settings.emit_events, emitter=emitter,
                       public_keys=_keys(settings))
        return {**base, "action": "quarantined", "reason": reason, "removed_aliases": q.removed_aliases,
                "event_emitted": q.event_emitted}

    try:
        mv = client.get_model_version(name, version)
    except Exception as e:
        if _not_found(e):
            return {**base, "action": "gone"}
        raise
    tags = dict(mv.tags or {})
    if tags.get(T.VERDICT) == T.QUARANTINED:
        if mv.aliases:
            return _quarantine(tags.get(T.QUARANTINE_REASON) or "still quarantined")
        return {**base, "action": "already-quarantined"}

    settings.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"event-{uuid.uuid4().hex[:8]}-", dir=settings.work_dir))
    try:
        if T.is_passing(tags.get(T.VERDICT)):
            # Verified in full, model signature included (profile "webhook").
            from mlgate.evidence import verify as EV
            from mlgate.gates.model_version import explain, verify_version
            from mlgate.policy import load_policy

            registry = RegistryClient.wrap(client, settings.tracking_uri)
            policy = load_policy(settings.policy_path)
            report = verify_version(registry, name, version, policy=policy, public_keys=str(settings.public_key),
                                    profile="webhook", work_dir=work, checkpoint=CHECKPOINT)
            if report.manifests:
                base["manifest_sha256"] = report.manifests[0].manifest_sha256
            if report.verdict is Verdict.ERROR and not any(
                    f.kind.value == "issue" for s in report.subjects for f in s.findings):
                raise RuntimeError(f"{name} v{version} could not be verified: {explain(report)}")  # retried
            if report.verdict is not Verdict.PASS:
                return _quarantine(f"mlgate.verdict is 'pass' but the evidence does not hold: {explain(report)}")
            # Without a registry guard, a protected alias may have been set on a version whose
            # statement that alias does not accept (e.g. a registry-hook one): take the alias away
            # (the version stays usable).
            protected = [a for a in (mv.aliases or []) if settings.is_protected(a)]
            if protected:
                ev_policy = policy.gate_config("model-version", EV.EvidencePolicy)
                claims = EV.verify_evidence(EV.VersionEvidence(name, version, mv.source, tags), EV.WEBHOOK,
                                            _keys(settings)).claims
                removed = []
                for alias in protected:
                    problems = EV.check_promotion(claims, ev_policy.promotion_for(alias),
                                                  f"models:/{name}/{version}") if claims else []
                    if problems:
                        client.delete_registered_model_alias(name, alias)
                        removed.append(alias)
                        log.warning("removed protected alias %r from %s v%s: %s", alias, name, version,
                                    "; ".join(f.message for f in problems))
                if removed:
                    return {**base, "action": "demoted", "removed_aliases": removed}
            return {**base, "action": "verified"}
        copy = fetch_version(client, name, version, work / "model", settings.tracking_uri)
        base["manifest_sha256"] = copy.manifest_sha256
        return _scan_and_decide(client, settings, mv, copy, work, base, delivery_id, _quarantine)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _scan_and_decide(client: Any, settings: HookSettings, mv: Any, copy: StagedCopy, work: Path,
                     base: dict[str, Any], delivery_id: str | None,
                     _quarantine: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    from mlgate.evidence.model_signature import load_signer
    from mlgate.lifecycle.checkpoints import run_checkpoint
    from mlgate.lifecycle.pipeline import attach_evidence, summary_line
    from mlgate.policy import load_policy
    from mlgate.report import render

    name, version = mv.name, str(mv.version)
    outcome = run_checkpoint(CHECKPOINT, load_policy(settings.policy_path), scan_paths=[str(copy.path)])
    registry = RegistryClient.wrap(client, settings.tracking_uri)
    run = client.create_run(
        registry.ensure_experiment(settings.experiment),
        run_name=f"mlgate {name} v{version}",
        tags={T.CHECKPOINT: CHECKPOINT, T.RUN_REGISTRY_HOOK: "true", T.RUN_SUBJECT: f"{name}/{version}",
              T.RUN_DELIVERY_ID: delivery_id or "-", T.RUN_SOURCE: mv.source[:5000]},
    )
    run_id = run.info.run_id
    verdict = outcome.verdict
    base["verdict"] = verdict.value
    base["evidence_run_id"] = run_id
    if verdict is not Verdict.PASS:
        folder = work / "evidence"
        folder.mkdir()
        (folder / "report.json").write_text(render(outcome.reports, "json"))
        (folder / "report.sarif").write_text(render(outcome.reports, "sarif"))
        client.log_artifacts(run_id, str(folder), "mlgate")
        client.set_tag(run_id, T.VERDICT, verdict.value)
        client.set_terminated(run_id, "FAILED")
        bad = next((r for r in outcome.reports if r.verdict is verdict), None)
        why = f"{bad.gate}: {bad.reason}" if bad is not None else "; ".join(outcome.notes) or "nothing was checked"
        client.set_model_version_tag(name, version, T.EVIDENCE_RUN, run_id)
        return _quarantine(f"{CHECKPOINT} verdict {verdict.value}: {why}")
    copy.reverify(CHECKPOINT)  # what is signed is what was scanned
    tags = attach_evidence(client, run_id, copy, outcome.reports, model_name=name, source=mv.source,
                           signer=load_signer(settings.private_key), provenance=REGISTRY_HOOK,
                           folder=work / "evidence")
    tags[T.EVIDENCE_RUN] = run_id
    registry.set_version_tags(name, version, tags)  # envelope first, verdict last (the guard's order)
    registry.set_description(name, version, summary_line(
        tags, reason="signed by the registry hook: usable, not promotable to a protected alias by default"))
    client.set_tag(run_id, T.VERDICT, verdict.value)
    client.set_terminated(run_id, "FINISHED")
    return {**base, "action": "signed"}


def handle_event(
    payload: Mapping[str, Any],
    settings: HookSettings,
    *,
    client: Any | None = None,
    delivery_id: str | None = None,
    emitter: EventEmitter | None = None,
) -> dict[str, Any]:
    """Process one webhook payload; a JSON-able summary of what was done."""
    kind = f"{payload.get('entity')}.{payload.get('action')}"
    target = trigger_of(payload, settings)
    if target is None:
        return {"action": "ignored", "event": kind}
    name, version = target
    return process_version(client or _client(settings), settings, name, version, trigger=kind,
                           delivery_id=delivery_id, emitter=emitter)


def give_up(payload: Mapping[str, Any], settings: HookSettings, error: str, *, client: Any | None = None,
            emitter: EventEmitter | None = None) -> None:
    """After the last failed attempt: a version that could not be checked is quarantined (fail
    closed), unless it is gone."""
    target = trigger_of(payload, settings)
    if target is None:
        return
    name, version = target
    c: Any = client or _client(settings)
    try:
        quarantine(c, name, version, f"could not be checked: {error}", emit_event=settings.emit_events,
                   emitter=emitter, public_keys=_keys(settings))
    except Exception as e:
        if not _not_found(e):
            raise
