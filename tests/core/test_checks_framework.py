"""The one check framework (:mod:`mlgate.checks`) under both audit gates: the same loader, the
same discovery, the same runner rules, each gate's own metadata fields and id prefix."""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlgate import checks as framework
from mlgate.gates.mlflow_posture import check as mlflow_check
from mlgate.gates.mlflow_posture.checks import load_checks as mlflow_checks
from mlgate.gates.s3_audit import check as s3_check
from mlgate.gates.s3_audit.checks import load_checks as s3_checks


def _metadata_of(check: object) -> dict[str, object]:
    path = Path(sys.modules[type(check).__module__].__file__ or "").with_suffix(".metadata.json")
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


def test_both_gates_are_built_on_the_one_framework() -> None:
    for load, gate in ((s3_checks, s3_check), (mlflow_checks, mlflow_check)):
        loaded = load()
        assert loaded
        for c in loaded:
            assert isinstance(c, framework.Check)
            assert isinstance(c, gate.Check)
            assert isinstance(c.metadata, framework.CheckMetadata)
            assert type(c).__name__ == c.id == c.metadata.id
        assert gate.CheckLoadError is framework.CheckLoadError


def test_each_gate_keeps_its_id_prefix_and_its_own_fields() -> None:
    s3 = _metadata_of(s3_checks()[0])
    mf = _metadata_of(mlflow_checks()[0])
    with pytest.raises(ValueError, match="start with s3_"):
        s3_check.CheckMetadata.model_validate({**s3, "id": "mlflow_x"})
    with pytest.raises(ValueError, match="start with mlflow_"):
        mlflow_check.CheckMetadata.model_validate({**mf, "id": "s3_x"})
    with pytest.raises(ValueError, match="Extra inputs"):  # an S3 field on an MLflow check
        mlflow_check.CheckMetadata.model_validate({**mf, "controls": ["S3.1"]})
    with pytest.raises(ValueError, match="title"):
        s3_check.CheckMetadata.model_validate({**s3, "title": "x"})


def test_a_check_without_metadata_fails_to_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "mlflow_no_metadata"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mlflow_no_metadata.py").write_text(textwrap.dedent("""
        from mlgate.gates.mlflow_posture.check import Check
        class mlflow_no_metadata(Check):
            def execute(self, ctx):
                return []
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(framework.CheckLoadError, match=r"mlflow_no_metadata.metadata.json is missing"):
        __import__("mlflow_no_metadata.mlflow_no_metadata")


@dataclass(frozen=True)
class _Err:
    category: str
    why: str

    def __str__(self) -> str:
        return self.why


def test_runner_rules() -> None:
    errors = {"policy": _Err("denied", "AccessDenied")}
    found = framework.blockers(("policy", "acl", "website"), errors, {"website"},
                               lambda f: _Err("unsupported", "not collected"))
    assert [f for f, _ in found] == ["policy", "acl"]  # the failures first, then what was never answered
    assert framework.blocked_message(found) == (False, "could not be evaluated: policy: AccessDenied; "
                                                       "acl: not collected")
    assert framework.blocked_message(found[1:]) == (True, "could not be determined: acl: not collected")
    crashed = framework.crash_result(s3_check.CheckResult, KeyError("x"))
    assert (crashed.status, crashed.message) == ("fail", "check crashed: KeyError: 'x'")


def test_a_check_that_returns_nothing_is_unsupported_never_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    check = s3_checks()[0]
    monkeypatch.setattr(type(check), "execute", lambda self, ctx: [])
    [r] = check.run(None)  # type: ignore[arg-type]
    assert (r.status, r.message) == ("unsupported", "the check returned no result")
