"""The model-file gate over remote targets. It is the model-scan gate (same id, same policy
settings, same per-file analysis, same manifest digest), with remote targets listed and then
streamed one object at a time: fetch into a private temporary file, verify the copy against the
listing, scan it with the gate's own per-file scanner, delete it. At most ``max_workers`` objects
are on disk at once; each object's size is checked against the free space before it is fetched.

Fail closed: a listing error, AccessDenied or an unsafe name is an ``error`` finding; an object
whose staged copy does not match the listing is not scanned at all and is an ``error``; a target
with nothing under it is ``incomplete``. The manifest of a remote root is computed only when every
listed object was fetched, verified and hashed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mlgate.digest import manifest_of
from mlgate.gate import GateRun, Progress, SubjectDraft
from mlgate.gates.model_scan import Entry, ModelScanConfig, ModelScanGate, scan_file
from mlgate.gates.model_scan.globals_policy import GlobalsPolicy
from mlgate.model import Finding, FindingKind, Location, RootManifest, Severity
from mlgate.policy import Policy
from mlgate.targets.base import Listing, RemoteObject, Source, TargetProblem

_TITLES = {
    "MLG-TARGET-LIST": "Remote target could not be listed",
    "MLG-TARGET-EMPTY": "Remote target holds nothing to check",
    "MLG-TARGET-FETCH": "Remote object could not be fetched",
    "MLG-TARGET-MISMATCH": "Staged copy does not match what the store listed",
    "MLG-TARGET-UNSAFE-NAME": "Remote object name is unsafe",
    "MLG-TARGET-DISK": "Not enough local disk to stage the object",
}
_FIX = {
    "MLG-TARGET-LIST": "Check the URI, the credentials and the endpoint (AWS_ENDPOINT_URL, MLFLOW_TRACKING_URI, "
    "HF_ENDPOINT), then scan again.",
    "MLG-TARGET-EMPTY": "Point the scan at the prefix/version that holds the model files.",
    "MLG-TARGET-FETCH": "Check read permissions and connectivity, then scan again.",
    "MLG-TARGET-MISMATCH": "The object changed while it was being checked, or the store served other bytes than "
    "it listed: find out who writes there before trusting it.",
    "MLG-TARGET-UNSAFE-NAME": "Object names with '..', absolute paths or backslashes cannot be mapped to model "
    "files safely: rename them in the store.",
    "MLG-TARGET-DISK": "Free space in the temporary folder (TMPDIR) or lower gates.model-scan.max_workers.",
}

SourceFactory = Callable[[str], Source]


def problem_finding(p: TargetProblem, path: str) -> Finding:
    kind = FindingKind.UNSUPPORTED if p.empty else FindingKind.ERROR
    return Finding(
        id=p.rule,
        title=_TITLES.get(p.rule, "Remote target problem"),
        severity=Severity.MEDIUM if p.empty else Severity.HIGH,
        kind=kind,
        message=str(p),
        location=Location(path=path),
        engine="mlgate",
        remediation=_FIX.get(p.rule, ""),
    )


class RemoteModelScanGate(ModelScanGate):
    """``model-scan`` for a mix of local paths and remote URIs (``sources`` resolves a URI)."""

    def __init__(self, sources: SourceFactory) -> None:
        self._sources = sources
        #: Targets that listed nothing / failed at the target level (the API floors the verdict on them).
        self.empty_targets: list[str] = []
        self.failed_targets: list[str] = []

    def _check(
        self,
        targets: list[str],
        policy: Policy,
        checkpoint: str | None,
        config: ModelScanConfig,
        progress: Progress,
        **options: Any,
    ) -> GateRun:
        from mlgate.targets import is_remote

        local = [t for t in targets if not is_remote(t)]
        run = super()._check(local, policy, checkpoint, config, progress, **options)
        gp = GlobalsPolicy.from_policy(policy, checkpoint)
        by_root: dict[str, list[SubjectDraft]] = {d.root: [] for d in run.subjects}
        for d in run.subjects:
            by_root[d.root].append(d)
        remote_drafts: dict[str, list[SubjectDraft]] = {}
        manifests = {m.root: m for m in run.manifests}
        with tempfile.TemporaryDirectory(prefix="mlgate-stage-") as tmp:
            os.chmod(tmp, 0o700)
            for t in targets:
                if not is_remote(t):
                    continue
                drafts, manifest = self._scan_remote(t, run, config, gp, progress, Path(tmp))
                remote_drafts[t] = drafts
                if manifest is not None:
                    manifests[t] = manifest
        # Keep the order the targets were given in.
        ordered: list[SubjectDraft] = []
        for t in targets:
            ordered += remote_drafts.get(t, []) if is_remote(t) else by_root.get(t, [])
        seen = {id(d) for d in ordered}
        ordered += [d for d in run.subjects if id(d) not in seen]
        run.subjects = ordered
        run.manifests = [manifests[t] for t in dict.fromkeys(targets) if t in manifests]
        return run

    def _scan_remote(
        self, uri: str, run: GateRun, config: ModelScanConfig, gp: GlobalsPolicy, progress: Progress, tmp: Path
    ) -> tuple[list[SubjectDraft], RootManifest | None]:
        try:
            source = self._sources(uri)
            listing = source.list(uri)
        except TargetProblem as p:
            (self.empty_targets if p.empty else self.failed_targets).append(uri)
            run.findings.append(problem_finding(p, uri))
            return [], None
        run.notes += listing.notes
        for lp in listing.problems:
            run.findings.append(problem_finding(lp, uri))
        if listing.problems:
            self.failed_targets.append(uri)
        progress(0, f"{uri}: {len(listing.objects)} object(s)")
        slot = tmp / f"t{len(os.listdir(tmp))}"
        slot.mkdir()

        def one(i_obj: tuple[int, RemoteObject]) -> SubjectDraft:
            i, obj = i_obj
            return self._scan_object(uri, source, listing, obj, slot / f"o{i}", config, gp)

        with ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="mlgate-remote") as pool:
            drafts = []
            for d in pool.map(one, enumerate(listing.objects)):
                drafts.append(d)
                progress(1, d.subject)
        ok = not listing.problems and all(d.sha256 and not d.details.get("staging_error") for d in drafts)
        if not ok:
            if uri not in self.failed_targets:
                self.failed_targets.append(uri)
            return drafts, None
        files = {d.subject: str(d.sha256) for d in drafts}
        expected = listing.details.get("expected_manifest_sha256")
        if expected and expected != manifest_of(files):
            run.findings.append(Finding(
                id="MLG-TARGET-MANIFEST-CHANGED",
                title="Stored artifact differs from the manifest the registry recorded",
                severity=Severity.CRITICAL,
                message=f"{uri}: manifest of the fetched files is {manifest_of(files)}, the version's "
                f"mlgate.manifest_sha256 tag says {expected}",
                location=Location(path=uri),
                engine="mlgate",
                remediation="Someone changed the stored files after they were checked and signed: do not deploy "
                "this version; find who wrote to the artifact store.",
            ))
        return drafts, RootManifest(
            root=uri,
            kind=listing.kind,
            manifest_sha256=manifest_of(files),
            files=files,
            total_bytes=sum(d.size or 0 for d in drafts),
        )

    def _scan_object(
        self,
        uri: str,
        source: Source,
        listing: Listing,
        obj: RemoteObject,
        work: Path,
        config: ModelScanConfig,
        gp: GlobalsPolicy,
    ) -> SubjectDraft:
        work.mkdir()
        dest = work / "blob"
        try:
            if obj.size is not None:
                free = shutil.disk_usage(work).free
                if obj.size > free:
                    raise TargetProblem(f"{uri}: {obj.rel} is {obj.size} bytes, {free} free in {work.parent}",
                                        rule="MLG-TARGET-DISK")
            fetched = source.fetch(listing, obj, dest)
            draft = scan_file(Entry(root=uri, rel=obj.rel, abspath=str(dest)), config, gp)
            draft.details = {**draft.details, "remote": fetched.details}
            ref = listing.details.get("signature_ref")
            if ref:
                draft.details["signature_ref"] = ref
            if draft.size is not None and draft.size != fetched.size:  # changed on local disk after the fetch
                raise TargetProblem(f"{uri}: {obj.rel}: scanned {draft.size} bytes, staged {fetched.size}",
                                    rule="MLG-TARGET-MISMATCH")
            return draft
        except TargetProblem as p:
            d = SubjectDraft(subject=obj.rel, kind="file", root=uri, size=obj.size)
            d.findings.append(problem_finding(p, obj.rel))
            d.details["staging_error"] = str(p)
            return d
        finally:
            shutil.rmtree(work, ignore_errors=True)
