"""Markdown summary of reports (Prefect artifacts, MLflow run descriptions, PR comments)."""

from __future__ import annotations

from collections.abc import Sequence

from mlgate.model import Report, Verdict

_ICON = {Verdict.PASS: "✅ pass", Verdict.FAIL: "⛔ fail", Verdict.ERROR: "⚠️ error", Verdict.INCOMPLETE: "❔ incomplete"}


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")[:300]


def render_markdown(reports: Sequence[Report], title: str | None = None) -> str:
    lines: list[str] = []
    if title:
        lines += [f"# {title}", ""]
    for r in reports:
        sm = r.summary
        cp = f" at `{r.checkpoint}`" if r.checkpoint else ""
        lines += [
            f"## {r.gate}{cp}: {_ICON[r.verdict]}",
            "",
            f"{_cell(r.reason)}",
            "",
            f"policy `{r.policy.name}` `{r.policy.digest[:23]}…` · tools "
            + ", ".join(f"{k} {v}" for k, v in sorted(r.tools.items()))
            + f" · {sm.subjects} checked: {sm.passed} pass, {sm.failed} fail, {sm.errors} error, "
            f"{sm.incomplete} incomplete · {sm.blocking} blocking, {sm.waived} waived",
            "",
            "| verdict | subject | findings |",
            "|---|---|---|",
        ]
        for s in r.subjects:
            shown = [f for f in s.findings if f.blocking or f.waived][:3]
            text = "<br>".join(
                _cell(f"{'waived ' if f.waived else ''}{f.severity.value} {f.id}: {f.message}") for f in shown
            )
            lines.append(f"| {_ICON[s.verdict]} | `{_cell(s.subject)}` | {text or '-'} |")
        for f in r.findings:
            lines.append(f"| {_ICON[Verdict.ERROR]} | - | {_cell(f'{f.id}: {f.message}')} |")
        lines.append("")
    return "\n".join(lines)
