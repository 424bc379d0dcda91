"""S3.11: S3 bucket has event notifications enabled. Metadata: ``s3_bucket_event_notifications.metadata.json``."""

from __future__ import annotations

from mlgate.gates.s3_audit.check import Check, CheckContext, CheckResult


class s3_bucket_event_notifications(Check):
    requires = ("notifications",)
    KINDS = ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations")

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        n = ctx.bucket.notifications
        targets = [k for k in self.KINDS if n.get(k)]
        if "EventBridgeConfiguration" in n:
            targets.append("EventBridgeConfiguration")
        if not targets:
            return [self.failed("no event notification is configured", "notifications")]
        return self.passed(f"event notifications: {', '.join(targets)}")
