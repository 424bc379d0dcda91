"""Shared fixtures. Servers bind 127.0.0.1 and are stopped by the fixture that started them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_POLICY = REPO / "policies" / "default.yaml"

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


@pytest.fixture(scope="session")
def default_policy_path() -> Path:
    return DEFAULT_POLICY


@pytest.fixture(scope="session")
def default_policy():  # type: ignore[no-untyped-def]
    from mlgate.policy import load_policy

    return load_policy(DEFAULT_POLICY)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto S3 server on 127.0.0.1 for the whole session; yields its endpoint URL.
    Tests must use their own bucket names (or reset via ``moto_reset``)."""
    from mlgate.stack.moto import start_moto

    server = start_moto()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the moto server through the standard environment variables."""
    from mlgate.stack.moto import FAKE_CREDENTIALS

    for k, v in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


@pytest.fixture
def moto_reset(moto_server: str) -> None:
    """Wipe all moto state (buckets, access points) before the test."""
    import urllib.request

    req = urllib.request.Request(moto_server + "/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).close()
