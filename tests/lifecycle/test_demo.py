"""The README's main job: `mlgate demo` (the sklearn scenario on the embedded stack) exits 0 only
when every case behaved as it should. Run as a user would, from the installed command, with every
core kept busy by a load generator the test starts (bounded in time): a gate that fails on a busy
machine gets switched off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.loadgen import saturated_cores

pytestmark = pytest.mark.slow


def test_demo_passes_every_case(tmp_path: Path) -> None:
    mlgate = Path(sys.executable).parent / "mlgate"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_", "PREFECT_"))}
    with saturated_cores(seconds=1200) as load:
        r = subprocess.run([str(mlgate), "demo", "--workdir", str(tmp_path / "demo")], capture_output=True,
                           text=True, env=env, timeout=1200, check=False, cwd=tmp_path)
        assert all(p.poll() is None for p in load), "the load generator ended before the demo did"
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "Traceback" not in out
    for case in ("clean lifecycle", "poisoned base model", "poisoned training data", "insecure bucket",
                 "artifact changed in S3 after publishing"):
        line = next((ln for ln in out.splitlines() if ln.startswith(case)), "")
        assert line.rstrip().endswith("yes"), f"{case}: {line!r}"
