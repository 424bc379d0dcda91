"""CORS allows no foreign origin. Metadata: ``mlflow_cors_origin.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult
from mlgate.gates.mlflow_posture.inventory import FOREIGN_ORIGIN


class mlflow_cors_origin(Check):
    requires = ("cors",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        probe = ctx.inventory.cors
        assert probe is not None  # guaranteed by requires
        out: list[CheckResult] = []
        for key, value in probe.headers.items():
            method, _, header = key.partition(" ")
            if header != "access-control-allow-origin":
                continue
            creds = probe.headers.get(f"{method} access-control-allow-credentials", "").lower() == "true"
            with_creds = " with Access-Control-Allow-Credentials: true" if creds else ""
            if value.strip() == "*":
                out.append(self.failed(f"{method}: Access-Control-Allow-Origin: *{with_creds}", method,
                                       credentials=creds))
            elif value.strip() == FOREIGN_ORIGIN:
                out.append(self.failed(f"{method}: the foreign origin {FOREIGN_ORIGIN} is reflected{with_creds}",
                                       method, credentials=creds))
        return out or self.passed(f"no Access-Control-Allow-Origin for {FOREIGN_ORIGIN}")
