"""The one result model. Every renderer (console, JSON, SARIF, MLflow tags, Prefect artifacts)
is a pure function of a :class:`Report`.

Vocabulary
----------
* A **finding** is one observation by one engine about one location (a rule id, a severity, a
  message, a remediation). ``kind`` says whether it is an *issue* (something wrong with the
  subject), an *error* (an engine failed on the subject) or *unsupported* (something could not be
  analysed: an unknown format, a skipped member, a size limit).
* A **subject** is one thing a gate judges: a file, a bucket, a dataset. Its verdict is computed
  from its findings by the policy (:mod:`mlgate.policy`), never by the engine that found them.
* A **report** is one gate run at one checkpoint: the subjects, the overall verdict, the policy
  digest, the tool versions and timestamps.

Verdict order (worst wins): ``fail`` > ``error`` > ``incomplete`` > ``pass``. A known-bad file
beside an engine error is reported as ``fail``: the error must not hide the finding.
"""

from __future__ import annotations

import datetime as _dt
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REPORT_SCHEMA_VERSION = "mlgate.report/v1"


class Severity(str, Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Verdict(str, Enum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    INCOMPLETE = "incomplete"
    ERROR = "error"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return _VERDICT_RANK[self]

    @staticmethod
    def worst(verdicts: list[Verdict] | tuple[Verdict, ...]) -> Verdict:
        """Worst of ``verdicts``; an empty list is INCOMPLETE (never pass from silence)."""
        if not verdicts:
            return Verdict.INCOMPLETE
        return max(verdicts, key=lambda v: v.rank)


_VERDICT_RANK = {Verdict.PASS: 0, Verdict.INCOMPLETE: 1, Verdict.ERROR: 2, Verdict.FAIL: 3}


class FindingKind(str, Enum):
    ISSUE = "issue"
    ERROR = "error"
    UNSUPPORTED = "unsupported"


class Location(BaseModel):
    """Where a finding is. ``path`` is relative to the scanned root (or a bucket/dataset name);
    ``member`` is the chain of archive members / decompression layers inside it (``a.zip!b.pt!data.pkl``);
    ``offset`` is a byte offset inside the innermost member."""

    model_config = ConfigDict(frozen=True)

    path: str
    member: str | None = None
    offset: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        s = self.path
        if self.member:
            s += "!" + self.member
        if self.offset is not None:
            s += f"@{self.offset}"
        if self.line is not None:
            s += f":{self.line}"
        return s


class Waiver(BaseModel):
    model_config = ConfigDict(frozen=True)

    exception_id: str
    reason: str
    owner: str
    expires: _dt.date


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable rule id, e.g. MLG-PKL-001, S3.5, DQ-EXPECTATION")
    title: str
    severity: Severity
    kind: FindingKind = FindingKind.ISSUE
    message: str
    location: Location
    engine: str = Field(description="Which engine produced it: mlgate, modelscan, great_expectations, ...")
    remediation: str = ""
    references: tuple[str, ...] = ()
    controls: tuple[str, ...] = Field(default=(), description="Compliance control ids (S3.5, ML.3, ...)")
    details: dict[str, Any] = Field(default_factory=dict)
    # Set by the policy when the report is judged:
    blocking: bool = False
    waived: Waiver | None = None


class Coverage(BaseModel):
    """What positively analysed a subject. A subject with no coverage cannot pass."""

    model_config = ConfigDict(frozen=True)

    engine: str
    format: str
    detail: str = ""


class SubjectResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str = Field(description="Path relative to its root, bucket name, or dataset URI")
    kind: str = Field(description="file | bucket | dataset | account | access-point | ...")
    root: str = Field(default="", description="The PATH/URI argument this subject was found under")
    verdict: Verdict
    reason: str = ""
    sha256: str | None = None
    size: int | None = None
    formats: tuple[str, ...] = ()
    coverage: tuple[Coverage, ...] = ()
    findings: tuple[Finding, ...] = ()
    details: dict[str, Any] = Field(default_factory=dict)


class RootManifest(BaseModel):
    """Digests that bind a verdict to bytes: one sha256 per file and one manifest digest per root."""

    model_config = ConfigDict(frozen=True)

    root: str
    kind: str = "directory"  # directory | file
    manifest_sha256: str
    files: dict[str, str] = Field(default_factory=dict, description="relative path -> sha256")
    total_bytes: int = 0


class PolicyRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    path: str
    digest: str


class Summary(BaseModel):
    model_config = ConfigDict(frozen=True)

    subjects: int
    passed: int
    failed: int
    errors: int
    incomplete: int
    findings: int
    blocking: int
    waived: int


class Report(BaseModel):
    """One gate run. Serialised as the JSON report (schema ``mlgate.report/v1``)."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = REPORT_SCHEMA_VERSION
    gate: str
    checkpoint: str | None = None
    verdict: Verdict
    reason: str = ""
    policy: PolicyRef
    tools: dict[str, str] = Field(default_factory=dict)
    started_at: _dt.datetime
    finished_at: _dt.datetime
    manifests: tuple[RootManifest, ...] = ()
    subjects: tuple[SubjectResult, ...] = ()
    findings: tuple[Finding, ...] = Field(default=(), description="Findings not tied to one subject")
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> Summary:
        all_findings = [f for s in self.subjects for f in s.findings] + list(self.findings)
        return Summary(
            subjects=len(self.subjects),
            passed=sum(s.verdict is Verdict.PASS for s in self.subjects),
            failed=sum(s.verdict is Verdict.FAIL for s in self.subjects),
            errors=sum(s.verdict is Verdict.ERROR for s in self.subjects),
            incomplete=sum(s.verdict is Verdict.INCOMPLETE for s in self.subjects),
            findings=len(all_findings),
            blocking=sum(f.blocking for f in all_findings),
            waived=sum(f.waived is not None for f in all_findings),
        )

    def to_json_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["summary"] = self.summary.model_dump(mode="json")
        return data


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def utc_today() -> _dt.date:
    """Today's date in UTC: what policy-exception expiry is judged against, whatever the
    machine's time zone (``date.today()`` follows ``TZ``: a gate in UTC+14 and one in UTC-12
    would disagree for a day on whether an exception is still in force)."""
    return utcnow().date()
