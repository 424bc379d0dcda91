"""S3 faults while staging a model folder (the fault proxy in front of moto): a transient fault is
retried and the copy is exact; a persistent one is one typed error line, the partial copy is
removed (never scanned, never used) and the objects are untouched; the re-run succeeds."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from tests.faults.fault_proxy import FaultProxy, Rule

from mlgate.errors import MlgateError
from mlgate.lifecycle.staging import stage

WEIGHTS = r"^/[^/?]+/models/m/weights\.bin(\?|$)"


@pytest.fixture
def model(direct_s3: Any, bucket: str) -> tuple[str, dict[str, bytes]]:
    objs = {"config.json": b"{}", "weights.bin": os.urandom(300_000)}
    for k, v in objs.items():
        direct_s3.put_object(Bucket=bucket, Key=f"models/m/{k}", Body=v)
    return f"s3://{bucket}/models/m", objs


@pytest.mark.parametrize("rule", [
    Rule("status", "GET", WEIGHTS, status=503, code="SlowDown", times=1),
    Rule("reset", "GET", WEIGHTS, times=1),
], ids=["slowdown-once", "reset-once"])
def test_transient_fault_while_staging_is_retried(s3_proxy: FaultProxy, model: tuple[str, dict[str, bytes]],
                                                  tmp_path: Path, rule: Rule) -> None:
    uri, objs = model
    s3_proxy.add(rule)
    copy = stage(uri, tmp_path / "model")
    assert rule.hits == 1
    assert copy.files == {k: hashlib.sha256(v).hexdigest() for k, v in objs.items()}


@pytest.mark.parametrize("rule", [
    Rule("status", "GET", WEIGHTS, status=500, times=None),
    Rule("status", "GET", WEIGHTS, status=503, code="SlowDown", times=None),
    Rule("reset", "GET", WEIGHTS, times=None),
    Rule("truncate", "GET", WEIGHTS, times=None),
    Rule("status", "GET", WEIGHTS, status=403, code="AccessDenied", times=None),
], ids=["500-always", "slowdown-always", "reset-always", "truncated-body", "access-denied"])
def test_persistent_fault_while_staging_is_one_line_and_leaves_no_partial_copy(
    s3_proxy: FaultProxy, model: tuple[str, dict[str, bytes]], direct_s3: Any, bucket: str, tmp_path: Path,
    rule: Rule,
) -> None:
    uri, objs = model
    s3_proxy.add(rule)
    dest = tmp_path / "run" / "model"
    with pytest.raises(MlgateError) as ei:  # noqa: PT011 - StagingError or TransientError, both typed
        stage(uri, dest)
    assert "\n" not in str(ei.value).strip()
    assert uri in str(ei.value)
    assert rule.hits >= 1
    assert not dest.exists(), "a partial copy was left behind"
    for k, v in objs.items():
        assert direct_s3.get_object(Bucket=bucket, Key=f"models/m/{k}")["Body"].read() == v
    s3_proxy.clear()
    assert stage(uri, dest).files["weights.bin"] == hashlib.sha256(objs["weights.bin"]).hexdigest()
