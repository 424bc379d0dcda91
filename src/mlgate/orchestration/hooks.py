"""The webhook worker's ``flow`` runner: every relevant registry event becomes a run of
:func:`mlgate.orchestration.flows.registry_hook` (flow runs, task retries, events and logs in
Prefect). The ``inline`` runner is :func:`mlgate.hooks.runners.inline_handler`."""

from __future__ import annotations

from typing import Any

from mlgate.hooks.process import HookSettings, trigger_of
from mlgate.hooks.queue import ClaimedEvent
from mlgate.hooks.worker import Handler


def flow_handler(settings: HookSettings) -> Handler:
    from mlgate.orchestration.flows import registry_hook

    def handle(ev: ClaimedEvent) -> dict[str, Any]:
        payload = ev.payload()
        if trigger_of(payload, settings) is None:  # no flow run for events that change nothing
            return {"action": "ignored", "event": ev.kind}
        result: dict[str, Any] = registry_hook(payload=payload, delivery_id=ev.delivery_id,
                                               tracking_uri=settings.tracking_uri)
        return result

    return handle
