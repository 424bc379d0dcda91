"""ML.11: No principal outside the account has access. Metadata: ``s3_bucket_external_principals.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.analysis import acl_grantee, is_external
from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import audience


class s3_bucket_external_principals(Check):
    requires = ("policy", "acl", "object_acls")
    requires_account = ("account_id",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        owner = b.acl.owner_id if b.acl else None
        out: list[CheckResult] = []
        for st in ctx.policy.allows() if ctx.policy else []:
            aud = audience(st, ctx.config.weak_ipv4_prefix)
            ext = sorted(str(w) for w in aud.who if is_external(w, ctx, owner))
            if ext:
                out.append(self.failed(f"{st.label} grants access to principals outside account {ctx.own_account}: "
                                       f"{', '.join(ext)}", f"policy:{st.label}", principals=ext))
        for g in b.acl.foreign_grants() if b.acl else []:
            who = acl_grantee(g)
            if is_external(who, ctx, owner):
                out.append(self.failed(f"bucket ACL grants {g.permission} to {who}", f"acl:{g.grantee}:{g.permission}",
                                       principal=g.grantee))
        for oa in b.object_acls:
            for g in oa.acl.foreign_grants():
                who = acl_grantee(g)
                if g.is_public and ctx.effective_flag(b.public_access_block, "ignore_public_acls"):
                    continue  # neutralised; a grant to another account is not
                if is_external(who, ctx, owner):
                    out.append(self.failed(f"object {oa.key} ACL grants {g.permission} to {who}",
                                           f"object-acl:{oa.key}", principal=g.grantee, key=oa.key))
        return out or self.passed(f"every principal is inside account {ctx.own_account} (or trusted)")
