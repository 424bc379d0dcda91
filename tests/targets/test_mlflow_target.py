"""`mlgate scan models:/name/version` and `runs:/run_id/path` against a real `mlflow server` on
127.0.0.1 (artifacts proxied to a moto S3 server): the registered bytes, the same manifest digest
as the local folder, the registry's signature reference and recorded manifest used, fail closed on
a missing version and on a stored artifact that differs from the recorded manifest."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from tests.report.report_helpers import EVIL

from mlgate.api import scan
from mlgate.cli import main
from mlgate.model import Verdict
from mlgate.samples import write_clean_model
from mlgate.stack.moto import FAKE_CREDENTIALS

pytestmark = pytest.mark.slow


class Env:
    url: str
    run_id: str
    name: str
    folder: Path
    bad_name: str


@pytest.fixture(scope="module")
def mlflow_env(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from mlflow.tracking import MlflowClient

    from mlgate.stack.mlflow_server import start_mlflow

    work = tmp_path_factory.mktemp("mlflow-target")
    bucket = f"targets-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                 aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=bucket)
    server = start_mlflow(work / "mlflow", s3_endpoint=moto_server, artifact_bucket=bucket,
                          extra_env={"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})
    try:
        env = Env()
        env.url = server.url
        env.folder = write_clean_model(work / "model")
        client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
        exp = client.create_experiment("targets")
        run = client.create_run(exp)
        env.run_id = run.info.run_id
        client.log_artifacts(env.run_id, str(env.folder), "model")
        bad = work / "bad"
        bad.mkdir()
        (bad / "model.pkl").write_bytes(EVIL)
        client.log_artifacts(env.run_id, str(bad), "bad")
        client.set_terminated(env.run_id)
        env.name = "fraud-detector"
        client.create_registered_model(env.name)
        source = f"{run.info.artifact_uri}/model"
        client.create_model_version(env.name, source, run_id=env.run_id)  # version 1
        mv2 = client.create_model_version(env.name, source, run_id=env.run_id)  # version 2: signed, wrong manifest
        client.set_model_version_tag(env.name, mv2.version, "mlgate.signature", "sig-bundle")
        client.set_model_version_tag(env.name, mv2.version, "mlgate.manifest_sha256", "0" * 64)
        client.set_registered_model_alias(env.name, "production", "1")
        yield env
    finally:
        server.stop()


def test_registered_version_scans_like_the_local_folder(mlflow_env: Env, default_policy_path: Path) -> None:
    local = scan([mlflow_env.folder], policy=default_policy_path)
    for uri in (f"models:/{mlflow_env.name}/1", f"models:/{mlflow_env.name}@production",
                f"runs:/{mlflow_env.run_id}/model"):
        r = scan([uri], policy=default_policy_path, tracking_uri=mlflow_env.url)
        assert r.verdict is Verdict.PASS, (uri, r.reason)
        assert {s.subject: s.sha256 for s in r.subjects} == {s.subject: s.sha256 for s in local.subjects}, uri
        assert r.manifests[0].manifest_sha256 == local.manifests[0].manifest_sha256, uri
        assert "registered_model_meta" not in {s.subject for s in r.subjects}


def test_recorded_manifest_and_signature_reference(mlflow_env: Env, default_policy_path: Path, tmp_path: Path) -> None:
    r = scan([f"models:/{mlflow_env.name}/2"], policy=default_policy_path, tracking_uri=mlflow_env.url)
    assert r.verdict is Verdict.FAIL
    assert [f.id for f in r.findings] == ["MLG-TARGET-MANIFEST-CHANGED"]
    out = tmp_path / "bom.json"
    assert main(["scan", "-p", str(default_policy_path), "--tracking-uri", mlflow_env.url, "-f", "cyclonedx",
                 "-o", str(out), f"models:/{mlflow_env.name}/2"]) == 1
    comp = json.loads(out.read_text())["components"][0]
    assert comp["externalReferences"][0]["url"] == f"models:/{mlflow_env.name}/2#tag=mlgate.signature"


def test_run_artifacts_malicious_and_single_file(mlflow_env: Env, default_policy_path: Path) -> None:
    r = scan([f"runs:/{mlflow_env.run_id}/bad"], policy=default_policy_path, tracking_uri=mlflow_env.url)
    assert r.verdict is Verdict.FAIL
    assert [s.subject for s in r.subjects] == ["model.pkl"]
    one = scan([f"runs:/{mlflow_env.run_id}/model/config.json"], policy=default_policy_path,
               tracking_uri=mlflow_env.url)
    assert one.verdict is Verdict.PASS, one.reason
    assert [(s.subject, m.kind) for s in one.subjects for m in one.manifests] == [("config.json", "file")]


def test_missing_version_and_empty_path(mlflow_env: Env, default_policy_path: Path) -> None:
    r = scan([f"models:/{mlflow_env.name}/99"], policy=default_policy_path, tracking_uri=mlflow_env.url)
    assert r.verdict is Verdict.ERROR
    assert r.findings[0].id == "MLG-TARGET-LIST"
    e = scan([f"runs:/{mlflow_env.run_id}/nothing"], policy=default_policy_path, tracking_uri=mlflow_env.url)
    assert e.verdict is Verdict.INCOMPLETE, e.reason
    assert main(["scan", "-p", str(default_policy_path), "--tracking-uri", mlflow_env.url,
                 f"models:/{mlflow_env.name}/99"]) == 2
