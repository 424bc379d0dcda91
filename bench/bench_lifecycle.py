"""Benchmark: the gated lifecycle vs the same lifecycle with the gates off, on the same local
stack (moto S3 over TLS + mlflow server on 127.0.0.1) in the same run, split by checkpoint.

"Gates off" does the same data movement with the same building blocks (stage inputs from S3, train
the same model, log + register in MLflow, download the version and copy it to the serving folder)
but no S3 audit, no data gate, no model scan, no signing and no verification.

Usage: python bench/bench_lifecycle.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _machine import machine  # bench/ is on sys.path when a bench script runs


def gated(cfg_path: Path, t: dict[str, list[float]]) -> None:
    from mlgate.lifecycle.config import load_pipeline_config
    from mlgate.lifecycle.pipeline import Context, deploy, pre_train, publish
    from mlgate.lifecycle.train import run_isolated as run_training

    ctx = Context(load_pipeline_config(cfg_path))
    s = time.perf_counter()
    pre = pre_train(ctx)
    t["pre-train (gates)"].append(time.perf_counter() - s)
    s = time.perf_counter()
    artifact = run_training(ctx, pre)
    t["training"].append(time.perf_counter() - s)
    s = time.perf_counter()
    pub = publish(ctx, artifact)
    t["publish"].append(time.perf_counter() - s)
    s = time.perf_counter()
    deploy(ctx, pub.version)
    t["deploy"].append(time.perf_counter() - s)


def ungated(cfg_path: Path, t: dict[str, list[float]]) -> None:
    from mlgate.lifecycle.config import load_pipeline_config
    from mlgate.lifecycle.pipeline import Context, PreTrainResult
    from mlgate.lifecycle.staging import stage
    from mlgate.lifecycle.train import run_isolated as run_training

    cfg = load_pipeline_config(cfg_path)
    ctx = Context(cfg)
    client = ctx.mlflow_client()
    s = time.perf_counter()
    d = {n: stage(cfg.uri(x.uri), ctx.run_dir / "in" / "d" / n) for n, x in cfg.doc.datasets.items()}
    m = {n: stage(cfg.uri(u), ctx.run_dir / "in" / "m" / n) for n, u in cfg.doc.base_models.items()}
    from mlgate.lifecycle.checkpoints import CheckpointOutcome

    pre = PreTrainResult(CheckpointOutcome("pre-train"), d, m, {})
    t["pre-train (gates)"].append(time.perf_counter() - s)
    s = time.perf_counter()
    artifact = run_training(ctx, pre)
    t["training"].append(time.perf_counter() - s)
    s = time.perf_counter()
    exp = client.get_experiment_by_name(cfg.doc.name + "-ungated")
    exp_id = exp.experiment_id if exp else client.create_experiment(cfg.doc.name + "-ungated")
    run = client.create_run(exp_id)
    client.log_artifacts(run.info.run_id, str(artifact), "model")
    name = cfg.doc.model_name + "-ungated"
    try:
        client.get_registered_model(name)
    except Exception:
        client.create_registered_model(name)
    mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_terminated(run.info.run_id)
    t["publish"].append(time.perf_counter() - s)
    s = time.perf_counter()
    copy = stage(mv.source, ctx.run_dir / "deploy", tracking_uri=cfg.doc.tracking_uri)
    dest = Path(cfg.resolve(cfg.doc.deploy.folder or "serving")) / name
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(copy.path, dest)
    client.set_registered_model_alias(name, "production", mv.version)
    t["deploy"].append(time.perf_counter() - s)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from mlgate._dev.demo import prepare
    from mlgate.stack.local import running_stack

    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-lifecycle-"))
    os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"
    try:
        with running_stack(work / "stack") as info:
            os.environ.update(info.env())
            cfgs = prepare(work, info)
            on: dict[str, list[float]] = defaultdict(list)
            off: dict[str, list[float]] = defaultdict(list)
            gated(cfgs["clean"], defaultdict(list))  # warm-up: imports, first MLflow calls
            ungated(cfgs["clean"], defaultdict(list))
            for _ in range(args.runs):
                gated(cfgs["clean"], on)
                ungated(cfgs["clean"], off)
            print(f"\n{args.runs} runs each, medians (s); same stack, same model, same data\n")
            print(f"{'step':22} {'gates on':>9} {'gates off':>10} {'overhead':>9} {'ratio':>7}")
            tot_on = tot_off = 0.0
            for step in ("pre-train (gates)", "training", "publish", "deploy"):
                a, b = statistics.median(on[step]), statistics.median(off[step])
                tot_on += a
                tot_off += b
                print(f"{step:22} {a:9.2f} {b:10.2f} {a - b:+9.2f} {a / b:7.2f}x")
            print(f"{'total':22} {tot_on:9.2f} {tot_off:10.2f} {tot_on - tot_off:+9.2f} {tot_on / tot_off:7.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
