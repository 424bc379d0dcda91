"""No webhook aims at a private, loopback, link-local or metadata address. Metadata: ``mlflow_webhook_private_target.metadata.json``."""

from __future__ import annotations

import urllib.parse

from mlgate.gates.mlflow_posture.check import Check, CheckContext, CheckResult
from mlgate.gates.mlflow_posture.inventory import classify_address


class mlflow_webhook_private_target(Check):
    requires = ("webhooks",)

    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        hooks = ctx.inventory.webhooks or []
        out: list[CheckResult] = []
        for w in hooks:
            host = urllib.parse.urlsplit(w.url).hostname or ""
            member = f"webhook:{w.webhook_id}"
            why = classify_address(host) if host else "no host"
            if why:
                out.append(self.failed(f"webhook {w.name!r} ({w.webhook_id}) delivers to {w.url}: {why} address",
                                       member, url=w.url, target=why))
                continue
            bad = [(a, classify_address(a)) for a in w.addresses]
            bad = [(a, k) for a, k in bad if k]
            if bad:
                a, k = bad[0]
                out.append(self.failed(f"webhook {w.name!r} ({w.webhook_id}) delivers to {w.url}, whose name resolves "
                                       f"to {a} ({k} address)", member, url=w.url, address=a, target=k))
            elif w.resolve_error:
                out.append(CheckResult("unsupported", f"webhook {w.name!r} ({w.webhook_id}) delivers to {w.url}: "
                                                      f"{w.resolve_error}", member))
        return out or self.passed(f"{len(hooks)} webhook(s), none aimed at a non-public address")
