"""Typed errors. Library code raises these; only :func:`mlgate.cli.main` turns them into exit codes."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the result model imports pydantic (~0.2 s): not for ``mlgate --help``
    from mlgate.model import Verdict


class ExitCode(IntEnum):
    """The one exit-code contract of every ``mlgate`` command (documented in the README)."""

    PASS = 0
    FAIL = 1
    ERROR = 2
    INCOMPLETE = 3
    USAGE = 4

    @staticmethod
    def for_verdict(verdict: Verdict) -> ExitCode:
        from mlgate.model import Verdict

        return {
            Verdict.PASS: ExitCode.PASS,
            Verdict.FAIL: ExitCode.FAIL,
            Verdict.ERROR: ExitCode.ERROR,
            Verdict.INCOMPLETE: ExitCode.INCOMPLETE,
        }[verdict]


class MlgateError(Exception):
    """Base of every mlgate error. ``exit_code`` is what the CLI exits with."""

    exit_code: ExitCode = ExitCode.ERROR


class PolicyError(MlgateError):
    """A policy (or suite, or pipeline config) is missing or invalid. Names the file and the field."""

    def __init__(self, file: str, field: str | None, message: str) -> None:
        self.file = file
        self.field = field
        where = f"{file}: {field}" if field else file
        super().__init__(f"policy error: {where}: {message}")


class UsageError(MlgateError):
    exit_code = ExitCode.USAGE


class GateFailed(MlgateError):
    """A gate judged its subject and blocked it. Never retried."""

    exit_code = ExitCode.FAIL

    def __init__(self, checkpoint: str, gate: str, reason: str, report: object | None = None) -> None:
        self.checkpoint = checkpoint
        self.gate = gate
        self.reason = reason
        self.report = report
        super().__init__(f"{checkpoint}: {gate} blocked: {reason}")


class GateIncomplete(GateFailed):
    exit_code = ExitCode.INCOMPLETE


class GateErrored(GateFailed):
    exit_code = ExitCode.ERROR


class TransientError(MlgateError):
    """Network hiccups, throttling: the only errors a flow may retry."""
