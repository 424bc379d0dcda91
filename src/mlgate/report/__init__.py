"""Renderers: pure functions of a :class:`mlgate.model.Report` (or several)."""

from __future__ import annotations

from collections.abc import Sequence

from mlgate.model import Report

FORMATS = ("console", "json", "sarif", "cyclonedx", "html")


def render(reports: Sequence[Report], fmt: str, *, color: bool = False, verbose: bool = False) -> str:
    if fmt == "json":
        from mlgate.report.json_report import render_json

        return render_json(reports)
    if fmt == "sarif":
        from mlgate.report.sarif import render_sarif

        return render_sarif(reports)
    if fmt == "cyclonedx":
        from mlgate.report.cyclonedx import render_cyclonedx

        return render_cyclonedx(reports)
    if fmt == "html":
        from mlgate.report.html import render_html

        return render_html(reports)
    if fmt == "console":
        from mlgate.report.console import render_console

        return render_console(reports, color=color, verbose=verbose)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
