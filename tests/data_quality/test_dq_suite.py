"""Suite files: the shipped suites are valid; every way a suite can be wrong is a policy error
naming the suite file and the field; the row-count lower bound is mandatory."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.errors import PolicyError
from mlgate.gates.data_quality.suite import load_suite, validate_suite_file

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "policies" / "suites").glob("*.y*ml")) + sorted((REPO / "policies" / "suites").glob("*.json"))

ROW_BOUND = {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}


def _write(tmp_path: Path, doc: Any, name: str = "suite.yaml") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc) if name.endswith(".json") else yaml.safe_dump(doc))
    return p


def _suite(*exps: dict[str, Any], bound: bool = True) -> dict[str, Any]:
    return {"name": "t", "expectations": ([ROW_BOUND] if bound else []) + list(exps)}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_suite_is_valid_and_has_a_row_count_lower_bound(path):
    spec = validate_suite_file(path, deep=True)
    assert spec.min_rows >= 1


def test_shipped_suites_exist():
    assert any(p.name == "iris.yaml" for p in SHIPPED)


@pytest.mark.parametrize("name", ["suite.yaml", "suite.json"])
def test_json_and_yaml_suites_load(tmp_path, name):
    doc = _suite({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, "id": "drop-me"})
    spec = validate_suite_file(_write(tmp_path, doc, name))
    assert [e.type for e in spec.expectations] == ["expect_table_row_count_to_be_between",
                                                  "expect_column_values_to_not_be_null"]
    assert spec.expectations[1].columns == ("a",)


def test_gx_exported_suite_format_loads(tmp_path):
    """A suite as GX 1.x writes it (ids, meta, severity, notes) is accepted."""
    doc = {
        "name": "exported", "id": "5f1e", "meta": {"great_expectations_version": "1.24.1"}, "notes": None,
        "expectations": [
            {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 3}, "meta": {}, "id": "a1",
             "severity": "critical"},
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "s", "value_set": ["a"]},
             "meta": {}, "id": "a2", "severity": "warning", "notes": "labels"},
        ],
    }
    spec = validate_suite_file(_write(tmp_path, doc, "exported.json"))
    assert spec.min_rows == 3
    assert spec.expectations[1].severity is not None
    assert spec.expectations[1].severity.value == "medium"


@pytest.mark.parametrize(
    ("exps", "bound_ok"),
    [
        ([], False),
        ([{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 0}}], False),
        ([{"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 10}}], False),
        ([{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 5, "row_condition": "a>1"}}], False),
        ([{"type": "expect_table_row_count_to_equal", "kwargs": {"value": 0}}], False),
        ([{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": True}}], False),
        ([{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 0, "strict_min": True}}], True),
        ([{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 0.5}}], True),
        ([{"type": "expect_table_row_count_to_equal", "kwargs": {"value": 10}}], True),
    ],
)
def test_row_count_lower_bound_is_required(tmp_path, exps, bound_ok):
    doc = _suite({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}, *exps, bound=False)
    path = _write(tmp_path, doc)
    if bound_ok:
        assert load_suite(path).min_rows >= 1
    else:
        with pytest.raises(PolicyError, match="no row-count lower bound") as ei:
            load_suite(path)
        assert ei.value.file == str(path)
        assert ei.value.field == "expectations"


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        (["not", "a", "mapping"], None, "must be a mapping"),
        ({"expectations": [ROW_BOUND]}, "name", "non-empty 'name'"),
        ({"name": "t", "expectations": []}, "expectations", "non-empty list"),
        ({"name": "t", "expectation": [ROW_BOUND]}, "expectation", "unknown suite key"),
        (_suite({"type": "not_an_expectation"}), "expectations[1].type", "not an expectation type"),
        (_suite({"kwargs": {"column": "a"}}), "expectations[1].type", "not an expectation type"),
        (_suite({"type": "expect_column_values_to_not_be_null", "kwargs": ["a"]}), "expectations[1].kwargs",
         "must be a mapping"),
        (_suite({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a", "result_format": "COMPLETE"}}),
         "expectations[1].kwargs.result_format", "not allowed"),
        (_suite({"type": "expect_column_mean_to_be_between",
                 "kwargs": {"column": "a", "min_value": {"$PARAMETER": "lo"}}}),
         "expectations[1].kwargs.min_value", "$PARAMETER"),
        (_suite({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, "meta": {"severity": "huge"}}),
         "expectations[1].meta.severity", "unknown severity"),
        (_suite({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, "colour": 1}),
         "expectations[1].colour", "unknown key"),
        ({**_suite(), "suite_parameters": {"x": 1}}, "suite_parameters", "not supported"),
    ],
)
def test_structural_errors_name_file_and_field(tmp_path, doc, field, message):
    path = _write(tmp_path, doc)
    with pytest.raises(PolicyError, match=re.escape(message)) as ei:
        load_suite(path)
    assert ei.value.file == str(path)
    assert ei.value.field == field
    assert message in str(ei.value)


@pytest.mark.parametrize(
    ("exp", "field", "message"),
    [
        ({"type": "expect_column_values_to_not_be_nul", "kwargs": {"column": "a"}}, "expectations[1].type",
         "did you mean expect_column_values_to_not_be_null"),
        ({"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "a", "value_set": 3}},
         "expectations[1].kwargs.value_set", "expect_column_values_to_be_in_set"),
        ({"type": "expect_column_values_to_not_be_null", "kwargs": {}}, "expectations[1].kwargs.column",
         "field required"),
        ({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a", "colum": "b"}},
         "expectations[1].kwargs.colum", "unknown argument"),
        ({"type": "expect_column_values_to_be_between", "kwargs": {"column": "a"}}, "expectations[1].kwargs",
         "min_value and max_value cannot both be None"),
    ],
)
def test_gx_registry_errors_name_file_and_expectation(tmp_path, exp, field, message):
    path = _write(tmp_path, _suite(exp))
    load_suite(path)  # structurally fine
    with pytest.raises(PolicyError, match=re.escape(message)) as ei:
        validate_suite_file(path, deep=True)
    assert ei.value.file == str(path)
    assert ei.value.field == field
    assert message in str(ei.value)


def test_bad_suite_stops_check_data_before_validating(tmp_path, module_policy, capsys):
    from mlgate.cli import main
    from mlgate.gates.data_quality.samples import write_iris_like

    path = _write(tmp_path, _suite({"type": "expect_column_values_to_be_fabulous", "kwargs": {"column": "a"}}))
    capsys.readouterr()
    # GX's registry is consulted once data is there to validate (a missing dataset fails before
    # Great Expectations starts; test_dq_messages.py); every suite is judged before any expectation runs
    data = write_iris_like(tmp_path / "train.csv")
    code = main(["check-data", str(data), "--suite", str(path), "--policy", str(module_policy)])
    assert code == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "expectations[1].type" in err
    assert "expect_column_values_to_be_fabulous" in err


def test_suite_without_row_bound_refused_by_cli(tmp_path, module_policy, capsys):
    from mlgate.cli import main
    from mlgate.gates.data_quality.samples import write_iris_like

    data = write_iris_like(tmp_path / "iris.csv", poison="empty")
    path = _write(tmp_path, _suite({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
                                   bound=False))
    capsys.readouterr()
    assert main(["check-data", str(data), "--suite", str(path), "--policy", str(module_policy)]) == 2
    assert "no row-count lower bound" in capsys.readouterr().err


def test_not_yaml_is_a_policy_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_suite(p)
    j = tmp_path / "bad.json"
    j.write_text("{")
    with pytest.raises(PolicyError, match="not valid JSON"):
        load_suite(j)


def test_policy_suites_are_validated_relative_to_the_policy(tmp_path, make_policy, iris_suite):
    from mlgate.gates.data_quality import validate_policy_suites

    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "iris.yaml").write_text(iris_suite.read_text())
    policy = make_policy(tmp_path, {"datasets": {"data/iris/*.csv": "suites/iris.yaml"}})
    (spec,) = validate_policy_suites(policy, deep=True)
    assert spec.name == "iris"
    broken = make_policy(tmp_path, {"datasets": {"data/x/*": "suites/missing.yaml"}}, name="broken.yaml")
    with pytest.raises(PolicyError, match="suite file not found") as ei:
        validate_policy_suites(broken)
    assert ei.value.file == str(tmp_path / "suites" / "missing.yaml")


def test_shipped_policy_mapping_resolves(tmp_path):
    """policies/gates/data-quality.yaml maps the demo data to policies/suites/iris.yaml when it is
    included from a policy in policies/."""
    import yaml as _yaml

    from mlgate.gates.data_quality import DataQualityConfig

    cfg = DataQualityConfig.model_validate(_yaml.safe_load((REPO / "policies/gates/data-quality.yaml").read_text()))
    for suite in cfg.datasets.values():
        assert (REPO / "policies" / suite).is_file()
