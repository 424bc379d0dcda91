"""The one place that imports Great Expectations (~2 s): lazily, with analytics and progress bars
off, and always into an ephemeral context (nothing written to the working directory)."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from types import ModuleType
from typing import Any

_GX: ModuleType | None = None


def import_gx() -> ModuleType:
    global _GX
    if _GX is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import great_expectations as gx
        # GX logs noisy INFO/WARNING lines (temporary docs sites, config) on import and use; some of
        # its modules pin their own logger to INFO, which bypasses the root level.
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        for name, lg in list(logging.root.manager.loggerDict.items()):
            if name.startswith("great_expectations.") and isinstance(lg, logging.Logger) and lg.level:
                lg.setLevel(logging.ERROR)
        _GX = gx
    return _GX


def new_context() -> Any:
    """An ephemeral GX context with progress bars off."""
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    with contextlib.suppress(Exception):  # a GX without the switch: the env var covers it
        ctx.enable_analytics(False)
    return ctx


def gx_version() -> str:
    return str(import_gx().__version__)
