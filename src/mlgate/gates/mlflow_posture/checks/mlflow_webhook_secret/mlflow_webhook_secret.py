"""Every webhook has a signing secret. Metadata: ``mlflow_webhook_secret.metadata.json``."""

from __future__ import annotations

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult


class mlflow_webhook_secret(Check):
    # webhook_secrets is read inside: with no webhook there is nothing to know.
    requires = ("webhooks",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        inv = ctx.inventory
        hooks = inv.webhooks or []
        if not hooks:
            return self.passed("no webhook is registered")
        secrets = inv.webhook_secrets
        if secrets is None:
            err = inv.errors.get("webhook_secrets")
            why = err.message if err else "the server's webhooks table was not read"
            return [CheckResult("unsupported", f"{len(hooks)} webhook(s); whether they have a secret is unknown: {why}",
                                "webhook_secrets")]
        out: list[CheckResult] = []
        for w in hooks:
            has = secrets.get(w.webhook_id)
            if has is None:
                out.append(CheckResult("unsupported", f"webhook {w.name!r} ({w.webhook_id}) is not in the server's "
                                                      "webhooks table", f"webhook:{w.webhook_id}"))
            elif not has:
                out.append(self.failed(f"webhook {w.name!r} ({w.webhook_id}) has no secret: deliveries are unsigned",
                                       f"webhook:{w.webhook_id}"))
        return out or self.passed(f"{len(hooks)} webhook(s), each with a secret")
