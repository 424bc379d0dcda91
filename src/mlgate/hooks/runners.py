"""How the worker hands an event over: to the Prefect flow in ``flows/registry_hooks.py``
(``flow``, the default: flow runs, task retries, events and logs in Prefect) or to the same
logic in-process (``inline``: no Prefect API needed)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from mlgate.errors import UsageError
from mlgate.hooks.process import HookSettings, give_up, handle_event, trigger_of
from mlgate.hooks.queue import ClaimedEvent
from mlgate.hooks.worker import GiveUp, Handler
from mlgate.registry.quarantine import EventEmitter

FLOW_FILE = Path("flows") / "registry_hooks.py"
FLOW_NAME = "registry_hook"


def find_flow_file() -> Path:
    """``$MLGATE_HOME/flows/registry_hooks.py``, else the checkout this package runs from, else
    the working directory's."""
    candidates = []
    if os.environ.get("MLGATE_HOME"):
        candidates.append(Path(os.environ["MLGATE_HOME"]) / FLOW_FILE)
    candidates += [p / FLOW_FILE for p in Path(__file__).resolve().parents]
    candidates.append(Path.cwd() / FLOW_FILE)
    for c in candidates:
        if c.is_file():
            return c
    raise UsageError(f"cannot find {FLOW_FILE}; set MLGATE_HOME or pass --flow-file")


def load_flow(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("mlgate_flows_registry_hooks", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, FLOW_NAME)


def inline_handler(settings: HookSettings, *, emitter: EventEmitter | None = None) -> Handler:
    def handle(ev: ClaimedEvent) -> dict[str, Any]:
        return handle_event(ev.payload(), settings, delivery_id=ev.delivery_id, emitter=emitter)

    return handle


def flow_handler(settings: HookSettings, flow_file: Path | None = None) -> Handler:
    flow = load_flow(flow_file or find_flow_file())

    def handle(ev: ClaimedEvent) -> dict[str, Any]:
        payload = ev.payload()
        if trigger_of(payload, settings) is None:  # no flow run for events that change nothing
            return {"action": "ignored", "event": ev.kind}
        result: dict[str, Any] = flow(payload=payload, delivery_id=ev.delivery_id, tracking_uri=settings.tracking_uri)
        return result

    return handle


def give_up_handler(settings: HookSettings, *, emitter: EventEmitter | None = None) -> GiveUp:
    def on_give_up(ev: ClaimedEvent, error: str) -> None:
        give_up(ev.payload(), settings, error, emitter=emitter)

    return on_give_up
