"""S3.7: S3 bucket uses replication. Metadata: ``s3_bucket_replication_enabled.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_replication_enabled(Check):
    requires = ("replication",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        rep = ctx.bucket.replication or {}
        rules = [r for r in rep.get("Rules", []) if r.get("Status") == "Enabled"]
        if not rules:
            return [self.failed("no enabled replication rule", "replication")]
        dests = sorted({str(r.get("Destination", {}).get("Bucket", "")) for r in rules})
        return self.passed(f"{len(rules)} enabled replication rule(s) to {', '.join(dests)}", destinations=dests)
