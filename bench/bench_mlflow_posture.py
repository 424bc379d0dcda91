"""Time per MLflow posture audit and requests sent, against real ``mlflow server`` processes on
127.0.0.1: a wide-open server and a basic-auth server (credentials given, so registry content and
webhooks are read), each with N registered model versions (``models:/m-...``-free ``s3://`` sources
and ``runs:/`` sources, which cost one extra request per distinct run) and N experiments.

    .venv/bin/python bench/bench_mlflow_posture.py [--versions 200] [--repeat 5]

Prints the machine, then per server: median / min wall time per audit, HTTP requests per audit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import machine  # bench/ is on sys.path when a bench script runs
from tests.mlflow_posture.servers import ADMIN, STRONG_PASSWORD, Spec, auth_config, rest, start_all, stop_all

from mlgate.gates.mlflow_posture import audit_server
from mlgate.policy import load_policy

REPO = Path(__file__).resolve().parents[1]


def populate(srv, n: int) -> None:  # type: ignore[no-untyped-def]
    runs = []
    for i in range(n):
        exp = rest(srv, "POST", "/api/2.0/mlflow/experiments/create", {"name": f"bench-{i}"})["experiment_id"]
        if i % 10 == 0:
            runs.append(rest(srv, "POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp})["run"]["info"]["run_id"])
    rest(srv, "POST", "/api/2.0/mlflow/registered-models/create", {"name": "bench"})
    for i in range(n):
        src = f"runs:/{runs[i % len(runs)]}/model" if i % 2 else f"s3://bench-bucket/models/{i}"
        body = {"name": "bench", "source": src}
        if src.startswith("runs:/"):
            body["run_id"] = runs[i % len(runs)]
        rest(srv, "POST", "/api/2.0/mlflow/model-versions/create", body)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(machine())
    root = Path(tempfile.mkdtemp(prefix="bench-posture-"))
    cfg = auth_config(root / "auth.ini", root / "auth.db", STRONG_PASSWORD)
    specs = [Spec("open", ["--default-artifact-root", "{work}/art"], {}),
             Spec("basic-auth", ["--app-name", "basic-auth", "--default-artifact-root", "{work}/art"],
                  {"MLFLOW_AUTH_CONFIG_PATH": str(cfg), "MLFLOW_FLASK_SERVER_SECRET_KEY": "bench"},
                  (ADMIN, STRONG_PASSWORD))]
    t0 = time.monotonic()
    servers = start_all(specs, root)
    print(f"servers started in {time.monotonic() - t0:.1f} s")
    policy = load_policy(REPO / "policies" / "default.yaml")
    try:
        for srv in servers.values():
            populate(srv, args.versions)
            times, reqs = [], []
            for _ in range(args.repeat):
                t = time.monotonic()
                report = audit_server(srv.url, policy=policy, credentials=srv.credentials)
                times.append(time.monotonic() - t)
                reqs.append(report.subjects[0].details["requests"])
            print(f"{srv.name:10s} {args.versions} versions, {args.versions + 1} experiments: "
                  f"median {statistics.median(times):.2f} s, min {min(times):.2f} s per audit, "
                  f"{statistics.median(reqs):.0f} HTTP requests per audit, verdict {report.verdict.value}")
    finally:
        stop_all(servers)


if __name__ == "__main__":
    main()
