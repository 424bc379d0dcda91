"""How the rescan splits its work (Prefect-free). The Prefect tasks of the rescan flow live in
:mod:`mlgate.orchestration.tasks`."""

from __future__ import annotations

import math

from mlgate.rescan.select import VersionRef

MAX_BATCH = 100


def batches(refs: list[VersionRef], max_workers: int) -> list[list[VersionRef]]:
    """Order-preserving batches (aliased versions are first, so they start first), small enough
    to keep every worker busy (about four batches per worker), at most MAX_BATCH versions each.
    A version is quarantined as soon as it fails, whatever the size of its batch."""
    if not refs:
        return []
    size = max(1, min(MAX_BATCH, math.ceil(len(refs) / (max_workers * 4))))
    return [refs[i:i + size] for i in range(0, len(refs), size)]
