"""Every expectation type registered in Great Expectations works through the gate: it is either
evaluated on the pandas engine (with the success GX computes) or, for the types GX implements only
for SQL, reported as an engine error (never a pass). A GX upgrade that registers a new type fails
``test_every_registered_type_is_covered`` until it is added here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.gates.data_quality import check_data
from mlgate.gates.data_quality.samples import write_iris_like

SPECIES = ["setosa", "versicolor", "virginica"]

# type -> (kwargs, success on clean iris-like data)
PANDAS: dict[str, tuple[dict[str, Any], bool]] = {
    "expect_column_distinct_values_to_be_in_set": ({"column": "species", "value_set": SPECIES}, True),
    "expect_column_distinct_values_to_contain_set": ({"column": "species", "value_set": ["setosa"]}, True),
    "expect_column_distinct_values_to_equal_set": ({"column": "species", "value_set": SPECIES[:2]}, False),
    "expect_column_kl_divergence_to_be_less_than": (
        {"column": "species", "partition_object": {"values": SPECIES, "weights": [1 / 3, 1 / 3, 1 / 3]},
         "threshold": 0.1}, True),
    "expect_column_max_to_be_between": ({"column": "sepal_length", "min_value": 4, "max_value": 8.5}, True),
    "expect_column_mean_to_be_between": ({"column": "petal_length", "min_value": 3.2, "max_value": 4.4}, True),
    "expect_column_median_to_be_between": ({"column": "sepal_length", "min_value": 7, "max_value": 8}, False),
    "expect_column_min_to_be_between": ({"column": "sepal_length", "min_value": 4, "max_value": 6}, True),
    "expect_column_most_common_value_to_be_in_set": (
        {"column": "species", "value_set": SPECIES, "ties_okay": True}, True),
    "expect_column_pair_values_a_to_be_greater_than_b": ({"column_A": "sepal_length", "column_B": "petal_width"}, True),
    "expect_column_pair_values_to_be_equal": ({"column_A": "sepal_length", "column_B": "petal_length"}, False),
    "expect_column_pair_values_to_be_in_set": (
        {"column_A": "species", "column_B": "species", "value_pairs_set": [[s, s] for s in SPECIES]}, True),
    "expect_column_proportion_of_non_null_values_to_be_between": ({"column": "id", "min_value": 1}, True),
    "expect_column_proportion_of_unique_values_to_be_between": ({"column": "id", "min_value": 0.99}, True),
    "expect_column_quantile_values_to_be_between": (
        {"column": "sepal_length", "quantile_ranges": {"quantiles": [0.25, 0.75], "value_ranges": [[4, 6], [5.5, 7.5]]}},
        True),
    "expect_column_stdev_to_be_between": ({"column": "sepal_length", "min_value": 0.3, "max_value": 1.5}, True),
    "expect_column_sum_to_be_between": ({"column": "id", "min_value": 1, "max_value": 11325}, True),
    "expect_column_to_exist": ({"column": "species"}, True),
    "expect_column_type_to_be": ({"column": "id", "type_": "int64"}, True),
    "expect_column_unique_value_count_to_be_between": ({"column": "species", "min_value": 3, "max_value": 3}, True),
    "expect_column_value_lengths_to_be_between": ({"column": "species", "min_value": 6, "max_value": 10}, True),
    "expect_column_value_lengths_to_equal": ({"column": "species", "value": 6}, False),
    "expect_column_value_z_scores_to_be_less_than": ({"column": "sepal_length", "threshold": 4, "double_sided": True},
                                                     True),
    "expect_column_values_to_be_between": ({"column": "petal_width", "min_value": 0.05, "max_value": 2.8}, True),
    "expect_column_values_to_be_dateutil_parseable": ({"column": "species"}, False),
    "expect_column_values_to_be_decreasing": ({"column": "id"}, False),
    "expect_column_values_to_be_in_set": ({"column": "species", "value_set": SPECIES}, True),
    "expect_column_values_to_be_in_type_list": ({"column": "sepal_length", "type_list": ["float64"]}, True),
    "expect_column_values_to_be_increasing": ({"column": "id"}, True),
    "expect_column_values_to_be_json_parseable": ({"column": "species"}, False),
    "expect_column_values_to_be_null": ({"column": "species"}, False),
    "expect_column_values_to_be_of_type": ({"column": "species", "type_": "str"}, True),  # pandas 3 strings
    "expect_column_values_to_be_unique": ({"column": "id"}, True),
    "expect_column_values_to_match_regex": ({"column": "species", "regex": "^[a-z]+$"}, True),
    "expect_column_values_to_match_regex_list": ({"column": "species", "regex_list": ["^set", "^vers", "^virg"],
                                                  "match_on": "any"}, True),
    "expect_column_values_to_match_strftime_format": ({"column": "species", "strftime_format": "%Y"}, False),
    "expect_column_values_to_not_be_in_set": ({"column": "species", "value_set": ["unknown"]}, True),
    "expect_column_values_to_not_be_null": ({"column": "species"}, True),
    "expect_column_values_to_not_be_outliers": ({"column": "sepal_length", "method": "iqr", "multiplier": 3}, True),
    "expect_column_values_to_not_match_regex": ({"column": "species", "regex": "poison"}, True),
    "expect_column_values_to_not_match_regex_list": ({"column": "species", "regex_list": ["poison", "^x"]}, True),
    "expect_compound_columns_to_be_unique": ({"column_list": ["id", "species"]}, True),
    "expect_multicolumn_sum_to_equal": ({"column_list": ["sepal_length", "petal_length"], "sum_total": 1}, False),
    "expect_multicolumn_values_to_be_equal": ({"column_list": ["sepal_length", "petal_length"]}, False),
    "expect_select_column_values_to_be_unique_within_record": ({"column_list": ["id", "species"]}, True),
    "expect_table_column_count_to_be_between": ({"min_value": 6, "max_value": 6}, True),
    "expect_table_column_count_to_equal": ({"value": 6}, True),
    "expect_table_columns_to_match_ordered_list": (
        {"column_list": ["id", "sepal_length", "sepal_width", "petal_length", "petal_width", "species"]}, True),
    "expect_table_columns_to_match_set": ({"column_set": ["id", "species"], "exact_match": False}, True),
    "expect_table_row_count_to_be_between": ({"min_value": 100}, True),
    "expect_table_row_count_to_equal": ({"value": 150}, True),
}

# Types GX implements only for SQL (or that need another table), and one that GX cannot evaluate
# on this data (match_json_schema json-parses each value; "setosa" is not JSON): an engine error.
SQL_ONLY: dict[str, dict[str, Any]] = {
    "expect_column_values_to_match_json_schema": {"column": "species", "json_schema": {"type": "string"}},
    "expect_column_values_to_match_like_pattern": {"column": "species", "like_pattern": "%s%"},
    "expect_column_values_to_match_like_pattern_list": {"column": "species", "like_pattern_list": ["%s%"]},
    "expect_column_values_to_not_match_like_pattern": {"column": "species", "like_pattern": "%x%"},
    "expect_column_values_to_not_match_like_pattern_list": {"column": "species", "like_pattern_list": ["%x%"]},
    "expect_query_results_to_match_comparison": {"base_query": "SELECT 1", "comparison_data_source_name": "x",
                                                  "comparison_query": "SELECT 1"},
    "expect_table_row_count_to_equal_other_table": {"other_table_name": "other"},
    "unexpected_rows_expectation": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE id < 0"},
}


REFUSED_AT_LOAD = {"unexpected_rows_expectation"}


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_iris_like(tmp_path_factory.mktemp("conf") / "iris.csv")


def _suite(folder: Path, entries: list[dict[str, Any]]) -> Path:
    p = folder / "suite.yaml"
    bound = {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
    p.write_text(yaml.safe_dump({"name": "conformance", "expectations": [bound, *entries]}))
    return p


def test_every_registered_type_is_covered():
    from mlgate.gates.data_quality._gx import import_gx

    import_gx()
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    registered = set(list_registered_expectation_implementations())
    covered = set(PANDAS) | set(SQL_ONLY)
    assert registered - covered == set(), "new GX expectation types: add them to this test"
    assert covered - registered == set(), "GX dropped these types"


def test_all_pandas_expectations_evaluate(tmp_path, iris_csv, module_policy):
    entries = [{"type": t, "kwargs": kw} for t, (kw, _) in PANDAS.items()]
    report = check_data(iris_csv, _suite(tmp_path, entries), policy=module_policy)
    (s,) = report.subjects
    results = s.details["expectations"][1:]
    assert [r["type"] for r in results] == list(PANDAS)
    errors = [r for r in results if "exception" in r]
    assert errors == []
    got = {r["type"]: r["success"] for r in results}
    assert got == {t: ok for t, (_, ok) in PANDAS.items()}
    # every failed one is a finding named after it, and nothing else is
    failed = {f"DQ-{t}" for t, (_, ok) in PANDAS.items() if not ok}
    assert {f.id for f in s.findings} == failed
    assert report.verdict.value == "fail"


@pytest.mark.parametrize("etype", sorted(SQL_ONLY))
def test_sql_only_expectations_are_errors_not_passes(tmp_path, iris_csv, module_policy, etype):
    from mlgate.errors import PolicyError

    suite = _suite(tmp_path, [{"type": etype, "kwargs": SQL_ONLY[etype]}])
    if etype in REFUSED_AT_LOAD:  # not an expect_* name: refused when the suite is loaded
        with pytest.raises(PolicyError, match=r"expectations\[1\]\.type"):
            check_data(iris_csv, suite, policy=module_policy)
        return
    report = check_data(iris_csv, suite, policy=module_policy)
    assert report.verdict.value == "error", report.reason
    (f,) = report.subjects[0].findings
    assert f.id == "DQ-EXPECTATION-ERROR"
    assert f.kind.value == "error"
    assert etype in f.message
