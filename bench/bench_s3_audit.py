"""Benchmark of the S3 audit gate on a local moto server.

Starts its own moto server on 127.0.0.1, creates N buckets (default 100) with mixed
configurations, and audits them threaded (``max_workers``, default 8) and one at a time
(``max_workers=1``) in the same run, alternating, ``--repeats`` times each. Counts AWS API calls
with a botocore ``before-call`` hook on the injected session (and HTTP sends with
``before-send``, which include retries), checks that both modes reach the same findings, and
prints wall times, calls per bucket, the speed-up and the machine.

moto answers from the same 2-core machine, so locally the server's CPU, not the network, bounds
the threaded run. ``--latency-ms`` adds a simulated network round trip to every HTTP request (a
sleep in a ``before-send`` hook, in the calling thread, as a real socket wait would be) to show
the behaviour against a remote endpoint such as AWS.

    .venv/bin/python bench/bench_s3_audit.py [--buckets 100] [--workers 8] [--repeats 3] [--latency-ms 0]
                                             [--json bench/out/s3.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from _machine import cpu_model  # bench/ is on sys.path when a bench script runs

ACCOUNT = "123456789012"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ml-pipeline"


def make_buckets(n: int, prefix: str) -> list[str]:
    """Create ``n`` buckets; the configuration cycles through 5 kinds."""
    import boto3

    s3 = boto3.Session(region_name="us-east-1").client("s3")
    kms = boto3.Session(region_name="us-east-1").client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    names = []
    for i in range(n):
        name = f"{prefix}-{i:03d}"
        kind = i % 5
        arn = f"arn:aws:s3:::{name}"
        if kind == 0:  # bare
            s3.create_bucket(Bucket=name)
        elif kind == 1:  # public read through policy, objects with ACLs to sample
            s3.create_bucket(Bucket=name)
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/*"}]}))
            for k in ("models/a.bin", "models/b.bin", "data/c.csv"):
                s3.put_object(Bucket=name, Key=k, Body=b"x")
        elif kind == 2:  # hardened
            s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
            s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 7}}})
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True})
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={
                "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [arn, f"{arn}/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
        elif kind == 3:  # versioned, lifecycle that expires models, CORS *
            s3.create_bucket(Bucket=name)
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
                {"ID": "x", "Status": "Enabled", "Filter": {"Prefix": "models/"}, "Expiration": {"Days": 30}}]})
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
                {"AllowedOrigins": ["*"], "AllowedMethods": ["PUT"]}]})
        else:  # cross-account writer and weak conditions
            s3.create_bucket(Bucket=name)
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                 "Action": ["s3:PutObject", "s3:PutBucketPolicy"], "Resource": [arn, f"{arn}/*"]},
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/*",
                 "Condition": {"StringLike": {"aws:Referer": "https://example.com/*"}}}]}))
        names.append(name)
    return names


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.sends = 0
        self._lock = threading.Lock()

    def call(self, **_: Any) -> None:
        with self._lock:
            self.calls += 1

    def send(self, **_: Any) -> None:
        with self._lock:
            self.sends += 1


def audit_once(names: list[str], policy: Path, workers: int, latency_ms: float = 0.0) -> tuple[float, Counter, Any]:
    import boto3

    from mlgate.gates.s3_audit import audit_buckets

    session = boto3.Session(region_name="us-east-1")
    counter = Counter()
    session.events.register("before-call", counter.call)
    session.events.register("before-send", counter.send)
    if latency_ms > 0:
        def delay(**_: Any) -> None:
            time.sleep(latency_ms / 1000)

        session.events.register("before-send", delay)
    t0 = time.perf_counter()
    report = audit_buckets(names, policy=policy, session=session, max_workers=workers)
    return time.perf_counter() - t0, counter, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buckets", type=int, default=100)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=0.0, help="simulated round trip added to each request")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    from mlgate.stack.moto import FAKE_CREDENTIALS, start_moto

    server = start_moto()
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = server.url
    os.environ.pop("AWS_PROFILE", None)
    try:
        t0 = time.perf_counter()
        names = make_buckets(args.buckets, "bench")
        setup = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            policy = Path(tmp) / "policy.yaml"
            policy.write_text(yaml.safe_dump({
                "apiVersion": "mlgate/v1", "name": "bench", "checkpoints": {"pre-train": {"gates": ["s3-audit"]}},
                "gates": {"s3-audit": {"artifact_prefixes": ["models/", "data/"], "pipeline_principals": [
                    {"principal": PIPELINE_ROLE, "reason": "benchmark pipeline role"}]}}}))
            audit_once(names[:2], policy, 1)  # warm imports and connections
            runs: dict[str, list[float]] = {"threaded": [], "serial": []}
            calls: dict[str, tuple[int, int]] = {}
            views: dict[str, Any] = {}
            for _ in range(args.repeats):
                for mode, workers in (("threaded", args.workers), ("serial", 1)):
                    wall, counter, report = audit_once(names, policy, workers, args.latency_ms)
                    runs[mode].append(wall)
                    calls[mode] = (counter.calls, counter.sends)
                    views[mode] = {s.subject: sorted((f.id, f.location.member) for f in s.findings)
                                   for s in report.subjects}
            same = views["threaded"] == views["serial"]
    finally:
        server.stop()

    import boto3
    import moto

    med = {m: statistics.median(v) for m, v in runs.items()}
    n = args.buckets
    figures = {
        "buckets": n,
        "workers": args.workers,
        "repeats": args.repeats,
        "latency_ms": args.latency_ms,
        "setup_s": round(setup, 2),
        "threaded_s": [round(x, 3) for x in runs["threaded"]],
        "serial_s": [round(x, 3) for x in runs["serial"]],
        "threaded_median_s": round(med["threaded"], 3),
        "serial_median_s": round(med["serial"], 3),
        "speedup": round(med["serial"] / med["threaded"], 2),
        "api_calls": calls["threaded"][0],
        "api_calls_serial": calls["serial"][0],
        "http_sends": calls["threaded"][1],
        "calls_per_bucket": round(calls["threaded"][0] / n, 2),
        "ms_per_bucket_threaded": round(1000 * med["threaded"] / n, 1),
        "ms_per_bucket_serial": round(1000 * med["serial"] / n, 1),
        "same_findings": same,
        "verdict": str(report.verdict.value),
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": cpu_model(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "boto3": boto3.__version__,
            "moto": moto.__version__,
        },
    }
    m = figures["machine"]
    lat = f", {args.latency_ms:g} ms simulated round trip per request" if args.latency_ms else ""
    print(f"mlgate S3 audit benchmark: {n} buckets on a local moto server ({setup:.1f} s to create){lat}")
    print(f"  machine: {m['nproc']} CPU(s), {m['cpu']}, Python {m['python']}, boto3 {m['boto3']}, moto {m['moto']}")
    print(f"  threaded (max_workers={args.workers}): {figures['threaded_median_s']:.2f} s median of "
          f"{args.repeats} {figures['threaded_s']}  = {figures['ms_per_bucket_threaded']} ms/bucket")
    print(f"  one at a time (max_workers=1): {figures['serial_median_s']:.2f} s median of "
          f"{args.repeats} {figures['serial_s']}  = {figures['ms_per_bucket_serial']} ms/bucket")
    print(f"  speed-up: {figures['speedup']}x")
    print(f"  API calls: {figures['api_calls']} per audit ({figures['calls_per_bucket']} per bucket, "
          f"account-level calls included); HTTP sends {figures['http_sends']} (retries included); "
          f"serial run made {figures['api_calls_serial']}")
    print(f"  same findings threaded and serial: {same}; overall verdict {figures['verdict']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
