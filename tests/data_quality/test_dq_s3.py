"""``s3://`` datasets through a real moto S3 server on 127.0.0.1 (the session fixture starts it),
reached by boto3 through AWS_ENDPOINT_URL only: single objects and partitioned prefixes, CSV and
Parquet, clean and defective."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from mlgate.gates.data_quality import check_data, fingerprint_dataset, load_dataset
from mlgate.gates.data_quality.samples import render_iris_like, write_iris_like


@pytest.fixture
def bucket(aws_env):
    import boto3

    s3 = boto3.client("s3")  # endpoint from AWS_ENDPOINT_URL, set by aws_env
    assert s3.meta.endpoint_url.startswith("http://127.0.0.1:")
    name = f"dq-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return s3, name


def _put(s3, bucket, key, poison=None, fmt="csv", first_id=1, rows=150):
    body = render_iris_like(rows, poison, fmt=fmt, first_id=first_id)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return body


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_clean_object_passes(bucket, run_cli, module_policy, iris_suite, fmt):
    s3, name = bucket
    body = _put(s3, name, f"train/iris.{fmt}", fmt=fmt)
    uri = f"s3://{name}/train/iris.{fmt}"
    code, report = run_cli("check-data", uri, "--suite", iris_suite, "--policy", module_policy)
    assert code == 0, report
    s = report["subjects"][0]
    assert s["subject"] == uri
    assert s["details"]["layout"] == "object"
    assert s["details"]["files"][0]["sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(("poison", "finding"), [
    ("nulls", "DQ-expect_column_values_to_not_be_null"),
    ("label", "DQ-expect_column_values_to_be_in_set"),
    ("range", "DQ-expect_column_values_to_be_between"),
    ("duplicate-ids", "DQ-expect_column_values_to_be_unique"),
    ("missing-column", "DQ-expect_table_columns_to_match_ordered_list"),
    ("extra-column", "DQ-expect_table_columns_to_match_ordered_list"),
    ("few-rows", "DQ-expect_table_row_count_to_be_between"),
    ("shift", "DQ-expect_column_mean_to_be_between"),
])
def test_defective_object_is_blocked(bucket, run_cli, module_policy, iris_suite, ids_of, fmt, poison, finding):
    s3, name = bucket
    _put(s3, name, f"iris.{fmt}", poison=poison, fmt=fmt)
    code, report = run_cli("check-data", f"s3://{name}/iris.{fmt}", "--suite", iris_suite, "--policy", module_policy)
    assert code == 1, report
    assert finding in ids_of(report)


@pytest.mark.parametrize(("fmt", "poison", "code", "finding"), [
    ("csv", "corrupt", 2, "DQ-READ-ERROR"),
    ("parquet", "corrupt", 2, "DQ-READ-ERROR"),
    ("csv", "empty", 1, "DQ-EMPTY-DATASET"),
])
def test_corrupt_and_empty_objects(bucket, run_cli, module_policy, iris_suite, ids_of, fmt, poison, code, finding):
    s3, name = bucket
    _put(s3, name, f"iris.{fmt}", poison=poison, fmt=fmt)
    got, report = run_cli("check-data", f"s3://{name}/iris.{fmt}", "--suite", iris_suite, "--policy", module_policy)
    assert got == code, report
    assert finding in ids_of(report)


def test_partitioned_prefix(bucket, run_cli, module_policy, iris_suite, ids_of):
    s3, name = bucket
    for i in range(3):
        _put(s3, name, f"data/train/part-{i}.parquet", fmt="parquet", first_id=1 + 1000 * i, rows=50)
    s3.put_object(Bucket=name, Key="data/train/_SUCCESS", Body=b"")
    s3.put_object(Bucket=name, Key="data/train/", Body=b"")  # a folder marker
    s3.put_object(Bucket=name, Key="data/other/part-9.parquet", Body=b"not in the prefix")
    for uri in (f"s3://{name}/data/train", f"s3://{name}/data/train/"):
        code, report = run_cli("check-data", uri, "--suite", iris_suite, "--policy", module_policy)
        assert code == 0, report
        d = report["subjects"][0]["details"]
        assert d["layout"] == "prefix"
        assert d["rows"] == 150
        assert d["ignored"] == ["_SUCCESS"]
        assert [f["path"] for f in d["files"]] == [f"part-{i}.parquet" for i in range(3)]
    # one poisoned partition blocks the whole prefix
    _put(s3, name, "data/train/part-3.parquet", poison="label", fmt="parquet", first_id=5001, rows=50)
    code, report = run_cli("check-data", f"s3://{name}/data/train", "--suite", iris_suite, "--policy", module_policy)
    assert code == 1
    assert "DQ-expect_column_values_to_be_in_set" in ids_of(report)


def test_same_bytes_same_fingerprint_as_local(bucket, tmp_path):
    s3, name = bucket
    local = write_iris_like(tmp_path / "iris.csv")
    s3.put_object(Bucket=name, Key="iris.csv", Body=local.read_bytes())
    remote = fingerprint_dataset(f"s3://{name}/iris.csv")
    assert remote.digest == fingerprint_dataset(local).digest
    df, _ = load_dataset(f"s3://{name}/iris.csv", expected=remote.digest)
    assert len(df) == 150


def test_missing_bucket_and_key_are_errors(bucket, run_cli, module_policy, iris_suite, ids_of):
    _, name = bucket
    code, report = run_cli("check-data", f"s3://{name}-nope/x.csv", "--suite", iris_suite, "--policy", module_policy)
    assert code == 2
    assert ids_of(report) == {"DQ-READ-ERROR"}
    assert "NoSuchBucket" in report["subjects"][0]["findings"][0]["message"]
    code, report = run_cli("check-data", f"s3://{name}/missing.csv", "--suite", iris_suite, "--policy", module_policy)
    assert code == 2
    assert ids_of(report) == {"DQ-READ-ERROR"}


def test_injected_session_is_used(bucket, module_policy, iris_suite, monkeypatch):
    """The API takes a boto3 session (credentials injected, not global)."""
    import boto3

    s3, name = bucket
    _put(s3, name, "iris.csv")
    session = boto3.session.Session(aws_access_key_id="injected", aws_secret_access_key="injected",
                                    region_name="us-east-1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    report = check_data(f"s3://{name}/iris.csv", iris_suite, policy=module_policy, boto3_session=session)
    assert report.verdict.value == "pass", report.reason
