"""Checking one model version (the body of every mapped rescan task), and the bucket re-audit.

Order of the checks, cheapest first:

1. already quarantined -> leave it so (only remove any alias set since);
2. evidence in the tags, no download (the evidence kernel, profile ``rescan``): a passing verdict
   backed by a statement signed by a trusted key, whose attestation id is not revoked on any
   version or model, naming the version's exact source and model, whose manifest is the one the
   tags claim (a forged ``mlgate.verdict=pass`` stops here); a version holding a protected alias
   must also carry a statement that alias accepts (provenance, checkpoint, gates, policy digest);
3. the artifact bucket passed this run's S3 audit;
4. bytes: the signed rescan state's object identities still match (listing only), else the
   ``model-version`` gate (profile ``rescan``) downloads exactly the listed object versions,
   re-hashes against the signed manifest and verifies the OpenSSF model signature;
5. rescan under the current policy, unless the scan key (manifest, scanner versions, scan-relevant
   policy digest, checkpoint) equals the one of the last clean result.

Any failure quarantines the version at once (:func:`mlgate.registry.quarantine.quarantine`). A
version that cannot be *checked* (store unreachable, throttled, an unexpected error) is reported
as ``error`` and left alone: an outage must not take the whole registry out of service.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import shutil
import threading
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.digest import manifest_of
from mlgate.errors import MlgateError, TransientError
from mlgate.evidence import tags as T
from mlgate.evidence import verify as EV
from mlgate.evidence.keys import VerificationError, load_public_keys
from mlgate.evidence.model_signature import verify_model_signature
from mlgate.gates.model_version import explain
from mlgate.integrations import aws
from mlgate.integrations.mlflow import FetchedCopy, FetchError, RegistryClient, VersionInfo, looks_transient
from mlgate.lifecycle.staging import StagingError, hash_tree, stage
from mlgate.model import Finding, Report, Verdict, utcnow
from mlgate.policy import Policy, load_policy
from mlgate.registry.quarantine import EventEmitter, quarantine
from mlgate.rescan.bytecheck import (
    ArtifactProblem,
    Inventory,
    ObjectId,
    S3Location,
    build_inventory,
    fetch_pinned,
    identities_digest,
    list_objects,
    map_uri,
    weakest,
)
from mlgate.rescan.select import VersionRef
from mlgate.rescan.settings import RescanPolicy, RescanSettings, rescan_policy
from mlgate.rescan.state import (
    STATE_TAG,
    RescanState,
    ScanKey,
    load_state,
    scan_key,
    scan_policy_digest,
    scanner_versions,
    sign_state,
)
from mlgate.rescan.summary import BucketResult, Outcome, VersionResult

log = logging.getLogger(__name__)

ATTEMPTS = 3


class Failed(Exception):
    """The version no longer verifies: quarantine it."""

    def __init__(self, category: str, reason: str, *, gates: dict[str, str] | None = None,
                 byte_check: str = "none", scanned: bool = False, reports: Sequence[Report] = ()) -> None:
        self.reports = tuple(reports)
        self.category = category
        self.reason = reason
        self.gates = gates or {}
        self.byte_check = byte_check
        self.scanned = scanned
        super().__init__(f"[{category}] {reason}")


@dataclass
class Runtime:
    """Per-run resources, built once per process and run (policy, keys, clients, digests)."""

    settings: RescanSettings
    policy: Policy
    rp: RescanPolicy
    public_keys: list[Any]
    client: Any
    s3: Any | None
    scanners: dict[str, dict[str, str]]
    policy_digests: dict[str, str]
    failed_buckets: dict[str, str] = field(default_factory=dict)
    emitter: EventEmitter | None = None
    revoked: set[str] = field(default_factory=set)  # the global revocation list, read once per run
    evidence: EV.EvidencePolicy = field(default_factory=EV.EvidencePolicy)

    @classmethod
    def build(cls, settings: RescanSettings, failed_buckets: dict[str, str] | None = None, *,
              client: Any | None = None, s3: Any | None = None, emitter: EventEmitter | None = None) -> Runtime:
        policy = load_policy(settings.policy_path)
        rp = rescan_policy(policy)
        if client is None:
            client = RegistryClient(settings.tracking_uri).raw
        if s3 is None:
            s3 = _s3_client()
        cps = sorted({rp.checkpoint, rp.aliased_checkpoint})
        return cls(
            revoked=RegistryClient.wrap(client, settings.tracking_uri).revoked_ids(),
            evidence=policy.gate_config("model-version", EV.EvidencePolicy),
            settings=settings, policy=policy, rp=rp,
            public_keys=load_public_keys(str(settings.public_key)),
            client=client, s3=s3,
            scanners={cp: scanner_versions(policy, cp, rp.engines) for cp in cps},
            policy_digests={cp: scan_policy_digest(policy, cp) for cp in cps},
            failed_buckets=dict(failed_buckets or {}), emitter=emitter,
        )

    def key_paths(self) -> list[Path]:
        return [Path(p) for p in str(self.settings.public_key).split(os.pathsep) if p.strip()]

    def key_paths_str(self) -> list[str]:
        return [str(p) for p in self.key_paths()]

    @property
    def trust(self) -> tuple[str, ...]:
        return self.rp.byte_check.trust


def _s3_client() -> Any | None:
    try:
        return aws.client("s3")
    except ImportError:  # pragma: no cover - boto3 is in the flows extra
        return None


_CACHE: dict[str, Runtime] = {}
_CACHE_LOCK = threading.Lock()


def runtime_for(settings: RescanSettings, run_token: str, failed_buckets: dict[str, str]) -> Runtime:
    """One :class:`Runtime` per process and rescan run (tasks of the same run share it)."""
    key = f"{run_token}:{settings.model_dump_json()}:{json.dumps(failed_buckets, sort_keys=True)}"
    with _CACHE_LOCK:
        rt = _CACHE.get(key)
        if rt is None:
            rt = Runtime.build(settings, failed_buckets)
            while len(_CACHE) >= 4:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = rt
        return rt


# ---------------------------------------------------------------------------------------------
# one version
# ---------------------------------------------------------------------------------------------


def take_inventory(settings: RescanSettings, refs: Sequence[VersionRef], s3: Any | None = None) -> Inventory:
    """The run's bulk listing of the versions' storage (one paginated listing per bucket)."""
    s3 = s3 if s3 is not None else _s3_client()
    if s3 is None:
        return Inventory()
    return build_inventory(s3, hint_locations(refs, settings.artifacts_destination))


def complete_inventory(rt: Runtime, refs: Sequence[VersionRef], inventory: Inventory | None) -> Inventory:
    """A batch's slice of the run's listing, completed by a bulk listing of what it does not cover."""
    inv = inventory or Inventory()
    if rt.s3 is None:
        return inv
    missing = [loc for loc in hint_locations(refs, rt.settings.artifacts_destination) if not inv.covers(loc)]
    if len(missing) > 1:
        inv.merge(build_inventory(rt.s3, missing))
    return inv


def hint_locations(refs: Sequence[VersionRef], artifacts_destination: str | None) -> list[S3Location]:
    """Where the versions' bytes and signatures probably are (from their sources, signature tags
    and recorded states): only hints for what to list in bulk; nothing is trusted from them."""
    locs: list[S3Location] = []
    for ref in refs:
        for uri, folder in ((ref.source, True), (ref.tags.get(T.SIGNATURE, ""), False)):
            loc = map_uri(uri, artifacts_destination, folder=folder) if uri else None
            if loc is not None:
                locs.append(loc)
        hint = _state_hint(ref.tags.get(STATE_TAG))
        if hint is not None:
            locs.extend(hint)
    return locs


def _state_hint(tag: str | None) -> list[S3Location] | None:
    try:
        import base64

        payload = json.loads(base64.b64decode(json.loads(tag or "")["payload"]))
        out = []
        for field_, folder in (("location", bool(payload.get("location_is_folder", True))),
                               ("signature_location", False)):
            loc = payload.get(field_)
            if isinstance(loc, str) and loc.startswith("s3://"):
                out.append(S3Location.parse(loc, folder=folder))
        return out
    except Exception:
        return None


def check_version(rt: Runtime, ref: VersionRef, inventory: Inventory | None = None) -> VersionResult:
    """Check one version; never raises (a failure is a result)."""
    t0 = time.monotonic()
    result: VersionResult | None = None
    for attempt in range(ATTEMPTS):
        try:
            result = _check(rt, ref, inventory if attempt == 0 else None)
            break
        except TransientError as e:
            if attempt == ATTEMPTS - 1:
                result = _result(ref, Outcome.ERROR, category="error", reason=f"store unavailable: {e}")
            else:
                time.sleep(0.5 * (attempt + 1))
        except Exception as e:
            log.warning("rescan of %s failed", ref.label, exc_info=True)
            result = _result(ref, Outcome.ERROR, category="error", reason=f"{type(e).__name__}: {e}"[:1000])
            break
    assert result is not None
    return result.model_copy(update={"seconds": round(time.monotonic() - t0, 3)})


def _result(ref: VersionRef, outcome: Outcome, **kw: Any) -> VersionResult:
    return VersionResult(name=ref.name, version=ref.version, aliases=ref.aliases, outcome=outcome, **kw)


def _check(rt: Runtime, ref: VersionRef, inv: Inventory | None = None) -> VersionResult:
    tags = ref.tags
    if tags.get(T.VERDICT) == T.QUARANTINED:
        reason = tags.get(T.QUARANTINE_REASON, "")
        if ref.aliases:  # someone pointed an alias at it since: take it out again
            q = quarantine(rt.client, ref.name, ref.version, reason or "still quarantined",
                           emit_event=rt.settings.emit_events, emitter=rt.emitter, public_keys=rt.public_keys)
            return _result(ref, Outcome.STILL_QUARANTINED, reason=reason, removed_aliases=tuple(q.removed_aliases),
                           event_emitted=q.event_emitted)
        return _result(ref, Outcome.STILL_QUARANTINED, reason=reason)
    checkpoint = rt.rp.aliased_checkpoint if ref.aliases else rt.rp.checkpoint
    try:
        return _verify(rt, ref, checkpoint, inv)
    except (Failed, ArtifactProblem) as e:
        f = e if isinstance(e, Failed) else Failed(e.category, str(e))
        q = quarantine(rt.client, ref.name, ref.version, f"rescan [{f.category}]: {f.reason}",
                       emit_event=rt.settings.emit_events, emitter=rt.emitter, public_keys=rt.public_keys)
        if q.already:  # another run (or the registry hook) quarantined it while this one checked it
            return _result(ref, Outcome.STILL_QUARANTINED, reason=q.reason, removed_aliases=tuple(q.removed_aliases),
                           event_emitted=q.event_emitted)
        return _result(ref, Outcome.QUARANTINED, category=f.category, reason=f.reason, checkpoint=checkpoint,
                       gates=f.gates, byte_check=f.byte_check, scanned=f.scanned, reports=f.reports,
                       removed_aliases=tuple(q.removed_aliases), event_emitted=q.event_emitted)


def _verify(rt: Runtime, ref: VersionRef, checkpoint: str, inv: Inventory | None) -> VersionResult:
    tags = ref.tags
    verdict = tags.get(T.VERDICT)
    if not T.is_passing(verdict):
        age = (time.time() * 1000 - ref.created_ms) / 60000
        if verdict is None and not tags.get(T.ENVELOPE) and age < rt.rp.pending_grace_minutes:
            return _result(ref, Outcome.PENDING, category="pending",
                           reason=f"registered {age:.0f} min ago, no mlgate evidence yet")
        raise Failed("unverified", f"mlgate.verdict is {verdict!r}, not 'pass'")
    ev = EV.VersionEvidence(name=ref.name, version=ref.version, source=ref.source, tags=tags)
    v = EV.verify_evidence(ev, EV.RESCAN, rt.public_keys, revoked=EV.revoked_ids(tags, rt.revoked),
                           promotion=promotion_for(rt, ref))
    if v.findings or v.claims is None or v.claims.manifest_sha256 is None:
        raise failed_from(v.findings, prefix="mlgate.verdict is 'pass' but the evidence does not hold: ")
    signed = v.claims.manifest_sha256
    att = v.claims.attestation_id
    state, why = load_state(tags.get(STATE_TAG), rt.public_keys, name=ref.name, version=ref.version,
                            source=ref.source, attestation_sha256=att, manifest_sha256=signed)
    if tags.get(STATE_TAG) and state is None:
        log.info("%s: %s", ref.label, why)
    key = scan_key(signed, rt.scanners[checkpoint], rt.policy_digests[checkpoint], checkpoint)
    need_scan = rt.settings.full or state is None or state.scan != key
    src = (S3Location.parse(state.location, folder=state.location_is_folder)
           if state is not None and state.location else locate_source(rt, ref))
    if src is not None and src.bucket in rt.failed_buckets:
        raise Failed("bucket-audit", f"stored in s3://{src.bucket}, which fails the S3 audit: "
                     f"{rt.failed_buckets[src.bucket]}")
    if state is not None and not rt.settings.full and not need_scan and _identities_unchanged(rt, state, inv):
        return _result(ref, Outcome.UNCHANGED, byte_check="listing", checkpoint=checkpoint, manifest_sha256=signed)
    return _full_check(rt, ref, checkpoint, signed, att, key, need_scan, state, src if state is None else None, inv)


# finding id -> the rescan's quarantine category (what the summary reports)
CATEGORY_OF = {
    EV.UNSIGNED: "unverified", EV.VERDICT: "unverified", EV.QUARANTINED: "unverified",
    EV.FORGED_TAG: "evidence", EV.SIGNATURE: "evidence", EV.REVOKED: "evidence", EV.SOURCE: "evidence",
    EV.PROVENANCE: "evidence", EV.CHECKPOINT: "evidence", EV.GATES: "evidence", EV.POLICY_DIGEST: "evidence",
    EV.MANIFEST: "bytes-changed", EV.MISSING_ARTIFACT: "missing-artifact", EV.MODEL_SIGNATURE: "signature",
}


def failed_from(findings: Sequence[Finding], *, prefix: str = "", byte_check: str = "none") -> Failed:
    if not findings:
        return Failed("evidence", prefix + "the signed statement names no manifest", byte_check=byte_check)
    first = findings[0]
    category = CATEGORY_OF.get(first.id, "error")
    reason = "; ".join(f.message for f in findings)
    return Failed(category, (prefix if category == "evidence" else "") + reason, byte_check=byte_check)


def promotion_for(rt: Runtime, ref: VersionRef) -> EV.PromotionPolicy | None:
    """The promotion rules of the first protected alias the version holds (None: it holds none)."""
    for alias in ref.aliases:
        if rt.evidence.is_protected(alias):
            return rt.evidence.promotion_for(alias)
    return None


def _identities_unchanged(rt: Runtime, state: RescanState, inv: Inventory | None) -> bool:
    if not state.location or not state.objects_digest or rt.s3 is None:
        return False
    days = rt.rp.byte_check.full_after_days
    if days is not None and utcnow() - state.bytes_verified() > _dt.timedelta(days=days):
        return False
    want_sha = "sha256" in rt.trust
    objs = list_objects(rt.s3, S3Location.parse(state.location, folder=state.location_is_folder), sha256=want_sha,
                        inventory=inv)
    if not objs or any(o.kind not in rt.trust for o in objs) or identities_digest(objs) != state.objects_digest:
        return False
    if state.signature_location:
        sig = list_objects(rt.s3, S3Location.parse(state.signature_location, folder=False), sha256=want_sha,
                           inventory=inv)
        if not sig or any(o.kind not in rt.trust for o in sig) or identities_digest(sig) != state.signature_digest:
            return False
    return True


def locate_source(rt: Runtime, ref: VersionRef) -> S3Location | None:
    dest = rt.settings.artifacts_destination
    loc = map_uri(ref.source, dest)
    if loc is None and dest and ref.source.startswith(("models:/", "runs:/")):
        loc = map_uri(str(rt.client.get_model_version_download_uri(ref.name, ref.version)), dest)
    return loc


def resolve_runs_uri(rt: Runtime, uri: str) -> str:
    u = urllib.parse.urlparse(uri)
    if u.scheme != "runs":
        return uri
    parts = u.path.lstrip("/").split("/", 1)
    run_id = u.netloc or parts[0]
    rel = parts[1] if not u.netloc and len(parts) > 1 else u.path.lstrip("/")
    root = str(rt.client.get_run(run_id).info.artifact_uri).rstrip("/")
    return f"{root}/{rel}"


def safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", s)[:80]


def _full_check(rt: Runtime, ref: VersionRef, checkpoint: str, signed: str, att: str, key: ScanKey,
                need_scan: bool, state: RescanState | None, src_hint: S3Location | None = None,
                inv: Inventory | None = None) -> VersionResult:
    rt.settings.work_dir.mkdir(parents=True, exist_ok=True)
    work = rt.settings.work_dir / f"{safe_name(ref.name)}-v{safe_name(ref.version)}-{uuid.uuid4().hex[:8]}"
    try:
        report, fetched = verify_bytes(rt, ref, work, EV.RESCAN, src_hint, inv, promotion=promotion_for(rt, ref))
        if report.verdict is not Verdict.PASS:
            findings = [f for s in report.subjects for f in s.findings] + list(report.findings)
            if fetched.copy is not None and any(f.id == EV.MANIFEST for f in findings):
                hint, category = _manifest_diff(rt, ref, fetched.copy.files, signed, work)
                raise Failed(category, f"the bytes at {fetched.src.uri if fetched.src else ref.source} (manifest "
                             f"{fetched.copy.manifest_sha256[:16]}...) are not the signed bytes (manifest "
                             f"{signed[:16]}...){hint}", byte_check="download", reports=[report])
            if not any(f.kind.value == "issue" for f in findings):
                raise MlgateError(f"{ref.label}: could not be verified: {explain(report)}")
            f = failed_from(findings, byte_check="download")
            f.reports = (report,)
            raise f
        assert fetched.copy is not None
        path, files, objs, src = fetched.copy.path, fetched.copy.files, fetched.objs, fetched.src
        gates: dict[str, str] = {}
        reports: list[Report] = [report]
        if need_scan:
            scan_reports, notes = _scan(rt, path, checkpoint)
            reports += scan_reports
            gates = {r.gate: r.verdict.value for r in scan_reports}
            verdict = Verdict.worst([r.verdict for r in scan_reports]) if scan_reports else Verdict.INCOMPLETE
            if verdict is not Verdict.PASS:
                bad = next((r for r in scan_reports if r.verdict is verdict), None)
                why = f"{bad.gate}: {bad.reason}" if bad is not None else "; ".join(notes) or "nothing was checked"
                raise Failed("findings", f"{checkpoint} verdict {verdict.value}: {why}", gates=gates,
                             byte_check="download", scanned=True, reports=reports)
        if hash_tree(path) != files:
            raise Failed("bytes-changed", "the local copy changed during the check", byte_check="download")
        record_state(rt, ref, signed, att, key, src, objs, fetched.sig_loc, fetched.sig_objs, need_scan, state)
        return _result(ref, Outcome.CLEAN if need_scan else Outcome.UNCHANGED, byte_check="download",
                       scanned=need_scan, checkpoint=checkpoint, gates=gates, manifest_sha256=signed,
                       reports=tuple(reports))
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Fetched:
    """What the rescan's pinned fetchers saw (for the signed state)."""

    copy: FetchedCopy | None = None
    objs: list[ObjectId] = field(default_factory=list)
    src: S3Location | None = None
    sig_objs: list[ObjectId] = field(default_factory=list)
    sig_loc: S3Location | None = None


def verify_bytes(rt: Runtime, ref: VersionRef, work: Path, profile: EV.VerificationProfile,
                 src_hint: S3Location | None = None, inv: Inventory | None = None,
                 promotion: EV.PromotionPolicy | None = None) -> tuple[Report, Fetched]:
    """The ``model-version`` gate on ``ref`` with the rescan's fetchers (exactly the listed S3
    object versions when the store is visible, else through MLflow). The bytes stay in ``work``."""
    from mlgate.gates.model_version import verify_version

    seen = Fetched()

    def fetch(_info: VersionInfo, dest: Path) -> FetchedCopy:
        try:
            path, objs, src = fetch_source(rt, ref, dest.parent, src_hint, inv)
        except (Failed, ArtifactProblem) as e:
            raise FetchError(e.reason if isinstance(e, Failed) else str(e), missing=True) from None
        files = hash_tree(path)
        if not files:
            raise FetchError(f"{ref.source}: no files", missing=True)
        seen.copy = FetchedCopy(uri=src.uri if src else ref.source, path=path, files=files,
                                manifest_sha256=manifest_of(files))
        seen.objs, seen.src = objs, src
        return seen.copy

    def fetch_sig(_info: VersionInfo, dest: Path) -> Path:
        try:
            sig, seen.sig_objs, seen.sig_loc = fetch_signature(rt, ref, dest.parent, inv)
        except (Failed, ArtifactProblem) as e:
            raise FetchError(e.reason if isinstance(e, Failed) else str(e), missing=True) from None
        return sig

    alias = next((a for a in ref.aliases if rt.evidence.is_protected(a)), None) if promotion is not None else None
    report = verify_version(rt.client, ref.name, ref.version, policy=rt.policy, public_keys=rt.key_paths_str(),
                            profile=profile, work_dir=work, checkpoint=rt.rp.checkpoint, fetch=fetch,
                            fetch_signature=fetch_sig, revoked=rt.revoked, keep_bytes=True, promote_to=alias)
    return report, seen


def fetch_source(rt: Runtime, ref: VersionRef, work: Path, hint: S3Location | None = None,
                 inv: Inventory | None = None) -> tuple[Path, list[ObjectId], S3Location | None]:
    src = hint or locate_source(rt, ref)
    if src is not None and rt.s3 is not None:
        objs = list_objects(rt.s3, src, sha256="sha256" in rt.trust, inventory=inv)
        if not objs:
            raise Failed("missing-artifact", f"{src.uri}: no objects at the version's storage location",
                         byte_check="download")
        return fetch_pinned(rt.s3, src, objs, work / "model"), objs, src
    try:  # no S3 view of the store: read the bytes through MLflow
        copy = stage(ref.source, work / "model", tracking_uri=rt.settings.tracking_uri)
    except StagingError as e:
        if _looks_transient(e):
            raise TransientError(str(e)) from e
        raise Failed("missing-artifact", str(e), byte_check="download") from None
    return copy.path, [], None


def _looks_transient(e: BaseException) -> bool:
    return looks_transient(e)


def fetch_signature(rt: Runtime, ref: VersionRef, work: Path,
                    inv: Inventory | None = None) -> tuple[Path, list[ObjectId], S3Location | None]:
    uri = ref.tags.get(T.SIGNATURE)
    if not uri:
        raise Failed("signature", "the version has no mlgate.signature tag", byte_check="download")
    resolved = resolve_runs_uri(rt, uri)
    loc = map_uri(resolved, rt.settings.artifacts_destination, folder=False)
    if loc is not None and rt.s3 is not None:
        objs = list_objects(rt.s3, loc, sha256="sha256" in rt.trust, inventory=inv)
        if not objs:
            raise Failed("signature", f"the signature file {loc.uri} is missing", byte_check="download")
        return fetch_pinned(rt.s3, loc, objs, work / "signature"), objs, loc
    import mlflow

    dest = work / "signature"
    dest.mkdir(parents=True)
    try:
        got = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest),
                                                  tracking_uri=rt.settings.tracking_uri)
    except Exception as e:
        if _looks_transient(e):
            raise TransientError(f"{uri}: {e}") from e
        raise Failed("signature", f"the signature file {uri} cannot be fetched: {e}", byte_check="download") from None
    return Path(got), [], None


def verify_signature(rt: Runtime, model: Path, sig: Path) -> None:
    try:
        verify_model_signature(model, sig, rt.key_paths_str())
    except VerificationError as e:
        raise Failed("signature", str(e), byte_check="download") from None


def _scan(rt: Runtime, path: Path, checkpoint: str) -> tuple[list[Report], list[str]]:
    from mlgate.lifecycle.checkpoints import run_checkpoint

    outcome = run_checkpoint(checkpoint, rt.policy, scan_paths=[str(path)])
    return outcome.reports, outcome.notes


def record_state(rt: Runtime, ref: VersionRef, signed: str, att: str, key: ScanKey, src: S3Location | None,
                  objs: list[ObjectId], sig_loc: S3Location | None, sig_objs: list[ObjectId], scanned: bool,
                  old: RescanState | None) -> None:
    if rt.settings.private_key is None:
        return
    now = utcnow().isoformat()
    state = RescanState(
        name=ref.name, version=ref.version, source=ref.source, attestation_sha256=att, manifest_sha256=signed,
        location=src.uri if src is not None and objs else None,
        location_is_folder=src.folder if src is not None else True,
        objects_digest=identities_digest(objs) if objs else None,
        objects=len(objs), identity=weakest(objs) if objs else None,
        signature_location=sig_loc.uri if sig_loc is not None and sig_objs else None,
        signature_digest=identities_digest(sig_objs) if sig_objs else None,
        scan=key, bytes_verified_at=now,
        scanned_at=now if scanned else (old.scanned_at if old is not None else None),
    )
    rt.client.set_model_version_tag(ref.name, ref.version, STATE_TAG, sign_state(state, rt.settings.private_key))


def _manifest_diff(rt: Runtime, ref: VersionRef, files: dict[str, str], signed: str,
                   work: Path) -> tuple[str, str]:
    """Which files differ, from the evidence manifest next to the attestation (used only if its
    digest is the signed manifest), and the category: ``missing-artifact`` when files are only
    missing, else ``bytes-changed``. Best effort: no hint when that manifest cannot be read."""
    att = ref.tags.get(T.ATTESTATION, "")
    if not att.endswith("/attestation.json"):
        return "", "bytes-changed"
    uri = att[: -len("attestation.json")] + "manifest.json"
    try:
        import mlflow

        dest = work / "manifest"
        dest.mkdir(parents=True, exist_ok=True)
        got = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest),
                                                       tracking_uri=rt.settings.tracking_uri))
        old = json.loads(got.read_text())["files"]
        if not isinstance(old, dict) or manifest_of(old) != signed:
            return "", "bytes-changed"
    except Exception:
        return "", "bytes-changed"
    changed = sorted(k for k in set(old) & set(files) if old[k] != files[k])
    added = sorted(set(files) - set(old))
    removed = sorted(set(old) - set(files))
    parts = [f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
             for label, names in (("changed", changed), ("added", added), ("missing", removed)) if names]
    category = "missing-artifact" if removed and not changed and not added else "bytes-changed"
    return (f" ({'; '.join(parts)})" if parts else ""), category


# ---------------------------------------------------------------------------------------------
# buckets
# ---------------------------------------------------------------------------------------------


def audit_targets(settings: RescanSettings, refs: Sequence[VersionRef] = ()) -> list[str]:
    """The configured buckets, the artifacts destination's bucket, and the buckets of s3:// sources
    (without ``refs``: the ones known before the registry is read)."""
    out = set(settings.buckets)
    if settings.artifacts_destination:
        out.add(S3Location.parse(settings.artifacts_destination).bucket)
    for r in refs:
        loc = map_uri(r.source, settings.artifacts_destination)
        if loc is not None:
            out.add(loc.bucket)
    return sorted(out)


def bucket_results(report: Report, buckets: Sequence[str]) -> list[BucketResult]:
    """Per bucket: the worst of its own subjects, its access points and the account-level ones."""
    account = [s for s in report.subjects if s.kind == "account"]
    out = []
    for b in buckets:
        mine = [s for s in report.subjects if s.kind != "account" and (s.subject == b or s.root == b)]
        related = mine + account
        if not mine:
            out.append(BucketResult(bucket=b, verdict=report.verdict if report.verdict is not Verdict.PASS
                                    else Verdict.INCOMPLETE, reason=report.reason or "not audited"))
            continue
        verdict = Verdict.worst([s.verdict for s in related])
        bad = next((s for s in related if s.verdict is verdict and verdict is not Verdict.PASS), None)
        out.append(BucketResult(bucket=b, verdict=verdict, reason=f"{bad.subject}: {bad.reason}" if bad else ""))
    return out


def audit_buckets(settings: RescanSettings, targets: Sequence[str], *, session: Any | None = None,
                  policy: Policy | None = None) -> list[BucketResult]:
    """The S3 audit gate over ``targets`` (see :func:`audit_targets`), one result per bucket."""
    policy = policy or load_policy(settings.policy_path)
    rp = rescan_policy(policy)
    if not rp.audit_buckets:
        return []
    targets = sorted(set(targets))
    if not targets:
        return []
    from mlgate.api import run_gate

    opts = {"session": session} if session is not None else {}
    try:
        report = run_gate("s3-audit", targets, policy=policy, checkpoint=rp.checkpoint, **opts)
    except MlgateError as e:
        return [BucketResult(bucket=b, verdict=Verdict.ERROR, reason=str(e)) for b in targets]
    return bucket_results(report, targets)


def failed_buckets(settings: RescanSettings, results: Sequence[BucketResult]) -> dict[str, str]:
    """Buckets whose versions are quarantined (policy ``on_bucket_failure: quarantine``): only a
    FAIL counts (an audit that could not run is reported, not held against the versions)."""
    rp = rescan_policy(load_policy(settings.policy_path))
    if rp.on_bucket_failure != "quarantine":
        return {}
    return {b.bucket: b.reason for b in results if b.verdict is Verdict.FAIL}


def describe(settings: RescanSettings) -> tuple[Policy, dict[str, str]]:
    """The policy and the scanner versions a run judges by (for the summary)."""
    policy = load_policy(settings.policy_path)
    rp = rescan_policy(policy)
    merged: dict[str, str] = {}
    for cp in sorted({rp.checkpoint, rp.aliased_checkpoint}):
        merged.update(scanner_versions(policy, cp, rp.engines))
    return policy, merged
