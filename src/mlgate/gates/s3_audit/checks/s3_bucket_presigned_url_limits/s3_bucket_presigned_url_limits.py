"""ML.7: Presigned URLs for artifacts are limited. Metadata: ``s3_bucket_presigned_url_limits.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.analysis import artifact_prefixes, describe_prefixes
from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import Condition, Statement


def limits_presigned(c: Condition, max_age_ms: int) -> bool:
    """A condition that denies presigned (query-string) requests or old signatures."""
    if c.qualifier is not None:
        return False
    if c.key == "s3:signatureage" and c.base in ("NumericGreaterThan", "NumericGreaterThanEquals"):
        try:
            return len(c.values) == 1 and 0 < float(c.values[0]) <= max_age_ms
        except ValueError:
            return False
    if c.key == "s3:authtype":
        if c.base == "StringEquals":
            return "REST-QUERY-STRING" in c.values
        if c.base == "StringNotEquals":
            return c.values == ("REST-HEADER",)
    return False


def presigned_deny(st: Statement, max_age_ms: int) -> bool:
    """Deny, every principal, and *only* presigned-limiting conditions (another condition would
    narrow the deny to some callers)."""
    return (not st.is_allow and st.applies_to_everyone and bool(st.conditions)
            and all(limits_presigned(c, max_age_ms) for c in st.conditions))


class s3_bucket_presigned_url_limits(Check):
    requires = ("policy",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        cfg = ctx.config
        prefixes = artifact_prefixes(ctx)
        max_ms = cfg.max_presigned_url_age_seconds * 1000
        denies = [st for st in (ctx.policy.denies() if ctx.policy else []) if presigned_deny(st, max_ms)]
        missing: list[str] = []
        for action in cfg.presigned_deny_actions:
            for p in prefixes:
                if not any(b.scope.covers(st, action, p) for st in denies):
                    missing.append(f"{action} on {describe_prefixes([p])}")
        if missing:
            return [self.failed(
                "presigned URLs are not limited (no Deny on s3:signatureAge > "
                f"{cfg.max_presigned_url_age_seconds}s or s3:authType REST-QUERY-STRING) for: " + "; ".join(missing),
                "policy", uncovered=missing)]
        return self.passed("presigned URLs are limited on every artifact prefix by " +
                           ", ".join(st.label for st in denies))
