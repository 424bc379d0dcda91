"""Benchmark: scan + digest of a sharded safetensors LLM checkpoint (several shards plus
``model.safetensors.index.json`` and ``config.json``, as ``save_pretrained`` writes them) vs
``sha256sum`` (and ``openssl dgst -sha256``, the SHA-256 floor where coreutils lacks the CPU's SHA
extensions) of the same files, same run, warm page cache, median of N runs each, alternating.

The shards are written directly in the safetensors layout (8-byte header length, JSON header,
tensor bytes) in 16 MiB chunks, so the writer needs no memory for the tensors. ``mlgate scan``
checks every header and offset and hashes every byte (the manifest the registry signs).

Usage: python bench/bench_llm_shards.py [--gib 4] [--shards 4] [--runs 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine  # bench/ is on sys.path when a bench script runs
from bench_scan import MLGATE, POLICY, run_timed

CHUNK = 16 * 2**20


def write_shard(path: Path, tensors: dict[str, int]) -> None:
    """A safetensors file of float32 tensors with the given byte sizes (pseudo-random content)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, nbytes in tensors.items():
        header[name] = {"dtype": "F32", "shape": [nbytes // 4], "data_offsets": [off, off + nbytes]}
        off += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    block = os.urandom(CHUNK)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little") + raw)
        left = off
        while left:
            k = min(left, CHUNK)
            f.write(block[:k])
            left -= k


def make_checkpoint(folder: Path, gib: float, shards: int) -> list[Path]:
    folder.mkdir(parents=True)
    per_shard = int(gib * 2**30 / shards) // 4 * 4
    per_tensor = per_shard // 8 // 4 * 4
    weight_map: dict[str, str] = {}
    files = []
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        tensors = {f"model.layers.{s * 8 + i}.mlp.up_proj.weight": per_tensor for i in range(8)}
        write_shard(folder / name, tensors)
        weight_map.update(dict.fromkeys(tensors, name))
        files.append(folder / name)
    total = sum(p.stat().st_size for p in files)
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    return sorted(folder.iterdir())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=4.0)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None)
    a = ap.parse_args()
    print(f"machine: {machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="mlgate-bench-shards-", dir=a.dir))
    try:
        t = time.perf_counter()
        files = make_checkpoint(tmp / "ckpt", a.gib, a.shards)
        size = sum(p.stat().st_size for p in files)
        print(f"{len(files)} files ({a.shards} shards + index + config), {size / 2**30:.2f} GiB written in "
              f"{time.perf_counter() - t:.1f} s; load average {os.getloadavg()[0]:.1f}")
        sha = [shutil.which("sha256sum") or "sha256sum", *map(str, files)]
        scan = [*MLGATE, "scan", "-p", POLICY, "-f", "json", "-o", str(tmp / "r.json"), str(tmp / "ckpt")]
        ossl = shutil.which("openssl")
        run_timed(sha)  # warm the page cache
        ss, ms, os_ = [], [], []
        for _ in range(a.runs):
            ss.append(run_timed(sha)[0])
            if ossl:  # the SHA-256 floor: OpenSSL (as hashlib) uses the CPU's SHA extensions
                os_.append(run_timed([ossl, "dgst", "-sha256", *map(str, files)])[0])
            dt, rc, _ = run_timed(scan)
            assert rc == 0, f"mlgate scan exit {rc}"
            ms.append(dt)
        s, m = statistics.median(ss), statistics.median(ms)
        print(f"  sha256sum (all files):     median {s:6.2f} s ({size / s / 2**20:6.0f} MiB/s) runs {[round(x, 2) for x in ss]}")
        print(f"  mlgate scan (scan+digest): median {m:6.2f} s ({size / m / 2**20:6.0f} MiB/s) runs {[round(x, 2) for x in ms]}")
        print(f"  ratio mlgate/sha256sum: {m / s:.2f}x (includes interpreter start-up and policy load)")
        if os_:
            o = statistics.median(os_)
            print(f"  openssl dgst -sha256:      median {o:6.2f} s ({size / o / 2**20:6.0f} MiB/s) runs {[round(x, 2) for x in os_]}")
            print(f"  ratio mlgate/openssl (the SHA-256 floor): {m / o:.2f}x")
        rep = json.loads((tmp / "r.json").read_text())
        print(f"  verdict {rep['verdict']}, {len(rep['subjects'])} subject(s), load average {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
