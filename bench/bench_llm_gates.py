"""Benchmark: the added time of each gate in the LLM pipeline, next to the training it guards,
without servers (the gates in-process, as the checkpoints call them; the stack's own costs are in
bench/bench_lifecycle.py and docs/llm.md).

For the LLM example (tiny Llama, two LoRA adapters, weighted merge, GGUF, MLflow transformers
flavour; ``train_llm:train_mlflow``) it times, median of N runs:

* pre-train: model-scan of the base model folder; data-quality of the instruction JSON Lines with
  ``suites/llm-instructions.yaml``;
* training: ``train_mlflow`` in this process (the pipeline runs it in its own confined process);
* pre-publish: model-scan of the produced folder (adapters + merged model + GGUF) and its digest
  (sha256 of every file, the manifest the registry signs);
* pre-deploy: the digest again (verification re-hashes the downloaded bytes) and the rescan.

Usage: python bench/bench_llm_gates.py [--runs 3] [--steps 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _machine import machine  # bench/ is on sys.path when a bench script runs

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "policies" / "local-stack.yaml"
SUITE = REPO / "policies" / "suites" / "llm-instructions.yaml"


def one_run(root: Path, steps: int, t: dict[str, list[float]]) -> None:
    from mlgate._dev.examples import train_llm
    from mlgate.api import run_gate, scan
    from mlgate.lifecycle.staging import hash_tree
    from mlgate.lifecycle.train import TrainInputs
    from mlgate.model import Verdict

    ds = train_llm.write_instruction_dataset(root / "data" / "instructions.jsonl")
    base = train_llm.write_base_model(root / "base", ds)

    def timed(label: str, fn):  # type: ignore[no-untyped-def]
        s = time.perf_counter()
        out = fn()
        t[label].append(time.perf_counter() - s)
        return out

    r = timed("pre-train  model-scan (base model)", lambda: scan([base], checkpoint="pre-train", policy=POLICY))
    assert r.verdict is Verdict.PASS, r.reason
    r = timed("pre-train  data-quality (instructions)", lambda: run_gate(
        "data-quality", [str(ds)], policy=POLICY, checkpoint="pre-train", suite=str(SUITE)))
    assert r.verdict is Verdict.PASS, r.reason
    art = timed("training   2 adapters + merge + GGUF + MLflow save", lambda: train_llm.train_mlflow(TrainInputs(
        datasets={"instructions": ds}, dataset_fingerprints={}, base_models={"base": base},
        output_dir=root / "out", params={"steps": steps})))
    r = timed("pre-publish model-scan (adapters, merged, GGUF)", lambda: scan([art], checkpoint="pre-publish",
                                                                               policy=POLICY))
    assert r.verdict is Verdict.PASS, r.reason
    timed("pre-publish digest (manifest)", lambda: hash_tree(art))
    timed("pre-deploy  digest (re-hash)", lambda: hash_tree(art))
    r = timed("pre-deploy  model-scan (rescan)", lambda: scan([art], checkpoint="pre-deploy", policy=POLICY))
    assert r.verdict is Verdict.PASS, r.reason
    t["(artifact MiB)"].append(sum(p.stat().st_size for p in art.rglob("*") if p.is_file()) / 2**20)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    t: dict[str, list[float]] = defaultdict(list)
    for _ in range(a.runs):
        root = Path(tempfile.mkdtemp(prefix="mlgate-bench-llm-"))
        try:
            one_run(root, a.steps, t)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(machine())
    print(f"load average {os.getloadavg()[0]:.1f}; {a.runs} run(s), {a.steps} steps per adapter; median seconds")
    train = statistics.median(t["training   2 adapters + merge + GGUF + MLflow save"])
    gates = 0.0
    for label, xs in t.items():
        m = statistics.median(xs)
        if label.startswith("("):
            print(f"  {label:52} {m:8.2f}")
            continue
        share = "" if label.startswith("training") else f"  ({m / train:5.1%} of training)"
        gates += 0.0 if label.startswith("training") else m
        print(f"  {label:52} {m:8.2f}{share}")
    print(f"  {'all gates together':52} {gates:8.2f}  ({gates / train:5.1%} of training)")


if __name__ == "__main__":
    main()
