"""Deploy against a real mlflow server behind the fault proxy: MLflow failing before the alias move
(during verification, at the move) or after it (the move happened, the answer was lost) is one
clear line; the alias never points at a version this deploy did not verify; a re-run converges."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.faults.conftest import HANG_SECONDS, MLFLOW_CLIENT_ENV
from tests.faults.fault_proxy import FaultProxy, Rule
from tests.faults.lifecycle_helpers import Setup, context, make_setup, one_line, version_verifies

from mlgate.errors import MlgateError

pytestmark = pytest.mark.slow  # a real mlflow server (20-50 s to start on a busy 2-core machine)

API = r"^/api/2\.0/mlflow"


@pytest.fixture(scope="module")
def published(mlflow_upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Setup, str]]:
    """One clean, verified version (published straight to the server), shared by the deploy cases."""
    from mlgate.lifecycle.pipeline import publish

    mp = pytest.MonkeyPatch()
    try:
        for k, v in MLFLOW_CLIENT_ENV.items():
            mp.setenv(k, v)
        setup = make_setup(tmp_path_factory.mktemp("deploy-faults"), mlflow_upstream)
        result = publish(context(setup), setup.model)
        assert result.version
        yield setup, str(result.version)
    finally:
        mp.undo()


def _through(published: tuple[Setup, str], proxy: FaultProxy, tmp: Path) -> tuple[Setup, str, str]:
    """The published model's config, pointed at the proxy, with a fresh alias and serving folder."""
    setup, version = published
    cfg = yaml.safe_load(setup.config.read_text())
    alias = f"prod{uuid.uuid4().hex[:8]}"
    cfg.update(tracking_uri=proxy.url, work_dir=str(tmp / "runs"),
               deploy={"alias": alias, "target": "folder", "folder": str(tmp / "serving")})
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return Setup(path, setup.model, setup.name, setup.public_key, setup.private_key, tmp / "serving"), version, alias


def _alias(client: Any, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def _deploy(setup: Setup, version: str) -> Any:
    from mlgate.lifecycle.pipeline import deploy

    return deploy(context(setup), version)


DEPLOY_FAULTS = [
    ("verification-down", Rule("down", "GET", API + r"/model-versions/get"), False),
    ("before-alias-move-500", Rule("status", "POST", API + r"/registered-models/alias", status=500,
                                   code="INTERNAL_ERROR"), False),
    ("after-alias-move-answer-lost", Rule("reset", "POST", API + r"/registered-models/alias", after=True), True),
    ("after-alias-move-down", Rule("down", "POST", API + r"/registered-models/alias", after=True), True),
]


@pytest.mark.parametrize(("rule", "moved"), [pytest.param(r, m, id=i) for i, r, m in DEPLOY_FAULTS])
def test_mlflow_fault_at_a_deploy_step_is_one_line_and_a_rerun_converges(
    published: tuple[Setup, str], mlflow_proxy: FaultProxy, direct_mlflow: Any, tmp_path: Path, rule: Rule,
    moved: bool,
) -> None:
    setup, version, alias = _through(published, mlflow_proxy, tmp_path)
    mlflow_proxy.add(rule)
    with pytest.raises(MlgateError, match="deploy") as ei:
        _deploy(setup, version)
    one_line(ei.value)
    assert rule.hits == 1
    now = _alias(direct_mlflow, setup.name, alias)
    # the server moved it (to the version this deploy verified, and nothing else), or it did not
    assert now == (version if moved else None)
    if now is not None:
        assert version_verifies(direct_mlflow, direct_mlflow.get_model_version(setup.name, now), setup.public_key,
                                tmp_path)
    mlflow_proxy.clear()
    mlflow_proxy.up()
    result = _deploy(setup, version)
    assert result.version == version
    assert _alias(direct_mlflow, setup.name, alias) == version
    assert (setup.serving / setup.name / ".mlgate-version").read_text().split()[1] == version


def test_hanging_mlflow_at_the_alias_move_times_out_in_one_line(
    published: tuple[Setup, str], mlflow_proxy: FaultProxy, direct_mlflow: Any, tmp_path: Path
) -> None:
    setup, version, alias = _through(published, mlflow_proxy, tmp_path)
    mlflow_proxy.add(Rule("hang", "POST", API + r"/registered-models/alias", seconds=HANG_SECONDS))
    with pytest.raises(MlgateError, match="moving alias") as ei:
        _deploy(setup, version)
    one_line(ei.value)
    assert _alias(direct_mlflow, setup.name, alias) is None
    mlflow_proxy.clear()
    assert _deploy(setup, version).version == version
    assert _alias(direct_mlflow, setup.name, alias) == version
