"""ML.4: No wildcard principal hides behind non-restricting conditions. Metadata: ``s3_bucket_weak_public_conditions.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import audience


class s3_bucket_weak_public_conditions(Check):
    requires = ("policy",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        if ctx.policy is None:
            return self.passed("no bucket policy")
        out: list[CheckResult] = []
        for st in ctx.policy.allows():
            if not st.conditions:
                continue
            aud = audience(st, ctx.config.weak_ipv4_prefix)
            if aud.public:
                out.append(self.failed(
                    f"{st.label} allows a wildcard principal behind conditions that do not restrict the caller: "
                    + "; ".join(aud.non_restricting), f"policy:{st.label}", conditions=list(aud.non_restricting)))
        return out or self.passed("no wildcard principal hides behind non-restricting conditions")
