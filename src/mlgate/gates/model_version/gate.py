"""The ``model-version`` gate (see the package docstring).

Options of :meth:`~mlgate.gate.Gate.evaluate` (all keyword):

``registry``        a :class:`~mlgate.integrations.mlflow.RegistryClient` (or an ``MlflowClient``)
``public_keys``     trusted public key path(s) (a list or an ``os.pathsep`` string: key rotation)
``profile``         a profile name or :class:`~mlgate.evidence.verify.VerificationProfile`
``work_dir``        where the bytes are fetched (a folder per subject, removed unless ``keep_bytes``)
``promote_to``      the alias the caller is about to set (a protected one adds the promotion checks)
``fetch``           ``(VersionInfo, dest) -> FetchedCopy``: how the caller gets the bytes (default:
                    download the version's storage location through MLflow)
``fetch_signature`` ``(VersionInfo, dest) -> Path``: the model signature file (default: download
                    the ``mlgate.signature`` tag's URI)
``revoked``         the globally revoked attestation ids, when the caller already has them
``keep_bytes``      keep the fetched copy (its path is in the subject's ``details.local_copy``)
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
import uuid
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from mlgate.evidence import tags as T
from mlgate.evidence.keys import VerificationError, load_public_keys, public_key_paths
from mlgate.evidence.model_signature import verify_model_signature
from mlgate.evidence.verify import (
    MANIFEST,
    MISSING_ARTIFACT,
    MODEL_SIGNATURE,
    PROFILES,
    UNAVAILABLE,
    EvidencePolicy,
    VerificationProfile,
    VersionEvidence,
    finding,
    revoked_ids,
    verify_evidence,
)
from mlgate.gate import Gate, GateRun, Progress, SubjectDraft
from mlgate.integrations.mlflow import FetchedCopy, FetchError, RegistryClient, VersionInfo
from mlgate.model import Coverage, FindingKind, Report, RootManifest
from mlgate.policy import Policy

Fetch = Callable[[VersionInfo, Path], FetchedCopy]
FetchSignature = Callable[[VersionInfo, Path], Path]


def parse_subject(target: str) -> tuple[str, str]:
    """``models:/<name>/<version>`` -> ``(name, version)``."""
    u = urllib.parse.urlparse(target)
    parts = u.path.lstrip("/").rsplit("/", 1) if not u.netloc else [u.netloc, u.path.strip("/")]
    if u.scheme != "models" or len(parts) != 2 or not parts[0] or not parts[1].isdigit():
        raise ValueError(f"{target!r}: expected models:/<name>/<version>")
    return parts[0], parts[1]


def _profile(p: str | VerificationProfile) -> VerificationProfile:
    if isinstance(p, VerificationProfile):
        return p
    try:
        return PROFILES[p]
    except KeyError:
        raise ValueError(f"unknown verification profile {p!r} (one of {sorted(PROFILES)})") from None


class ModelVersionGate(Gate[EvidencePolicy]):
    id = "model-version"
    config_model = EvidencePolicy
    subject_noun = "model version"

    def _check(self, targets: list[str], policy: Policy, checkpoint: str | None, config: EvidencePolicy,
               progress: Progress, **options: Any) -> GateRun:
        registry = RegistryClient.wrap(options["registry"])
        key_spec = options["public_keys"]
        keys = load_public_keys(key_spec)
        key_paths = public_key_paths(key_spec)
        profile = _profile(options.get("profile", "deploy"))
        work_dir = Path(options.get("work_dir") or Path.cwd() / ".mlgate-verify")
        promote_to: str | None = options.get("promote_to")
        fetch: Fetch | None = options.get("fetch")
        fetch_signature: FetchSignature | None = options.get("fetch_signature")
        keep = bool(options.get("keep_bytes", False))
        global_revoked: Collection[str] | None = options.get("revoked")
        if profile.revocation and global_revoked is None:
            global_revoked = registry.revoked_ids()
        run = GateRun(tools={})
        for target in targets:
            name, version = parse_subject(target)
            info = registry.version(name, version)
            draft = self._one(registry, info, profile, keys, key_paths, config, work_dir, promote_to, fetch,
                              fetch_signature, keep, global_revoked or (), run)
            run.subjects.append(draft)
            progress(1, target)
        return run

    def _one(self, registry: RegistryClient, info: VersionInfo, profile: VerificationProfile, keys: Sequence[Any],
             key_paths: Sequence[Path], config: EvidencePolicy, work_dir: Path, promote_to: str | None,
             fetch: Fetch | None, fetch_signature: FetchSignature | None, keep: bool,
             global_revoked: Collection[str], run: GateRun) -> SubjectDraft:
        ev = VersionEvidence(name=info.name, version=info.version, source=info.source, tags=info.tags)
        subject = ev.subject
        promotion = config.promotion_for(promote_to) if promote_to and config.is_protected(promote_to) else None
        revoked = revoked_ids(info.tags, global_revoked) if profile.revocation else set()
        draft = SubjectDraft(subject=subject, kind="model-version", root=subject,
                             details={"profile": profile.name, "source": info.source, "aliases": list(info.aliases)})
        v = verify_evidence(ev, profile, keys, revoked=revoked, promotion=promotion)
        if v.claims is not None:
            draft.details.update(attestation_id=v.claims.attestation_id, provenance=v.claims.provenance,
                                 signed_manifest_sha256=v.claims.manifest_sha256, keyid=v.claims.keyid,
                                 legacy_statement=v.claims.legacy)
        draft.findings.extend(v.findings)
        if v.findings or v.claims is None or profile.bytes == "location-hash":
            return draft  # nothing more to learn: the subject fails on what the tags show
        work = work_dir / f"{_safe(info.name)}-v{info.version}-{uuid.uuid4().hex[:8]}"
        checked = list(v.checked)
        try:
            try:
                copy = (fetch or (lambda i, d: registry.fetch_version(i.name, i.version, d)))(info, work / "model")
            except FetchError as e:
                draft.findings.append(finding(MISSING_ARTIFACT if e.missing else UNAVAILABLE, f"{subject}: {e}",
                                              subject, kind=FindingKind.ISSUE if e.missing else FindingKind.ERROR))
                return draft
            draft.sha256 = copy.manifest_sha256
            draft.details["manifest_sha256"] = copy.manifest_sha256
            run.manifests.append(RootManifest(root=subject, manifest_sha256=copy.manifest_sha256,
                                              files=dict(copy.files)))
            if copy.manifest_sha256 != v.claims.manifest_sha256:
                again = verify_evidence(ev, profile, keys, revoked=revoked, manifest_sha256=copy.manifest_sha256)
                draft.findings.extend(f for f in again.findings if f.id == MANIFEST)
                return draft
            checked.append("manifest")
            if profile.model_signature:
                problem = self._model_signature(registry, info, copy, key_paths, fetch_signature, work)
                if problem:
                    draft.findings.append(finding(MODEL_SIGNATURE, f"{subject}: {problem}", subject))
                    return draft
                checked.append("model-signature")
            if keep:
                draft.details["local_copy"] = str(copy.path)
                draft.details["files"] = dict(copy.files)
                draft.details["fetched_from"] = copy.uri
            draft.coverage.append(Coverage(engine="mlgate", format="model-version",
                                           detail=f"profile {profile.name}: {', '.join(checked)}"))
            return draft
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def _model_signature(registry: RegistryClient, info: VersionInfo, copy: FetchedCopy, key_paths: Sequence[Path],
                         fetch_signature: FetchSignature | None, work: Path) -> str | None:
        try:
            if fetch_signature is not None:
                sig = fetch_signature(info, work / "signature")
            else:
                uri = info.tags.get(T.SIGNATURE)
                if not uri:
                    return f"the version has no {T.SIGNATURE} tag (no OpenSSF model signature)"
                sig = registry.download(uri, work / "signature")
            verify_model_signature(copy.path, sig, [str(p) for p in key_paths])
        except FetchError as e:
            return f"the model signature cannot be fetched: {e}"
        except VerificationError as e:
            return str(e)
        return None


def _safe(s: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in s)[:80]


def verify_version(
    registry: Any,
    name: str,
    version: str | int,
    *,
    policy: Policy,
    public_keys: str | os.PathLike[str] | Sequence[str],
    profile: str | VerificationProfile,
    work_dir: Path,
    checkpoint: str | None = None,
    **options: Any,
) -> Report:
    """Run the ``model-version`` gate on one version (the built-in class: callers never depend on
    an entry point being installed to verify evidence)."""
    return ModelVersionGate().evaluate([f"models:/{name}/{version}"], policy, checkpoint, registry=registry,
                                       public_keys=public_keys, profile=profile, work_dir=work_dir, **options)


def explain(report: Report) -> str:
    """The findings' messages (what was wrong, per subject), else the report's reason."""
    msgs = [f.message for s in report.subjects for f in s.findings if not f.waived] + \
        [f.message for f in report.findings if not f.waived]
    return "; ".join(dict.fromkeys(msgs)) or report.reason
