"""Anonymous requests are refused on every route family. Metadata: ``mlflow_anonymous_access.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult, Status


class mlflow_anonymous_access(Check):
    requires = ("routes",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        inv = ctx.inventory
        out: list[CheckResult] = []
        for r in inv.routes.values():
            where = f"{r.method} {r.path}"
            if r.outcome == "open":
                status: Status = "loopback-anonymous" if inv.loopback else "fail"
                out.append(CheckResult(status, f"{r.family}: {where} answered {r.detail}", r.family,
                                       {"status": r.status}))
            elif r.outcome in ("unknown", "error"):
                out.append(CheckResult("unsupported", f"{r.family}: {where}: {r.detail}", r.family))
        if out:
            return out
        protected = sum(r.outcome == "protected" for r in inv.routes.values())
        absent = [r.family for r in inv.routes.values() if r.outcome == "absent"]
        note = f"; not served: {', '.join(absent)}" if absent else ""
        return self.passed(f"{protected} route families refused anonymous requests{note}")
