"""S3.15: S3 bucket has object lock enabled. Metadata: ``s3_bucket_object_lock_enabled.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_object_lock_enabled(Check):
    requires = ("object_lock",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        lock = ctx.bucket.object_lock or {}
        if lock.get("ObjectLockEnabled") != "Enabled":
            return [self.failed("object lock is not enabled", "object-lock")]
        return self.passed("object lock is enabled")
