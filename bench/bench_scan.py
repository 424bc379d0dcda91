"""Benchmark of the model-file gate.

1. Scan + digest of a ~2 GB torch checkpoint (real ``torch.save`` zip format) vs ``sha256sum`` of
   the same file, same run, warm page cache, median of N runs each, alternating. Target: within
   1.2x (one read pass over the tensor bytes).
2. Peak RSS of ``mlgate scan`` on pickles that carry 512 MiB and 1 GiB of bytes (BINBYTES8).
   Target: memory independent of the file size.

Usage: python bench/bench_scan.py [--gb 2] [--runs 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine  # bench/ is on sys.path when a bench script runs

REPO = Path(__file__).resolve().parents[1]
MLGATE = [sys.executable, "-m", "mlgate.cli"]
POLICY = str(REPO / "policies" / "default.yaml")


def run_timed(argv: list[str]) -> tuple[float, int, int]:
    """(wall seconds, exit code, peak RSS in KiB) of one child process."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    return dt, os.waitstatus_to_exitcode(status), ru.ru_maxrss


def make_checkpoint(path: Path, gb: float) -> None:
    """torch.save in a child process, so this process stays small (forked children inherit its RSS)."""
    code = (
        "import sys, torch\n"
        "n = int(float(sys.argv[2]) * 2**30 / 4 / 8)\n"
        "sd = {f'layer{i}.weight': torch.ones(n, dtype=torch.float32) for i in range(8)}\n"
        "sd['head.bias'] = torch.zeros(10)\n"
        "torch.save(sd, sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path), str(gb)], check=True)


def make_big_pickle(path: Path, nbytes: int) -> None:
    chunk = b"\0" * (16 * 2**20)
    with open(path, "wb") as f:
        f.write(b"\x80\x04\x8e" + struct.pack("<Q", nbytes))  # PROTO 4, BINBYTES8 <n>
        left = nbytes
        while left:
            k = min(left, len(chunk))
            f.write(chunk[:k])
            left -= k
        f.write(b".")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="mlgate-bench-", dir=args.dir))
    try:
        ckpt = tmp / "checkpoint.pt"
        t = time.perf_counter()
        make_checkpoint(ckpt, args.gb)
        size = ckpt.stat().st_size
        print(f"\n[1] torch.save checkpoint: {size / 2**30:.2f} GiB written in {time.perf_counter() - t:.1f} s")
        sha = shutil.which("sha256sum") or "sha256sum"
        ossl = shutil.which("openssl")
        run_timed([sha, str(ckpt)])  # warm the page cache
        ms, ss, os_ = [], [], []
        for _ in range(args.runs):
            dt, rc, _ = run_timed([sha, str(ckpt)])
            ss.append(dt)
            if ossl:
                # The floor for a SHA-256 digest: OpenSSL uses the CPU's SHA extensions where present.
                os_.append(run_timed([ossl, "dgst", "-sha256", str(ckpt)])[0])
            dt, rc, rss = run_timed([*MLGATE, "scan", "-p", POLICY, "-f", "json", "-o", str(tmp / "r.json"), str(ckpt)])
            assert rc == 0, f"mlgate scan exit {rc}"
            ms.append(dt)
        m, s = statistics.median(ms), statistics.median(ss)
        print(
            f"    sha256sum:          median {s:6.2f} s  ({size / s / 2**20:7.0f} MiB/s)  runs {[round(x, 2) for x in ss]}"
        )
        print(
            f"    mlgate scan (CLI):  median {m:6.2f} s  ({size / m / 2**20:7.0f} MiB/s)  runs {[round(x, 2) for x in ms]}"
        )
        print(f"    ratio mlgate/sha256sum: {m / s:.2f}x  (includes interpreter start-up and modelscan)")
        if os_:
            o = statistics.median(os_)
            print(
                f"    openssl dgst -sha256: median {o:6.2f} s  ({size / o / 2**20:7.0f} MiB/s)  runs {[round(x, 2) for x in os_]}"
            )
            print(f"    ratio mlgate/openssl (the SHA-256 floor): {m / o:.2f}x  (target <= 1.20x)")
        import json

        rep = json.loads((tmp / "r.json").read_text())
        print(f"    verdict {rep['verdict']}, formats {rep['subjects'][0]['formats']}")
        ckpt.unlink()

        print("\n[2] peak RSS on pickles carrying a large byte string (BINBYTES8)")
        base = run_timed(
            [*MLGATE, "scan", "-p", POLICY, "-f", "json", "-o", str(tmp / "e.json"), str(REPO / "README.md")]
        )[2]
        print(f"    baseline (mlgate scan of README.md): peak RSS {base / 1024:7.1f} MiB")
        for nbytes in (512 * 2**20, 2**30):
            p = tmp / f"big-{nbytes}.pkl"
            make_big_pickle(p, nbytes)
            dt, rc, rss = run_timed([*MLGATE, "scan", "-p", POLICY, "-f", "json", "-o", str(tmp / "b.json"), str(p)])
            print(f"    {nbytes / 2**20:6.0f} MiB pickle: exit {rc}, {dt:5.2f} s, peak RSS {rss / 1024:7.1f} MiB")
            p.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
