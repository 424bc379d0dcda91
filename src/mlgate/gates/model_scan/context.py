"""The state of one file's analysis: where we are (the chain of members), what was found, what
was positively analysed, and how much budget (bytes extracted, depth, time) is left.

Analysers never decide verdicts; they report findings (:meth:`ScanContext.issue`), gaps
(:meth:`ScanContext.unsupported`), failures (:meth:`ScanContext.error`) and coverage
(:meth:`ScanContext.covered`). The gate turns those into a verdict under the policy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlgate.gates.model_scan.config import ModelScanConfig
from mlgate.gates.model_scan.globals_policy import GlobalsPolicy
from mlgate.gates.model_scan.rules import FILE_LIMIT, Rule
from mlgate.model import Coverage, Finding, FindingKind, Location, Severity


class BudgetExceeded(Exception):
    """Raised when an analysis limit is reached; the caller records MLG-FILE-LIMIT."""


@dataclass
class ScanContext:
    path: str  # the file's path relative to the scanned root
    config: ModelScanConfig
    globals_policy: GlobalsPolicy
    findings: list[Finding] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    extracted_bytes: int = 0
    deadline: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    fs_path: str | None = None  # the file on disk, when the subject is one (files a loader opens beside it)

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + self.config.limits.seconds_per_file

    # -- where -------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        return len(self.members)

    @contextmanager
    def member(self, name: str) -> Iterator[None]:
        if self.depth >= self.config.limits.max_depth:
            raise BudgetExceeded(f"nesting deeper than {self.config.limits.max_depth} levels at {name!r}")
        self.members.append(name)
        try:
            yield
        finally:
            self.members.pop()

    def location(self, offset: int | None = None, line: int | None = None) -> Location:
        return Location(path=self.path, member="!".join(self.members) or None, offset=offset, line=line)

    # -- budgets -----------------------------------------------------------------------------
    def charge_extracted(self, n: int) -> None:
        self.extracted_bytes += n
        if self.extracted_bytes > self.config.limits.max_extracted_bytes:
            raise BudgetExceeded(f"more than {self.config.limits.max_extracted_bytes} bytes extracted from one file")

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"analysis took longer than {self.config.limits.seconds_per_file} s")

    # -- reporting ---------------------------------------------------------------------------
    def report(
        self,
        r: Rule,
        message: str,
        *,
        severity: Severity | None = None,
        offset: int | None = None,
        line: int | None = None,
        details: dict[str, Any] | None = None,
        engine: str = "mlgate",
    ) -> None:
        self.findings.append(
            Finding(
                id=r.id,
                title=r.title,
                severity=severity or r.severity,
                kind=r.kind,
                message=message,
                location=self.location(offset, line),
                engine=engine,
                remediation=r.remediation,
                references=r.references,
                details=details or {},
            )
        )

    def issue(self, r: Rule, message: str, **kw: Any) -> None:
        assert r.kind is FindingKind.ISSUE, r.id
        self.report(r, message, **kw)

    def unsupported(self, r: Rule, message: str, **kw: Any) -> None:
        assert r.kind is FindingKind.UNSUPPORTED, r.id
        self.report(r, message, **kw)

    def error(self, r: Rule, message: str, **kw: Any) -> None:
        assert r.kind is FindingKind.ERROR, r.id
        self.report(r, message, **kw)

    def limit(self, message: str) -> None:
        self.report(FILE_LIMIT, message)

    def covered(self, fmt: str, detail: str = "", engine: str = "mlgate") -> None:
        where = "!".join(self.members)
        self.coverage.append(Coverage(engine=engine, format=fmt, detail=(f"{where}: " if where else "") + detail))
        if fmt not in self.formats:
            self.formats.append(fmt)
