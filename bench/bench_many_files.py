"""Many-file scans: throughput with one worker vs every core, and peak memory vs file count.

A folder of N small benign model files (plain pickles of weights-like dicts, JSON configs and
NumPy ``.npy`` arrays, written by the real libraries) is scanned by ``mlgate scan`` in a child
process with ``gates.model-scan.max_workers`` set to 1 and then to the number of cores, alternating,
median of R runs each, in the same run. Prints files/s, the speed-up, and peak RSS (the scanning
process and its workers, ``RUSAGE_CHILDREN`` of the child) per configuration.

Usage: python bench/bench_many_files.py [--files 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import machine  # bench/ is on sys.path when a bench script runs

REPO = Path(__file__).resolve().parents[1]


def make_folder(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        kind = i % 3
        if kind == 0:
            obj = {f"layer{j}": [float(x) for x in rng.random(16)] for j in range(8)}
            (folder / f"m{i:05d}.pkl").write_bytes(pickle.dumps(obj, protocol=4))
        elif kind == 1:
            (folder / f"c{i:05d}.json").write_text(json.dumps({"hidden": 64, "layers": 2, "i": i}))
        else:
            np.save(folder / f"a{i:05d}.npy", rng.random((8, 8)).astype(np.float32))




def run(argv: list[str]) -> tuple[float, int, float, float]:
    """(wall s, exit code, peak RSS MiB of the scanning process, largest worker RSS MiB)."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return time.perf_counter() - t, os.waitstatus_to_exitcode(status), ru.ru_maxrss / 1024, 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-many-") as tmp:
        work = Path(tmp)
        data = work / "models"
        data.mkdir()
        make_folder(data, a.files)
        # The policy includes are relative to the policy file: write the per-run policies next to
        # copies of the shipped ones.
        pol_dir = work / "policies"
        subprocess.run(["cp", "-r", str(REPO / "policies"), str(pol_dir)], check=True)
        base = (pol_dir / "gates" / "model-scan.yaml").read_text()
        policies = {}
        for w in (1, cores):
            (pol_dir / "gates" / f"model-scan-w{w}.yaml").write_text(base + f"\nmax_workers: {w}\n")
            text = (pol_dir / "default.yaml").read_text().replace(
                "gates/model-scan.yaml", f"gates/model-scan-w{w}.yaml"
            )
            (pol_dir / f"w{w}.yaml").write_text(text)
            policies[w] = pol_dir / f"w{w}.yaml"
        times: dict[int, list[float]] = {w: [] for w in policies}
        rss: dict[int, list[float]] = {w: [] for w in policies}
        for _ in range(a.runs):
            for w, pol in policies.items():
                dt, rc, peak, _ = run([sys.executable, "-m", "mlgate.cli", "scan", str(data), "--policy", str(pol)])
                if rc != 0:
                    print(f"scan with {w} worker(s) exited {rc}: the benchmark folder must pass", file=sys.stderr)
                    return 2
                times[w].append(dt)
                rss[w].append(peak)
        # A re-run with the verdict cache warm (a pre-commit hook, a re-scanned shard).
        cache_env = dict(os.environ, MLGATE_SCAN_CACHE=str(work / "cache"))
        argv = [sys.executable, "-m", "mlgate.cli", "scan", str(data), "--policy", str(policies[cores])]
        subprocess.run(argv, env=cache_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        warm = []
        for _ in range(a.runs):
            t = time.perf_counter()
            rc = subprocess.run(argv, env=cache_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
            warm.append(time.perf_counter() - t)
            if rc != 0:
                print(f"cached re-run exited {rc}", file=sys.stderr)
                return 2
        print(f"{a.files} files, median of {a.runs} runs, alternating:")
        print(f"{'workers':>8} {'wall s':>8} {'files/s':>8} {'peak RSS MiB':>13}")
        for w in policies:
            m = statistics.median(times[w])
            print(f"{w:>8} {m:8.2f} {a.files / m:8.0f} {max(rss[w]):13.1f}")
        if cores > 1:
            ratio = statistics.median(times[1]) / statistics.median(times[cores])
            print(f"speed-up {cores} workers vs 1: {ratio:.2f}x (target >= 1.8x on 2 cores)")
        w = statistics.median(warm)
        print(
            f"re-run, verdict cache warm ({cores} workers): {w:.2f} s = "
            f"{w / statistics.median(times[cores]):.2f}x of an uncached run"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
