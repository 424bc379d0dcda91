"""The webhook SSRF guard is on. Metadata: ``mlflow_server_webhook_private_ips.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult
from mlgate.gates.mlflow_posture.envflags import flag

NAME = "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"


class mlflow_server_webhook_private_ips(Check):
    requires = ("server_env",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        value, why = flag(ctx.inventory.server_env or {}, NAME, default=False)
        if value == "false":
            return self.passed(why)
        return [self.failed(f"{why}: the server's webhook SSRF guard is off", NAME)]
