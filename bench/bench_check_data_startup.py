"""Benchmark: what ``mlgate check-data`` costs before it validates anything.

    .venv/bin/python bench/bench_check_data_startup.py [--repeat 3]

Runs ``mlgate check-data`` as a user does (a fresh ``python -m mlgate.cli`` process each time)
on: a missing data file, a missing suite file, and a 4 KB iris-like CSV that is really
validated (clean). Prints the median wall time of REPEAT runs per case, whether Great
Expectations was imported, and the machine. Great Expectations (import ~2 s + an ephemeral
context) is started only in the last case.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "policies" / "suites" / "iris.yaml"
PROBE = (
    "import sys\n"
    "from mlgate.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "print('GX=' + str('great_expectations' in sys.modules), file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def run(args: list[str], cwd: Path) -> tuple[float, int, bool]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", PROBE, "check-data", *args], capture_output=True, text=True, cwd=cwd,
                       env={**os.environ, "MLGATE_POLICY": str(REPO / "policies" / "default.yaml")}, timeout=600)
    return time.perf_counter() - t0, p.returncode, "GX=True" in p.stderr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from mlgate.gates.data_quality.samples import write_iris_like

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        csv = write_iris_like(tmp / "train.csv", rows=100)
        cases = {
            "missing data file": [str(tmp / "nope.csv"), "--suite", str(SUITE), "-f", "json", "-o", str(tmp / "r.json")],
            "missing suite file": [str(csv), "--suite", str(tmp / "nope.yaml"), "-f", "json", "-o", str(tmp / "r.json")],
            f"validate {csv.stat().st_size / 1024:.1f} KB CSV": [str(csv), "--suite", str(SUITE), "-f", "json", "-o",
                                                                 str(tmp / "r.json")],
        }
        print(f"machine: {machine()}")
        print(f"load average at start: {os.getloadavg()[0]:.1f}")
        for name, args in cases.items():
            runs = [run(args, tmp) for _ in range(a.repeat)]
            times = [t for t, _, _ in runs]
            print(f"{name:28s} exit {runs[0][1]}  median {statistics.median(times):6.2f} s  "
                  f"(min {min(times):.2f}, max {max(times):.2f})  great_expectations imported: {runs[0][2]}")


if __name__ == "__main__":
    main()
