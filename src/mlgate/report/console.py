"""Readable console tables (rich), one per report."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from mlgate.model import Report, Verdict

_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.ERROR: "red", Verdict.INCOMPLETE: "yellow"}


def render_console(reports: Sequence[Report], *, color: bool = False, verbose: bool = False) -> str:
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=color, no_color=not color, width=140, highlight=False)
    for r in reports:
        cp = f" at {r.checkpoint}" if r.checkpoint else ""
        con.print(f"[bold]mlgate {r.gate}{cp}[/]  policy {r.policy.name} ({r.policy.digest[:19]}...)")
        table = Table(show_lines=False, expand=False)
        table.add_column("verdict")
        table.add_column("subject", overflow="fold", max_width=60)
        table.add_column("format", max_width=24)
        table.add_column("findings", overflow="fold", max_width=70)
        for s in r.subjects:
            shown = [f for f in s.findings if verbose or f.blocking or f.waived]
            lines = []
            for f in shown[:6]:
                tag = "waived " if f.waived else ""
                ctl = f" [{', '.join(f.controls)}]" if f.controls else ""
                lines.append(f"{tag}{f.severity.value.upper()} {f.id}{ctl}: {f.message}")
            if len(shown) > 6:
                lines.append(f"... {len(shown) - 6} more")
            table.add_row(
                f"[{_STYLE[s.verdict]}]{s.verdict.value}[/]",
                s.subject,
                ",".join(s.formats) or "-",
                "\n".join(lines) or "-",
            )
        if r.subjects:
            con.print(table)
        for f in r.findings:
            con.print(f"  {f.severity.value.upper()} {f.id}: {f.message}")
        sm = r.summary
        con.print(
            f"[{_STYLE[r.verdict]}]{r.verdict.value.upper()}[/]: {r.reason}  "
            f"({sm.subjects} checked: {sm.passed} pass, {sm.failed} fail, {sm.errors} error, "
            f"{sm.incomplete} incomplete; {sm.blocking} blocking finding(s), {sm.waived} waived)"
        )
        for n in r.notes:
            con.print(f"  note: {n}")
        con.print()
    return buf.getvalue()
