"""Benchmark of the ONNX and TensorFlow analysers against ``sha256sum`` of the same bytes, same run.

1. ONNX with external data: ``onnx.save_model(..., save_as_external_data=True)`` of a model with
   ``--gb`` GiB of initializers in 64 tensors and a few thousand nodes (written by the real ``onnx``).
2. ONNX inline: the same graph with ``--inline-gb`` GiB of raw_data inside the .onnx (the analyser skips
   tensor bytes by length).
3. A TensorFlow SavedModel with ``--gb`` GiB of variables, written by the real TensorFlow when
   ``--tf-python`` names an interpreter that has it (a throwaway venv: see
   tests/model_scan/formats/data/make_tf_fixtures.py); otherwise the committed small SavedModel with a
   padded variables shard (said so in the output).

Each case: median of ``--runs`` runs of ``mlgate scan`` (full gate: mlgate + modelscan engines, digests)
and of ``sha256sum`` over the same files, alternating, warm page cache.

Usage: python bench/bench_formats.py [--gb 1] [--inline-gb 0.5] [--runs 3] [--dir DIR] [--tf-python PATH]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import machine  # bench/ is on sys.path when a bench script runs
from bench_scan import MLGATE, POLICY, run_timed

REPO = Path(__file__).resolve().parents[1]
TF_FIXTURE = REPO / "tests" / "model_scan" / "formats" / "data" / "tf" / "benign"

ONNX_WRITER = r"""
import sys, numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper
out, gb, external = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
n_tensors = 64
per = max(1, int(gb * 2**30 / 4 / n_tensors))
side = int(per ** 0.5)
inits, nodes = [], []
prev = "x"
for i in range(n_tensors):
    w = numpy_helper.from_array(np.ones((side, side), dtype=np.float32), f"w{i}")
    inits.append(w)
    nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]))
    nodes.append(helper.make_node("Relu", [f"h{i}"], [f"r{i}"]))
    prev = f"r{i}"
for j in range(4000):
    nodes.append(helper.make_node("Identity", [prev], [f"id{j}"]))
    prev = f"id{j}"
g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, side])],
                      [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)], initializer=inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
onnx.save_model(m, out, save_as_external_data=external, all_tensors_to_one_file=True,
                location="model.onnx.data", size_threshold=0)
"""

TF_WRITER = r"""
import sys, tensorflow as tf
out, gb = sys.argv[1], float(sys.argv[2])
n = 16
per = int(gb * 2**30 / 4 / n)
class M(tf.Module):
    def __init__(self):
        super().__init__()
        self.vs = [tf.Variable(tf.ones([per]), name=f"v{i}") for i in range(n)]
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
        return tf.add_n([tf.reduce_sum(v) for v in self.vs]) + x
m = M()
tf.saved_model.save(m, out, signatures={"serving_default": m.__call__})
"""


def files_of(p: Path) -> list[str]:
    return [str(f) for f in sorted(p.rglob("*")) if f.is_file()] if p.is_dir() else [str(p)]


def size_of(p: Path) -> int:
    return sum(Path(f).stat().st_size for f in files_of(p))


def bench(label: str, target: Path, runs: int) -> None:
    scan_t: list[float] = []
    sha_t: list[float] = []
    rss: list[int] = []
    codes: set[int] = set()
    for _ in range(runs):
        dt, code, kib = run_timed([*MLGATE, "scan", "-p", POLICY, "--format", "json", str(target)])
        scan_t.append(dt)
        rss.append(kib)
        codes.add(code)
        dt, _, _ = run_timed(["sha256sum", *files_of(target)])
        sha_t.append(dt)
    s, h = statistics.median(scan_t), statistics.median(sha_t)
    gib = size_of(target) / 2**30
    print(f"{label}: {gib:.2f} GiB in {len(files_of(target))} files | mlgate scan {s:.2f} s "
          f"({gib / s:.2f} GiB/s, exit codes {sorted(codes)}, peak RSS {max(rss) / 1024:.0f} MiB) | "
          f"sha256sum {h:.2f} s | ratio {s / h:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--inline-gb", type=float, default=0.5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--tf-python", default=None, help="an interpreter with tensorflow (throwaway venv)")
    a = ap.parse_args()
    print(machine())
    base = Path(tempfile.mkdtemp(dir=a.dir))
    try:
        ext = base / "onnx-external"
        ext.mkdir()
        subprocess.run([sys.executable, "-c", ONNX_WRITER, str(ext / "model.onnx"), str(a.gb), "1"], check=True)
        bench("ONNX + external data (onnx 1.23.2 writer)", ext, a.runs)
        inline = base / "onnx-inline"
        inline.mkdir()
        subprocess.run([sys.executable, "-c", ONNX_WRITER, str(inline / "model.onnx"), str(a.inline_gb), "0"],
                       check=True)
        bench("ONNX inline initializers (onnx 1.23.2 writer)", inline / "model.onnx", a.runs)
        sm = base / "savedmodel"
        if a.tf_python:
            subprocess.run([a.tf_python, "-c", TF_WRITER, str(sm), str(a.gb)], check=True,
                           env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
            label = "TF SavedModel (tensorflow writer)"
        else:
            shutil.copytree(TF_FIXTURE, sm)
            shard = next((sm / "variables").glob("variables.data-*"))
            with open(shard, "ab") as f:
                f.truncate(int(a.gb * 2**30))
            label = "TF SavedModel (committed fixture, variables shard padded: no tensorflow given)"
        bench(label, sm, a.runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
