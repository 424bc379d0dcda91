"""Inventory -> unjudged subject. Pure: no request.

For every check the runner either runs it or, when a field the check reads could not be
collected, emits an ``error`` (failed, denied) or ``unsupported`` finding for it. Collection
errors no check consumed become ``mlflow_inventory`` findings, so nothing that failed is silent.
The server gets coverage only if its version and route families were collected.
"""

from __future__ import annotations

import logging
from typing import Any

from mlgate.checks import blocked_message, blockers, crash_result, to_finding
from mlgate.gate import GateRun, SubjectDraft
from mlgate.gates.mlflow_posture.advisories import AdvisoryTable
from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult
from mlgate.gates.mlflow_posture.checks import load_checks
from mlgate.gates.mlflow_posture.config import LoopbackOutcome, MlflowPostureConfig
from mlgate.gates.mlflow_posture.inventory import CallError, ServerInventory, redact
from mlgate.model import Coverage, Finding, FindingKind, Location, Severity

log = logging.getLogger(__name__)

ENGINE = "mlgate"
INVENTORY_FINDING = "mlflow_inventory"
SUBJECT_KIND = "mlflow-server"


def inventory_finding(subject: str, field: str, message: str, kind: FindingKind,
                      severity: Severity = Severity.HIGH) -> Finding:
    return Finding(id=INVENTORY_FINDING, title="MLflow server could not be audited", severity=severity, kind=kind,
                   message=f"{field}: {message}", location=Location(path=subject, member=field), engine=ENGINE,
                   details={"field": field})


def _not_collected(field: str) -> CallError:
    return CallError(field=field, message="not collected", category="unsupported")


def _kind_of(err: CallError) -> FindingKind:
    return FindingKind.UNSUPPORTED if err.category == "unsupported" else FindingKind.ERROR


class _Runner:
    def __init__(self, inv: ServerInventory, config: MlflowPostureConfig, table: AdvisoryTable | None) -> None:
        self.inv, self.config = inv, config
        self.ctx = CheckContext(config=config, inventory=inv, advisories=table)
        self.subject = redact(inv.url)

    def finding(self, check: Check, r: CheckResult, kind: FindingKind, severity: Severity | None = None,
                extra: dict[str, Any] | None = None) -> Finding:
        meta = check.metadata
        sev = severity or self.config.severity.get(meta.id) or r.severity or meta.severity
        refs = list(meta.references) + [s for s in r.details.get("sources", []) if s not in meta.references]
        return to_finding(
            meta, r, kind=kind, severity=sev, subject=self.subject, engine=ENGINE, references=tuple(refs),
            controls=(r.details["advisory"],) if "advisory" in r.details else tuple(meta.advisories),
            details={"scope": meta.scope, **(extra or {}), **r.details},
        )

    def _outcome(self, check: Check, r: CheckResult, outcome: LoopbackOutcome, setting: str) -> Finding:
        extra = {"loopback": True, "policy": f"gates.mlflow-posture.{setting}: {outcome}"}
        if outcome == "info":
            return self.finding(check, r, FindingKind.ISSUE, Severity.INFO, extra)
        if outcome == "incomplete":
            return self.finding(check, r, FindingKind.UNSUPPORTED, None, extra)
        return self.finding(check, r, FindingKind.ISSUE, None, extra)

    def run(self, draft: SubjectDraft) -> None:
        statuses: dict[str, str] = {}
        consumed: set[str] = {"webhook_secrets"}  # read by mlflow_webhook_secret itself
        for check in load_checks():
            meta = check.metadata
            consumed.update(check.requires)
            blocked = blockers(check.requires, self.inv.errors, self.inv.collected, _not_collected)
            if blocked:
                if (meta.scope == "server" and self.config.server_side == "optional"
                        and [f for f, _ in blocked] == ["server_env"] and self.inv.server_env is None):
                    r = CheckResult("info", f"not run: {blocked[0][1]} (server_side: optional)", "server_env")
                    draft.findings.append(self.finding(check, r, FindingKind.ISSUE, Severity.INFO))
                    statuses[meta.id] = "info"
                    continue
                unsupported, why = blocked_message(blocked)
                kind = FindingKind.UNSUPPORTED if unsupported else FindingKind.ERROR
                r = CheckResult("fail", why, blocked[0][0], {"blocked_by": [f for f, _ in blocked]})
                draft.findings.append(self.finding(check, r, kind))
                statuses[meta.id] = "unsupported" if unsupported else "error"
                continue
            try:
                results = check.run(self.ctx)
            except Exception as e:  # a check bug must not pass the server
                log.debug("check %s crashed", meta.id, exc_info=True)
                draft.findings.append(self.finding(check, crash_result(CheckResult, e), FindingKind.ERROR))
                statuses[meta.id] = "error"
                continue
            status = "pass"
            for r in results:
                if r.status == "pass":
                    continue
                if r.status == "fail":
                    f = self.finding(check, r, FindingKind.ISSUE)
                elif r.status == "unsupported":
                    f = self.finding(check, r, FindingKind.UNSUPPORTED)
                elif r.status == "info":
                    f = self.finding(check, r, FindingKind.ISSUE, Severity.INFO)
                elif r.status == "loopback":
                    f = self._outcome(check, r, self.config.loopback, "loopback")
                else:
                    f = self._outcome(check, r, self.config.loopback_anonymous, "loopback_anonymous")
                draft.findings.append(f)
                status = _worse(status, f)
            statuses[meta.id] = status
        for field, err in sorted(self.inv.errors.items()):
            if field not in consumed:
                draft.findings.append(inventory_finding(self.subject, field, err.message, _kind_of(err)))
        draft.details["checks"] = statuses


def _worse(status: str, f: Finding) -> str:
    rank = {"pass": 0, "info": 1, "unsupported": 2, "fail": 3}
    new = "info" if f.severity is Severity.INFO and f.kind is FindingKind.ISSUE else (
        "unsupported" if f.kind is FindingKind.UNSUPPORTED else "fail")
    return new if rank[new] > rank[status] else status


def evaluate_inventory(inv: ServerInventory, config: MlflowPostureConfig, table: AdvisoryTable | None) -> GateRun:
    """Run every check over an inventory. Pure: the same inventory always gives the same run."""
    run = GateRun()
    runner = _Runner(inv, config, table)
    d = SubjectDraft(subject=runner.subject, kind=SUBJECT_KIND, root=runner.subject, formats=["mlflow-server"],
                     details={"version": inv.version, "loopback": inv.loopback, "requests": inv.requests,
                              "seconds": round(inv.seconds, 3),
                              "route_families": {k: v.outcome for k, v in inv.routes.items()}})
    runner.run(d)
    if {"version", "routes"} <= inv.collected:
        d.coverage = [Coverage(engine=ENGINE, format="mlflow-server",
                               detail=f"{len(load_checks())} checks, {inv.requests} HTTP requests")]
    run.subjects.append(d)
    run.notes.append(f"mlflow-posture: {runner.subject}: MLflow {inv.version or 'unknown'}, {inv.requests} HTTP "
                     f"request(s) in {inv.seconds:.2f} s" + (f", server environment {inv.server_env_path}"
                                                               if inv.server_env_path else ""))
    return run
