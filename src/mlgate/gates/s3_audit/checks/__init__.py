"""The built-in checks: one sub-package per check (``<id>/<id>.py`` + ``<id>.metadata.json``),
discovered by walking this package. A malformed check folder fails the load: a security gate
never silently runs without one of its checks."""

from __future__ import annotations

from functools import cache

from mlgate.checks import discover
from mlgate.gates.s3_audit.check import Check

_ORDER = {"account": 0, "bucket": 1, "access-point": 2, "multi-region-access-point": 3}


def _control_key(c: str) -> tuple[int, int]:
    fam, _, num = c.partition(".")
    return (0 if fam == "S3" else 1, int(num))


@cache
def load_checks() -> tuple[Check, ...]:
    """Every built-in check, ordered by resource type and control id."""
    checks: list[Check] = discover(__name__, Check)
    return tuple(
        sorted(checks, key=lambda c: (_ORDER[c.metadata.resource_type], _control_key(c.metadata.controls[0]), c.id))
    )


def check_ids() -> tuple[str, ...]:
    return tuple(c.id for c in load_checks())


def get_check(check_id: str) -> Check:
    for c in load_checks():
        if c.id == check_id:
            return c
    raise KeyError(check_id)
