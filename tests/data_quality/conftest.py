"""Fixtures of the data-quality gate tests: a policy of our own (the default policy includes files
other gates own), the shipped iris suite, and a helper that runs ``mlgate`` in-process and returns
its exit code and parsed JSON report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IRIS_SUITE = REPO / "policies" / "suites" / "iris.yaml"
GATE_SETTINGS = REPO / "policies" / "gates" / "data-quality.yaml"


def write_policy(folder: Path, settings: dict[str, Any] | None = None, *, exceptions: list[Any] | None = None,
                 name: str = "policy.yaml") -> Path:
    """A policy whose data-quality section is the shipped settings file plus ``settings``."""
    section: dict[str, Any] = {"include": str(GATE_SETTINGS)}
    section.update(settings or {})
    doc = {
        "apiVersion": "mlgate/v1",
        "kind": "Policy",
        "name": "dq-test",
        "defaults": {"block_severity": "medium", "unsupported": "block", "scanner_errors": "block"},
        "checkpoints": {"pre-train": {"gates": ["data-quality"]}},
        "exceptions": exceptions or [],
        "gates": {"data-quality": section},
    }
    p = folder / name
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return p


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    return write_policy(tmp_path)


@pytest.fixture(scope="module")
def module_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_policy(tmp_path_factory.mktemp("policy"))


@pytest.fixture(scope="session")
def iris_suite() -> Path:
    return IRIS_SUITE


RunCli = Callable[..., tuple[int, dict[str, Any] | None]]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """``run_cli(*args)`` -> (exit code, JSON report or None). Adds ``-f json`` unless a format is given."""
    from mlgate.cli import main

    def _run(*args: str | Path) -> tuple[int, dict[str, Any] | None]:
        argv = [str(a) for a in args]
        if "-f" not in argv and "--format" not in argv:
            argv += ["-f", "json"]
        capsys.readouterr()
        code = main(argv)
        out = capsys.readouterr().out
        try:
            return code, json.loads(out) if out.strip() else None
        except json.JSONDecodeError:
            return code, None

    return _run


def finding_ids(report: dict[str, Any]) -> set[str]:
    return {f["id"] for s in report["subjects"] for f in s["findings"] if f["blocking"]} | {
        f["id"] for f in report["findings"] if f["blocking"]
    }


@pytest.fixture(scope="session")
def ids_of() -> Callable[[dict[str, Any]], set[str]]:
    return finding_ids


@pytest.fixture(scope="session")
def make_policy() -> Callable[..., Path]:
    """``make_policy(folder, settings=None, exceptions=None)`` -> a policy file."""
    return write_policy
