"""ML.6: S3 multi-region access point has no public policy. Metadata: ``s3_mrap_exposure.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.analysis import grant_summary, public_exposure
from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import READ_ACTIONS, WRITE_ACTIONS


class s3_mrap_exposure(Check):
    requires = ("multi_region_access_point", "policy")

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        m = ctx.mrap
        exp = public_exposure(ctx, ctx.policy, m.scope, m.public_access_block, READ_ACTIONS + WRITE_ACTIONS)
        out = [self.failed(f"multi-region access point policy {grant_summary(g)}", g.member, actions=list(g.actions))
               for g in exp.policy]
        return out or self.passed(f"multi-region access point {m.name} has no public policy")
