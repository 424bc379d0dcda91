"""S3.3: S3 bucket does not allow public write access. Metadata: ``s3_bucket_public_write.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.analysis import WRITE_PERMISSIONS, grant_summary, public_exposure
from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import WRITE_ACTIONS

ACTIONS = WRITE_ACTIONS
PERMISSIONS = WRITE_PERMISSIONS
KIND = "write"


class s3_bucket_public_write(Check):
    requires = ("policy", "acl", "public_access_block")

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        exp = public_exposure(ctx, ctx.policy, b.scope, b.public_access_block, ACTIONS, acl=b.acl,
                              permissions=PERMISSIONS)
        out: list[CheckResult] = []
        extra = {"account_public_access_block_unknown": True} if exp.account_pab_unknown else {}
        for g in exp.acl:
            out.append(self.failed(f"bucket ACL grants {g.permission} to {g.grantee.rsplit('/', 1)[-1]}",
                                   f"acl:{g.grantee.rsplit('/', 1)[-1]}:{g.permission}", **extra))
        for gr in exp.policy:
            out.append(self.failed(f"bucket policy {grant_summary(gr)}", gr.member,
                                   actions=list(gr.actions), conditions=list(gr.audience.non_restricting), **extra))
        if out:
            return out
        note = ""
        if exp.neutralised_policy or exp.neutralised_acl:
            note = " (public grants exist but a public access block neutralises them)"
        return self.passed(f"no {KIND} access for the public{note}")
