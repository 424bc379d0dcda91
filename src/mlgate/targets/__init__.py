"""Remote scan targets for ``mlgate scan`` and :func:`mlgate.api.scan`.

==========================  ===========================================================
``s3://bucket/prefix``      boto3 (standard configuration, ``AWS_ENDPOINT_URL`` honoured)
``models:/name/version``    the MLflow client (``MLFLOW_TRACKING_URI``); also ``@alias``
``runs:/run_id/path``       the MLflow client
``hf://org/repo@<commit>``  ``huggingface_hub`` (``HF_ENDPOINT``); the revision must be a
                            full 40-hex commit sha: branches and tags move, so they are refused
==========================  ===========================================================

Every target is listed first; then each object is streamed into a private temporary file,
verified against the listing (size always; ETag/version id, checksums, LFS sha256 or git blob id
where the store gives them), scanned by the model-scan gate's own per-file scanner and deleted.
The manifest digest of a remote root is defined exactly as for a local folder (README, "The
model-file gate"), over the paths relative to the target, so a prefix and a local copy of the same
files have the same digest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mlgate.errors import UsageError
from mlgate.gate import Progress
from mlgate.model import Report, Verdict
from mlgate.policy import Policy
from mlgate.targets.base import Source, TargetProblem

SCHEMES = ("s3://", "models:/", "runs:/", "hf://")
_SHA = re.compile(r"[0-9a-f]{40}")


def is_remote(target: str) -> bool:
    return str(target).startswith(SCHEMES)


def parse_hf(uri: str) -> tuple[str, str]:
    """``hf://org/repo@<40-hex commit>`` -> (repo_id, commit). Anything else is a usage error that
    says why (a branch or tag is not a pin: what was scanned would not be what is loaded later)."""
    rest = uri[len("hf://") :]
    repo, sep, rev = rest.rpartition("@")
    if not sep:
        raise UsageError(f"{uri}: a Hugging Face target needs a pinned revision: hf://org/repo@<40-hex commit sha>")
    if not _SHA.fullmatch(rev):
        raise UsageError(
            f"{uri}: revision {rev!r} is not a full commit sha; branches and tags move, so the scanned bytes "
            "would not be the bytes loaded later: use hf://org/repo@<40-hex commit sha>"
        )
    parts = repo.split("/")
    if len(parts) != 2 or not all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", p) for p in parts):
        raise UsageError(f"{uri}: expected hf://org/repo@<commit>")
    return repo, rev


def check_target(target: str) -> None:
    """Usage errors found before anything is fetched."""
    if target.startswith("hf://"):
        parse_hf(target)
    elif target.startswith("s3://") and len(target) <= len("s3://"):
        raise UsageError(f"{target}: expected s3://bucket/prefix")


def source_for(target: str, *, session: Any | None = None, tracking_uri: str | None = None,
               hf_endpoint: str | None = None, hf_token: str | None = None) -> Source:
    if target.startswith("s3://"):
        from mlgate.targets.s3 import S3Source

        return S3Source(session)
    if target.startswith(("models:/", "runs:/")):
        from mlgate.targets.mlflow import MlflowSource

        return MlflowSource(tracking_uri)
    if target.startswith("hf://"):
        from mlgate.targets.hf import HfSource

        return HfSource(endpoint=hf_endpoint, token=hf_token)
    raise TargetProblem(f"{target}: not a remote target")


def scan_targets(
    targets: Sequence[str],
    policy: Policy,
    *,
    checkpoint: str | None = None,
    progress: Progress | None = None,
    session: Any | None = None,
    tracking_uri: str | None = None,
    hf_endpoint: str | None = None,
    hf_token: str | None = None,
) -> Report:
    """The model-file gate over local paths and remote URIs. A target that could not be listed or
    staged makes the report at least ``error``, an empty one at least ``incomplete``, whatever the
    policy says about scanner errors or unsupported content (nothing was checked there)."""
    from mlgate.targets.gate import RemoteModelScanGate

    for t in targets:
        check_target(t)
    gate = RemoteModelScanGate(
        lambda t: source_for(t, session=session, tracking_uri=tracking_uri, hf_endpoint=hf_endpoint, hf_token=hf_token)
    )
    report = gate.evaluate(list(targets), policy, checkpoint, progress)
    floor, why = Verdict.PASS, ""
    if gate.empty_targets:
        floor, why = Verdict.INCOMPLETE, f"nothing to check under {', '.join(gate.empty_targets)}"
    if gate.failed_targets:
        floor, why = Verdict.ERROR, f"not fully listed or staged: {', '.join(dict.fromkeys(gate.failed_targets))}"
    if floor.rank > report.verdict.rank:
        report = report.model_copy(update={"verdict": floor, "reason": f"{why}; {report.reason}"})
    return report
