"""S3.13: S3 bucket has a lifecycle configuration. Metadata: ``s3_bucket_lifecycle_configured.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_lifecycle_configured(Check):
    requires = ("lifecycle",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        rules = [r for r in (ctx.bucket.lifecycle_rules or ()) if r.get("Status") == "Enabled"]
        if not rules:
            return [self.failed("no enabled lifecycle rule", "lifecycle")]
        return self.passed(f"{len(rules)} enabled lifecycle rule(s)")
