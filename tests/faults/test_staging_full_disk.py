"""A full disk during staging (a real 1 MiB tmpfs mounted by the test; root only, skipped
otherwise): one clear line, the partial copy removed (never used, never left to fill the disk),
and the same staging succeeds once there is room."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tests.faults.fault_proxy import FaultProxy

from mlgate.lifecycle.staging import StagingError, stage


def _model(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # bigger than the disk
    return folder


def _assert_clean_failure(e: StagingError, dest: Path) -> None:
    text = str(e)
    assert "\n" not in text
    assert "no space left on device" in text
    assert not dest.exists(), "a partial copy was left behind"
    assert not [p for p in dest.parent.rglob("*") if p.is_file()]


def test_local_staging_on_a_full_disk(small_disk: Path, tmp_path: Path) -> None:
    src = _model(tmp_path / "model")
    dest = small_disk / "run" / "model"
    with pytest.raises(StagingError, match="no space left") as ei:
        stage(str(src), dest)
    _assert_clean_failure(ei.value, dest)
    # room again (a smaller model): the same step works
    (src / "weights.bin").write_bytes(os.urandom(100_000))
    copy = stage(str(src), dest)
    assert set(copy.files) == {"config.json", "weights.bin"}


def test_s3_staging_on_a_full_disk(small_disk: Path, tmp_path: Path, s3_proxy: FaultProxy,
                                   direct_s3: Any, bucket: str) -> None:
    direct_s3.put_object(Bucket=bucket, Key="models/m/config.json", Body=b"{}")
    direct_s3.put_object(Bucket=bucket, Key="models/m/weights.bin", Body=os.urandom(3 * 1024 * 1024))
    dest = small_disk / "run" / "model"
    with pytest.raises(StagingError, match="no space left") as ei:
        stage(f"s3://{bucket}/models/m", dest)
    _assert_clean_failure(ei.value, dest)
    direct_s3.put_object(Bucket=bucket, Key="models/m/weights.bin", Body=os.urandom(100_000))
    copy = stage(f"s3://{bucket}/models/m", dest)
    assert set(copy.files) == {"config.json", "weights.bin"}
