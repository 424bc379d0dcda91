"""SARIF 2.1.0: one run per report, one result per finding, rules from the findings' metadata.
Validated against the official schema in tests."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from mlgate import __version__
from mlgate.model import Finding, Report, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SCORE = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _result(f: Finding, rule_index: int, subject_verdict: str | None) -> dict[str, Any]:
    loc = f.location
    uri = loc.path.replace("\\", "/")
    phys: dict[str, Any] = {"artifactLocation": {"uri": uri}}
    region: dict[str, Any] = {}
    if loc.offset is not None:
        region["byteOffset"] = max(0, loc.offset)
    if loc.line is not None and loc.line >= 1:
        region["startLine"] = loc.line
    if region:
        phys["region"] = region
    location: dict[str, Any] = {"physicalLocation": phys}
    if loc.member:
        location["logicalLocations"] = [{"fullyQualifiedName": f"{uri}!{loc.member}", "kind": "member"}]
    res: dict[str, Any] = {
        "ruleId": f.id,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.severity] if f.blocking or f.waived else "note",
        "kind": "fail" if f.kind.value == "issue" else "review",
        "message": {"text": f.message},
        "locations": [location],
        "properties": {
            "severity": f.severity.value,
            "findingKind": f.kind.value,
            "engine": f.engine,
            "blocking": f.blocking,
            "controls": list(f.controls),
            "subjectVerdict": subject_verdict,
        },
    }
    if f.waived:
        res["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{f.waived.exception_id}: {f.waived.reason} (owner {f.waived.owner}, "
                f"expires {f.waived.expires.isoformat()})",
            }
        ]
    return res


def weakness_ids(references: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(CWE ids, CVE/GHSA/PYSEC ids) named by a finding's reference URLs (what renderers show)."""
    cwe: list[str] = []
    adv: list[str] = []
    for ref in references:
        m = re.fullmatch(r"https://cwe\.mitre\.org/data/definitions/(\d+)\.html", ref)
        if m and f"CWE-{m.group(1)}" not in cwe:
            cwe.append(f"CWE-{m.group(1)}")
        for a in re.findall(r"\b(CVE-\d{4}-\d{4,}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+)\b", ref):
            if a not in adv:
                adv.append(a)
    return cwe, adv


def report_to_run(r: Report) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    pairs = [(f, s.verdict.value) for s in r.subjects for f in s.findings] + [(f, None) for f in r.findings]
    for f, sv in pairs:
        if f.id not in index:
            index[f.id] = len(rules)
            rule: dict[str, Any] = {
                "id": f.id,
                "name": "".join(w.capitalize() for w in f.id.replace(".", "-").split("-")),
                "shortDescription": {"text": f.title},
                "help": {"text": f.remediation or f.title},
                "properties": {"security-severity": _SCORE[f.severity], "tags": ["security", r.gate]},
            }
            if f.references:
                rule["helpUri"] = f.references[0]
                cwe, adv = weakness_ids(f.references)
                rule["properties"]["tags"] += [f"external/cwe/{c.lower()}" for c in cwe]
                if cwe or adv:
                    rule["properties"].update({"cwe": cwe, "advisories": adv})
            rules.append(rule)
        results.append(_result(f, index[f.id], sv))
    return {
        "tool": {
            "driver": {
                "name": "mlgate",
                "version": __version__,
                "informationUri": "https://github.com/mlgate/mlgate",
                "rules": rules,
            }
        },
        "automationDetails": {"id": f"mlgate/{r.gate}/{r.checkpoint or 'adhoc'}/"},
        "invocations": [
            {
                "executionSuccessful": r.verdict.value != "error",
                "startTimeUtc": r.started_at.isoformat().replace("+00:00", "Z"),
                "endTimeUtc": r.finished_at.isoformat().replace("+00:00", "Z"),
            }
        ],
        "results": results,
        "properties": {
            "verdict": r.verdict.value,
            "reason": r.reason,
            "policy": r.policy.model_dump(),
            "tools": r.tools,
            "manifests": [m.model_dump() for m in r.manifests],
            "subjects": [{"path": s.subject, "verdict": s.verdict.value, "sha256": s.sha256} for s in r.subjects],
        },
    }


def render_sarif(reports: Sequence[Report]) -> str:
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [report_to_run(r) for r in reports]}
    return json.dumps(doc, indent=2) + "\n"
