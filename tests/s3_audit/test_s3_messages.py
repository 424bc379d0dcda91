"""What ``mlgate audit-s3`` says when it cannot start (one line, exit 2, no per-control noise)
and what its summary names as the problem (the failing condition, not the check's title)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.s3_audit.s3audit_helpers import account, secure_bucket, write_policy

from mlgate.cli import main
from mlgate.gates.s3_audit import evaluate
from mlgate.gates.s3_audit.inventory import AuditInventory
from mlgate.model import Verdict
from mlgate.stack.moto import FAKE_CREDENTIALS, free_port, start_moto

AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
            "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")


@pytest.fixture
def bare_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AWS configuration at all (no variables, no ~/.aws files, no instance metadata)."""
    for k in AWS_VARS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return write_policy(tmp_path / "policy.yaml")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    capsys.readouterr()
    code = main(["audit-s3", *args])
    cap = capsys.readouterr()
    return code, cap.out, [ln for ln in cap.err.splitlines() if ln.strip()]


def test_no_credentials_is_one_line_and_exit_2(bare_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "ml-artifacts", "-p", str(bare_env))
    assert code == 2
    assert out == ""  # no report of 56 findings repeating NoCredentialsError
    assert len(err) == 1, err
    assert err[0].startswith("mlgate: no AWS credentials found")
    assert "AWS_SECRET_ACCESS_KEY" in err[0]
    assert "mlgate stack up" in err[0]


def test_partial_credentials_name_the_missing_variable(bare_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # what `eval "$(mlgate stack up)"` left behind before the stack exported the secret too
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"])
    code, out, err = _run(capsys, "ml-artifacts", "-p", str(bare_env), "-f", "json")
    assert code == 2
    assert out == ""
    assert len(err) == 1, err
    assert err[0].startswith("mlgate: AWS credentials are incomplete")
    assert "aws_secret_access_key" in err[0].lower()
    assert "PartialCredentialsError" not in err[0]


def test_unreachable_endpoint_is_one_line_and_exit_2(bare_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(k, FAKE_CREDENTIALS[k])
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    code, out, err = _run(capsys, "ml-artifacts", "-p", str(bare_env))
    assert code == 2
    assert out == ""
    assert len(err) == 1, err
    assert err[0].startswith(f"mlgate: cannot reach the S3 endpoint {url}")
    assert "AWS_ENDPOINT_URL" in err[0]


@pytest.fixture(scope="module")
def tls_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = start_moto(tls_dir=tmp_path_factory.mktemp("tls"))
    try:
        yield server.url
    finally:
        server.stop()


def test_untrusted_tls_endpoint_names_the_ca_bundle(bare_env: Path, monkeypatch: pytest.MonkeyPatch, tls_moto: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # the local stack serves TLS with its own certificate; without AWS_CA_BUNDLE nothing is trusted
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(k, FAKE_CREDENTIALS[k])
    monkeypatch.setenv("AWS_ENDPOINT_URL", tls_moto)
    code, _out, err = _run(capsys, "ml-artifacts", "-p", str(bare_env))
    assert code == 2
    assert len(err) == 1, err
    assert "TLS to the S3 endpoint" in err[0]
    assert "AWS_CA_BUNDLE" in err[0]


def test_api_without_session_fails_fast_too(bare_env: Path) -> None:
    from mlgate.gates.s3_audit import audit_buckets
    from mlgate.gates.s3_audit.gate import S3AccessError

    with pytest.raises(S3AccessError, match="no AWS credentials found"):
        audit_buckets(["ml-artifacts"], policy=bare_env)


def test_summary_names_the_failing_condition_not_the_checks_title(tmp_path: Path) -> None:
    b = secure_bucket("logless", logging=None)
    report = evaluate(AuditInventory(account=account(), buckets=(b,)), policy=write_policy(tmp_path / "p.yaml"))
    assert report.verdict is Verdict.FAIL
    (s,) = [s for s in report.subjects if s.subject == "logless"]
    assert "server access logging is off" in s.reason, s.reason
    assert "logging is enabled" not in s.reason
    assert "server access logging is off" in report.reason, report.reason
    from mlgate.report import render

    console = render([report], "console")
    summary = [ln for ln in console.splitlines() if ln.startswith("FAIL:")]
    assert summary, console
    assert "server access logging is off" in summary[0], console
