"""Evidence: the fingerprint binds the verdict to the bytes read, and the training step can prove
it trains on the checked data (load_dataset with the report's fingerprint)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.gates.data_quality import (
    DatasetUnreadable,
    Fingerprint,
    FingerprintMismatch,
    check_data,
    fingerprint_dataset,
    fingerprint_from_report,
    load_dataset,
)
from mlgate.gates.data_quality.samples import render_iris_like, write_iris_like


def test_fingerprint_binds_bytes_rows_and_schema(tmp_path, module_policy, iris_suite):
    data = write_iris_like(tmp_path / "iris.csv")
    report = check_data(data, iris_suite, policy=module_policy)
    assert report.verdict.value == "pass"
    fp = fingerprint_from_report(report)
    assert fp.files[0].sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert fp.rows == 150
    assert [c.name for c in fp.columns][:2] == ["id", "sepal_length"]
    assert fp.bytes == data.stat().st_size
    s = report.subjects[0]
    assert s.sha256 == fp.hexdigest
    assert report.manifests[0].manifest_sha256 == fp.hexdigest
    # an independent re-read gives the same fingerprint (deterministic)
    assert fingerprint_dataset(data) == fp


def test_one_changed_byte_changes_the_fingerprint(tmp_path):
    data = write_iris_like(tmp_path / "iris.csv")
    before = fingerprint_dataset(data)
    raw = bytearray(data.read_bytes())
    i = raw.index(b"setosa")
    raw[i] = ord("S")  # same length, same row count, same schema
    data.write_bytes(bytes(raw))
    after = fingerprint_dataset(data)
    assert after.rows == before.rows
    assert after.columns == before.columns
    assert after.digest != before.digest
    assert after.diff(before) == [f"file changed: iris.csv (sha256 {before.files[0].sha256[:12]}... -> "
                                  f"{after.files[0].sha256[:12]}...)"]


def test_fingerprint_is_independent_of_location(tmp_path):
    a = write_iris_like(tmp_path / "a" / "iris.csv")
    b = tmp_path / "b" / "iris.csv"
    b.parent.mkdir()
    b.write_bytes(a.read_bytes())
    assert fingerprint_dataset(a).digest == fingerprint_dataset(b).digest


def test_fingerprint_digest_is_a_function_of_its_fields():
    fp = Fingerprint.build("csv", [], 0, [])
    fp.check()
    forged = fp.model_copy(update={"rows": 10})
    with pytest.raises(ValueError, match="does not match"):
        forged.check()


def test_load_dataset_accepts_the_checked_data(tmp_path, module_policy, iris_suite):
    data = write_iris_like(tmp_path / "iris.parquet")
    report = check_data(data, iris_suite, policy=module_policy)
    expected = report.subjects[0].details["fingerprint"]
    df, fp = load_dataset(data, expected=expected)
    assert fp.digest == expected
    assert len(df) == 150
    assert list(df.columns) == ["id", "sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    # the full fingerprint (dict) works too
    df2, _ = load_dataset(data, expected=fingerprint_from_report(report).model_dump())
    assert len(df2) == 150


def test_load_dataset_refuses_changed_data(tmp_path, module_policy, iris_suite):
    root = tmp_path / "ds"
    write_iris_like(root / "a.csv")
    report = check_data(root, iris_suite, policy=module_policy)
    expected = fingerprint_from_report(report)
    write_iris_like(root / "b.csv", poison="label", first_id=1001)  # poisoned after the check
    with pytest.raises(FingerprintMismatch, match=r"file added: b\.csv") as ei:
        load_dataset(root, expected=expected)
    assert ei.value.exit_code == 1
    with pytest.raises(FingerprintMismatch, match="fingerprint mismatch"):
        load_dataset(root, expected=expected.digest)


def test_load_dataset_requires_an_explicit_expectation(tmp_path):
    data = write_iris_like(tmp_path / "iris.csv")
    with pytest.raises(TypeError, match="expected"):
        load_dataset(data)  # type: ignore[call-arg]
    df, _ = load_dataset(data, expected=None)
    assert len(df) == 150


def test_load_dataset_refuses_unreadable_data(tmp_path):
    data = write_iris_like(tmp_path / "iris.csv", poison="corrupt")
    with pytest.raises(DatasetUnreadable, match="not a valid csv file"):
        load_dataset(data, expected=None)


def test_render_matches_write(tmp_path):
    p = write_iris_like(tmp_path / "x.jsonl", poison="nulls", seed=3)
    assert p.read_bytes() == render_iris_like(poison="nulls", fmt="jsonl", seed=3)
    with pytest.raises(ValueError, match="unknown poison"):
        render_iris_like(poison="arsenic")


# ---------------------------------------------------------------------------------------------
# Import hygiene: GX costs ~2 s; commands and config validation must not pay for it.
# ---------------------------------------------------------------------------------------------

_PROBE = """
import sys
{code}
heavy = sorted(m for m in ("great_expectations", "pandas", "pyarrow") if m in sys.modules)
print(",".join(heavy))
"""


def _heavy_modules_after(code: str) -> str:
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", _PROBE.format(code=code)], capture_output=True, text=True,
                         timeout=120, env=env, check=True)
    return out.stdout.strip()


def test_package_import_is_cheap():
    assert _heavy_modules_after(
        "import mlgate.gates.data_quality as dq\n"
        "from mlgate.gates.data_quality import DataQualityConfig, DataQualityGate\n"
        "DataQualityConfig.model_validate({'sensitive_columns': ['ssn']})"
    ) == ""


def test_check_data_help_does_not_import_gx():
    assert _heavy_modules_after(
        "from mlgate.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['check-data', '--help'])\n"
        "assert rc == 0, rc"
    ) == ""


def test_structural_suite_check_does_not_import_gx(iris_suite):
    assert _heavy_modules_after(
        f"from mlgate.gates.data_quality.suite import load_suite\nload_suite({str(iris_suite)!r})"
    ) == ""


def test_entry_point_resolves_to_this_gate():
    from mlgate.gate import load_gate
    from mlgate.gates.data_quality import DataQualityGate

    assert isinstance(load_gate("data-quality"), DataQualityGate)


def test_policy_settings_file_is_valid():
    import yaml

    from mlgate.gates.data_quality import DataQualityConfig

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "policies/gates/data-quality.yaml").read_text())
    cfg = DataQualityConfig.model_validate(raw)
    assert cfg.max_unexpected_values == 5
    assert cfg.suite_for("data/iris.csv") is None  # suites are explicit, never guessed from a name
