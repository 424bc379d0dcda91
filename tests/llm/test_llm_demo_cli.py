"""`mlgate demo --scenario llm` without servers: the option is documented, sklearn stays the
default, a missing llm extra is an error that names it, and the result table reads in one line."""

from __future__ import annotations

import importlib.util

import pytest
from click.testing import CliRunner

from mlgate._dev.demo import CaseResult
from mlgate._dev.llm_demo import LlmDemoRun, print_table, short_reason
from mlgate.commands.demo import demo


def test_help_documents_both_scenarios() -> None:
    out = CliRunner().invoke(demo, ["--help"]).output
    assert "--scenario [sklearn|llm]" in out
    assert "default: sklearn" in out
    assert "LoRA" in out


def test_missing_llm_extra_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a))
    res = CliRunner().invoke(demo, ["--scenario", "llm", "--workdir", str(tmp_path)], standalone_mode=False)
    assert res.return_value == 2
    assert "peft" in res.output
    assert not (tmp_path / "stack").exists()  # nothing was started


def test_table_has_one_line_per_case_with_its_checkpoint_and_reason() -> None:
    detail = ("pre-train: data-quality blocked: 1 dataset(s) fail; most severe: /tmp/x/runs/run-1/inputs/"
              "datasets/instructions: critical DQ-expect_column_values_to_not_match_regex_list")
    assert short_reason(detail) == "instructions: critical DQ-expect_column_values_to_not_match_regex_list"
    run = LlmDemoRun(results=[
        CaseResult("clean", "pass", "pass", True, "registered tiny-llm v1", 1.0),
        CaseResult("leak", "pre-train/data-quality", "pre-train/data-quality", True, detail, 1.0),
        CaseResult("gguf", "pre-deploy/model-version", "pass", False, "{}", 1.0),
    ])
    lines: list[str] = []
    print_table(run, lines.append)
    assert len(lines) == 5
    assert "pre-train" in lines[3]
    assert "blocked" in lines[3]
    assert "DQ-expect" in lines[3]
    assert lines[4].split()[1:3] == ["-", "pass"]
    assert " NO " in lines[4]
    assert not run.ok
