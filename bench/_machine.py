"""The machine a benchmark ran on, printed with every figure."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def machine() -> str:
    return (
        f"{platform.node()} | {os.cpu_count()} cores | {cpu_model()} | {memory_gib():.1f} GiB RAM | "
        f"Python {platform.python_version()} | {platform.system()} {platform.release()}"
    )
