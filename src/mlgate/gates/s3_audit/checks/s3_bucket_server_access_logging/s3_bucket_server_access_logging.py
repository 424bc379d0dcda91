"""S3.9: S3 bucket server access logging is enabled. Metadata: ``s3_bucket_server_access_logging.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_server_access_logging(Check):
    requires = ("logging",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        lg = ctx.bucket.logging
        if not lg or not lg.get("TargetBucket"):
            return [self.failed("server access logging is off", "logging")]
        return self.passed(f"access logs go to s3://{lg['TargetBucket']}/{lg.get('TargetPrefix', '')}")
