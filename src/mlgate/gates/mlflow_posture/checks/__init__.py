"""The built-in posture checks: one sub-package per check (``<id>/<id>.py`` + ``<id>.metadata.json``),
discovered by walking this package. A malformed check folder fails the load: a security gate never
silently runs without one of its checks."""

from __future__ import annotations

from functools import cache

from mlgate.checks import discover
from mlgate.gates.mlflow_posture.check import Check

_ORDER = {"outside": 0, "server": 1}


@cache
def load_checks() -> tuple[Check, ...]:
    """Every built-in check: the outside checks first, then the server-side ones, by id."""
    checks: list[Check] = discover(__name__, Check)
    return tuple(sorted(checks, key=lambda c: (_ORDER[c.metadata.scope], c.id)))


def check_ids() -> tuple[str, ...]:
    return tuple(c.id for c in load_checks())


def get_check(check_id: str) -> Check:
    for c in load_checks():
        if c.id == check_id:
            return c
    raise KeyError(check_id)
