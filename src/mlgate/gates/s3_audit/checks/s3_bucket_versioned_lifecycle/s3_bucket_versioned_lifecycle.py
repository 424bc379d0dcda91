"""S3.10: Versioned S3 bucket has a lifecycle configuration. Metadata: ``s3_bucket_versioned_lifecycle.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_versioned_lifecycle(Check):
    requires = ("versioning", "lifecycle")

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        b = ctx.bucket
        if b.versioning.get("Status") != "Enabled":
            return self.passed("versioning is not enabled (control not applicable)", applicable=False)
        rules = [r for r in (b.lifecycle_rules or ()) if r.get("Status") == "Enabled"]
        if not rules:
            return [self.failed("versioning is enabled but no lifecycle rule is enabled", "lifecycle")]
        return self.passed(f"versioned, with {len(rules)} enabled lifecycle rule(s)")
