"""Helpers to read a ScanContext's findings in assertions."""

from __future__ import annotations

from mlgate.gates.model_scan.context import ScanContext
from mlgate.model import Finding, FindingKind, Severity


def ids(ctx: ScanContext) -> list[str]:
    return [f.id for f in ctx.findings]


def only(ctx: ScanContext, rule_id: str) -> list[Finding]:
    return [f for f in ctx.findings if f.id == rule_id]


def blocking(ctx: ScanContext, at: Severity = Severity.MEDIUM) -> list[Finding]:
    """Findings that the default policy (block_severity: medium, unsupported/errors block) blocks on."""
    return [f for f in ctx.findings if f.kind is not FindingKind.ISSUE or f.severity.at_least(at)]


def formats(ctx: ScanContext) -> list[str]:
    return [c.format for c in ctx.coverage]
