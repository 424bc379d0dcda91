"""basic-auth refuses the default admin credentials. Metadata: ``mlflow_default_admin_credentials.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult


class mlflow_default_admin_credentials(Check):
    requires = ("routes", "default_credentials")

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        inv = ctx.inventory
        if inv.default_credentials_accepted:
            return [self.failed(f"the server accepted the default credentials of user {u!r}", f"user:{u}")
                    for u in inv.default_credentials_accepted]
        if not inv.default_credentials_tried:
            return self.passed("the server asks for no login (anonymous access is judged by mlflow_anonymous_access)")
        return self.passed(f"default credentials refused for {', '.join(inv.default_credentials_tried)}")
