"""Webhooks may only deliver over https. Metadata: ``mlflow_server_webhook_schemes.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult

NAME = "MLFLOW_WEBHOOK_ALLOWED_SCHEMES"


class mlflow_server_webhook_schemes(Check):
    requires = ("server_env",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        raw = (ctx.inventory.server_env or {}).get(NAME, "")
        schemes = [s.strip().lower() for s in raw.split(",") if s.strip()] or ["https"]
        extra = [s for s in schemes if s != "https"]
        if extra:
            return [self.failed(f"{NAME}={raw}: webhooks may deliver over {', '.join(extra)}", NAME)]
        return self.passed(f"{NAME} {'unset' if not raw else '=' + raw}: https only")
