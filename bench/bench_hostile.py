"""Scan cost of small hostile files, one per resource-exhaustion class of issue 10.

Each file is written to a temporary folder and scanned by ``mlgate scan`` in a child process under
the default policy with ``seconds_per_file: 10`` (the budget the issue measured against); the
script prints wall time, peak RSS of the child, exit code and verdict per class, plus the baseline
(an empty file) and the machine. Every hostile file must end inside its budget: exit 1 (fail) or
3 (incomplete), never 0, never a kill.

    .venv/bin/python bench/bench_hostile.py [--seconds 10] [--only NAME]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from _machine import machine  # bench/ is on sys.path when a bench script runs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MLGATE = [sys.executable, "-m", "mlgate.cli"]


def zip_layout(n: int = 20_000) -> bytes:
    """Many ``*/data.pkl`` members: torch-layout detection used to be n x n."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            zf.writestr(f"m{i}/data.pkl", b"N.")
            zf.writestr(f"m{i}/data/0", b"\x00" * 4)
    return buf.getvalue()


def zip_records_past_count(n: int = 60_000) -> bytes:
    """A directory with n records while the end record declares one."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            zf.writestr(f"f{i}", b"")
    data = bytearray(buf.getvalue())
    data[-14:-10] = b"\x01\x00\x01\x00"
    return bytes(data)


CLASSES: dict[str, Callable[[], bytes]] = {
    "baseline-empty-pickle": lambda: b"N.",
    "zip-layout-quadratic (4 MB zip)": zip_layout,
    "zip-records-past-count (60k records)": zip_records_past_count,
    "stacked-tiny-pickles (6 MB)": lambda: b"N." * 3_000_000,
    "open-containers (20 MB of EMPTY_LIST)": lambda: b"\x80\x04" + b"]" * 20_000_000 + b".",
    "open-marks (20 MB of MARK)": lambda: b"(" * 20_000_000 + b"N.",
    "long-line (64 MB, no newline)": lambda: b"V" + b"a" * 64_000_000,
    "cheap-opcodes (40 MB of N/POP)": lambda: b"\x80\x04" + b"N0" * 20_000_000 + b"N.",
}


def _templates() -> dict[str, bytes]:
    from tests.model_scan.test_budgets import TEMPLATE_BOMBS

    return {f"chat-template: {k}": v.encode() for k, v in TEMPLATE_BOMBS.items()}


def policy_dir(tmp: Path, seconds: float) -> Path:
    dst = tmp / "policies"
    shutil.copytree(REPO / "policies", dst)
    ms = dst / "gates" / "model-scan.yaml"
    text = ms.read_text()
    ms.write_text(text.replace("seconds_per_file: 600", f"seconds_per_file: {seconds}"))
    return dst / "default.yaml"


def run(path: Path, policy: Path) -> tuple[float, int, int, str]:
    """(wall s, exit code, peak RSS KiB, finding ids). The child is started by GNU time, a small
    process: ru_maxrss would otherwise include this process's RSS at fork."""
    out = path.with_suffix(".report.json")
    argv = [*MLGATE, "scan", str(path), "--policy", str(policy), "--format", "json", "--output", str(out)]
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", *argv], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=False)
    dt = time.perf_counter() - t
    rss = 0
    for line in p.stderr.splitlines():
        if line.startswith("MAXRSS "):
            rss = int(line.split()[1])
    ids = ""
    try:
        rep = json.loads(out.read_text())
        ids = ",".join(sorted({f["id"] for s in rep["subjects"] for f in s["findings"]}))[:70]
    except (OSError, ValueError, KeyError):
        pass
    return dt, p.returncode, rss, ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"policy: default, seconds_per_file={args.seconds}; peak RSS is the scanning child's (GNU time %M)\n")
    print(f"{'class':44} {'size':>10} {'wall s':>8} {'peak RSS MiB':>13} {'exit':>5}  findings")
    classes = {**CLASSES, **{k: (lambda v=v: v) for k, v in _templates().items()}}
    with tempfile.TemporaryDirectory(prefix="mlgate-hostile-") as tmpd:
        tmp = Path(tmpd)
        policy = policy_dir(tmp, args.seconds)
        for i, (name, make) in enumerate(classes.items()):
            if args.only and args.only not in name:
                continue
            data = make()
            suffix = ".jinja" if name.startswith("chat-template") else ".bin"
            path = tmp / f"h{i}{suffix}"
            path.write_bytes(data)
            size = len(data)
            del data  # children inherit this process's peak RSS: keep it small
            gc.collect()
            dt, rc, rss, ids = run(path, policy)
            verdict = {0: "pass", 1: "fail", 2: "error", 3: "incomplete"}.get(rc, f"killed/{rc}")
            print(f"{name:44} {size:>10} {dt:>8.2f} {rss / 1024:>13.1f} {rc:>5}  {verdict}: {ids}")
            path.unlink()


if __name__ == "__main__":
    main()
