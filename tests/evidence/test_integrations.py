"""The typed registry client against a local MLflow registry (sqlite, local artifacts): version
reads, the global revocation list, evidence tags in contract order, fetching a version's bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlgate.digest import hash_tree, manifest_of
from mlgate.evidence import tags as T
from mlgate.integrations.mlflow import FetchError, RegistryClient
from mlgate.samples import write_clean_model


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> tuple[RegistryClient, Path]:
    work = tmp_path_factory.mktemp("integrations")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    client.create_experiment("e", artifact_location=str(work / "artifacts"))
    return RegistryClient.wrap(client), work


def test_tracking_uri_follows_the_wrapped_client(reg: tuple[RegistryClient, Path]) -> None:
    r, _ = reg
    assert str(r.tracking_uri).startswith("sqlite:///")
    assert RegistryClient.wrap(r) is r


def test_version_fetch_and_tags_in_contract_order(reg: tuple[RegistryClient, Path]) -> None:
    r, work = reg
    c = r.raw
    exp = c.get_experiment_by_name("e")
    run = c.create_run(exp.experiment_id)
    folder = write_clean_model(work / "src")
    c.log_artifacts(run.info.run_id, str(folder), "model")
    c.create_registered_model("m")
    mv = c.create_model_version("m", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    info = r.version("m", mv.version)
    assert (info.name, info.version, info.run_id) == ("m", "1", run.info.run_id)
    got = r.fetch_version("m", "1", work / "fetched")
    assert got.manifest_sha256 == manifest_of(hash_tree(folder))
    r.set_version_tags("m", "1", {T.VERDICT: "fail", "team": "x", T.ENVELOPE: "{}"})
    assert r.version("m", "1").tags[T.VERDICT] == "fail"
    r.set_description("m", "1", T.describe("fail", reason="why"))
    assert r.version("m", "1").description == "mlgate: FAIL · why"
    with pytest.raises(FetchError, match="download failed") as e:
        r.download(f"{run.info.artifact_uri}/nothing-here", work / "none")
    assert e.value.missing


def test_global_revocations(reg: tuple[RegistryClient, Path]) -> None:
    r, _ = reg
    assert r.revoked_ids() == set()
    r.revoke(["A" * 32, ""], "quarantined m v1")
    r.revoke(["b" * 32], "quarantined m v2")
    assert r.revoked_ids() == {"a" * 32, "b" * 32}
    with pytest.raises(ValueError, match="not an attestation id"):
        r.revoke(["not-hex!"], "x")
