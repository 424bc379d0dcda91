"""A self-contained HTML report: one file, no script, no network, no external asset.

It is a view of the result model (:class:`mlgate.model.Report`; the rescan's
:class:`mlgate.rescan.summary.RescanSummary` through :func:`render_rescan_html`). It is written
for the person who has to act on it: the verdict and what blocked and why come first (most severe
first), then every finding with its remediation, then the evidence (digests, policy, tools).

The report holds attacker-controlled text (file names inside a model, archive member names,
bucket names, messages quoting file content). Everything is escaped by Jinja2's autoescape, and
the page carries a Content-Security-Policy that allows no script, no connection and no external
resource, so even a missed escape could not run code or call out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2

from mlgate import __version__
from mlgate.model import Finding, FindingKind, Report, Verdict

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

_HEADLINE = {
    Verdict.PASS: "PASS: everything checked was positively verified",
    Verdict.FAIL: "BLOCKED: something must not go further",
    Verdict.ERROR: "ERROR: a check could not run, so nothing is verified",
    Verdict.INCOMPLETE: "INCOMPLETE: something could not be checked, so it is not verified",
}


@dataclass
class Item:
    """One thing a person may have to act on."""

    severity: str
    rule: str
    title: str
    where: str
    message: str
    remediation: str
    status: str  # blocking | waived | error | not analysed | note
    gate: str = ""
    waiver: str = ""
    rank: int = 0


@dataclass
class Row:
    verdict: str
    name: str
    group: str
    detail: str
    digest: str = ""
    reason: str = ""


@dataclass
class Section:
    title: str
    verdict: str
    reason: str
    counts: str
    rows: list[Row] = field(default_factory=list)
    evidence: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Page:
    title: str
    verdict: str
    headline: str
    lead: str
    blocked: list[Item]
    findings: list[Item]
    sections: list[Section]
    generated: str
    blocked_heading: str = "What blocked and why"


def _status(f: Finding) -> str:
    if f.waived:
        return "waived"
    if f.blocking:
        return "blocking"
    if f.kind is FindingKind.ERROR:
        return "error"
    if f.kind is FindingKind.UNSUPPORTED:
        return "not analysed"
    return "note"


def _item(f: Finding, gate: str, where: str) -> Item:
    waiver = ""
    if f.waived:
        w = f.waived
        waiver = f"waived by {w.exception_id} ({w.reason}; owner {w.owner}; expires {w.expires.isoformat()})"
    return Item(
        severity=f.severity.value,
        rule=f.id,
        title=f.title,
        where=where,
        message=f.message,
        remediation=f.remediation or "-",
        status=_status(f),
        gate=gate,
        waiver=waiver,
        rank=f.severity.rank,
    )


def _where(root: str, subject: str, f: Finding) -> str:
    loc = str(f.location)
    if root and root not in (subject, "-") and not loc.startswith(root):
        return f"{root.rstrip('/')}/{loc}"
    return loc


def _page_for_reports(reports: Sequence[Report]) -> Page:
    overall = Verdict.worst([r.verdict for r in reports])
    findings: list[Item] = []
    sections: list[Section] = []
    for r in reports:
        for s in r.subjects:
            findings += [_item(f, r.gate, _where(s.root, s.subject, f)) for f in s.findings]
        findings += [_item(f, r.gate, str(f.location)) for f in r.findings]
        sm = r.summary
        rows = [
            Row(
                verdict=s.verdict.value,
                name=s.subject,
                group=s.root if s.root and s.root != s.subject else "",
                detail=", ".join(s.formats) or s.kind,
                digest=s.sha256 or "",
                reason=s.reason,
            )
            for s in sorted(r.subjects, key=lambda s: (-s.verdict.rank, s.root, s.subject))
        ]
        evidence = [("policy", f"{r.policy.name} {r.policy.digest}")]
        evidence += [(f"manifest of {m.root}", f"sha256:{m.manifest_sha256} ({len(m.files)} file(s), "
                      f"{m.total_bytes} bytes)") for m in r.manifests]
        evidence += [("tools", ", ".join(f"{k} {v}" for k, v in sorted(r.tools.items())))]
        evidence += [("checked", f"{r.started_at.isoformat()} to {r.finished_at.isoformat()}")]
        sections.append(
            Section(
                title=f"{r.gate}" + (f" at {r.checkpoint}" if r.checkpoint else ""),
                verdict=r.verdict.value,
                reason=r.reason,
                counts=f"{sm.subjects} checked: {sm.passed} pass, {sm.failed} fail, {sm.errors} error, "
                f"{sm.incomplete} incomplete; {sm.blocking} blocking finding(s), {sm.waived} waived",
                rows=rows,
                evidence=evidence,
                notes=list(r.notes),
            )
        )
    findings.sort(key=lambda i: (i.status not in ("blocking", "error"), -i.rank, i.where))
    if overall is Verdict.FAIL:
        blocked = [i for i in findings if i.status == "blocking"]
    elif overall in (Verdict.ERROR, Verdict.INCOMPLETE):
        blocked = [i for i in findings if i.status in ("blocking", "error", "not analysed")]
    else:
        blocked = []
    gates = ", ".join(dict.fromkeys(r.gate for r in reports))
    lead = " · ".join(f"{r.gate}: {r.reason}" for r in reports if r.reason)
    return Page(
        title=f"mlgate {gates}: {overall.value}",
        verdict=overall.value,
        headline=_HEADLINE[overall],
        lead=lead,
        blocked=blocked,
        findings=findings,
        sections=sections,
        generated=max(r.finished_at for r in reports).isoformat(),
    )


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ page.title }}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px} h2{font-size:19px;margin:28px 0 10px} h3{font-size:16px;margin:18px 0 8px}
.banner{border-radius:8px;padding:18px 22px;color:#fff;margin-bottom:18px}
.v-fail{background:#b3261e}.v-error{background:#8a4b00}.v-incomplete{background:#7a6400}.v-pass{background:#1e7b34}
.banner p{margin:6px 0 0;font-size:15px;opacity:.95;overflow-wrap:anywhere}
.card{background:#fff;border:1px solid #d8dce1;border-radius:8px;padding:14px 18px;margin:10px 0}
.card h3{margin:0 0 6px;font-size:16px} .card p{margin:4px 0;overflow-wrap:anywhere}
.sev{display:inline-block;border-radius:4px;padding:1px 7px;font-size:12px;font-weight:700;color:#fff;text-transform:uppercase;margin-right:6px;white-space:nowrap}
.s-critical{background:#7f1d1d}.s-high{background:#b3261e}.s-medium{background:#b45309}.s-low{background:#4b5563}.s-info{background:#6b7280}
.tag{display:inline-block;border:1px solid #9aa3ad;border-radius:4px;padding:0 6px;font-size:12px;margin-right:6px}
.fix{border-left:4px solid #1e7b34;padding-left:10px;color:#14532d}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:13px;overflow-wrap:anywhere;word-break:break-all}
table{border-collapse:collapse;width:100%;background:#fff;font-size:14px}
th,td{border:1px solid #d8dce1;padding:6px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef0f3;white-space:nowrap} td.nw{white-space:nowrap;overflow-wrap:normal}
td.vd{font-weight:700;white-space:nowrap;overflow-wrap:normal} .vd-fail,.vd-quarantined{color:#b3261e}.vd-error{color:#8a4b00}.vd-incomplete,.vd-pending{color:#7a6400}.vd-pass,.vd-clean,.vd-unchanged{color:#1e7b34}
details{margin:8px 0} summary{cursor:pointer;font-weight:600}
table.ev th{white-space:normal;width:30%;overflow-wrap:anywhere}
footer{color:#57606a;font-size:13px;margin-top:30px}
</style>
</head>
<body>
<main>
<div class="banner v-{{ page.verdict }}" role="status">
<h1>{{ page.headline }}</h1>
<p>{{ page.title }}</p>
{% if page.lead %}<p>{{ page.lead }}</p>{% endif %}
</div>

<section id="summary">
<h2>{{ page.blocked_heading }}</h2>
{% if page.blocked %}
{% for i in page.blocked[:max_cards] %}
<div class="card">
<h3><span class="sev s-{{ i.severity }}">{{ i.severity }}</span>{{ i.title }}</h3>
<p><span class="tag">{{ i.status }}</span><span class="tag">{{ i.gate }}</span><code>{{ i.rule }}</code></p>
<p>in <code>{{ i.where }}</code></p>
<p>{{ i.message }}</p>
<p class="fix"><strong>What to do:</strong> {{ i.remediation }}</p>
</div>
{% endfor %}
{% if page.blocked|length > max_cards %}<p>… and {{ page.blocked|length - max_cards }} more below, under “All findings”.</p>{% endif %}
{% else %}
<p>Nothing blocked.</p>
{% endif %}
</section>

{% for s in page.sections %}
<section class="run">
<h2>{{ s.title }}: <span class="vd-{{ s.verdict }}">{{ s.verdict }}</span></h2>
<p>{{ s.reason }}</p>
<p>{{ s.counts }}</p>
{% set bad = s.rows|rejectattr("verdict", "in", ["pass", "clean", "unchanged"])|list %}
{% set good = s.rows|selectattr("verdict", "in", ["pass", "clean", "unchanged"])|list %}
{% if bad %}
<table>
<thead><tr><th>verdict</th><th>subject</th><th>under</th><th>what</th><th>why</th></tr></thead>
<tbody>
{% for r in bad %}<tr><td class="vd vd-{{ r.verdict }}">{{ r.verdict }}</td><td class="mono">{{ r.name }}</td><td class="mono">{{ r.group }}</td><td>{{ r.detail }}</td><td>{{ r.reason }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}
{% if good %}
<details><summary>{{ good|length }} passed</summary>
<table>
<thead><tr><th>verdict</th><th>subject</th><th>under</th><th>what</th><th>sha256</th></tr></thead>
<tbody>
{% for r in good %}<tr><td class="vd vd-{{ r.verdict }}">{{ r.verdict }}</td><td class="mono">{{ r.name }}</td><td class="mono">{{ r.group }}</td><td>{{ r.detail }}</td><td class="mono">{{ r.digest }}</td></tr>
{% endfor %}</tbody>
</table>
</details>
{% endif %}
{% for n in s.notes %}<p>note: {{ n }}</p>{% endfor %}
</section>
{% endfor %}

<section id="findings">
<h2>All findings ({{ page.findings|length }})</h2>
{% if page.findings %}
<table>
<thead><tr><th>severity</th><th>status</th><th>rule</th><th>where</th><th>what</th><th>remediation</th></tr></thead>
<tbody>
{% for i in page.findings[:max_rows] %}<tr><td class="nw"><span class="sev s-{{ i.severity }}">{{ i.severity }}</span></td><td class="nw">{{ i.status }}{% if i.waiver %}<br><small>{{ i.waiver }}</small>{% endif %}</td><td><code>{{ i.rule }}</code></td><td class="mono">{{ i.where }}</td><td>{{ i.message }}</td><td>{{ i.remediation }}</td></tr>
{% endfor %}</tbody>
</table>
{% if page.findings|length > max_rows %}<p>{{ page.findings|length - max_rows }} more findings are in the JSON report.</p>{% endif %}
{% else %}<p>No findings.</p>{% endif %}
</section>

<section id="evidence">
<h2>Evidence</h2>
{% for s in page.sections %}
<h3>{{ s.title }}</h3>
<table class="ev"><tbody>
{% for k, v in s.evidence %}<tr><th>{{ k }}</th><td class="mono">{{ v }}</td></tr>
{% endfor %}</tbody></table>
{% endfor %}
</section>
<footer>Generated by mlgate {{ version }} at {{ page.generated }}. Self-contained: no script, no external resource.</footer>
</main>
</body>
</html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def _render(page: Page, **extra: Any) -> str:
    tmpl = _ENV.from_string(_TEMPLATE)
    return tmpl.render(page=page, csp=CSP, version=__version__, max_cards=25, max_rows=2000, **extra)


def render_html(reports: Sequence[Report]) -> str:
    """One self-contained HTML page for one or more gate reports (scan, S3 audit, data check)."""
    if not reports:
        raise ValueError("no report to render")
    return _render(_page_for_reports(reports))
