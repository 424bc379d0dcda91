"""The registry guard inside a real ``mlflow server --registry-store-uri mlgate+sqlite:///...``
(artifacts proxied to a moto S3). Clients have no plugin: refusals arrive as HTTP 403
``PERMISSION_DENIED``, checked once with a bare ``urllib`` client run by the system Python
(which has no MLflow at all) and otherwise through a plain ``MlflowClient`` over REST.
test_guard_postgres.py runs these scenarios against a real PostgreSQL (``mlgate+postgresql``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from tests.plugins.guard_helpers import envelope, manifest

from mlgate.evidence.attestation import generate_keypair
from mlgate.hooks.process import HookSettings, process_version
from mlgate.registry import tags as T
from mlgate.samples import write_clean_model
from mlgate.stack.moto import FAKE_CREDENTIALS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    url: str
    client: MlflowClient
    keys: dict[str, Path]
    s3: Any
    bucket: str
    work: Path
    settings: HookSettings
    log: Path


@contextmanager
def running_stack(moto_server: str, work: Path, *, backend_store_uri: str | None = None,
                  registry_store_uri: str | None = None, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """A guarded ``mlflow server`` (artifacts in a fresh moto bucket) with its keys, stopped on exit.
    The stores default to one sqlite file (``mlgate+sqlite`` for the registry)."""
    from mlgate.stack.mlflow_server import start_mlflow

    priv, pub = generate_keypair(work / "keys")
    attacker, _ = generate_keypair(work / "attacker")
    bucket = f"guard-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                      aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    s3.create_bucket(Bucket=bucket)
    db = work / "mlflow" / "mlflow.db"
    server = start_mlflow(work / "mlflow", s3_endpoint=moto_server, artifact_bucket=bucket,
                          backend_store_uri=backend_store_uri,
                          registry_store_uri=registry_store_uri or f"mlgate+sqlite:///{db}",
                          extra_env={"MLGATE_REGISTRY_PUBLIC_KEY": str(pub),
                                     "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **(extra_env or {})})
    settings = HookSettings(tracking_uri=server.url, policy_path=REPO / "policies" / "default.yaml", private_key=priv,
                            public_key=pub, work_dir=work / "hook-work", protected_aliases=frozenset({"production"}),
                            emit_events=False)
    try:
        yield Stack(server.url, MlflowClient(tracking_uri=server.url), {"priv": priv, "pub": pub,
                                                                        "attacker": attacker},
                    s3, bucket, work, settings, work / "mlflow" / "mlflow-server.log")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(moto_server, tmp_path_factory.mktemp("guard-server")) as st:
        yield st


def hand_register(st: Stack, name: str, *, seed: int = 0) -> tuple[str, Path]:
    """What a notebook does: log files to a run and register them, no mlgate involved."""
    c = st.client
    exp = c.get_experiment_by_name("notebooks")
    exp_id = exp.experiment_id if exp else c.create_experiment("notebooks")
    run = c.create_run(exp_id)
    folder = write_clean_model(st.work / f"{name}-src", seed=seed)
    c.log_artifacts(run.info.run_id, str(folder), "model")
    c.create_registered_model(name)
    mv = c.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return str(mv.version), folder


def rest(st: Stack, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST with the system Python's urllib: a client process with no MLflow and no plugin."""
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method='POST',"
        " headers={'Content-Type': 'application/json'})\n"
        "try:\n"
        "    r = urllib.request.urlopen(req, timeout=60); print(r.status); print(r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code); print(e.read().decode())\n"
        "try:\n"
        "    import mlgate_registry_guard\n"
        "    print('PLUGIN-IMPORTABLE')\n"
        "except ImportError:\n"
        "    pass\n"
    )
    out = subprocess.run([python, "-I", "-c", script, st.url + path, json.dumps(body)], capture_output=True,
                         text=True, timeout=120, check=True).stdout.splitlines()
    if python != sys.executable:
        assert "PLUGIN-IMPORTABLE" not in out
    return int(out[0]), json.loads(out[1] or "{}")


def test_unsigned_promotion_is_refused_by_the_server(stack: Stack) -> None:
    version, _ = hand_register(stack, "fraud-unsigned")
    status, body = rest(stack, "/api/2.0/mlflow/registered-models/alias",
                        {"name": "fraud-unsigned", "alias": "production", "version": version})
    assert status == 403
    assert body["error_code"] == "PERMISSION_DENIED"
    assert "refused to set the protected alias 'production'" in body["message"]
    assert stack.client.get_registered_model("fraud-unsigned").aliases == {}
    assert "refused set the protected alias 'production' on fraud-unsigned" in stack.log.read_text()


def test_forged_verdict_tag_is_refused(stack: Stack) -> None:
    version, folder = hand_register(stack, "fraud-forged")
    mv = stack.client.get_model_version("fraud-forged", version)
    # A well-formed envelope for the exact source and bytes, signed by someone else's key.
    forged = envelope(stack.keys["attacker"], source=mv.source, manifest_sha256=manifest(folder), name="fraud-forged")
    stack.client.set_model_version_tag("fraud-forged", version, T.ENVELOPE, forged)
    with pytest.raises(MlflowException, match=r"PERMISSION_DENIED.*not signed by a trusted key") as e:
        stack.client.set_model_version_tag("fraud-forged", version, T.VERDICT, "pass")
    assert e.value.get_http_status_code() == 403
    status, body = rest(stack, "/api/2.0/mlflow/model-versions/set-tag",
                        {"name": "fraud-forged", "version": version, "key": T.VERDICT, "value": "pass"})
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    assert T.VERDICT not in stack.client.get_model_version("fraud-forged", version).tags


def test_hook_signed_version_is_usable_not_promotable_and_changed_bytes_are_not(stack: Stack) -> None:
    version, _ = hand_register(stack, "fraud-signed")
    result = process_version(stack.client, stack.settings, "fraud-signed", version)
    assert result["action"] == "signed", result
    # signed by the registry hook: a protected alias refuses it under the default policy
    with pytest.raises(MlflowException, match=r"PERMISSION_DENIED.*provenance 'registry-hook'"):
        stack.client.set_registered_model_alias("fraud-signed", "production", version)
    stack.client.set_registered_model_alias("fraud-signed", "staging", version)

    # Same bytes, signed, but the S3 object under the version is replaced afterwards.
    v2, folder2 = hand_register(stack, "fraud-swapped")
    mv2 = stack.client.get_model_version("fraud-swapped", v2)
    stack.client.set_model_version_tag("fraud-swapped", v2, T.ENVELOPE, envelope(  # as the pipeline signs
        stack.keys["priv"], source=mv2.source, manifest_sha256=manifest(folder2), name="fraud-swapped"))
    stack.client.set_model_version_tag("fraud-swapped", v2, T.VERDICT, "pass")
    uri = stack.client.get_model_version_download_uri("fraud-swapped", v2)
    key = f"mlflow/{uri.split(':', 1)[1].lstrip('/')}/config.json"
    stack.s3.head_object(Bucket=stack.bucket, Key=key)
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b'{"auto_map": {"AutoModel": "evil.M"}}')
    with pytest.raises(MlflowException, match=r"PERMISSION_DENIED.*are not the signed bytes"):
        stack.client.set_registered_model_alias("fraud-swapped", "production", v2)


def test_created_with_evidence_from_a_logged_model(stack: Stack) -> None:
    """publish() registers with its tags in the same call; here with a ``models:/m-<id>`` source,
    which the guard resolves through the server's tracking store."""
    c = stack.client
    exp_id = c.create_experiment("logged-models")
    lm = c.create_logged_model(exp_id, name="tiny")
    folder = write_clean_model(stack.work / "logged-src", seed=3)
    c.log_model_artifacts(lm.model_id, str(folder))
    source = f"models:/{lm.model_id}"
    c.create_registered_model("fraud-logged")
    good = {T.ENVELOPE: envelope(stack.keys["priv"], source=source, manifest_sha256=manifest(folder),
                                 name="fraud-logged"), T.VERDICT: "pass"}
    bad = {T.ENVELOPE: envelope(stack.keys["priv"], source=source, manifest_sha256="0" * 64, name="fraud-logged"),
           T.VERDICT: "pass"}
    with pytest.raises(MlflowException, match=r"PERMISSION_DENIED.*are not the signed bytes"):
        c.create_model_version("fraud-logged", source, model_id=lm.model_id, tags=bad)
    assert c.search_model_versions("name='fraud-logged'") == []
    mv = c.create_model_version("fraud-logged", source, model_id=lm.model_id, tags=good)
    c.set_registered_model_alias("fraud-logged", "production", mv.version)
    assert c.get_model_version_by_alias("fraud-logged", "production").tags[T.VERDICT] == "pass"


def test_everything_else_is_stock_mlflow(stack: Stack) -> None:
    c = stack.client
    version, _ = hand_register(stack, "plain")
    c.update_model_version("plain", version, description="notes")
    c.set_model_version_tag("plain", version, "team", "risk")
    c.set_model_version_tag("plain", version, T.VERDICT, "fail")
    c.set_registered_model_alias("plain", "challenger", version)
    c.update_registered_model("plain", description="d")
    c.set_registered_model_tag("plain", "owner", "ml")
    mv = c.get_model_version_by_alias("plain", "challenger")
    assert (mv.description, mv.tags["team"], mv.tags[T.VERDICT]) == ("notes", "risk", "fail")
    assert [m.name for m in c.search_registered_models("name='plain'")] == ["plain"]
    c.delete_registered_model_alias("plain", "challenger")
    c.delete_model_version_tag("plain", version, "team")
    c.delete_model_version("plain", version)
    c.delete_registered_model("plain")
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        c.get_registered_model("plain")
