"""CycloneDX 1.6 ML-BOM: validated against the official 1.6 schema (cyclonedx-python-lib's strict
validator, offline), one machine-learning-model component per scanned root with the real file
hashes, the verdict, the policy digest, the signature reference and the findings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from tests.core.test_reports import sample_report
from tests.report.report_helpers import XSS_NAME, scan_report

from mlgate.cli import main
from mlgate.errors import UsageError
from mlgate.report import render
from mlgate.report.cyclonedx import build_bom


def _validate(doc: dict) -> None:  # type: ignore[type-arg]
    err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc))
    assert err is None, f"CycloneDX 1.6 schema: {err}"


def _props(c: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {p["name"]: p["value"] for p in c.get("properties", [])}


def test_validator_rejects_a_broken_bom() -> None:
    """The check below can fail: a BOM with a wrong component type is refused."""
    bad = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
           "components": [{"type": "ml-model", "name": "x"}]}
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bad)) is not None


def test_scan_bom_validates_and_describes_each_model(tmp_path: Path, default_policy_path: Path) -> None:
    report, folder, single = scan_report(tmp_path, default_policy_path)
    doc = json.loads(render([report], "cyclonedx"))
    _validate(doc)
    assert doc["specVersion"] == "1.6"
    models = [c for c in doc["components"] if c["type"] == "machine-learning-model"]
    assert [m["name"] for m in models] == [str(folder), str(single)]
    folder_c, single_c = models
    # Folder: nested file components with the real sha256 of every file.
    files = {c["name"]: c for c in folder_c["components"]}
    assert set(files) == {p.name for p in folder.iterdir()}
    for name, c in files.items():
        assert c["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256((folder / name).read_bytes()).hexdigest()}]
    p = _props(folder_c)
    assert p["mlgate:verdict"] == "fail"
    assert p["mlgate:policy_digest"] == report.policy.digest
    assert p["mlgate:checkpoint"] == "pre-publish"
    assert p["mlgate:manifest_sha256"] == report.manifests[0].manifest_sha256
    assert XSS_NAME in p["mlgate:reason"]
    assert _props(files[XSS_NAME])["mlgate:verdict"] == "fail"
    assert folder_c["externalReferences"] == [
        {"type": "digital-signature", "url": "model.sig", "comment": "model signature (OpenSSF Model Signing)"}
    ]
    # A single-file root carries its own hash.
    assert single_c["hashes"][0]["content"] == hashlib.sha256(single.read_bytes()).hexdigest()
    assert _props(single_c)["mlgate:verdict"] == "pass"
    # Findings are vulnerabilities affecting the file they are about, with the remediation.
    blocking = [v for v in doc["vulnerabilities"] if _props(v)["mlgate:blocking"] == "true"]
    assert blocking
    ref = files[XSS_NAME]["bom-ref"]
    assert any(v["affects"] == [{"ref": ref}] and v["ratings"][0]["severity"] == "critical" for v in blocking)
    assert all(v.get("recommendation") for v in blocking)
    all_refs = {c["bom-ref"] for c in models} | {f["bom-ref"] for m in models for f in m.get("components", [])}
    assert all(v["affects"][0]["ref"] in all_refs for v in doc["vulnerabilities"])
    # The same report gives the same BOM (serial number included).
    assert build_bom([report]) == build_bom([report])


def test_waived_findings_stay_in_the_bom() -> None:
    doc = build_bom([sample_report()])
    _validate(doc)
    waived = [v for v in doc["vulnerabilities"] if "mlgate:waived_by" in _props(v)]
    assert [(_props(v)["mlgate:waived_by"], v["id"]) for v in waived] == [("E1", "MLG-HF-CUSTOM-CODE")]


def test_a_report_without_models_is_a_usage_error() -> None:
    r = sample_report().model_copy(update={"gate": "s3-audit", "subjects": tuple(
        s.model_copy(update={"kind": "bucket"}) for s in sample_report().subjects)})
    with pytest.raises(UsageError, match="describes models and datasets"):
        build_bom([r])


def test_cli_writes_a_valid_bom(tmp_path: Path, default_policy_path: Path) -> None:
    from tests.report.report_helpers import hostile_folder

    folder = hostile_folder(tmp_path)
    out = tmp_path / "bom.cdx.json"
    assert main(["scan", "-p", str(default_policy_path), "-f", "cyclonedx", "-o", str(out), str(folder)]) == 1
    doc = json.loads(out.read_text())
    _validate(doc)
    assert doc["components"][0]["type"] == "machine-learning-model"
