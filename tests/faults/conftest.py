"""Fixtures of the fault suite: a fault-injecting proxy in front of the session's moto server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.faults.fault_proxy import FaultProxy
from tests.faults.harness import TmpfsUnavailable, mlflow_server, small_tmpfs


@pytest.fixture
def s3_proxy(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """boto3 (through AWS_ENDPOINT_URL) reaches moto only through the proxy."""
    from mlgate.stack.moto import FAKE_CREDENTIALS

    proxy = FaultProxy(moto_server).start()
    for k, v in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def direct_s3(moto_server: str) -> Any:
    """A client that talks to moto directly (no faults), to set up and to check what is stored."""
    import boto3

    from mlgate.stack.moto import FAKE_CREDENTIALS

    return boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def bucket(direct_s3: Any) -> str:
    name = f"fault-{uuid.uuid4().hex[:12]}"
    direct_s3.create_bucket(Bucket=name)
    return name


# ---------------------------------------------------------------------------------------------
# A real `mlflow server` (sqlite, artifacts served by the server from a local folder) behind the
# fault proxy. The server lives for the session; each test gets its own proxy, model name and keys.
# ---------------------------------------------------------------------------------------------

# Bounded client waits: no retries (a fault is seen at once), a short read time-out (a hang is a
# time-out, not a test that waits minutes). Real deployments keep MLflow's defaults.
MLFLOW_CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}
HANG_SECONDS = 8.0  # longer than the client's read time-out above


@pytest.fixture(scope="session")
def mlflow_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real mlflow server on 127.0.0.1 (stopped by this fixture); yields its URL."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow-faults"), timeout=180) as url:
        yield url



@pytest.fixture
def mlflow_proxy(mlflow_upstream: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """Every MLflow request of the code under test goes through this proxy (stopped afterwards)."""
    for k, v in MLFLOW_CLIENT_ENV.items():
        monkeypatch.setenv(k, v)
    proxy = FaultProxy(mlflow_upstream, flavour="mlflow", rewrite_host=True).start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def direct_mlflow(mlflow_upstream: str) -> Any:
    """A client that talks to the server directly (no faults), to check what is registered."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=mlflow_upstream)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB file system (tmpfs) mounted here and unmounted afterwards (root only; skipped
    otherwise, saying why)."""
    try:
        disk = small_tmpfs(tmp_path / "small")
        mnt = disk.__enter__()
    except TmpfsUnavailable as e:
        pytest.skip(str(e))
    try:
        yield mnt
    finally:
        disk.__exit__(None, None, None)
