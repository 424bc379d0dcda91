"""Server-side job execution is disabled. Metadata: ``mlflow_server_job_execution.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult
from mlgate.gates.mlflow_posture.envflags import flag

NAME = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


class mlflow_server_job_execution(Check):
    requires = ("server_env",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        value, why = flag(ctx.inventory.server_env or {}, NAME, default=True)
        if value == "false":
            return self.passed(why)
        return [self.failed(f"{why}: the tracking server executes jobs", NAME)]
