"""S3.12: S3 bucket ACLs are disabled. Metadata: ``s3_bucket_acls_disabled.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_acls_disabled(Check):
    requires = ("ownership",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        own = ctx.bucket.object_ownership
        if own != "BucketOwnerEnforced":
            return [self.failed(f"ACLs are enabled (object ownership {own or 'not set: ObjectWriter'})", "ownership",
                                object_ownership=own)]
        return self.passed("ACLs are disabled (BucketOwnerEnforced)")
