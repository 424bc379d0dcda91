"""The load generator the under-load tests use: it really keeps the cores busy, and it ends by
itself when its time is up (a killed test run does not leave spinning processes behind)."""

from __future__ import annotations

import os
import time

from tests.loadgen import saturated_cores


def test_busy_while_running_and_bounded_in_time() -> None:
    t0 = os.times()
    with saturated_cores(seconds=1.5, processes=2) as procs:
        assert all(p.poll() is None for p in procs)
        deadline = time.monotonic() + 60
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(p.poll() == 0 for p in procs), "the spinners did not end by themselves"
    t1 = os.times()
    # children's CPU time: two spinners of 1.5 s each; a low floor, since on a busy machine they share the cores
    assert (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system) > 0.3
