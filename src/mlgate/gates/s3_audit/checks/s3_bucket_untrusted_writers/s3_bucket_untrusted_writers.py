"""ML.2: Only the pipeline's roles can write artifacts. Metadata: ``s3_bucket_untrusted_writers.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.analysis import WRITE_PERMISSIONS, acl_grantee, allowlisted, artifact_prefixes
from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import WRITE_ACTIONS, Statement, grants

GUARD_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion")
_NOT_OPS = ("StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike")


def writer_guard(ctx: CheckContext) -> tuple[Statement, tuple[str, ...]] | None:
    """A Deny of object writes to everyone whose aws:PrincipalArn is not listed: the one bucket
    policy pattern that also limits writers granted by IAM policies and ACLs."""
    if ctx.policy is None:
        return None
    scope = ctx.bucket.scope
    prefixes = artifact_prefixes(ctx)
    for st in ctx.policy.denies():
        if not st.applies_to_everyone or not st.conditions:
            continue
        if not all(scope.covers(st, a, p) for a in GUARD_ACTIONS for p in prefixes):
            continue
        conds = st.conditions
        if all(c.key == "aws:principalarn" and c.base in _NOT_OPS and c.qualifier is None for c in conds):
            values = tuple(v for c in conds for v in c.values)
            return st, values
    return None


class s3_bucket_untrusted_writers(Check):
    requires = ("policy", "acl")

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        prefixes = artifact_prefixes(ctx)
        out: list[CheckResult] = []
        actions: tuple[str, ...] = WRITE_ACTIONS
        permissions: tuple[str, ...] = WRITE_PERMISSIONS
        guard = writer_guard(ctx)
        if guard is not None:
            st, allowed = guard
            for v in allowed:
                if not allowlisted(v, ctx):
                    out.append(self.failed(f"{st.label} lets {v} write (not on pipeline_principals)",
                                           f"policy:{st.label}", principal=v))
            # The guard denies object writes to everyone else, whatever grants them (policy, IAM,
            # ACL WRITE). What it does not cover (bucket policy/ACL changes...) is still judged.
            actions = tuple(a for a in WRITE_ACTIONS if not all(b.scope.covers(st, a, p) for p in prefixes))
            permissions = ("WRITE_ACP", "FULL_CONTROL")
        elif ctx.config.require_writer_guard:
            out.append(self.failed("no Deny limits object writes to pipeline_principals (require_writer_guard)",
                                   "policy"))
        if ctx.policy is not None and actions:
            for g in grants(ctx.policy, b.scope, actions, prefixes, ctx.config.weak_ipv4_prefix):
                bad = sorted({w.principal_string for w in g.audience.who if not allowlisted(w.principal_string, ctx)})
                if bad:
                    out.append(self.failed(
                        f"{g.statement.label} allows {', '.join(g.actions[:4])} to {', '.join(bad)} "
                        "(not on pipeline_principals)", g.member, principals=bad, actions=list(g.actions)))
        owner = b.acl.owner_id if b.acl else None
        for gr in b.acl.grants if b.acl else ():
            if gr.permission not in permissions:
                continue
            if gr.grantee_type == "CanonicalUser" and gr.grantee == owner:
                continue
            if not allowlisted(gr.grantee, ctx):
                out.append(self.failed(f"bucket ACL grants {gr.permission} to {acl_grantee(gr)}",
                                       f"acl:{gr.grantee}:{gr.permission}", principal=gr.grantee))
        if out:
            return out
        if guard is not None:
            return self.passed(f"{guard[0].label} denies object writes to everyone but {', '.join(guard[1])}")
        return self.passed("only pipeline_principals can write")
