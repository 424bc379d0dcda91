"""``mlgate.integrations.aws`` is botocore's only importer: its client configuration, exception
tuples and predicates answer exactly what the callers used to ask botocore directly."""

from __future__ import annotations

import subprocess
import sys

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
)

from mlgate.integrations import aws

DENIED = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")


def test_importing_the_module_imports_no_botocore() -> None:
    code = "import sys, mlgate.integrations.aws; print('botocore' in sys.modules, 'boto3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_config_sets_only_what_it_is_given() -> None:
    c = aws.config(max_attempts=1, connect_timeout=10, read_timeout=30)
    assert c.retries == {"max_attempts": 1}  # no mode: the environment's/botocore's default stays
    assert (c.connect_timeout, c.read_timeout) == (10, 30)
    c = aws.config(retry_mode="standard", max_attempts=5, max_pool_connections=16, connect_timeout=10,
                   read_timeout=30, user_agent_extra="mlgate-s3-audit")
    assert c.retries == {"mode": "standard", "max_attempts": 5}
    assert (c.max_pool_connections, c.user_agent_extra) == (16, "mlgate-s3-audit")
    assert aws.config().retries is None


def _caught(exc: BaseException, handled: tuple[type[BaseException], ...]) -> bool:
    try:
        raise exc
    except handled:
        return True
    except BaseException:
        return False


def test_the_exception_tuples_catch_what_botocore_raises() -> None:
    assert _caught(DENIED, aws.SERVICE_ERRORS)
    assert not _caught(NoCredentialsError(), aws.SERVICE_ERRORS)
    assert _caught(DENIED, aws.AWS_ERRORS)
    assert _caught(NoCredentialsError(), aws.AWS_ERRORS)
    assert not _caught(ValueError("x"), aws.AWS_ERRORS)
    with pytest.raises(AttributeError, match="NO_SUCH_NAME"):
        aws.NO_SUCH_NAME


def test_predicates() -> None:
    assert aws.is_service_error(DENIED)
    assert not aws.is_sdk_error(DENIED)
    assert aws.is_aws_error(DENIED)
    assert aws.is_sdk_error(NoCredentialsError())
    assert not aws.is_service_error(NoCredentialsError())
    assert not aws.is_aws_error(OSError("x"))
    assert aws.credentials_problem(NoCredentialsError()) == "missing"
    assert aws.credentials_problem(PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY")) == "incomplete"
    assert aws.credentials_problem(DENIED) is None
    assert aws.connection_problem(EndpointConnectionError(endpoint_url="http://x")) == "unreachable"
    assert aws.connection_problem(ConnectTimeoutError(endpoint_url="http://x")) == "timeout"
    assert aws.connection_problem(SSLError(endpoint_url="http://x", error="bad")) == "tls"
    assert aws.connection_problem(ProxyConnectionError(proxy_url="http://p", error="x")) == "other"
    assert aws.connection_problem(ReadTimeoutError(endpoint_url="http://x")) is None
    assert aws.connection_problem(DENIED) is None
    assert aws.setup_problem(ProfileNotFound(profile="nope")) == "no_profile"
    assert aws.setup_problem(NoRegionError()) == "no_region"
    assert aws.setup_problem(NoCredentialsError()) is None


def test_versions() -> None:
    import boto3
    import botocore

    assert aws.versions() == {"boto3": boto3.__version__, "botocore": botocore.__version__}
