"""The server is reached over verified TLS. Metadata: ``mlflow_transport_tls.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult


class mlflow_transport_tls(Check):
    requires = ("tls",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        inv = ctx.inventory
        if inv.scheme == "https" and inv.tls_verified:
            return self.passed("https with a verified certificate")
        if inv.loopback:
            return [CheckResult("loopback", f"{inv.url} is a loopback URL over {inv.scheme}: traffic that never "
                                            "leaves the host is not judged; a deployment reached over the network "
                                            "needs https", "scheme")]
        return [self.failed(f"{inv.url} is served over plain {inv.scheme}", "scheme")]
