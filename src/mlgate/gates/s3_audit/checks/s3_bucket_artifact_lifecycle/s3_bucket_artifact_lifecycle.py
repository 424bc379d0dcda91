"""ML.9: Lifecycle rules do not expire artifacts early. Metadata: ``s3_bucket_artifact_lifecycle.metadata.json``."""

from __future__ import annotations

from typing import Any

from mlgate.gates.s3_audit.analysis import artifact_prefixes
from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


def rule_prefix(rule: dict[str, Any]) -> str:
    if "Prefix" in rule:
        return str(rule.get("Prefix") or "")
    f = rule.get("Filter") or {}
    if "Prefix" in f:
        return str(f.get("Prefix") or "")
    return str((f.get("And") or {}).get("Prefix") or "")


def overlaps(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


class s3_bucket_artifact_lifecycle(Check):
    requires = ("lifecycle",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        prefixes = artifact_prefixes(ctx)
        min_days = ctx.config.min_noncurrent_days
        out: list[CheckResult] = []
        for i, r in enumerate(ctx.bucket.lifecycle_rules or ()):
            if r.get("Status") != "Enabled":
                continue
            rp = rule_prefix(r)
            hit = [p for p in prefixes if overlaps(rp, p)]
            if not hit:
                continue
            rid = r.get("ID") or str(i)
            exp = r.get("Expiration") or {}
            if exp.get("Days") or exp.get("Date"):
                when = f"{exp['Days']} day(s)" if exp.get("Days") else f"on {exp['Date']}"
                out.append(self.failed(f"lifecycle rule {rid} (prefix {rp!r}) expires current versions of artifacts "
                                       f"after {when}", f"lifecycle:{rid}", rule=rid, prefix=rp))
            nce = r.get("NoncurrentVersionExpiration") or {}
            days = nce.get("NoncurrentDays")
            if days is not None and int(days) < min_days:
                out.append(self.failed(f"lifecycle rule {rid} (prefix {rp!r}) deletes noncurrent artifact versions after "
                                       f"{days} day(s) (< min_noncurrent_days {min_days})", f"lifecycle:{rid}",
                                       rule=rid, prefix=rp, noncurrent_days=int(days)))
        return out or self.passed("no lifecycle rule expires artifacts early")
