"""Releasing a quarantined version (``mlgate release MODEL VERSION``): only after verifying it
again from scratch.

1. The version's original attestation must still verify (our key, its exact source). Its
   revocation by the quarantine is ignored *here*: it still says which bytes were approved. A
   version that never had valid evidence (a forged ``mlgate.verdict=pass``) cannot be released;
   it has to be registered again through the gates.
2. The bytes at its storage location (the exact object versions listed) must be those bytes: the
   same manifest. A version whose bytes changed is never released; register the new bytes as a
   new version.
3. Its OpenSSF model signature must verify; its bucket must pass the S3 audit; a rescan under the
   current policy and scanners must pass (at the aliased checkpoint when aliases are restored).
4. Then new evidence is signed (a fresh attestation and model signature, logged to a run in the
   ``mlgate-release`` experiment) and :func:`mlgate.registry.quarantine.release` lifts the
   quarantine (envelope first, verdict last; the revoked envelope stays revoked).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.digest import manifest_of
from mlgate.errors import GateFailed, UsageError
from mlgate.lifecycle.staging import StagedCopy, hash_tree
from mlgate.model import Report, Verdict
from mlgate.registry import tags as T
from mlgate.registry.experiments import ensure_experiment
from mlgate.registry.quarantine import EventEmitter, release
from mlgate.registry.verify import EvidenceError, check_attestation, envelope_digest
from mlgate.rescan.bytecheck import ArtifactProblem, list_objects, map_uri
from mlgate.rescan.check import (
    Failed,
    Runtime,
    fetch_signature,
    fetch_source,
    locate_source,
    record_state,
    resolve_runs_uri,
    safe_name,
    verify_signature,
)
from mlgate.rescan.select import VersionRef
from mlgate.rescan.settings import RescanSettings
from mlgate.rescan.state import scan_key

CHECKPOINT = "release"


@dataclass
class ReleaseResult:
    name: str
    version: str
    manifest_sha256: str
    checkpoint: str
    evidence_run_id: str
    restored_aliases: list[str] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)


def release_version(
    settings: RescanSettings,
    name: str,
    version: str,
    *,
    restore_aliases: bool = False,
    client: Any | None = None,
    s3: Any | None = None,
    emitter: EventEmitter | None = None,
) -> ReleaseResult:
    """Verify a quarantined version from scratch and lift the quarantine. Raises
    :class:`~mlgate.errors.GateFailed` (nothing changed) when any check fails."""
    if settings.private_key is None:
        raise UsageError("release signs new evidence: the pipeline config's signing.private_key must exist")
    rt = Runtime.build(settings, client=client, s3=s3, emitter=emitter)
    mv = rt.client.get_model_version(name, version)
    tags = dict(mv.tags or {})
    if tags.get(T.VERDICT) != T.QUARANTINED:
        raise UsageError(f"{name} v{version} is not quarantined (mlgate.verdict={tags.get(T.VERDICT)!r})")
    ref = VersionRef(name=name, version=str(version), source=str(mv.source), run_id=mv.run_id or None, tags=tags)
    try:
        payload = check_attestation(tags.get(T.ENVELOPE), rt.public_keys, source=ref.source, revoked=())
    except EvidenceError as e:
        raise GateFailed(CHECKPOINT, "evidence", f"{name} v{version} has no valid signed attestation ({e}); "
                         "it cannot be released: register it again through the gates") from None
    signed = str(payload["subject"]["manifest_sha256"])
    checkpoint = rt.rp.aliased_checkpoint if restore_aliases else rt.rp.checkpoint
    src = locate_source(rt, ref)
    reports: list[Report] = []
    if rt.rp.audit_buckets and src is not None:
        reports.append(_audit(rt, src.bucket, rt.rp.checkpoint))  # same bucket rules as the rescan
    rt.settings.work_dir.mkdir(parents=True, exist_ok=True)
    work = rt.settings.work_dir / f"release-{safe_name(name)}-v{safe_name(str(version))}-{uuid.uuid4().hex[:8]}"
    try:
        try:
            path, objs, src = fetch_source(rt, ref, work, src)
            files = hash_tree(path)
            manifest = manifest_of(files)
            if manifest != signed:
                raise Failed("bytes-changed", f"the stored bytes (manifest {manifest[:16]}...) are not the approved "
                             f"bytes (manifest {signed[:16]}...): register the new bytes as a new version")
            sig_path, _sig_objs, _sig_loc = fetch_signature(rt, ref, work)
            verify_signature(rt, path, sig_path)
        except (Failed, ArtifactProblem) as e:
            category = e.category
            reason = e.reason if isinstance(e, Failed) else str(e)
            raise GateFailed(CHECKPOINT, category, f"{name} v{version}: {reason}") from None
        from mlgate.lifecycle.checkpoints import run_checkpoint

        outcome = run_checkpoint(checkpoint, rt.policy, scan_paths=[str(path)])
        outcome.raise_if_blocked()
        reports = [*outcome.reports, *reports]
        if hash_tree(path) != files:
            raise GateFailed(CHECKPOINT, "bytes-changed", "the local copy changed during the check")
        copy = StagedCopy(uri=ref.source, path=path, files=files, manifest_sha256=manifest, source_versions={})
        run_id, new_tags = _new_evidence(rt, ref, copy, reports, work / "evidence")
        restored = release(rt.client, name, str(version), new_tags, restore_aliases=restore_aliases,
                           emit_event=settings.emit_events, emitter=emitter)
        rt.client.set_terminated(run_id, "FINISHED")
        _state_after_release(rt, ref, new_tags, signed, checkpoint, src, objs)
        return ReleaseResult(name, str(version), manifest, checkpoint, run_id, restored, reports)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _audit(rt: Runtime, bucket: str, checkpoint: str) -> Report:
    from mlgate.api import run_gate

    report = run_gate("s3-audit", [bucket], policy=rt.policy, checkpoint=checkpoint)
    if report.verdict is not Verdict.PASS:
        raise GateFailed(CHECKPOINT, "s3-audit", f"bucket {bucket}: {report.verdict.value}: {report.reason}", report)
    return report


def _new_evidence(rt: Runtime, ref: VersionRef, copy: StagedCopy, reports: list[Report],
                  folder: Path) -> tuple[str, dict[str, str]]:
    from mlgate.lifecycle.pipeline import attach_evidence

    assert rt.settings.private_key is not None
    run = rt.client.create_run(
        ensure_experiment(rt.client, rt.settings.release_experiment),
        run_name=f"mlgate release {ref.name} v{ref.version}",
        tags={"mlgate.checkpoint": CHECKPOINT, "mlgate.subject": f"{ref.name}/{ref.version}",
              "mlgate.source": ref.source[:5000]},
    )
    run_id = str(run.info.run_id)
    public_key = rt.key_paths()[0]
    tags = attach_evidence(rt.client, run_id, copy, reports, model_name=ref.name, source=ref.source,
                           private_key=rt.settings.private_key, public_key=public_key, folder=folder)
    tags[T.EVIDENCE_RUN] = run_id
    rt.client.set_tag(run_id, "mlgate.verdict", tags[T.VERDICT])
    return run_id, tags


def _state_after_release(rt: Runtime, ref: VersionRef, new_tags: dict[str, str], signed: str, checkpoint: str,
                         src: Any, objs: list[Any]) -> None:
    """Record the state the release established, so the next rescan of this version is cheap."""
    sig_uri = resolve_runs_uri(rt, new_tags.get("mlgate.signature", ""))
    sig_loc = map_uri(sig_uri, rt.settings.artifacts_destination, folder=False) if sig_uri else None
    sig_objs = list_objects(rt.s3, sig_loc) if sig_loc is not None and rt.s3 is not None else []
    key = scan_key(signed, rt.scanners[checkpoint], rt.policy_digests[checkpoint], checkpoint)
    released = ref.model_copy(update={"tags": {**ref.tags, **new_tags}})
    record_state(rt, released, signed, envelope_digest(new_tags[T.ENVELOPE]), key, src, objs, sig_loc, sig_objs,
                  True, None)
