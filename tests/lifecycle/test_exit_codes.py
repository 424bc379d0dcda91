"""One exit-code contract: an error is exit 2 with one line on stderr (``--debug`` adds the
traceback), and a command that talks to a server gives up within a bounded, documented time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlgate.cli import main
from mlgate.integrations.servers import CLIENT_BOUNDS, free_port

MLGATE = str(Path(sys.executable).parent / "mlgate")
BOUND = 3  # MLGATE_CONNECT_TIMEOUT for these tests (seconds)
SLACK = 90  # interpreter start and imports on a busy machine; far below MLflow's own 286 s


def _config(tmp_path: Path, tracking_uri: str, **extra: object) -> Path:
    from mlgate.policy import default_policy_path

    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(yaml.safe_dump({
        "apiVersion": "mlgate/v1", "name": "t", "tracking_uri": tracking_uri, "policy": str(default_policy_path()),
        "model_name": "m", "training": {"function": "mlgate._dev.examples.train_sklearn:train"},
        "signing": {"private_key": str(keys / "k.pem"), "public_key": str(keys / "k.pub")},
        "work_dir": str(tmp_path / "runs"), **extra}))
    return cfg


def _run(args: list[str], tmp_path: Path, **env: str) -> tuple[int, list[str], float]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "AWS_ENDPOINT"))}
    full_env.update({"MLGATE_CONNECT_TIMEOUT": str(BOUND), "PREFECT_HOME": str(tmp_path / "prefect"), **env})
    t = time.monotonic()
    r = subprocess.run([MLGATE, *args], capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=300)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    return r.returncode, lines, time.monotonic() - t


def test_an_internal_bug_is_exit_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import mlgate.api

    def bug(*_a: object, **_k: object) -> None:  # the test-only fault injection
        raise KeyError("internal state\nwith a second line")

    monkeypatch.setattr(mlgate.api, "scan", bug)
    (tmp_path / "m.bin").write_bytes(b"x")
    assert main(["scan", str(tmp_path / "m.bin")]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("mlgate: error: KeyError: ")
    assert "--debug" in err[0]
    assert "Traceback" not in err[0]

    try:
        assert main(["--debug", "scan", str(tmp_path / "m.bin")]) == 2
    finally:
        os.environ.pop("MLGATE_DEBUG", None)  # --debug exports it for the command's helpers
    err_debug = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err_debug
    assert "in bug" in err_debug
    assert err_debug.strip().splitlines()[-1].startswith("mlgate: error: KeyError")


def test_rescan_with_mlflow_down_is_exit_2_one_line_within_the_bound(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    code, err, seconds = _run(["rescan", "--config", str(_config(tmp_path, down))], tmp_path)
    assert code == 2, err
    assert len(err) == 1, err
    assert "MLflow tracking server" in err[0]
    assert down in err[0]
    assert "MLGATE_CONNECT_TIMEOUT" in err[0]
    assert seconds < BOUND + SLACK


def test_run_with_mlflow_down_is_exit_2_one_line(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    code, err, seconds = _run(["run", "lifecycle", "--config", str(_config(tmp_path, down))], tmp_path)
    assert code == 2, err
    assert len(err) == 1, err
    assert "MLflow tracking server" in err[0]
    assert seconds < BOUND + SLACK


def test_run_with_s3_down_is_exit_2_one_line(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    cfg = _config(tmp_path, "http://127.0.0.1:9", datasets={"train": {"uri": "s3://mlgate-data/iris/train.csv",
                                                                      "suite": "suite.yaml"}})
    code, err, seconds = _run(["run", "train", "--config", str(cfg)], tmp_path, AWS_ENDPOINT_URL=down)
    assert code == 2, err
    assert len(err) == 1, err
    assert "S3 endpoint" in err[0]
    assert down in err[0]
    assert seconds < BOUND + SLACK


def test_mlflow_client_retries_are_bounded_once_work_started() -> None:
    """The pre-flight check can pass and the server die afterwards: MLflow's own retries (7, backoff
    factor 2: 286 s measured) are bounded by mlgate's defaults."""
    code = ("import time; from mlgate.integrations.servers import apply_default_bounds; apply_default_bounds()\n"
            "from mlflow.tracking import MlflowClient\n"
            f"t = time.monotonic()\n"
            "try:\n"
            f"    MlflowClient('http://127.0.0.1:{free_port()}').search_registered_models()\n"
            "except Exception as e:\n"
            "    print(type(e).__name__, round(time.monotonic() - t, 1))\n")
    env = {k: v for k, v in os.environ.items() if k not in CLIENT_BOUNDS}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=280)
    name, seconds = r.stdout.split()
    assert name == "MlflowException", r.stdout + r.stderr
    assert float(seconds) < 60  # 3 retries, backoff factor 1: about 7 s; MLflow's defaults: minutes


def test_timeouts_from_the_environment_are_validated(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from mlgate.integrations.servers import connect_timeout

    monkeypatch.setenv("MLGATE_CONNECT_TIMEOUT", "soon")
    with pytest.raises(Exception, match="MLGATE_CONNECT_TIMEOUT='soon': not a number"):
        connect_timeout()
    monkeypatch.setenv("MLGATE_CONNECT_TIMEOUT", "2.5")
    assert connect_timeout() == 2.5


@pytest.mark.slow
def test_run_blocked_prints_the_gate_and_reason_last_without_prefect_tracebacks(tmp_path: Path) -> None:
    """No PREFECT_API_URL: the command starts its own Prefect server (never the ephemeral one), the
    flow blocks at pre-train, and the last line names the checkpoint, the gate and the reason."""
    from mlgate._dev.samples import write_poisoned_model

    write_poisoned_model(tmp_path / "base")
    cfg = _config(tmp_path, "http://127.0.0.1:9", base_models={"tiny": str(tmp_path / "base")})
    code, err, _ = _run(["run", "train", "--config", str(cfg)], tmp_path)
    assert code == 1, err
    assert err[-1].startswith("mlgate: blocked at pre-train by model-scan: "), err
    assert not any("Traceback" in ln for ln in err), err


def test_run_with_the_prefect_api_down_is_exit_2_one_line(tmp_path: Path) -> None:
    from mlgate._dev.samples import write_clean_model

    write_clean_model(tmp_path / "base")
    down = f"http://127.0.0.1:{free_port()}/api"
    cfg = _config(tmp_path, "http://127.0.0.1:9", base_models={"tiny": str(tmp_path / "base")})
    code, err, seconds = _run(["run", "train", "--config", str(cfg)], tmp_path, PREFECT_API_URL=down)
    assert code == 2, err
    assert len(err) == 1, err
    assert "Prefect API" in err[0]
    assert down in err[0]
    assert seconds < BOUND + SLACK
