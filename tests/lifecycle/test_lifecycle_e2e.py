"""End to end: the real Prefect flows (under Prefect's test harness) against a real `mlflow server`
and a real moto S3 server (TLS), both started here on 127.0.0.1 and stopped afterwards."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlgate.errors import GateFailed

pytestmark = pytest.mark.slow


@dataclass
class Env:
    info: Any
    configs: dict[str, Path]
    flows: Any
    workdir: Path
    client: Any


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from mlflow.tracking import MlflowClient
    from prefect.testing.utilities import prefect_test_harness

    from mlgate._dev.demo import prepare
    from mlgate._dev.stack.local import running_stack
    from mlgate.orchestration import flows

    workdir = tmp_path_factory.mktemp("lifecycle")
    mp = pytest.MonkeyPatch()
    try:
        with running_stack(workdir / "stack") as info:
            for k, v in info.env().items():
                mp.setenv(k, v)
            mp.setenv("PREFECT_LOGGING_LEVEL", "CRITICAL")
            configs = prepare(workdir, info)
            with prefect_test_harness(server_startup_timeout=120):
                yield Env(info, configs, flows, workdir,
                          MlflowClient(tracking_uri=info.tracking_uri))
    finally:
        mp.undo()


def _versions(env: Env, name: str = "iris-classifier") -> list[Any]:
    return list(env.client.search_model_versions(f"name='{name}'"))


@pytest.fixture(scope="module")
def clean_run(env: Env) -> dict[str, Any]:
    result: dict[str, Any] = env.flows.lifecycle(str(env.configs["clean"]))
    return result


def test_clean_lifecycle_registers_signs_and_deploys(env: Env, clean_run: dict[str, Any]) -> None:
    from mlgate.digest import manifest_of
    from mlgate.evidence.attestation import load_public_key, verify
    from mlgate.lifecycle.signing import ModelSigningKey
    from mlgate.lifecycle.staging import hash_tree

    (mv,) = _versions(env)
    assert clean_run["version"] == mv.version
    tags = mv.tags
    assert tags["mlgate.verdict"] == "pass"
    for t in ("mlgate.manifest_sha256", "mlgate.policy_digest", "mlgate.scanners", "mlgate.checked_at",
              "mlgate.signature", "mlgate.attestation_envelope"):
        assert tags.get(t), t
    assert json.loads(tags["mlgate.scanners"])["modelscan"] == "0.8.8"
    keys = env.workdir / "keys"
    payload = verify(tags["mlgate.attestation_envelope"], load_public_key(keys / "signing-key.pub"))
    assert payload["subject"]["manifest_sha256"] == tags["mlgate.manifest_sha256"]
    assert payload["subject"]["source"] == mv.source
    # the registered bytes hash to the registered manifest and carry a valid model signature
    import mlflow

    dl = Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(env.workdir / "check"),
                                                  tracking_uri=env.info.tracking_uri))
    assert manifest_of(hash_tree(dl)) == tags["mlgate.manifest_sha256"]
    sig = Path(mlflow.artifacts.download_artifacts(artifact_uri=tags["mlgate.signature"],
                                                   dst_path=str(env.workdir / "sig"),
                                                   tracking_uri=env.info.tracking_uri))
    ModelSigningKey(None, keys / "signing-key.pub").verify_model(dl, sig)
    # the model was really trained (skops file) and is served from the verified copy
    assert (dl / "model.skops").stat().st_size > 1000
    served = hash_tree(Path(clean_run["deployed_to"]))
    served.pop(".mlgate-version")
    assert manifest_of(served) == tags["mlgate.manifest_sha256"]
    assert env.client.get_model_version_by_alias("iris-classifier", "production").version == mv.version
    # reports are on the run
    arts = {a.path for a in env.client.list_artifacts(mv.run_id, "mlgate")}
    assert {"mlgate/report.json", "mlgate/report.sarif", "mlgate/model.sig", "mlgate/attestation.json"} <= arts


@pytest.mark.parametrize(
    ("case", "gate"),
    [("poisoned-base-model", "model-scan"), ("poisoned-data", "data-quality"), ("insecure-bucket", "s3-audit")],
)
def test_pre_train_blocks(env: Env, clean_run: dict[str, Any], case: str, gate: str) -> None:
    before = len(_versions(env))
    with pytest.raises(GateFailed, match=f"pre-train: {gate} blocked") as ei:
        env.flows.train(str(env.configs[case]))
    assert ei.value.checkpoint == "pre-train"
    assert ei.value.gate == gate
    assert len(_versions(env)) == before


def test_blocked_publish_registers_nothing_and_keeps_reports(env: Env, clean_run: dict[str, Any]) -> None:
    import yaml

    from mlgate.samples import write_poisoned_model

    cfg = yaml.safe_load(env.configs["clean"].read_text())
    cfg["model_name"] = "never-registered"
    cfg_path = env.workdir / "pipelines" / "blocked-publish.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    bad = write_poisoned_model(env.workdir / "bad-artifact")
    with pytest.raises(GateFailed, match="pre-publish: model-scan blocked"):
        env.flows.publish(str(cfg_path), str(bad))
    names = [m.name for m in env.client.search_registered_models()]
    assert "never-registered" not in names  # no empty registered model left behind
    exp = env.client.get_experiment_by_name("iris-demo")
    runs = env.client.search_runs([exp.experiment_id], "tags.`mlgate.blocked` = 'true'")
    assert runs, "the blocked attempt keeps a run for forensics"
    arts = {a.path for a in env.client.list_artifacts(runs[0].info.run_id, "mlgate")}
    assert {"mlgate/report.json", "mlgate/report.sarif"} <= arts


def test_tampered_artifact_is_blocked_at_pre_deploy_and_alias_stays(env: Env, clean_run: dict[str, Any]) -> None:
    from mlgate._dev.demo import tamper_latest_artifact

    # publish a second clean version, point production at v1, then tamper with v2's bytes in S3
    artifact = env.flows.train(str(env.configs["clean"]))
    v2 = env.flows.publish(str(env.configs["clean"]), artifact)["version"]
    assert env.client.get_model_version_by_alias("iris-classifier", "production").version == clean_run["version"]
    assert tamper_latest_artifact(env.info, "iris-classifier") == v2
    with pytest.raises(GateFailed, match=r"pre-deploy: model-version blocked: .*are not the signed bytes") as ei:
        env.flows.deploy(str(env.configs["clean"]), v2)
    assert ei.value.checkpoint == "pre-deploy"
    assert env.client.get_model_version_by_alias("iris-classifier", "production").version == clean_run["version"]


def test_forged_verdict_tag_is_refused_at_deploy(env: Env, clean_run: dict[str, Any]) -> None:
    """A version registered by hand with a copied `mlgate.verdict=pass` tag has no valid attestation."""
    mv = env.client.get_model_version("iris-classifier", clean_run["version"])
    forged = env.client.create_model_version("iris-classifier", source=mv.source, run_id=mv.run_id,
                                             tags={"mlgate.verdict": "pass",
                                                   "mlgate.manifest_sha256": mv.tags["mlgate.manifest_sha256"]})
    with pytest.raises(GateFailed, match=r"pre-deploy: model-version blocked: .*no signed statement"):
        env.flows.deploy(str(env.configs["clean"]), forged.version)


def test_gate_results_are_prefect_artifacts(env: Env, clean_run: dict[str, Any]) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> list[Any]:
        async with get_client() as c:
            return await c.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="mlgate-")))

    arts = asyncio.run(read())
    keys = {a.key for a in arts}
    assert {"mlgate-pre-train", "mlgate-pre-publish", "mlgate-pre-deploy"} <= keys
    assert any("model-scan" in (a.data or "") for a in arts)


def test_only_transient_errors_are_retried() -> None:
    from prefect import flow, task

    from mlgate.errors import TransientError
    from mlgate.orchestration.tasks import TASK_OPTS

    calls = {"transient": 0, "gate": 0}
    opts = {**TASK_OPTS, "retry_delay_seconds": 0}

    @task(**opts)
    def flaky() -> str:
        calls["transient"] += 1
        if calls["transient"] < 2:
            raise TransientError("throttled")
        return "ok"

    @task(**opts)
    def blocked() -> None:
        calls["gate"] += 1
        raise GateFailed("pre-train", "model-scan", "bad file")

    @flow
    def f() -> str:
        return flaky()

    @flow
    def g() -> None:
        blocked()

    assert f() == "ok"
    assert calls["transient"] == 2
    with pytest.raises(GateFailed, match="bad file"):
        g()
    assert calls["gate"] == 1


def test_config_errors_name_file_and_field(tmp_path: Path) -> None:
    from mlgate.errors import PolicyError
    from mlgate.lifecycle.config import load_pipeline_config

    p = tmp_path / "p.yaml"
    p.write_text("apiVersion: mlgate/v1\nname: x\ntracking_uri: http://127.0.0.1:1\npolicy: p.yaml\n"
                 "model_name: m\ntraining: {function: not-a-function}\nsigning: {private_key: a, public_key: b}\n")
    with pytest.raises(PolicyError, match=r"p\.yaml: training\.function"):
        load_pipeline_config(p)
    assert os.environ.get("MLGATE_NEVER_SET") is None
