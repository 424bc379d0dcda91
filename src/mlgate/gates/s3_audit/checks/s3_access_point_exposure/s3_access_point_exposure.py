"""ML.6: S3 access point is VPC-only with no public policy. Metadata: ``s3_access_point_exposure.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.analysis import grant_summary, public_exposure
from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import READ_ACTIONS, WRITE_ACTIONS


class s3_access_point_exposure(Check):
    requires = ("access_point", "policy")

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        ap = ctx.access_point
        out: list[CheckResult] = []
        if ap.network_origin != "VPC":
            out.append(self.failed(f"access point {ap.name} is reachable from the internet "
                                   f"(network origin {ap.network_origin or 'unknown'})", "network-origin",
                                   network_origin=ap.network_origin))
        exp = public_exposure(ctx, ctx.policy, ap.scope, ap.public_access_block, READ_ACTIONS + WRITE_ACTIONS)
        for g in exp.policy:
            out.append(self.failed(f"access point policy {grant_summary(g)}", g.member, actions=list(g.actions)))
        return out or self.passed(f"access point {ap.name} is VPC-only (VPC {ap.vpc_id}) with no public policy")
