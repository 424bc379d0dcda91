"""The self-contained HTML page of a registry rescan (the same page as every report's, see
:mod:`mlgate.report.html`): rescan knows its summary, the renderer knows only reports."""

from __future__ import annotations

from mlgate.model import Verdict
from mlgate.report.html import _HEADLINE, Item, Page, Row, Section, _render
from mlgate.rescan.summary import RescanSummary


def _page_for_rescan(s: RescanSummary) -> Page:
    from mlgate.errors import ExitCode
    from mlgate.rescan.summary import CATEGORIES, Outcome, headline

    verdict = {ExitCode.PASS: Verdict.PASS, ExitCode.FAIL: Verdict.FAIL, ExitCode.INCOMPLETE: Verdict.INCOMPLETE}.get(
        s.exit_code, Verdict.ERROR
    )
    sev = {Outcome.QUARANTINED: ("critical", 4), Outcome.STILL_QUARANTINED: ("high", 3), Outcome.ERROR: ("high", 3),
           Outcome.PENDING: ("medium", 2)}
    items: list[Item] = []
    for v in s.versions:
        if v.outcome not in sev:
            continue
        cat = v.category or ("error" if v.outcome is Outcome.ERROR else "pending" if v.outcome is Outcome.PENDING
                             else "unverified")
        rule, title, fix = CATEGORIES.get(cat, ("MLG-RESCAN", cat, "-"))
        removed = f" Aliases removed: {', '.join(v.removed_aliases)}." if v.removed_aliases else ""
        items.append(Item(severity=sev[v.outcome][0], rule=rule, title=title, where=v.label,
                          message=f"{v.outcome.value}: {v.reason}{removed}", remediation=fix,
                          status="blocking" if v.outcome is Outcome.QUARANTINED else
                          "error" if v.outcome is Outcome.ERROR else "note",
                          gate="rescan", rank=sev[v.outcome][1]))
    for b in s.buckets:
        if b.verdict is not Verdict.PASS:
            rule, title, fix = CATEGORIES["bucket-audit"]
            items.append(Item(severity="high", rule=rule, title=title, where=f"s3://{b.bucket}",
                              message=f"{b.verdict.value}: {b.reason}", remediation=fix,
                              status="blocking" if b.verdict is Verdict.FAIL else "error", gate="s3-audit", rank=3))
    items.sort(key=lambda i: (-i.rank, i.where))
    rows = [Row(verdict=v.outcome.value, name=v.label, group=",".join(v.aliases), detail=f"bytes by {v.byte_check}"
                + (", rescanned" if v.scanned else ""), digest=v.manifest_sha256 or "", reason=v.reason)
            for v in s.versions]
    rows += [Row(verdict=b.verdict.value, name=f"s3://{b.bucket}", group="", detail="bucket audit", reason=b.reason)
             for b in s.buckets]
    evidence = [("policy", f"{s.policy_name} {s.policy_digest}"),
                ("scanners", ", ".join(f"{k} {v}" for k, v in sorted(s.scanners.items()))),
                ("registry", s.tracking_uri), ("runner", f"{s.task_runner} x {s.max_workers}"),
                ("checked", f"{s.started_at.isoformat()} to {s.finished_at.isoformat()}")]
    section = Section(title="registry rescan", verdict=verdict.value, reason=headline(s), counts=headline(s),
                      rows=rows, evidence=evidence, notes=list(s.notes))
    return Page(title=f"mlgate rescan: {verdict.value}", verdict=verdict.value, headline=_HEADLINE[verdict],
                lead=headline(s), blocked=[i for i in items if i.status in ("blocking", "error")], findings=items,
                sections=[section], generated=s.finished_at.isoformat(),
                blocked_heading="What was quarantined or could not be checked")


def render_rescan_html(summary: RescanSummary) -> str:
    """The same page for a registry rescan."""
    return _render(_page_for_rescan(summary))
