from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mlgate.errors import PolicyError
from mlgate.model import Finding, FindingKind, Location, Severity, Verdict
from mlgate.policy import load_policy

MINIMAL = """
apiVersion: mlgate/v1
name: t
checkpoints:
  pre-publish: {gates: [model-scan]}
  pre-deploy: {gates: [model-scan], block_severity: low}
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def finding(fid: str = "X-1", sev: Severity = Severity.MEDIUM, kind: FindingKind = FindingKind.ISSUE) -> Finding:
    return Finding(id=fid, title="t", severity=sev, kind=kind, message="m", location=Location(path="a"), engine="t")


def test_missing_policy_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"nope\.yaml: file not found"):
        load_policy(tmp_path / "nope.yaml")


def test_invalid_field_names_file_and_field(tmp_path: Path) -> None:
    p = write(tmp_path, MINIMAL + "defaults: {block_severity: severe}\n")
    with pytest.raises(PolicyError, match=r"p\.yaml: defaults\.block_severity"):
        load_policy(p)


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, MINIMAL + "allow_everything: true\n")
    with pytest.raises(PolicyError, match="allow_everything"):
        load_policy(p)


def test_bad_include_entry_names_the_included_file(tmp_path: Path) -> None:
    write(tmp_path, "globals:\n  - {module: os, name: system}\n", "allow.yaml")
    p = write(tmp_path, MINIMAL + "allowlist: {include: [allow.yaml]}\n")
    with pytest.raises(PolicyError, match=r"allow\.yaml: globals\[0\]\.reason"):
        load_policy(p)


def test_checkpoint_without_gates_is_an_error(tmp_path: Path) -> None:
    p = write(tmp_path, "apiVersion: mlgate/v1\nname: t\ncheckpoints:\n  pre-train: {gates: []}\n")
    with pytest.raises(PolicyError, match=r"checkpoints\.pre-train\.gates"):
        load_policy(p)


def test_not_yaml(tmp_path: Path) -> None:
    p = write(tmp_path, "a: [unclosed\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(p)


def test_thresholds_per_checkpoint(tmp_path: Path) -> None:
    pol = load_policy(write(tmp_path, MINIMAL))
    low = [finding(sev=Severity.LOW)]
    assert pol.judge_findings(low, "a", "pre-publish")[1] is Verdict.PASS
    assert pol.judge_findings(low, "a", "pre-deploy")[1] is Verdict.FAIL


def test_error_and_unsupported_map_to_verdicts(tmp_path: Path) -> None:
    pol = load_policy(write(tmp_path, MINIMAL))
    assert pol.judge_findings([finding(kind=FindingKind.ERROR)], "a", None)[1] is Verdict.ERROR
    assert pol.judge_findings([finding(kind=FindingKind.UNSUPPORTED)], "a", None)[1] is Verdict.INCOMPLETE
    both = [finding(kind=FindingKind.ERROR), finding(sev=Severity.CRITICAL)]
    assert pol.judge_findings(both, "a", None)[1] is Verdict.FAIL  # an error never hides a finding
    allow = load_policy(write(tmp_path, MINIMAL + "defaults: {unsupported: allow}\n", "q.yaml"))
    assert allow.judge_findings([finding(kind=FindingKind.UNSUPPORTED)], "a", None)[1] is Verdict.PASS


EXC = """
exceptions:
  - id: EXC-1
    rule: "X-*"
    subject: "models/*"
    reason: reviewed by the security team
    owner: sec@example.com
    expires: {expires}
"""


def test_exception_waives_until_expiry(tmp_path: Path) -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    pol = load_policy(write(tmp_path, MINIMAL + EXC.format(expires=tomorrow.isoformat())))
    judged, verdict, _ = pol.judge_findings([finding()], "models/a.pt", None)
    assert verdict is Verdict.PASS
    assert judged[0].waived is not None
    assert judged[0].waived.exception_id == "EXC-1"
    assert not judged[0].blocking
    # other subjects are not waived
    assert pol.judge_findings([finding()], "other/a.pt", None)[1] is Verdict.FAIL
    # the day after expiry it blocks again and is reported as expired
    later = tomorrow + dt.timedelta(days=1)
    assert pol.judge_findings([finding()], "models/a.pt", None, today=later)[1] is Verdict.FAIL
    assert [e.id for e in pol.expired_exceptions(today=later)] == ["EXC-1"]


def test_exception_needs_owner_and_expiry(tmp_path: Path) -> None:
    p = write(tmp_path, MINIMAL + "exceptions:\n  - {id: E, rule: X, reason: because it is fine}\n")
    with pytest.raises(PolicyError, match=r"exceptions\.0\.owner"):
        load_policy(p)


def test_digest_changes_with_included_files(tmp_path: Path) -> None:
    allow = write(tmp_path, "globals:\n  - {module: a, name: B, reason: fine class}\n", "allow.yaml")
    p = write(tmp_path, MINIMAL + "allowlist: {include: [allow.yaml]}\n")
    d1 = load_policy(p).digest
    allow.write_text("globals:\n  - {module: a, name: C, reason: fine class}\n")
    assert load_policy(p).digest != d1


def test_allow_entry_patterns(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        MINIMAL
        + """
allowlist:
  globals:
    - {module: "sklearn.**", name: "*", classes_only: true, reason: estimators}
    - {module: collections, name: OrderedDict, reason: dict}
""",
    )
    pol = load_policy(p)
    assert pol.allowed("sklearn.linear_model._logistic", "LogisticRegression")
    assert pol.allowed("sklearn", "Pipeline")
    assert not pol.allowed("sklearn.utils", "some_function")
    assert not pol.allowed("sklearnx", "Thing")
    assert pol.allowed("collections", "OrderedDict")
    assert not pol.allowed("collections", "namedtuple")


def test_default_policy_loads(default_policy_path: Path) -> None:
    pol = load_policy(default_policy_path)
    assert pol.gates_for("pre-deploy") == ("model-scan", "mlflow-posture")
    assert pol.digest.startswith("sha256:")
    assert all(e.reason for e in pol.allow_entries)


def test_exception_can_name_a_control_id(tmp_path: Path) -> None:
    pol = load_policy(write(tmp_path, MINIMAL + EXC.format(expires="2999-01-01").replace('"X-*"', "S3.20")))
    f = Finding(id="s3_bucket_mfa_delete", title="t", severity=Severity.MEDIUM, message="m",
                location=Location(path="b"), engine="t", controls=("S3.20",))
    assert pol.judge_findings([f], "models/b", None)[1] is Verdict.PASS
    other = f.model_copy(update={"controls": ("S3.14",)})
    assert pol.judge_findings([other], "models/b", None)[1] is Verdict.FAIL


# -- every error of a policy, each with its file and field (not "the first and 2 more") ----------


def test_three_errors_are_all_listed_with_file_and_field(tmp_path: Path) -> None:
    p = write(tmp_path, MINIMAL + "defaults: {block_severity: severe, unsupported: maybe}\nallow_everything: true\n")
    with pytest.raises(PolicyError, match="3 problems") as ei:
        load_policy(p)
    msg = str(ei.value)
    assert "more)" not in msg
    lines = msg.splitlines()
    assert lines[0] == "policy error: 3 problems:"
    assert len(lines) == 4, msg
    fields = ("defaults.block_severity", "defaults.unsupported", "allow_everything")
    for fld in fields:
        assert any(ln.strip().startswith(f"{p}: {fld}") for ln in lines[1:]), (fld, msg)
    assert [e.field for e in ei.value.problems] == list(fields)  # type: ignore[attr-defined]
    assert ei.value.file == str(p)


def test_errors_of_every_included_allowlist_entry_are_listed(tmp_path: Path) -> None:
    write(tmp_path, "globals:\n  - {module: os, name: system}\n  - {module: os, name: popen}\n", "allow.yaml")
    p = write(tmp_path, MINIMAL + "allowlist: {include: [allow.yaml]}\n")
    with pytest.raises(PolicyError, match="2 problems") as ei:
        load_policy(p)
    msg = str(ei.value)
    assert "allow.yaml: globals[0].reason" in msg, msg
    assert "allow.yaml: globals[1].reason" in msg, msg


def test_empty_checkpoint_and_schema_errors_together(tmp_path: Path) -> None:
    p = write(tmp_path, "apiVersion: mlgate/v1\nname: t\nbogus: 1\ncheckpoints:\n  pre-train: {gates: []}\n")
    with pytest.raises(PolicyError, match="2 problems") as ei:
        load_policy(p)
    msg = str(ei.value)
    assert f"{p}: bogus" in msg, msg
    assert f"{p}: checkpoints.pre-train.gates: at least one gate must run" in msg, msg


def test_policy_validate_lists_errors_of_every_gate_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlgate.cli import main

    write(tmp_path, "limits: {max_depth: 0}\nmodelscan: {requird: true}\n", "scan.yaml")
    p = write(tmp_path, MINIMAL + "gates:\n  model-scan: {include: scan.yaml}\n  s3-audit: {max_workers: 0}\n")
    capsys.readouterr()
    assert main(["policy", "validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "policy error: 3 problems:" in err, err
    assert f"gates.model-scan from {tmp_path / 'scan.yaml'}): gates.model-scan.limits.max_depth" in err, err
    assert "gates.model-scan.modelscan.requird" in err
    assert f"{p}: gates.s3-audit.max_workers" in err


def test_block_reason_is_the_failing_condition(tmp_path: Path) -> None:
    pol = load_policy(write(tmp_path, MINIMAL))
    f = Finding(id="S3-X", title="S3 bucket server access logging is enabled", severity=Severity.HIGH,
                kind=FindingKind.ISSUE, message="server access logging is off", location=Location(path="b"), engine="t")
    _, verdict, reason = pol.judge_findings([f], "b", None)
    assert verdict is Verdict.FAIL
    assert reason == "S3-X: server access logging is off"


def test_local_stack_policy_is_the_default_policy_with_the_stacks_gate_settings() -> None:
    """The demo's policy must not drift from the default one: same checkpoints, allowlists and gates;
    only the S3-audit and posture settings of the embedded stack (and its name) differ."""
    import yaml

    policies = Path(__file__).resolve().parents[2] / "policies"
    default = yaml.safe_load((policies / "default.yaml").read_text())
    local = yaml.safe_load((policies / "local-stack.yaml").read_text())
    differ = {"s3-audit", "mlflow-posture"}
    assert local["checkpoints"] == default["checkpoints"]
    assert local["allowlist"] == default["allowlist"]
    assert local["defaults"] == default["defaults"]
    assert set(local["gates"]) == set(default["gates"])
    assert {g: s for g, s in local["gates"].items() if g not in differ} == \
        {g: s for g, s in default["gates"].items() if g not in differ}
    for g in differ:
        assert local["gates"][g]["include"].endswith(".local-stack.yaml")
