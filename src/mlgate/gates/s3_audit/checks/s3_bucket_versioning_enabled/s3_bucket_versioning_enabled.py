"""S3.14: S3 bucket versioning is enabled. Metadata: ``s3_bucket_versioning_enabled.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_versioning_enabled(Check):
    requires = ("versioning",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        status = ctx.bucket.versioning.get("Status")
        if status != "Enabled":
            return [self.failed(f"versioning is {status or 'never enabled'}", "versioning", status=status)]
        return self.passed("versioning is enabled")
