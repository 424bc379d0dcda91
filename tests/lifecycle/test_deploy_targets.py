"""Deploy targets get the verified local copy: a serving folder (atomic swap) or MLflow's
deployment client (here a test plugin registered with MLflow's plugin store)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlgate.lifecycle.config import load_pipeline_config
from mlgate.lifecycle.pipeline import Context, deploy_to_target
from mlgate.lifecycle.staging import stage
from mlgate.samples import write_clean_model


def _ctx(tmp_path: Path, deploy: dict[str, str], default_policy_path: Path) -> Context:
    cfg = {
        "apiVersion": "mlgate/v1", "name": "t", "tracking_uri": "http://127.0.0.1:9", "policy": str(default_policy_path),
        "model_name": "m", "training": {"function": "mlgate.examples.train_sklearn:train"},
        "signing": {"private_key": "k.pem", "public_key": "k.pub"}, "deploy": deploy,
        "work_dir": str(tmp_path / "work"),
    }
    p = tmp_path / "pipeline.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return Context(load_pipeline_config(p))


def test_folder_target_swaps_in_the_verified_copy(tmp_path: Path, default_policy_path: Path) -> None:
    ctx = _ctx(tmp_path, {"target": "folder", "folder": str(tmp_path / "serving")}, default_policy_path)
    copy = stage(str(write_clean_model(tmp_path / "m1")), tmp_path / "staged1")
    where = Path(deploy_to_target(ctx, copy, "1"))
    assert (where / "model.safetensors").read_bytes() == (copy.path / "model.safetensors").read_bytes()
    assert "m 1 " in (where / ".mlgate-version").read_text()
    copy2 = stage(str(write_clean_model(tmp_path / "m2", seed=1)), tmp_path / "staged2")
    assert Path(deploy_to_target(ctx, copy2, "2")) == where
    assert (where / "model.safetensors").read_bytes() == (copy2.path / "model.safetensors").read_bytes()
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == ["m"]  # no leftovers


def test_mlflow_deployments_target(tmp_path: Path, default_policy_path: Path) -> None:
    from mlflow.deployments.interface import plugin_store
    from tests.lifecycle import fake_deploy

    plugin_store.register("mlgate-test", "tests.lifecycle.fake_deploy")
    ctx = _ctx(tmp_path, {"target": "mlflow-deployments", "deployments_uri": "mlgate-test", "endpoint": "iris"},
               default_policy_path)
    copy = stage(str(write_clean_model(tmp_path / "m")), tmp_path / "staged")
    assert deploy_to_target(ctx, copy, "3") == "mlgate-test#iris"
    assert fake_deploy.DEPLOYMENTS["iris"] == {"model_uri": str(copy.path), "action": "create"}
    deploy_to_target(ctx, copy, "4")
    assert fake_deploy.DEPLOYMENTS["iris"]["action"] == "update"


def test_deployments_target_needs_uri_and_endpoint(tmp_path: Path, default_policy_path: Path) -> None:
    from mlgate.errors import MlgateError

    ctx = _ctx(tmp_path, {"target": "mlflow-deployments"}, default_policy_path)
    copy = stage(str(write_clean_model(tmp_path / "m")), tmp_path / "staged")
    with pytest.raises(MlgateError, match=r"deployments_uri and deploy\.endpoint are required"):
        deploy_to_target(ctx, copy, "1")
