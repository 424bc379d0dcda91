"""Benchmark of the scheduled rescan: full vs incremental, in the same run.

1. Start the local stack (moto S3 over TLS + ``mlflow server``, 127.0.0.1) and register
   ``--versions`` small model versions across ``--models`` registered models (the newest version
   of each holds the alias ``production``).

   Registration is a cheaper equivalent of ``pipeline.attach_evidence`` that produces the same,
   valid evidence: each version's files are scanned with the real model-scan gate at pre-publish,
   signed with OpenSSF Model Signing, and given a signed verdict attestation and the same
   ``mlgate.*`` tags (``evidence_tags``); the model files and the signature go straight to the
   versioned artifact bucket (``s3://mlgate-artifacts/bench/...``, the version's source) instead
   of being logged to one MLflow run per version.
2. Run the Prefect flow ``flows/rescan.py`` (thread pool, ``--max-workers``) four times:
   a. first rescan: nothing recorded yet, every version downloaded, verified and rescanned;
   b. incremental, nothing changed: object listings only, no download, no rescan;
   c. ``--full``: recorded states ignored, every version downloaded, verified and rescanned;
   d. incremental after changing one byte in ``--changed`` (1 %) of the versions in S3: those are
      downloaded and quarantined, the rest only listed.
3. Print the figures and the machine. Exit 1 if (b) costs 10 % or more of (a) or (c), or if the
   outcomes are not what they must be.

Usage: python bench/bench_rescan.py [--versions 1000] [--models 20] [--changed 0.01] [--max-workers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BUCKET = "mlgate-artifacts"


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}) | {cpu} | Python "
            f"{platform.python_version()} | {platform.system()} {platform.release()} | load average {load} at start")


def write_model(folder: Path, i: int) -> Path:
    from mlgate.samples import write_safetensors

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(i)
    write_safetensors(folder / "model.safetensors", {"w": rng.standard_normal((16, 8)).astype(np.float32)})
    (folder / "config.json").write_text(json.dumps({"model_type": "tiny", "hidden_size": 8, "seed": i}))
    return folder


class Registrar:
    def __init__(self, work: Path, tracking_uri: str, priv: Path, pub: Path) -> None:
        from mlflow import MlflowClient

        from mlgate.policy import load_policy
        from mlgate.stack.local import boto3_session

        self.work = work
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.s3 = boto3_session().client("s3")
        self.priv, self.pub = priv, pub
        self.policy = load_policy(REPO / "policies" / "local-stack.yaml")
        self.lock = threading.Lock()

    def register(self, name: str, i: int) -> str:
        from mlgate.api import scan
        from mlgate.digest import hash_tree, manifest_of
        from mlgate.evidence import tags as T
        from mlgate.evidence.model_signature import load_signer
        from mlgate.evidence.statement import PIPELINE, build_statement, sign_statement

        folder = write_model(self.work / "src" / name / str(i) / "model", i)
        sig = self.work / "src" / name / str(i) / "model.sig"
        prefix = f"bench/{name}/{i}"
        source = f"s3://{BUCKET}/{prefix}/model"
        files = hash_tree(folder)
        manifest = manifest_of(files)
        report = scan([folder], checkpoint="pre-publish", policy=self.policy)
        assert report.verdict.value == "pass", report.reason
        signer = load_signer(self.priv)
        signer.sign_model(folder, sig)
        statement = build_statement(model_name=name, manifest_sha256=manifest, file_count=len(files),
                                    reports=[report], source=source, provenance=PIPELINE)
        env = sign_statement(statement, signer)
        for p in sorted(folder.iterdir()):
            self.s3.upload_file(str(p), BUCKET, f"{prefix}/model/{p.name}")
        self.s3.upload_file(str(sig), BUCKET, f"{prefix}/mlgate/model.sig")
        tags = T.evidence_tags([report], manifest_sha256=manifest,
                               checked_at=statement["predicate"]["checked_at"],
                               signature_path=f"s3://{BUCKET}/{prefix}/mlgate/model.sig",
                               attestation_envelope=env, attestation_id=statement["predicate"]["attestation_id"],
                               provenance=PIPELINE)
        mv = self.client.create_model_version(name, source, tags=tags)
        return str(mv.version)


BYTE_CHECK_OPS = ("ListObjectVersions", "GetObject", "HeadObject")


class Requests:
    """Counts the S3 and MLflow REST requests this process makes (all threads), and S3 bytes read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.s3: Counter[str] = Counter()
        self.mlflow: Counter[str] = Counter()
        self.s3_bytes = 0

    def install(self) -> None:
        import botocore.client
        import mlflow.utils.rest_utils as rest

        counter = self
        make_api_call = botocore.client.BaseClient._make_api_call
        http_request = rest.http_request

        def api_call(client: Any, operation: str, params: Any) -> Any:
            resp = make_api_call(client, operation, params)
            if client.meta.service_model.service_name == "s3":
                with counter.lock:
                    counter.s3[operation] += 1
                    if operation == "GetObject":
                        counter.s3_bytes += int(resp.get("ContentLength") or 0)
            return resp

        def request(host_creds: Any, endpoint: str, method: str, *a: Any, **k: Any) -> Any:
            with counter.lock:
                counter.mlflow[f"{method} {endpoint.rsplit('/', 2)[-2]}/{endpoint.rsplit('/', 1)[-1]}"] += 1
            return http_request(host_creds, endpoint, method, *a, **k)

        botocore.client.BaseClient._make_api_call = api_call  # type: ignore[method-assign]
        rest.http_request = request

    def snapshot(self) -> tuple[Counter[str], Counter[str], int]:
        with self.lock:
            return Counter(self.s3), Counter(self.mlflow), self.s3_bytes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--changed", type=float, default=0.01, help="fraction of versions changed for run (d)")
    ap.add_argument("--max-workers", type=int, default=4)
    ap.add_argument("--register-workers", type=int, default=4)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="mlgate-bench-rescan-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}", flush=True)
    print(f"workdir: {work}", flush=True)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    import yaml

    from mlgate.evidence.attestation import generate_keypair
    from mlgate.rescan.summary import Outcome, RescanSummary, headline
    from mlgate.stack.local import DATA_BUCKET, running_stack

    t0 = time.monotonic()
    with running_stack(work / "stack") as info:
        os.environ.update(info.env())
        os.environ["PREFECT_HOME"] = str(work / "prefect")
        os.environ["PREFECT_LOGGING_LEVEL"] = "ERROR"
        print(f"stack up in {time.monotonic() - t0:.1f}s (S3 {info.s3_endpoint}, MLflow {info.tracking_uri})",
              flush=True)
        priv, pub = generate_keypair(work / "keys")
        cfg = work / "pipeline.yaml"
        cfg.write_text(yaml.safe_dump({
            "apiVersion": "mlgate/v1", "kind": "Pipeline", "name": "bench", "tracking_uri": info.tracking_uri,
            "policy": str(REPO / "policies" / "local-stack.yaml"), "model_name": "unused",
            "buckets": [DATA_BUCKET, BUCKET], "training": {"function": "mlgate.examples.train_sklearn:train"},
            "signing": {"private_key": str(priv), "public_key": str(pub)}, "work_dir": str(work / "runs")}))

        reg = Registrar(work, info.tracking_uri, priv, pub)
        names = [f"bench-model-{m:02d}" for m in range(args.models)]
        for n in names:
            reg.client.create_registered_model(n)
        jobs = [(names[i % len(names)], i) for i in range(args.versions)]
        t = time.monotonic()
        done = 0
        versions: dict[tuple[str, int], str] = {}
        with ThreadPoolExecutor(args.register_workers) as pool:
            for (job, v) in zip(jobs, pool.map(lambda j: reg.register(*j), jobs), strict=True):
                versions[job] = v
                done += 1
                if done % 200 == 0:
                    print(f"  registered {done}/{len(jobs)} ({time.monotonic() - t:.0f}s)", flush=True)
        for n in names:
            newest = max(int(v) for (m, _), v in versions.items() if m == n)
            reg.client.set_registered_model_alias(n, "production", str(newest))
        print(f"registered {len(jobs)} versions of {len(names)} models in {time.monotonic() - t:.1f}s "
              f"({args.register_workers} threads)", flush=True)

        from mlgate.orchestration import flows

        t = time.monotonic()
        flows.rescan(str(cfg), model=["no-such-model"])  # warm-up: Prefect's ephemeral server, imports
        print(f"warm-up (Prefect ephemeral server, imports): {time.monotonic() - t:.1f}s", flush=True)

        runs: list[tuple[str, float, RescanSummary]] = []
        costs: list[tuple[Counter[str], Counter[str], int]] = []
        requests = Requests()
        requests.install()

        def run(label: str, **kw: Any) -> RescanSummary:
            s3_0, ml_0, bytes_0 = requests.snapshot()
            t1 = time.monotonic()
            s: RescanSummary = flows.rescan(str(cfg), max_workers=args.max_workers, **kw)
            secs = time.monotonic() - t1
            s3_1, ml_1, bytes_1 = requests.snapshot()
            runs.append((label, secs, s))
            costs.append((s3_1 - s3_0, ml_1 - ml_0, bytes_1 - bytes_0))
            print(f"{label}: {secs:.1f}s wall | {headline(s)}", flush=True)
            return s

        a = run("a. first rescan (no state)")
        b = run("b. incremental, nothing changed")
        c = run("c. --full (states ignored)", full=True)
        rng = random.Random(args.seed)
        k = max(1, round(args.versions * args.changed))
        changed = rng.sample(jobs, k)
        for (n, i) in changed:
            key = f"bench/{n}/{i}/model/model.safetensors"
            body = bytearray(reg.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
            body[-1] ^= 0x01
            reg.s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body))
        d = run(f"d. incremental, {k} changed ({args.changed:.0%})")

    ok = True
    checks = [
        ("a: every version checked, rescanned, none quarantined",
         a.counts.rescanned == args.versions and a.counts.quarantined == 0 and a.counts.errors == 0),
        ("b: every version unchanged by listing, nothing downloaded",
         b.counts.unchanged == args.versions and b.counts.downloads == 0 and b.counts.errors == 0),
        ("c: every version downloaded and rescanned", c.counts.rescanned == args.versions and c.counts.errors == 0),
        (f"d: exactly the {k} changed versions quarantined, the rest listed",
         {(v.name, v.version) for v in d.versions if v.outcome is Outcome.QUARANTINED}
         == {(n, versions[(n, i)]) for n, i in changed} and d.counts.listings == args.versions - k),
    ]
    ratio_a = runs[1][1] / runs[0][1]
    ratio_c = runs[1][1] / runs[2][1]
    ratio_d = runs[3][1] / runs[2][1]
    checks.append(("b costs < 10% of a", ratio_a < 0.10))
    checks.append(("b costs < 10% of c", ratio_c < 0.10))
    print()
    print(f"{'run':44} {'wall s':>8} {'rescanned':>10} {'unchanged':>10} {'quarantined':>12} {'downloads':>10}"
          f" {'listings':>9} {'ms/version':>11}")
    for label, secs, s in runs:
        c_ = s.counts
        print(f"{label:44} {secs:8.1f} {c_.rescanned:10d} {c_.unchanged:10d} {c_.quarantined:12d} {c_.downloads:10d}"
              f" {c_.listings:9d} {1000 * secs / max(1, c_.selected):11.1f}")
    print()
    print(f"{'requests per run':44} {'S3 byte check':>14} {'S3 bytes read':>14} {'S3 other':>9} {'MLflow':>7}"
          "   (S3 byte check = ListObjectVersions + GetObject + HeadObject; S3 other = the bucket audit)")
    for (label, _, _), (s3, ml, nbytes) in zip(runs, costs, strict=True):
        check = sum(v for k, v in s3.items() if k in BYTE_CHECK_OPS)
        other = sum(v for k, v in s3.items() if k not in BYTE_CHECK_OPS)
        print(f"{label:44} {check:14d} {nbytes:14d} {other:9d} {sum(ml.values()):7d}   "
              + ", ".join(f"{k} {v}" for k, v in sorted(s3.items()) if k in BYTE_CHECK_OPS)
              + " | " + ", ".join(f"{k} {v}" for k, v in ml.most_common(3)))
    print()
    print(f"incremental (nothing changed) / first full rescan: {ratio_a:.1%}")
    print(f"incremental (nothing changed) / forced full rescan: {ratio_c:.1%}")
    print(f"incremental ({args.changed:.0%} changed) / forced full rescan: {ratio_d:.1%}")
    print(f"versions {args.versions}, models {args.models}, task runner threads x {args.max_workers}")
    for text, passed in checks:
        print(f"[{'ok' if passed else 'FAIL'}] {text}")
        ok = ok and passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
