"""``-f html`` for the data check and the S3 audit: the same page as the scan's, a view of the one
result model. Through the real CLI (in-process), on real data (Great Expectations) and a real S3
API (the session's moto server on 127.0.0.1): the page says the verdict first, puts the most
severe blocking finding first, lists every finding with its remediation, escapes hostile text
that reached a finding (a label value, a bucket-policy condition value), and is self-contained.
The page agrees with the JSON report of the same run; the S3 page is also parsed by headless
Chromium."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.data_quality.conftest import IRIS_SUITE
from tests.data_quality.conftest import write_policy as write_dq_policy
from tests.report.test_html import assert_self_contained, chromium, parse
from tests.s3_audit.s3audit_helpers import policy_doc
from tests.s3_audit.s3audit_helpers import write_policy as write_s3_policy

from mlgate.cli import main
from mlgate.gates.data_quality.samples import write_iris_like
from mlgate.model import Severity

HOSTILE = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"


def _run(argv: list[str], tmp: Path, fmt: str) -> tuple[int, str]:
    out = tmp / f"report.{fmt}"
    code = main([*argv, "-f", fmt, "-o", str(out)])
    return code, out.read_text(encoding="utf-8")


def _findings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for s in doc["subjects"] for f in s["findings"]] + list(doc["findings"])


def _assert_page_is_the_report(html: str, doc: dict[str, Any], headline: str) -> str:
    """The checks common to both gates; returns the page's visible text."""
    assert_self_contained(html)  # no script, no src/href, no url(), a CSP that forbids loading
    # no attribute points anywhere (URLs may appear only as text, e.g. in a remediation)
    assert not [(t, a) for t, a in parse(html).tags for v in a.values() if v and "://" in v]
    assert "<script" not in html.lower()
    text = " ".join(parse(html).text)
    assert text.startswith(headline)
    # the summary (verdict, what blocked) comes before the full list
    head, _, rest = text.partition("All findings")
    assert rest, "no findings section"
    blocking = [f for f in _findings(doc) if f["blocking"]]
    assert blocking
    worst = max(Severity(f["severity"]).rank for f in blocking)
    first_card = head[head.index("What blocked and why"):]
    # the first card is one of the most severe blocking findings
    first_sev = first_card.split()[4]  # "What blocked and why <severity> ..."
    assert Severity(first_sev).rank == worst, first_card[:300]
    # every finding of the JSON report is on the page, with its remediation
    assert f"All findings ({len(_findings(doc))})" in text
    for f in _findings(doc):
        assert f["id"] in rest
        if f.get("remediation"):
            first_line = f["remediation"].splitlines()[0]
            assert " ".join(first_line.split()) in rest, f["id"]
    assert doc["policy"]["digest"] in text
    return text


def _hostile_iris(path: Path) -> Path:
    """Iris-like CSV with two defects: a hostile label (critical: not in the label set) and an
    out-of-range feature (high)."""
    write_iris_like(path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows[:3]:
        r["species"] = HOSTILE
    for r in rows[3:6]:
        r["sepal_length"] = "99.0"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def test_check_data_html(tmp_path: Path) -> None:
    policy = write_dq_policy(tmp_path)
    data = _hostile_iris(tmp_path / "train.csv")
    argv = ["check-data", str(data), "--suite", str(IRIS_SUITE), "--policy", str(policy)]
    code, raw = _run(argv, tmp_path, "json")
    doc = json.loads(raw)
    code_html, html = _run(argv, tmp_path, "html")
    assert code == code_html == 1
    ids = {f["id"] for f in _findings(doc) if f["blocking"]}
    assert {"DQ-expect_column_values_to_be_in_set", "DQ-expect_column_values_to_be_between"} <= ids
    # the hostile label reached a finding's text, and is shown as text only
    assert any(HOSTILE in f["message"] for f in _findings(doc))
    assert ESCAPED in html
    text = _assert_page_is_the_report(html, doc, "BLOCKED")
    assert HOSTILE in text  # a person reads it as text
    summary = text[: text.index("All findings")]
    assert summary.index("DQ-expect_column_values_to_be_in_set") < summary.index(
        "DQ-expect_column_values_to_be_between")  # critical before high
    assert "What to do:" in summary
    assert doc["subjects"][0]["sha256"] in text  # bound to the data's fingerprint
    # a clean dataset: the same page says so
    clean = write_iris_like(tmp_path / "clean.csv")
    code, html = _run(["check-data", str(clean), "--suite", str(IRIS_SUITE), "--policy", str(policy)],
                      tmp_path, "html")
    assert code == 0
    assert_self_contained(html)
    text = " ".join(parse(html).text)
    assert text.startswith("PASS")
    assert "Nothing blocked." in text


@pytest.fixture
def hostile_bucket(aws_env: str) -> Any:
    """A bucket whose policy lets anyone read behind a Referer condition carrying markup."""
    name = f"html-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy_doc({
        "Sid": "RefererOnly", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*", "Condition": {"StringLike": {"aws:Referer": HOSTILE}}})))
    try:
        yield name
    finally:
        s3.delete_bucket_policy(Bucket=name)
        s3.delete_bucket(Bucket=name)


def test_audit_s3_html(tmp_path: Path, hostile_bucket: str) -> None:
    policy = write_s3_policy(tmp_path / "policy.yaml", {"account_checks": False})
    argv = ["audit-s3", hostile_bucket, "--policy", str(policy)]
    code, raw = _run(argv, tmp_path, "json")
    doc = json.loads(raw)
    code_html, html = _run(argv, tmp_path, "html")
    assert code == code_html == 1
    ids = {f["id"] for f in _findings(doc) if f["blocking"]}
    assert "s3_bucket_weak_public_conditions" in ids
    assert any(HOSTILE in f["message"] for f in _findings(doc))
    assert HOSTILE not in html
    assert "&lt;script&gt;" in html
    text = _assert_page_is_the_report(html, doc, "BLOCKED")
    assert HOSTILE in text
    summary = text[: text.index("All findings")]
    assert hostile_bucket in summary
    assert "What to do:" in summary
    # the S3 remediation (text, CLI command, Terraform) is on the page for each failing check
    assert "CLI: aws s3api" in text
    # as a person sees it: Chromium parses the hostile condition as text, not as an element
    page = tmp_path / "report.html"
    dom = chromium(["--dump-dom", page.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = parse(dom.stdout)
    assert "script" not in [t for t, _ in rendered.tags]
    seen = " ".join(rendered.text)
    assert seen.startswith("BLOCKED")
    assert HOSTILE in seen
