"""Releasing a quarantined version (``mlgate release MODEL VERSION``): only after verifying it
again from scratch.

1. The version's original statement must still verify (a trusted key, its exact source and
   model): the ``model-version`` gate with the ``release`` profile. Its revocation by the
   quarantine is ignored *here*: it still says which bytes were approved. A version that never
   had valid evidence (a forged ``mlgate.verdict=pass``) cannot be released; it has to be
   registered again through the gates.
2. The bytes at its storage location (the exact object versions listed) must be those bytes: the
   same manifest. A version whose bytes changed is never released; register the new bytes as a
   new version.
3. Its OpenSSF model signature must verify; its bucket must pass the S3 audit; a rescan under the
   current policy and scanners must pass (at the aliased checkpoint when aliases are restored).
4. Then new evidence is signed (a fresh statement and model signature, logged to a run in the
   ``mlgate-release`` experiment; provenance ``release`` when the original statement came from
   the pipeline or an earlier release, else the original provenance: a release never turns a
   ``registry-hook`` version into a promotable one) and :func:`mlgate.registry.quarantine.release` lifts the
   quarantine (envelope first, verdict last; the revoked envelope stays revoked).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.errors import GateFailed, UsageError
from mlgate.evidence import tags as T
from mlgate.evidence import verify as EV
from mlgate.evidence.statement import PIPELINE, RELEASE, verify_statement
from mlgate.gates.model_version import explain
from mlgate.integrations.mlflow import RegistryClient
from mlgate.lifecycle.staging import StagedCopy, hash_tree
from mlgate.model import Report, Verdict
from mlgate.registry.quarantine import EventEmitter, release
from mlgate.rescan.bytecheck import list_objects, map_uri
from mlgate.rescan.check import (
    CATEGORY_OF,
    Runtime,
    locate_source,
    record_state,
    resolve_runs_uri,
    safe_name,
    verify_bytes,
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
    ev = EV.VersionEvidence(name=name, version=str(version), source=ref.source, tags=tags)
    v = EV.verify_evidence(ev, EV.RELEASE_PROFILE, rt.public_keys)
    if v.findings or v.claims is None or v.claims.manifest_sha256 is None:
        raise GateFailed(CHECKPOINT, "evidence", f"{name} v{version} has no valid signed attestation "
                         f"({v.reason() or 'no manifest'}); it cannot be released: register it again through the gates")
    signed = v.claims.manifest_sha256
    provenance = RELEASE if v.claims.provenance in (PIPELINE, RELEASE) else v.claims.provenance
    checkpoint = rt.rp.aliased_checkpoint if restore_aliases else rt.rp.checkpoint
    src = locate_source(rt, ref)
    reports: list[Report] = []
    if rt.rp.audit_buckets and src is not None:
        reports.append(_audit(rt, src.bucket, rt.rp.checkpoint))  # same bucket rules as the rescan
    rt.settings.work_dir.mkdir(parents=True, exist_ok=True)
    work = rt.settings.work_dir / f"release-{safe_name(name)}-v{safe_name(str(version))}-{uuid.uuid4().hex[:8]}"
    try:
        report, fetched = verify_bytes(rt, ref, work, EV.RELEASE_PROFILE, src)
        if report.verdict is not Verdict.PASS or fetched.copy is None:
            findings = [f for s in report.subjects for f in s.findings] + list(report.findings)
            category = CATEGORY_OF.get(findings[0].id, "error") if findings else "error"
            why = explain(report)
            if category == "bytes-changed":
                why += ": register the new bytes as a new version"
            raise GateFailed(CHECKPOINT, category, f"{name} v{version}: {why}", report)
        path, files, objs, src = fetched.copy.path, fetched.copy.files, fetched.objs, fetched.src
        from mlgate.lifecycle.checkpoints import run_checkpoint

        outcome = run_checkpoint(checkpoint, rt.policy, scan_paths=[str(path)])
        outcome.raise_if_blocked()
        reports = [*outcome.reports, *reports]
        if hash_tree(path) != files:
            raise GateFailed(CHECKPOINT, "bytes-changed", "the local copy changed during the check")
        copy = StagedCopy(uri=ref.source, path=path, files=files, manifest_sha256=signed, source_versions={})
        run_id, new_tags = _new_evidence(rt, ref, copy, reports, work / "evidence", provenance)
        restored = release(rt.client, name, str(version), new_tags, restore_aliases=restore_aliases,
                           emit_event=settings.emit_events, emitter=emitter)
        rt.client.set_terminated(run_id, "FINISHED")
        _state_after_release(rt, ref, new_tags, signed, checkpoint, src, objs)
        return ReleaseResult(name, str(version), signed, checkpoint, run_id, restored, reports)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _audit(rt: Runtime, bucket: str, checkpoint: str) -> Report:
    from mlgate.api import run_gate

    report = run_gate("s3-audit", [bucket], policy=rt.policy, checkpoint=checkpoint)
    if report.verdict is not Verdict.PASS:
        raise GateFailed(CHECKPOINT, "s3-audit", f"bucket {bucket}: {report.verdict.value}: {report.reason}", report)
    return report


def _new_evidence(rt: Runtime, ref: VersionRef, copy: StagedCopy, reports: list[Report],
                  folder: Path, provenance: str) -> tuple[str, dict[str, str]]:
    from mlgate.evidence.model_signature import load_signer
    from mlgate.lifecycle.pipeline import attach_evidence

    assert rt.settings.private_key is not None
    signer = load_signer(rt.settings.private_key)
    run = rt.client.create_run(
        RegistryClient.wrap(rt.client).ensure_experiment(rt.settings.release_experiment),
        run_name=f"mlgate release {ref.name} v{ref.version}",
        tags={T.CHECKPOINT: CHECKPOINT, T.RUN_SUBJECT: f"{ref.name}/{ref.version}",
              T.RUN_SOURCE: ref.source[:5000]},
    )
    run_id = str(run.info.run_id)
    tags = attach_evidence(rt.client, run_id, copy, reports, model_name=ref.name, source=ref.source,
                           signer=signer, provenance=provenance, folder=folder)
    tags[T.EVIDENCE_RUN] = run_id
    rt.client.set_tag(run_id, T.VERDICT, tags[T.VERDICT])
    return run_id, tags


def _state_after_release(rt: Runtime, ref: VersionRef, new_tags: dict[str, str], signed: str, checkpoint: str,
                         src: Any, objs: list[Any]) -> None:
    """Record the state the release established, so the next rescan of this version is cheap."""
    sig_uri = resolve_runs_uri(rt, new_tags.get(T.SIGNATURE, ""))
    sig_loc = map_uri(sig_uri, rt.settings.artifacts_destination, folder=False) if sig_uri else None
    sig_objs = list_objects(rt.s3, sig_loc) if sig_loc is not None and rt.s3 is not None else []
    key = scan_key(signed, rt.scanners[checkpoint], rt.policy_digests[checkpoint], checkpoint)
    released = ref.model_copy(update={"tags": {**ref.tags, **new_tags}})
    att = verify_statement(new_tags[T.ENVELOPE], rt.public_keys).attestation_id
    record_state(rt, released, signed, att, key, src, objs, sig_loc, sig_objs, True, None)
