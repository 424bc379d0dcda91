"""The built-in posture checks: one sub-package per check (``<id>/<id>.py`` + ``<id>.metadata.json``),
discovered by walking this package. A malformed check folder fails the load: a security gate never
silently runs without one of its checks."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from mlgate.gates.mlflow_posture.check import Check, CheckLoadError

_ORDER = {"outside": 0, "server": 1}


@cache
def load_checks() -> tuple[Check, ...]:
    """Every built-in check: the outside checks first, then the server-side ones, by id."""
    checks: list[Check] = []
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}.{info.name}")
        cls = getattr(mod, info.name, None)
        if not (isinstance(cls, type) and issubclass(cls, Check)):
            raise CheckLoadError(f"{info.name}: the module must define a Check subclass named {info.name}")
        checks.append(cls())
    return tuple(sorted(checks, key=lambda c: (_ORDER[c.metadata.scope], c.id)))


def check_ids() -> tuple[str, ...]:
    return tuple(c.id for c in load_checks())


def get_check(check_id: str) -> Check:
    for c in load_checks():
        if c.id == check_id:
            return c
    raise KeyError(check_id)
