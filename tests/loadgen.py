"""A background load generator for tests and benches that must hold on a busy machine: one busy
process per core, each ending by itself after ``seconds`` (bounded even if the test is killed)
and stopped when the block ends."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

_SPIN = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


@contextlib.contextmanager
def saturated_cores(seconds: float, processes: int | None = None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Keep every core (or ``processes`` of them) busy for at most ``seconds``."""
    n = processes or os.cpu_count() or 2
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN, str(seconds)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(timeout=30)
