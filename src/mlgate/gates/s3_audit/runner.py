"""Inventory -> unjudged subjects. Pure: no AWS call.

For every resource and every check of its type the runner either runs the check or, when a
field the check reads could not be collected, emits an ``error`` (denied, throttled, failed) or
``unsupported`` (not implemented by the endpoint, over a limit, unparseable) finding for the
check's controls. Collection errors no check consumed become ``s3_inventory`` findings, so
nothing that failed is ever silent. A resource gets coverage only if it was collected completely.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mlgate.checks import blocked_message, blockers, crash_result, to_finding
from mlgate.gate import GateRun, SubjectDraft
from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.checks import load_checks
from mlgate.gates.s3_audit.config import S3AuditConfig
from mlgate.gates.s3_audit.inventory import (
    AccessPointInventory,
    AccountInventory,
    AuditInventory,
    BucketInventory,
    CallError,
    MultiRegionAccessPointInventory,
)
from mlgate.gates.s3_audit.policy_eval import PolicyDocument, PolicyParseError, parse_policy
from mlgate.model import Coverage, Finding, FindingKind, Location, Severity

log = logging.getLogger(__name__)

ENGINE = "mlgate"
INVENTORY_FINDING = "s3_inventory"
_STATUS_RANK = {"pass": 0, "unsupported": 1, "fail": 2, "error": 3}

Resource = BucketInventory | AccessPointInventory | MultiRegionAccessPointInventory | AccountInventory


def _parse(policy: Mapping[str, Any] | None, errors: dict[str, CallError], api: str) -> PolicyDocument | None:
    if policy is None:
        return None
    try:
        return parse_policy(policy)
    except PolicyParseError as e:
        errors["policy"] = CallError(api=api, code="UnparseablePolicy", message=str(e), category="unsupported")
        return None


def _inventory_finding(subject: str, field: str, err: CallError, severity: Severity = Severity.HIGH) -> Finding:
    kind = FindingKind.UNSUPPORTED if err.category == "unsupported" else FindingKind.ERROR
    return Finding(
        id=INVENTORY_FINDING,
        title="S3 inventory could not be collected",
        severity=severity,
        kind=kind,
        message=f"{field}: {err}",
        location=Location(path=subject, member=field),
        engine=ENGINE,
        details={"field": field, "api": err.api, "code": err.code, "category": err.category},
    )


def _not_collected(field: str) -> CallError:
    return CallError(api="-", code="NotCollected", category="unsupported",
                     message="the collector did not answer this field")


class _Subject:
    """Runs the checks of one resource type over one resource."""

    def __init__(self, config: S3AuditConfig, account: AccountInventory) -> None:
        self.config = config
        self.account = account

    def _finding(self, check: Check, subject: str, arn: str, kind: FindingKind, r: CheckResult,
                 extra: Mapping[str, Any]) -> Finding:
        meta = check.metadata
        status = {FindingKind.ISSUE: "FAIL", FindingKind.ERROR: "ERROR", FindingKind.UNSUPPORTED: "UNKNOWN"}[kind]
        return to_finding(
            meta, r, kind=kind, severity=self.config.severity.get(meta.id, meta.severity), subject=subject,
            engine=ENGINE, controls=meta.controls,
            details={"status": status, "resource": arn, "resource_type": meta.resource_type, **extra, **r.details},
        )

    def run(
        self,
        draft: SubjectDraft,
        resource: Resource,
        resource_type: str,
        arn: str,
        ctx: CheckContext,
        errors: dict[str, CallError],
        collected: frozenset[str],
    ) -> None:
        statuses: dict[str, str] = {}
        consumed: set[str] = set()
        extra = {"region": getattr(resource, "region", None)} if getattr(resource, "region", None) else {}
        for check in load_checks():
            meta = check.metadata
            if meta.resource_type != resource_type:
                continue
            consumed.update(check.requires)
            blocked = blockers(check.requires, errors, collected, _not_collected)
            for f in check.requires_account:
                if f in self.account.errors:
                    blocked.append((f"account.{f}", self.account.errors[f]))
                elif f == "account_id" and not self.account.account_id:
                    blocked.append((f"account.{f}", CallError(api="GetCallerIdentity", code="NoAccountId",
                                                              category="failed", message="account id unknown")))
            if blocked:
                unsupported, why = blocked_message(blocked)
                kind = FindingKind.UNSUPPORTED if unsupported else FindingKind.ERROR
                r = CheckResult("fail", f"{', '.join(meta.controls)} {why}", blocked[0][0],
                                {"blocked_by": [f for f, _ in blocked]})
                draft.findings.append(self._finding(check, draft.subject, arn, kind, r, extra))
                statuses[meta.id] = "unsupported" if unsupported else "error"
                continue
            try:
                results = check.run(ctx)
            except Exception as e:  # a check bug must not pass the resource
                log.debug("check %s crashed on %s", meta.id, draft.subject, exc_info=True)
                draft.findings.append(self._finding(check, draft.subject, arn, FindingKind.ERROR,
                                                    crash_result(CheckResult, e), extra))
                statuses[meta.id] = "error"
                continue
            status = "pass"
            for r in results:
                if r.status == "pass":
                    continue
                kind = FindingKind.ISSUE if r.status == "fail" else FindingKind.UNSUPPORTED
                draft.findings.append(self._finding(check, draft.subject, arn, kind, r, extra))
                if _STATUS_RANK[r.status] > _STATUS_RANK[status]:
                    status = r.status
            statuses[meta.id] = status
        for f, err in sorted(errors.items()):
            if f not in consumed:
                draft.findings.append(_inventory_finding(draft.subject, f, err))
        draft.details["checks"] = statuses


def _coverage(fmt: str, complete: bool, n: int) -> list[Coverage]:
    return [Coverage(engine=ENGINE, format=fmt, detail=f"{n} checks over a complete inventory")] if complete else []


def _n_checks(resource_type: str) -> int:
    return sum(c.metadata.resource_type == resource_type for c in load_checks())


def evaluate_inventory(inv: AuditInventory, config: S3AuditConfig) -> GateRun:
    """Run every check over an inventory. Pure: the same inventory always gives the same run."""
    run = GateRun()
    account = inv.account
    runner = _Subject(config, account)

    if config.account_checks:
        errors = dict(account.errors)
        d = SubjectDraft(subject=account.subject, kind="account", root="account", formats=["s3-account"],
                         details={"account_id": account.account_id, "partition": account.partition})
        ctx = CheckContext(config=config, account=account)
        runner.run(d, account, "account", f"arn:{account.partition}:s3:::account/{account.subject}", ctx, errors,
                   account.collected)
        d.coverage = _coverage("s3-account", account.complete, _n_checks("account"))
        run.subjects.append(d)
    else:
        # Without the account subject, failures to list access points still must not be silent.
        for f in ("access_points", "multi_region_access_points"):
            if f in account.errors:
                run.findings.append(_inventory_finding("-", f, account.errors[f]))

    for b in inv.buckets:
        d = SubjectDraft(subject=b.name, kind="bucket", root=inv.roots.get(b.name, b.name), formats=["s3-bucket"],
                         details={"arn": b.arn, "region": b.region})
        if not b.exists:
            err = b.errors.get("location") or next(iter(b.errors.values()), None) or CallError(
                api="GetBucketLocation", code="NoSuchBucket", category="not_found")
            d.findings.append(_inventory_finding(b.name, "bucket", err))
            run.subjects.append(d)
            continue
        errors = dict(b.errors)
        policy = _parse(b.policy, errors, "GetBucketPolicy")
        ctx = CheckContext(config=config, account=account, bucket_=b, policy=policy)
        runner.run(d, b, "bucket", b.arn, ctx, errors, b.collected)
        d.coverage = _coverage("s3-bucket", b.complete and not errors.keys() - b.errors.keys(), _n_checks("bucket"))
        run.subjects.append(d)

    for ap in inv.access_points:
        d = SubjectDraft(subject=ap.arn, kind="access-point", root=inv.roots.get(ap.bucket, ap.bucket),
                         formats=["s3-access-point"], details={"bucket": ap.bucket, "name": ap.name,
                                                               "region": ap.region})
        errors = dict(ap.errors)
        policy = _parse(ap.policy, errors, "GetAccessPointPolicy")
        ctx = CheckContext(config=config, account=account, access_point_=ap, policy=policy)
        runner.run(d, ap, "access-point", ap.arn, ctx, errors, ap.collected)
        d.coverage = _coverage("s3-access-point", ap.complete and not errors.keys() - ap.errors.keys(),
                               _n_checks("access-point"))
        run.subjects.append(d)

    for m in inv.multi_region_access_points:
        buckets = [r.bucket for r in m.regions]
        root = next((inv.roots[bk] for bk in buckets if bk in inv.roots), ",".join(buckets))
        d = SubjectDraft(subject=m.arn, kind="multi-region-access-point", root=root,
                         formats=["s3-multi-region-access-point"],
                         details={"name": m.name, "alias": m.alias, "buckets": buckets})
        errors = dict(m.errors)
        policy = _parse(m.policy, errors, "GetMultiRegionAccessPointPolicy")
        ctx = CheckContext(config=config, account=account, mrap_=m, policy=policy)
        runner.run(d, m, "multi-region-access-point", m.arn, ctx, errors, m.collected)
        d.coverage = _coverage("s3-multi-region-access-point", m.complete and not errors.keys() - m.errors.keys(),
                               _n_checks("multi-region-access-point"))
        run.subjects.append(d)

    for err in inv.run_errors:
        run.findings.append(_inventory_finding("-", "buckets", err))
    if not inv.buckets and not inv.run_errors:  # never pass from silence
        run.findings.append(Finding(
            id=INVENTORY_FINDING, title="S3 inventory could not be collected", severity=Severity.MEDIUM,
            kind=FindingKind.UNSUPPORTED, message="no bucket to audit: none named, and none the credentials can list",
            location=Location(path="-"), engine=ENGINE,
        ))
    for p in inv.unmatched_patterns:
        run.findings.append(Finding(
            id=INVENTORY_FINDING, title="S3 inventory could not be collected", severity=Severity.MEDIUM,
            kind=FindingKind.UNSUPPORTED, message=f"bucket pattern {p!r} matched no bucket the credentials can list",
            location=Location(path=p), engine=ENGINE, details={"pattern": p},
        ))
    run.notes.append(
        f"s3-audit: {len(inv.buckets)} bucket(s), {len(inv.access_points)} access point(s), "
        f"{len(inv.multi_region_access_points)} multi-region access point(s), {inv.api_calls} AWS API call(s)"
    )
    return run
