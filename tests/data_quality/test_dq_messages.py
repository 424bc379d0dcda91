"""check-data: explicit suites only (never chosen from a file's name), and Great Expectations'
start-up paid only when a dataset is really validated (a missing file or bad arguments fail
before GX is imported). Timings are in bench/bench_check_data_startup.py, not asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.data_quality.conftest import REPO, write_policy

from mlgate.errors import PolicyError
from mlgate.gates.data_quality import DataQualityConfig
from mlgate.gates.data_quality.samples import write_iris_like


@pytest.mark.parametrize("pattern", ["*iris*", "*/training/*.csv", "s3://*/iris.csv", "?ata/x.csv", "/*iris*"])
def test_patterns_that_guess_from_file_names_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="guesses from file names"):
        DataQualityConfig.model_validate({"datasets": {pattern: "suites/iris.yaml"}})


@pytest.mark.parametrize("pattern", ["s3://mlgate-data/iris/*.csv", "/data/training/*.parquet", "data/train.csv"])
def test_location_patterns_are_accepted(pattern: str) -> None:
    assert DataQualityConfig.model_validate({"datasets": {pattern: "s.yaml"}}).datasets == {pattern: "s.yaml"}


def test_shipped_policy_maps_no_dataset_by_name() -> None:
    doc = yaml.safe_load((REPO / "policies" / "gates" / "data-quality.yaml").read_text())
    assert doc["datasets"] == {}


def test_iris_named_file_without_suite_is_a_policy_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlgate.cli import main

    data = write_iris_like(tmp_path / "my-iris-export.csv")
    capsys.readouterr()
    assert main(["check-data", str(data), "--policy", str(write_policy(tmp_path)), "-f", "json"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""  # nothing was validated against a guessed suite
    assert "no expectation suite for dataset" in cap.err
    assert "--suite" in cap.err


def test_guessing_pattern_in_a_policy_is_reported_with_file_and_field(tmp_path: Path) -> None:
    from mlgate.gates.data_quality import check_data

    policy = write_policy(tmp_path, {"datasets": {"*iris*": "suites/iris.yaml"}})
    with pytest.raises(PolicyError, match=r"gates\.data-quality\.datasets: .*guesses from file names"):
        check_data(str(write_iris_like(tmp_path / "iris.csv")), None, policy=policy)


def _cli_in_subprocess(tmp_path: Path, *args: str) -> tuple[int, bool, str]:
    """Run ``mlgate check-data`` in a fresh interpreter; return (exit code, whether Great
    Expectations got imported, stderr)."""
    code = (
        "import sys\n"
        "from mlgate.cli import main\n"
        f"rc = main({['check-data', *args]!r})\n"
        "print('GX_IMPORTED=' + str('great_expectations' in sys.modules), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    env = {**os.environ, "MLGATE_POLICY": str(write_policy(tmp_path))}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240,
                       cwd=tmp_path)
    return p.returncode, "GX_IMPORTED=True" in p.stderr, p.stderr


def test_missing_file_fails_without_starting_great_expectations(tmp_path: Path, iris_suite: Path) -> None:
    rc, gx, err = _cli_in_subprocess(tmp_path, str(tmp_path / "nope.csv"), "--suite", str(iris_suite), "-f", "json")
    assert rc == 2, err
    assert not gx, "Great Expectations was imported to report a missing file"


def test_missing_suite_fails_without_starting_great_expectations(tmp_path: Path) -> None:
    data = write_iris_like(tmp_path / "train.csv")
    rc, gx, err = _cli_in_subprocess(tmp_path, str(data), "--suite", str(tmp_path / "nope.yaml"))
    assert rc == 2, err
    assert "suite file not found" in err
    assert not gx


def test_real_validation_still_runs_great_expectations(tmp_path: Path, iris_suite: Path) -> None:
    data = write_iris_like(tmp_path / "train.csv", poison="nulls")
    rc, gx, err = _cli_in_subprocess(tmp_path, str(data), "--suite", str(iris_suite), "-f", "json",
                                     "-o", str(tmp_path / "r.json"))
    assert rc == 1, err
    assert gx
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["tools"]["great_expectations"] == "1.24.1"
    assert any(f["id"] == "DQ-expect_column_values_to_not_be_null" for f in report["subjects"][0]["findings"])


def test_bad_expectation_type_is_still_a_policy_error_when_data_is_read(tmp_path: Path) -> None:
    from mlgate.gates.data_quality import check_data

    suite = tmp_path / "bad.yaml"
    suite.write_text(yaml.safe_dump({"name": "bad", "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_to_be_magic", "kwargs": {"column": "id"}},
    ]}))
    with pytest.raises(PolicyError, match="expect_column_to_be_magic"):
        check_data(str(write_iris_like(tmp_path / "train.csv")), suite, policy=write_policy(tmp_path))
