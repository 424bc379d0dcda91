"""The whole story on the embedded stack (``mlgate demo``): a clean run trains, publishes and
deploys; a poisoned base model is blocked at pre-train; poisoned training data is blocked at the
data gate; an insecure bucket is blocked by the audit; an artifact changed in S3 after publishing
is blocked at pre-deploy. Every case runs the real Prefect flows (handed in by the caller: this
internal package does not import the orchestration layer) against a real Prefect server, a real
``mlflow server`` and a moto S3 server on 127.0.0.1. Policies and suites are the packaged ones.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlgate.errors import GateFailed

STACK_POLICY = "local-stack.yaml"


@dataclass
class CaseResult:
    name: str
    expected: str  # "pass" or "<checkpoint>/<gate>"
    actual: str
    ok: bool
    detail: str
    seconds: float


def _upload_tree(s3: Any, folder: Path, bucket: str, prefix: str) -> None:
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            s3.upload_file(str(p), bucket, f"{prefix}/{p.relative_to(folder).as_posix()}")


def prepare(workdir: Path, info: Any) -> dict[str, Path]:
    """Data, base models, an insecure bucket, keys and one pipeline config per case."""
    from mlgate._dev.samples import write_clean_model, write_poisoned_model
    from mlgate._dev.stack.local import ARTIFACT_BUCKET, DATA_BUCKET
    from mlgate.evidence.attestation import generate_keypair
    from mlgate.gates.data_quality.samples import write_iris_like
    from mlgate.integrations import aws
    from mlgate.policy import packaged_policies_dir

    s3 = aws.client("s3", endpoint_url=info.s3_endpoint)
    inputs = workdir / "inputs"
    write_iris_like(inputs / "iris.csv", rows=300)
    write_iris_like(inputs / "iris-poisoned.csv", rows=300, poison="label")
    s3.upload_file(str(inputs / "iris.csv"), DATA_BUCKET, "iris/train.csv")
    s3.upload_file(str(inputs / "iris-poisoned.csv"), DATA_BUCKET, "iris-poisoned/train.csv")
    _upload_tree(s3, write_clean_model(inputs / "base-clean"), DATA_BUCKET, "base-models/tiny")
    _upload_tree(s3, write_poisoned_model(inputs / "base-poisoned"), DATA_BUCKET, "base-models/tiny-poisoned")
    # An insecure bucket: public-read ACL, no encryption, no versioning, no TLS-only policy.
    s3.create_bucket(Bucket="mlgate-insecure", ObjectOwnership="BucketOwnerPreferred")
    s3.put_public_access_block(Bucket="mlgate-insecure", PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    s3.put_bucket_acl(Bucket="mlgate-insecure", ACL="public-read")
    keys = workdir / "keys"
    if not (keys / "signing-key.pem").exists():
        generate_keypair(keys)
    base: dict[str, Any] = {
        "apiVersion": "mlgate/v1",
        "kind": "Pipeline",
        "name": "iris-demo",
        "tracking_uri": info.tracking_uri,
        "policy": str(packaged_policies_dir() / STACK_POLICY),
        "model_name": "iris-classifier",
        "buckets": [DATA_BUCKET, ARTIFACT_BUCKET],
        "datasets": {"train": {"uri": f"s3://{DATA_BUCKET}/iris/train.csv",
                               "suite": str(packaged_policies_dir() / "suites" / "iris.yaml")}},
        "base_models": {"tiny": f"s3://{DATA_BUCKET}/base-models/tiny"},
        "training": {"function": "mlgate._dev.examples.train_sklearn:train", "params": {"C": 1.0}},
        "signing": {"private_key": str(keys / "signing-key.pem"), "public_key": str(keys / "signing-key.pub")},
        "deploy": {"alias": "production", "target": "folder", "folder": str(workdir / "serving")},
        "work_dir": str(workdir / "runs"),
    }
    variants: dict[str, dict[str, Any]] = {
        "clean": {},
        "poisoned-base-model": {"base_models": {"tiny": f"s3://{DATA_BUCKET}/base-models/tiny-poisoned"}},
        "poisoned-data": {"datasets": {"train": {**base["datasets"]["train"],
                                                 "uri": f"s3://{DATA_BUCKET}/iris-poisoned/train.csv"}}},
        "insecure-bucket": {"buckets": [DATA_BUCKET, ARTIFACT_BUCKET, "mlgate-insecure"]},
    }
    return write_pipeline_variants(workdir, base, variants)


def write_pipeline_variants(workdir: Path, base: dict[str, Any], variants: dict[str, dict[str, Any]]) -> dict[str, Path]:
    """One pipeline config per case under ``workdir/pipelines``: the base with the case's top-level
    keys replaced."""
    out = {}
    (workdir / "pipelines").mkdir(parents=True, exist_ok=True)
    for name, override in variants.items():
        p = workdir / "pipelines" / f"{name}.yaml"
        p.write_text(yaml.safe_dump({**base, **override}, sort_keys=False))
        out[name] = p
    return out


def tamper_latest_artifact(info: Any, model_name: str) -> str:
    """Change one byte of the registered model's file in the artifact bucket (the attack)."""
    from mlgate._dev.stack.local import ARTIFACT_BUCKET
    from mlgate.integrations import aws
    from mlgate.integrations.mlflow import mlflow_client

    client = mlflow_client(info.tracking_uri)
    mv = max(client.search_model_versions(f"name='{model_name}'"), key=lambda v: int(v.version))
    if not mv.run_id:
        raise ValueError(f"version {mv.version} has no run")
    run = client.get_run(mv.run_id)
    # mlflow-artifacts:/<exp>/<run>/artifacts -> s3://<bucket>/mlflow/<exp>/<run>/artifacts
    rel = run.info.artifact_uri.split("mlflow-artifacts:/", 1)[1].lstrip("/")
    s3 = aws.client("s3", endpoint_url=info.s3_endpoint)
    key = f"mlflow/{rel}/model/model.skops"
    body = bytearray(s3.get_object(Bucket=ARTIFACT_BUCKET, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=bytes(body))
    return str(mv.version)


def run_demo(workdir: Path, load_flows: Callable[[], Any], echo: Callable[[str], None] = print) -> list[CaseResult]:
    """Run the five cases; ``load_flows`` returns the flows module (called once the stack's
    environment is set, before Prefect is imported)."""
    from mlgate._dev.stack.local import running_stack

    workdir.mkdir(parents=True, exist_ok=True)
    results: list[CaseResult] = []
    echo(f"starting the local stack under {workdir} (moto S3, mlflow server, Prefect server on 127.0.0.1) ...")
    with running_stack(workdir / "stack", prefect=True) as info:
        os.environ.update(info.env())
        # Prefect logs every expected gate failure with a traceback; the demo prints its own lines.
        os.environ["PREFECT_LOGGING_LEVEL"] = os.environ.get("MLGATE_DEMO_PREFECT_LOG_LEVEL", "CRITICAL")
        echo(f"  S3 {info.s3_endpoint}   MLflow {info.tracking_uri}   Prefect {info.prefect_api_url}")
        configs = prepare(workdir, info)
        flows = load_flows()
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: info.prefect_api_url}):
            _cases(info, configs, flows, results, echo)
    return results


def _cases(info: Any, configs: dict[str, Path], flows: Any, results: list[CaseResult],
           echo: Callable[[str], None]) -> None:
    def case(name: str, expected: str, fn: Callable[[], str]) -> None:
        t = time.monotonic()
        try:
            detail = fn()
            actual = "pass"
        except GateFailed as e:
            actual, detail = f"{e.checkpoint}/{e.gate}", str(e)
        ok = actual == expected
        results.append(CaseResult(name, expected, actual, ok, detail, time.monotonic() - t))
        echo(f"  [{'ok' if ok else 'UNEXPECTED'}] {name}: {actual} (expected {expected}) {time.monotonic() - t:.1f}s")
        echo(f"        {detail[:300]}")

    def clean() -> str:
        r = flows.lifecycle(str(configs["clean"]))
        return f"registered version {r['version']}, alias {r['alias']}, deployed to {r['deployed_to']}"

    case("clean lifecycle (train -> publish -> deploy)", "pass", clean)
    case("poisoned base model", "pre-train/model-scan", lambda: flows.train(str(configs["poisoned-base-model"])))
    case("poisoned training data", "pre-train/data-quality", lambda: flows.train(str(configs["poisoned-data"])))
    case("insecure bucket", "pre-train/s3-audit", lambda: flows.train(str(configs["insecure-bucket"])))

    def tampered() -> str:
        version = tamper_latest_artifact(info, "iris-classifier")
        r = flows.deploy(str(configs["clean"]), version)
        return json.dumps(r)

    case("artifact changed in S3 after publishing", "pre-deploy/model-version", tampered)
