"""Pickle deserialization is off. Metadata: ``mlflow_server_pickle_deserialization.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult
from mlgate.gates.mlflow_posture.envflags import flag

NAME = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


class mlflow_server_pickle_deserialization(Check):
    requires = ("server_env",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        value, why = flag(ctx.inventory.server_env or {}, NAME, default=True)
        if value == "false":
            return self.passed(why)
        return [self.failed(f"{why}: models loaded by this process are unpickled", NAME)]
