"""The rescan's aggregation and its views (console, JSON, markdown, HTML): pure functions of one
:class:`RescanSummary`. SARIF goes through the one result model: :func:`to_report` makes the run a
:class:`~mlgate.model.Report` and the standard SARIF renderer draws it with the versions' own reports."""

from __future__ import annotations

import datetime as _dt
import json
import urllib.parse
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlgate import __version__
from mlgate.errors import ExitCode
from mlgate.model import Finding, Location, PolicyRef, Report, Severity, SubjectResult, Verdict

SCHEMA_VERSION = "mlgate.rescan/v1"
FORMATS = ("console", "json", "sarif", "markdown", "html")


class Outcome(str, Enum):
    CLEAN = "clean"  # bytes verified and rescanned: still passes
    UNCHANGED = "unchanged"  # bytes verified; rescan skipped (nothing that could change the verdict changed)
    QUARANTINED = "quarantined"  # failed now: quarantined by this run
    STILL_QUARANTINED = "still-quarantined"  # quarantined before; left so (any new alias removed)
    PENDING = "pending"  # registered moments ago, no mlgate evidence yet
    ERROR = "error"  # could not be checked (store or network): not judged, reported


# Why a version was quarantined: rule id, title, remediation.
CATEGORIES: dict[str, tuple[str, str, str]] = {
    "bytes-changed": ("MLG-RESCAN-BYTES", "Stored bytes differ from the signed manifest",
                      "Find who wrote to the artifact store; register a new version from a trusted build."),
    "missing-artifact": ("MLG-RESCAN-MISSING", "Stored artifact is missing or unreadable",
                         "Restore the object versions from the bucket's history or register again."),
    "signature": ("MLG-RESCAN-SIGNATURE", "Model signature does not verify",
                  "Check the signature file and the configured public key; re-sign only after a full check."),
    "evidence": ("MLG-RESCAN-EVIDENCE", "Registry tags claim a pass the signed evidence does not support",
                 "Someone wrote mlgate tags by hand: investigate registry write access."),
    "unverified": ("MLG-RESCAN-UNVERIFIED", "Version has no passing mlgate verdict",
                   "Register through the gated pipeline (or the registry hooks) so it is scanned and signed."),
    "findings": ("MLG-RESCAN-FINDINGS", "Rescan under the current policy and scanners blocks the version",
                 "Read the findings; retrain or fix the artifact, or add a justified exception."),
    "bucket-audit": ("MLG-RESCAN-BUCKET", "The artifact bucket fails the S3 audit",
                     "Fix the bucket configuration, then `mlgate release` the versions."),
    "error": ("MLG-RESCAN-ERROR", "Version could not be checked", "Check connectivity and permissions; rerun."),
    "pending": ("MLG-RESCAN-PENDING", "Version not checked yet", "Wait for the registry hook, or rerun later."),
    "still-quarantined": ("MLG-RESCAN-STILL-QUARANTINED", "Version stays quarantined from an earlier run",
                          "Investigate, then `mlgate release` it or leave it out of service."),
}


class VersionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    aliases: tuple[str, ...] = ()
    outcome: Outcome
    category: str | None = None
    reason: str = ""
    byte_check: str = Field(default="none", description="listing | download | none")
    scanned: bool = False
    checkpoint: str | None = None
    gates: dict[str, str] = Field(default_factory=dict)
    removed_aliases: tuple[str, ...] = ()
    event_emitted: bool = False
    manifest_sha256: str | None = None
    seconds: float = 0.0
    reports: tuple[Report, ...] = Field(default=(), description="The model-version gate's report and the "
                                        "rescan's gate reports, when the version was checked in full")

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


class BucketResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str
    verdict: Verdict
    reason: str = ""


class Counts(BaseModel):
    model_config = ConfigDict(frozen=True)

    selected: int
    checked: int
    rescanned: int
    unchanged: int
    quarantined: int
    still_quarantined: int
    pending: int
    errors: int
    downloads: int
    listings: int
    buckets_failed: int


class RescanSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    started_at: _dt.datetime
    finished_at: _dt.datetime
    tracking_uri: str
    policy_name: str
    policy_digest: str
    scanners: dict[str, str] = Field(default_factory=dict)
    task_runner: str = "threads"
    max_workers: int = 1
    versions: tuple[VersionResult, ...] = ()
    buckets: tuple[BucketResult, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def counts(self) -> Counts:
        by = [v.outcome for v in self.versions]
        return Counts(
            selected=len(by),
            checked=sum(o in (Outcome.CLEAN, Outcome.UNCHANGED, Outcome.QUARANTINED) for o in by),
            rescanned=sum(v.scanned for v in self.versions),
            unchanged=by.count(Outcome.UNCHANGED),
            quarantined=by.count(Outcome.QUARANTINED),
            still_quarantined=by.count(Outcome.STILL_QUARANTINED),
            pending=by.count(Outcome.PENDING),
            errors=by.count(Outcome.ERROR),
            downloads=sum(v.byte_check == "download" for v in self.versions),
            listings=sum(v.byte_check == "listing" for v in self.versions),
            buckets_failed=sum(b.verdict is not Verdict.PASS for b in self.buckets),
        )

    @property
    def exit_code(self) -> ExitCode:
        c = self.counts
        if c.quarantined or any(b.verdict is Verdict.FAIL for b in self.buckets):
            return ExitCode.FAIL
        if c.errors or any(b.verdict is Verdict.ERROR for b in self.buckets):
            return ExitCode.ERROR
        if c.pending or any(b.verdict is Verdict.INCOMPLETE for b in self.buckets):
            return ExitCode.INCOMPLETE
        return ExitCode.PASS

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def to_json_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["counts"] = self.counts.model_dump()
        data["exit_code"] = int(self.exit_code)
        return data


def render_summary(summary: RescanSummary, fmt: str, *, verbose: bool = False) -> str:
    if fmt == "json":
        return json.dumps(summary.to_json_dict(), indent=2, sort_keys=True) + "\n"
    if fmt == "sarif":
        return json.dumps(render_sarif(summary), indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(summary)
    if fmt == "console":
        return render_console(summary, verbose=verbose)
    if fmt == "html":
        from mlgate.rescan.html import render_rescan_html

        return render_rescan_html(summary)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def headline(s: RescanSummary) -> str:
    c = s.counts
    models = len({v.name for v in s.versions})
    return (f"{c.selected} version(s) of {models} model(s): {c.checked} checked, {c.rescanned} rescanned, "
            f"{c.unchanged} skipped as unchanged, {c.quarantined} quarantined, {c.still_quarantined} still "
            f"quarantined, {c.pending} pending, {c.errors} error(s); bytes: {c.listings} by listing, "
            f"{c.downloads} downloaded; {s.seconds:.1f}s")


def _bad(s: RescanSummary) -> list[VersionResult]:
    return [v for v in s.versions if v.outcome not in (Outcome.CLEAN, Outcome.UNCHANGED)]


def render_console(s: RescanSummary, *, verbose: bool = False) -> str:
    verdict = {ExitCode.PASS: "pass", ExitCode.FAIL: "fail", ExitCode.ERROR: "error",
               ExitCode.INCOMPLETE: "incomplete"}.get(s.exit_code, "error")
    lines = [f"mlgate rescan: {verdict}: {headline(s)}",
             f"  policy {s.policy_name} {s.policy_digest[:23]}…; scanners "
             + ", ".join(f"{k} {v}" for k, v in sorted(s.scanners.items()) if v != "absent")
             + f"; {s.task_runner} x{s.max_workers}"]
    for b in s.buckets:
        lines.append(f"  bucket {b.bucket}: {b.verdict.value}" + (f" ({b.reason})" if b.verdict is not Verdict.PASS
                                                                  else ""))
    rows = list(s.versions) if verbose else _bad(s)
    if rows:
        lines.append("")
        w = max(len(v.label) for v in rows)
        for v in rows:
            extra = f" [{v.category}]" if v.category else ""
            al = f" aliases removed: {','.join(v.removed_aliases)}" if v.removed_aliases else ""
            held = f" ({','.join(v.aliases)})" if v.aliases and not v.removed_aliases else ""
            how = f" bytes={v.byte_check}{' scanned' if v.scanned else ''}" if verbose else ""
            lines.append(f"  {v.outcome.value:<17} {v.label:<{w}}{held}{extra}{al}{how}"
                         + (f": {v.reason}" if v.reason else ""))
    for n in s.notes:
        lines.append(f"  note: {n}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def render_markdown(s: RescanSummary) -> str:
    c = s.counts
    icon = {ExitCode.PASS: "✅ pass", ExitCode.FAIL: "⛔ fail", ExitCode.ERROR: "⚠️ error",
            ExitCode.INCOMPLETE: "❔ incomplete"}.get(s.exit_code, "⚠️ error")
    lines = [
        f"# mlgate rescan: {icon}", "",
        f"policy `{s.policy_name}` `{s.policy_digest[:23]}…` · {s.task_runner} x {s.max_workers} · "
        f"{s.seconds:.1f}s", "",
        "| selected | checked | rescanned | skipped as unchanged | quarantined | still quarantined | pending | errors |",
        "|---|---|---|---|---|---|---|---|",
        f"| {c.selected} | {c.checked} | {c.rescanned} | {c.unchanged} | {c.quarantined} | {c.still_quarantined} "
        f"| {c.pending} | {c.errors} |", "",
        f"Byte checks: {c.listings} by object listing, {c.downloads} by download.", "",
    ]
    if s.buckets:
        lines += ["| bucket | audit | reason |", "|---|---|---|"]
        lines += [f"| `{b.bucket}` | {b.verdict.value} | {_cell(b.reason) or '-'} |" for b in s.buckets]
        lines.append("")
    bad = _bad(s)
    if bad:
        lines += ["| version | outcome | why | aliases removed |", "|---|---|---|---|"]
        for v in bad:
            why = f"`{v.category}` {v.reason}" if v.category else v.reason
            lines.append(f"| `{_cell(v.label)}` | {v.outcome.value} | {_cell(why) or '-'} | "
                         f"{', '.join(v.removed_aliases) or '-'} |")
        lines.append("")
    lines += [f"- {_cell(n)}" for n in s.notes]
    return "\n".join(lines) + "\n"


def table_rows(s: RescanSummary) -> list[dict[str, Any]]:
    """Rows for a Prefect table artifact: every version that needs attention."""
    return [{"model": v.name, "version": v.version, "outcome": v.outcome.value, "category": v.category or "",
             "reason": v.reason[:300], "aliases_removed": ",".join(v.removed_aliases)} for v in _bad(s)]


def _uri(name: str, version: str) -> str:
    return f"models:/{urllib.parse.quote(name, safe='')}/{urllib.parse.quote(version, safe='')}"


# What each outcome means in the one result model: the subject's verdict, and the severity of
# its finding (a blocking finding, except for a version left quarantined by an earlier run).
_OUTCOME_VERDICT = {Outcome.CLEAN: Verdict.PASS, Outcome.UNCHANGED: Verdict.PASS, Outcome.QUARANTINED: Verdict.FAIL,
                    Outcome.STILL_QUARANTINED: Verdict.FAIL, Outcome.PENDING: Verdict.INCOMPLETE,
                    Outcome.ERROR: Verdict.ERROR}
_VERDICT_SEVERITY = {Verdict.FAIL: Severity.HIGH, Verdict.ERROR: Severity.MEDIUM, Verdict.INCOMPLETE: Severity.LOW}
_EXIT_VERDICT = {ExitCode.PASS: Verdict.PASS, ExitCode.FAIL: Verdict.FAIL, ExitCode.INCOMPLETE: Verdict.INCOMPLETE}


def _finding(cat: str, message: str, where: str, *, severity: Severity, blocking: bool,
             details: dict[str, Any]) -> Finding:
    rule, title, remediation = CATEGORIES[cat]
    return Finding(id=rule, title=title, severity=severity, message=message or title, location=Location(path=where),
                   engine="mlgate-rescan", remediation=remediation, blocking=blocking, details=details)


def _version_subject(v: VersionResult) -> SubjectResult:
    verdict = _OUTCOME_VERDICT[v.outcome]
    uri = _uri(v.name, v.version)
    details = {"outcome": v.outcome.value, "aliases": list(v.aliases), "removedAliases": list(v.removed_aliases),
               "checkpoint": v.checkpoint, "gates": v.gates, "byteCheck": v.byte_check, "scanned": v.scanned}
    findings: tuple[Finding, ...] = ()
    if v.outcome is Outcome.QUARANTINED:
        cat = v.category if v.category in CATEGORIES else "findings"
        findings = (_finding(cat, f"{v.label} quarantined: {v.reason}", uri, severity=Severity.HIGH, blocking=True,
                             details=details),)
    elif v.outcome is Outcome.STILL_QUARANTINED:
        findings = (_finding("still-quarantined", f"{v.label}: {v.reason}" if v.reason else "", uri,
                             severity=Severity.INFO, blocking=False, details=details),)
    elif v.outcome in (Outcome.ERROR, Outcome.PENDING):
        cat = "error" if v.outcome is Outcome.ERROR else "pending"
        findings = (_finding(cat, f"{v.label}: {v.reason}", uri, severity=_VERDICT_SEVERITY[verdict],
                             blocking=True, details=details),)
    return SubjectResult(subject=uri, kind="model-version", verdict=verdict, reason=v.reason, sha256=v.manifest_sha256,
                         findings=findings, details=details)


def _bucket_subject(b: BucketResult) -> SubjectResult:
    findings: tuple[Finding, ...] = ()
    if b.verdict is not Verdict.PASS:
        findings = (_finding("bucket-audit", f"bucket {b.bucket}: {b.verdict.value}: {b.reason}", f"s3://{b.bucket}",
                             severity=_VERDICT_SEVERITY[b.verdict], blocking=True,
                             details={"verdict": b.verdict.value}),)
    return SubjectResult(subject=f"s3://{b.bucket}", kind="bucket", verdict=b.verdict, reason=b.reason,
                         findings=findings)


def to_report(s: RescanSummary) -> Report:
    """The rescan as one report of the one result model (gate ``rescan``): a subject per version
    and per artifact bucket, a finding per outcome that needs attention. Its verdict is the run's
    exit code (a version quarantined by an earlier run is reported, not counted as this run's failure)."""
    c = s.counts
    return Report(gate="rescan", checkpoint="rescan", verdict=_EXIT_VERDICT.get(s.exit_code, Verdict.ERROR),
                  reason=headline(s), policy=PolicyRef(name=s.policy_name, path="", digest=s.policy_digest),
                  tools={"mlgate": __version__, **s.scanners}, started_at=s.started_at, finished_at=s.finished_at,
                  subjects=tuple(_version_subject(v) for v in s.versions) + tuple(_bucket_subject(b) for b in s.buckets),
                  notes=(*s.notes, f"counts: {c.model_dump_json()}"))


def reports(s: RescanSummary) -> list[Report]:
    """The run's report first, then the detailed gate reports of every version needing attention."""
    return [to_report(s), *(r for v in _bad(s) for r in v.reports)]


def render_sarif(s: RescanSummary) -> dict[str, Any]:
    """SARIF is a view of the one result model: the standard renderer over :func:`reports`."""
    from mlgate.report.sarif import render_sarif as sarif_of

    doc: dict[str, Any] = json.loads(sarif_of(reports(s)))
    return doc
