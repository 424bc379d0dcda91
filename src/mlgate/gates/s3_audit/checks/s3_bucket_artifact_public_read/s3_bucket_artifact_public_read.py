"""ML.1: Model and training-data prefixes are not publicly readable. Metadata: ``s3_bucket_artifact_public_read.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.analysis import (
    READ_PERMISSIONS,
    artifact_prefixes,
    describe_prefixes,
    grant_summary,
    public_exposure,
)
from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult
from mlgate.gates.s3_audit.policy_eval import OBJECT_READ_ACTIONS


class s3_bucket_artifact_public_read(Check):
    requires = ("policy", "public_access_block", "object_acls", "website")

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        prefixes = artifact_prefixes(ctx)
        where = describe_prefixes(prefixes)
        website = ""
        if b.website:
            region = b.region or "us-east-1"
            website = f"; served over static website hosting (http://{b.name}.s3-website-{region}.amazonaws.com)"
        exp = public_exposure(ctx, ctx.policy, b.scope, b.public_access_block, OBJECT_READ_ACTIONS, prefixes=prefixes)
        out: list[CheckResult] = []
        for g in exp.policy:
            out.append(self.failed(f"artifacts under {where} are public: bucket policy {grant_summary(g)}{website}",
                                   g.member, channel="policy", website=bool(b.website)))
        ignore = ctx.effective_flag(b.public_access_block, "ignore_public_acls")
        if not ignore:
            for oa in b.object_acls:
                if not any(oa.key.startswith(p) for p in prefixes):
                    continue
                pub = [g for g in oa.acl.grants if g.is_public and g.permission in READ_PERMISSIONS]
                if pub:
                    who = ", ".join(sorted({g.grantee.rsplit("/", 1)[-1] for g in pub}))
                    out.append(self.failed(f"object {oa.key} is public through its ACL ({who}){website}",
                                           f"object-acl:{oa.key}", channel="object-acl", key=oa.key))
        if out:
            return out
        note = f"; {b.object_acl_note}" if b.object_acl_note else ""
        return self.passed(f"no public read of {where}{note}")
