"""Webhook secrets are encrypted with a configured key. Metadata: ``mlflow_server_webhook_encryption_key.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult

NAME = "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"


class mlflow_server_webhook_encryption_key(Check):
    requires = ("server_env",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        if (ctx.inventory.server_env or {}).get(NAME, "").strip():
            return self.passed(f"{NAME} is set")
        return [self.failed(f"{NAME} is not set: webhook secrets are lost on restart", NAME)]
