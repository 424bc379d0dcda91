"""How the worker hands an event over: to the same logic in-process (``inline``: no Prefect API
needed) or to the Prefect flow (``flow``, the default: flow runs, task retries, events and logs in
Prefect; :func:`mlgate.orchestration.hooks.flow_handler`)."""

from __future__ import annotations

from typing import Any

from mlgate.hooks.process import HookSettings, give_up, handle_event
from mlgate.hooks.queue import ClaimedEvent
from mlgate.hooks.worker import GiveUp, Handler
from mlgate.registry.quarantine import EventEmitter


def inline_handler(settings: HookSettings, *, emitter: EventEmitter | None = None) -> Handler:
    def handle(ev: ClaimedEvent) -> dict[str, Any]:
        return handle_event(ev.payload(), settings, delivery_id=ev.delivery_id, emitter=emitter)

    return handle


def give_up_handler(settings: HookSettings, *, emitter: EventEmitter | None = None) -> GiveUp:
    def on_give_up(ev: ClaimedEvent, error: str) -> None:
        give_up(ev.payload(), settings, error, emitter=emitter)

    return on_give_up
