"""The Python API the flows (and users) call. Every function returns a :class:`mlgate.model.Report`;
none of them exits the process or prints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlgate.gate import Progress, load_gate
from mlgate.model import Report
from mlgate.policy import Policy, default_policy_path, load_policy


def _policy(policy: Policy | str | Path | None) -> Policy:
    if isinstance(policy, Policy):
        return policy
    return load_policy(policy if policy is not None else default_policy_path())


def run_gate(
    gate_id: str,
    targets: Sequence[str | Path],
    *,
    policy: Policy | str | Path | None = None,
    checkpoint: str | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> Report:
    gate = load_gate(gate_id)
    return gate.evaluate([str(t) for t in targets], _policy(policy), checkpoint, progress, **options)


def scan(
    paths: Sequence[str | Path] | str | Path,
    *,
    checkpoint: str | None = None,
    policy: Policy | str | Path | None = None,
    progress: Progress | None = None,
    **remote: Any,
) -> Report:
    """Scan model files/folders at a checkpoint under a policy (the model-file gate).

    Targets may also be remote (``s3://bucket/prefix``, ``models:/name/version``, ``runs:/id/path``,
    ``hf://org/repo@<commit>``; see :mod:`mlgate.targets`); ``remote`` passes ``session`` (boto3),
    ``tracking_uri``, ``hf_endpoint``, ``hf_token`` to them."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    from mlgate.targets import is_remote

    if any(is_remote(str(p)) for p in paths) or remote:
        from mlgate.targets import scan_targets

        return scan_targets([str(p) for p in paths], _policy(policy), checkpoint=checkpoint, progress=progress,
                            **remote)
    return run_gate("model-scan", paths, policy=policy, checkpoint=checkpoint, progress=progress)
