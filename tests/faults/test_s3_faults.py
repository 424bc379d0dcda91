"""S3 faults between mlgate and a real moto server (a fault-injecting proxy on 127.0.0.1): a
transient fault is retried and changes nothing; a persistent one is an error (never a pass) with
one clear line; nothing stored is lost; the re-run after the fault succeeds."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.faults.fault_proxy import FaultProxy, Rule

from mlgate.api import run_gate
from mlgate.gates.data_quality.samples import render_iris_like
from mlgate.model import Verdict

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "policies" / "suites" / "iris.yaml"
GET_OBJECT = r"^/[^/?]+/train/iris\.csv(\?|$)"


def _check(uri: str, policy: Path) -> Any:
    return run_gate("data-quality", [uri], policy=policy, checkpoint="pre-train", suite=str(SUITE))


def _verdict_or_typed_error(uri: str, policy: Path) -> Verdict:
    """The verdict, or ERROR when the gate raised a typed mlgate error (an untyped one fails)."""
    from mlgate.errors import MlgateError

    try:
        return _check(uri, policy).verdict  # type: ignore[no-any-return]
    except MlgateError:
        return Verdict.ERROR


@pytest.fixture
def dataset(direct_s3: Any, bucket: str) -> tuple[str, bytes]:
    body = render_iris_like(150)
    direct_s3.put_object(Bucket=bucket, Key="train/iris.csv", Body=body)
    return f"s3://{bucket}/train/iris.csv", body


@pytest.mark.parametrize(
    "rule",
    [
        Rule("status", method="GET", path=GET_OBJECT, status=503, code="SlowDown", times=1),
        Rule("status", method="GET", path=GET_OBJECT, status=500, code="InternalError", times=1),
        Rule("reset", method="GET", path=GET_OBJECT, times=1),
    ],
    ids=["slowdown-once", "500-once", "reset-once"],
)
def test_transient_fault_is_retried_and_changes_nothing(
    s3_proxy: FaultProxy, dataset: tuple[str, bytes], default_policy_path: Path, rule: Rule
) -> None:
    uri, body = dataset
    s3_proxy.add(rule)
    report = _check(uri, default_policy_path)
    assert rule.hits == 1  # the fault really happened
    assert report.verdict is Verdict.PASS, [f.message for s in report.subjects for f in s.findings]
    assert report.subjects[0].details["files"][0]["sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize(
    "rule",
    [
        Rule("status", method="GET", path=GET_OBJECT, status=503, code="SlowDown", times=None),
        Rule("status", method="GET", path=GET_OBJECT, status=500, times=None),
        Rule("reset", method="GET", path=GET_OBJECT, times=None),
        Rule("truncate", method="GET", path=GET_OBJECT, times=None),
        Rule("status", method="GET", path=GET_OBJECT, status=403, code="AccessDenied", times=None),
    ],
    ids=["slowdown-always", "500-always", "reset-always", "truncated-body", "access-denied"],
)
def test_persistent_fault_is_an_error_and_a_rerun_succeeds(
    s3_proxy: FaultProxy, dataset: tuple[str, bytes], direct_s3: Any, default_policy_path: Path, rule: Rule
) -> None:
    uri, body = dataset
    s3_proxy.add(rule)
    verdict = _verdict_or_typed_error(uri, default_policy_path)
    assert rule.hits >= 1
    assert verdict in (Verdict.ERROR, Verdict.INCOMPLETE), verdict
    # Nothing lost: the object is intact, and without the fault the same check passes.
    bucket, key = uri[5:].split("/", 1)
    assert direct_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    s3_proxy.clear()
    assert _check(uri, default_policy_path).verdict is Verdict.PASS


def test_cli_says_one_clear_line_on_a_persistent_fault(
    s3_proxy: FaultProxy, dataset: tuple[str, bytes], default_policy_path: Path
) -> None:
    uri, _ = dataset
    s3_proxy.add(Rule("status", method="GET", path=GET_OBJECT, status=500, times=None))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlgate.cli",
            "check-data",
            uri,
            "--suite",
            str(SUITE),
            "--policy",
            str(default_policy_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "500" in proc.stderr or "InternalError" in proc.stderr, proc.stderr[-2000:]
    assert len(last) < 400, last


@pytest.mark.parametrize(
    "rule",
    [
        Rule("status", method="GET", path=r"\?policy", status=500, times=None),
        Rule("status", method="GET", path=r"\?policy", status=403, code="AccessDenied", times=None),
        Rule("reset", method="GET", path=r"\?policy", times=None),
    ],
    ids=["policy-500-always", "policy-access-denied", "policy-reset-always"],
)
def test_s3_audit_persistent_fault_is_an_error_finding(
    s3_proxy: FaultProxy, bucket: str, default_policy_path: Path, rule: Rule
) -> None:
    """The bucket is insecure (moto's defaults), so its verdict is fail either way; what matters is
    that the checks the fault stopped are reported as errors, never as passed, and that the same
    checks are evaluated again once the fault is gone."""
    s3_proxy.add(rule)
    report = run_gate("s3-audit", [bucket], policy=default_policy_path, checkpoint="pre-train")
    assert rule.hits >= 1
    assert report.verdict is not Verdict.PASS
    errors = [f for s in report.subjects for f in s.findings if f.kind.value == "error"]
    assert errors, "a check the fault stopped was not reported"
    stopped = {f.id for f in errors}
    s3_proxy.clear()
    after = run_gate("s3-audit", [bucket], policy=default_policy_path, checkpoint="pre-train")
    assert not [f for s in after.subjects for f in s.findings if f.kind.value == "error"]
    assert stopped  # the ids errored before are evaluated now (no error findings left)


def test_s3_audit_transient_fault_changes_nothing(s3_proxy: FaultProxy, bucket: str, default_policy_path: Path) -> None:
    baseline = run_gate("s3-audit", [bucket], policy=default_policy_path, checkpoint="pre-train")
    rule = s3_proxy.add(Rule("status", method="GET", path=r"\?policy", status=503, code="SlowDown", times=1))
    report = run_gate("s3-audit", [bucket], policy=default_policy_path, checkpoint="pre-train")
    assert rule.hits == 1

    def ids(r: Any) -> set[str]:
        return {f.id for s in r.subjects for f in s.findings}

    assert report.verdict is baseline.verdict
    assert ids(report) == ids(baseline)
