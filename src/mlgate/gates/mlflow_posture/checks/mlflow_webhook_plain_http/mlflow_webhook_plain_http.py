"""Webhooks deliver over https. Metadata: ``mlflow_webhook_plain_http.metadata.json``."""

from __future__ import annotations

import urllib.parse

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult


class mlflow_webhook_plain_http(Check):
    requires = ("webhooks",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        hooks = ctx.inventory.webhooks or []
        out = [self.failed(f"webhook {w.name!r} ({w.webhook_id}) delivers over {urllib.parse.urlsplit(w.url).scheme}: "
                           f"{w.url}", f"webhook:{w.webhook_id}", url=w.url)
               for w in hooks if urllib.parse.urlsplit(w.url).scheme.lower() != "https"]
        return out or self.passed(f"{len(hooks)} webhook(s), all https")
