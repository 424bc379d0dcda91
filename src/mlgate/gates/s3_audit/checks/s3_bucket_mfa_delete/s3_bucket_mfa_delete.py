"""S3.20: S3 bucket has MFA delete enabled. Metadata: ``s3_bucket_mfa_delete.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_mfa_delete(Check):
    requires = ("versioning",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        v = ctx.bucket.versioning
        if v.get("MFADelete") != "Enabled":
            return [self.failed(f"MFA delete is {v.get('MFADelete') or 'not enabled'}", "versioning")]
        return self.passed("MFA delete is enabled")
