"""S3.6: S3 bucket policy does not grant admin actions to other accounts. Metadata: ``s3_bucket_cross_account_admin_actions.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.analysis import is_external
from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import ADMIN_ACTIONS, grants


class s3_bucket_cross_account_admin_actions(Check):
    requires = ("policy", "acl")
    requires_account = ("account_id",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        if ctx.policy is None:
            return self.passed("no bucket policy")
        owner = b.acl.owner_id if b.acl else None
        out: list[CheckResult] = []
        for g in grants(ctx.policy, b.scope, ADMIN_ACTIONS, weak_ipv4_prefix=ctx.config.weak_ipv4_prefix):
            ext = sorted(str(w) for w in g.audience.who if is_external(w, ctx, owner))
            if ext:
                out.append(self.failed(
                    f"{g.statement.label} allows {', '.join(g.actions)} to principals outside the account: "
                    f"{', '.join(ext)}", g.member, principals=ext, actions=list(g.actions)))
        return out or self.passed("no admin action is granted outside the account")
