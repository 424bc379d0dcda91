"""Fixtures of the fault suite: a fault-injecting proxy in front of the session's moto server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.faults.fault_proxy import FaultProxy


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
