"""Readable console tables (rich), one per report."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlgate.model import Report, Verdict

_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.ERROR: "red", Verdict.INCOMPLETE: "yellow"}


def render_console(reports: Sequence[Report], *, color: bool = False, verbose: bool = False) -> str:
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=color, no_color=not color, width=140, highlight=False)
    for r in reports:
        cp = f" at {r.checkpoint}" if r.checkpoint else ""
        con.print(f"[bold]mlgate {r.gate}{cp}[/]  policy {r.policy.name} ({r.policy.digest[:19]}...)")
        roots = list(dict.fromkeys(s.root for s in r.subjects))
        manifests = {m.root: m for m in r.manifests}
        for root in roots:
            table = Table(show_lines=False, expand=False)
            table.add_column("verdict")
            table.add_column("subject", overflow="fold", max_width=60)
            table.add_column("format", max_width=24)
            table.add_column("findings", overflow="fold", max_width=70)
            for s in r.subjects:
                if s.root != root:
                    continue
                shown = [f for f in s.findings if verbose or f.blocking or f.waived]
                # Most severe first, so the row shows what matters even when it is cut.
                shown.sort(key=lambda f: (not f.blocking, -f.severity.rank))
                lines = []
                for f in shown[:6]:
                    tag = "waived " if f.waived else ""
                    ctl = f" [{', '.join(f.controls)}]" if f.controls else ""
                    lines.append(f"{tag}{f.severity.value.upper()} {f.id}{ctl}: {f.message}")
                if len(shown) > 6:
                    lines.append(f"... {len(shown) - 6} more")
                table.add_row(
                    f"[{_STYLE[s.verdict]}]{s.verdict.value}[/]",
                    escape(s.subject),
                    ",".join(s.formats) or "-",
                    escape("\n".join(lines)) or "-",
                )
            if len(roots) > 1:
                # Several folders/targets: say which one these rows come from.
                m = manifests.get(root)
                digest = f"  manifest sha256:{m.manifest_sha256[:16]}..." if m else ""
                con.print(f"[bold]{escape(root or '-')}[/]{digest}")
            con.print(table)
        for f in r.findings:
            con.print(f"  {f.severity.value.upper()} {f.id}: {escape(f.message)}")
        sm = r.summary
        con.print(
            f"[{_STYLE[r.verdict]}]{r.verdict.value.upper()}[/]: {escape(r.reason)}  "
            f"({sm.subjects} checked: {sm.passed} pass, {sm.failed} fail, {sm.errors} error, "
            f"{sm.incomplete} incomplete; {sm.blocking} blocking finding(s), {sm.waived} waived)"
        )
        for n in r.notes:
            con.print(f"  note: {escape(n)}")
        con.print()
    return buf.getvalue()
