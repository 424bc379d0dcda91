"""A foreign Host header is refused. Metadata: ``mlflow_host_header_validation.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult
from mlgate.gates.mlflow_posture.inventory import FOREIGN_HOST


class mlflow_host_header_validation(Check):
    requires = ("host_header",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        probe = ctx.inventory.host_header
        assert probe is not None  # guaranteed by requires
        body = probe.detail.lower()
        if probe.status in (400, 403, 421) and "host" in body:
            return self.passed(f"Host: {FOREIGN_HOST} refused with HTTP {probe.status}")
        if probe.status == 401:
            return [CheckResult("unsupported", f"Host: {FOREIGN_HOST} was answered HTTP 401: authentication ran "
                                               "before host validation; give the audit credentials to see past it")]
        return [self.failed(f"a request with Host: {FOREIGN_HOST} was answered HTTP {probe.status}: the server "
                            "does not validate the Host header", "Host", status=probe.status)]
