"""`mlgate stack up|status|down` and `mlgate run` argument handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.cli import main


@pytest.mark.slow
def test_stack_up_down_keeps_mlflow_state_across_restarts(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import urllib.request

    from mlflow.tracking import MlflowClient

    from mlgate._dev.stack.local import status

    wd = tmp_path / "stack"
    try:
        assert main(["stack", "up", "--workdir", str(wd)]) == 0
        out = capsys.readouterr().out
        info = status(wd)
        assert info is not None
        assert info.tracking_uri.startswith("http://127.0.0.1:")
        assert info.s3_endpoint.startswith("https://127.0.0.1:")
        assert info.prefect_api_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(info.prefect_api_url + "/health", timeout=30) as r:
            assert r.status == 200
        # the printed environment is complete: eval "$(mlgate stack up)" is all a shell needs
        exported = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                  "AWS_CA_BUNDLE", "MLFLOW_TRACKING_URI", "PREFECT_API_URL", "PREFECT_HOME"):
            assert exported.get(k), k
        assert exported["PREFECT_API_URL"] == info.prefect_api_url
        assert main(["stack", "status", "--workdir", str(wd)]) == 0
        err = capsys.readouterr().err
        assert info.s3_endpoint in err
        assert info.tracking_uri in err
        assert info.prefect_api_url in err
        MlflowClient(tracking_uri=info.tracking_uri).create_experiment("survives-restart")
        assert main(["stack", "up", "--workdir", str(wd)]) == 0  # idempotent
        assert main(["stack", "down", "--workdir", str(wd)]) == 0
        assert status(wd) is None
        assert main(["stack", "status", "--workdir", str(wd)]) == 2
        assert main(["stack", "up", "--workdir", str(wd)]) == 0
        info2 = status(wd)
        assert info2 is not None
        assert MlflowClient(tracking_uri=info2.tracking_uri).get_experiment_by_name("survives-restart") is not None
    finally:
        main(["stack", "down", "--workdir", str(wd)])
    assert status(wd) is None


def test_run_refuses_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "lifecycle", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: file not found" in capsys.readouterr().err
    assert main(["run", "sideways", "--config", "x.yaml"]) == 4
