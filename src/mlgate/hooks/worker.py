"""The worker: claims recorded deliveries and hands each to a handler (the Prefect flow
``flows/registry_hooks.py``, or the same logic in-process).

Crash recovery: a worker renews its lease while the handler runs; if it dies, the lease runs out
and another worker (or the same one restarted) claims the event again (``attempts`` grows). A
delivery is completed exactly once: only the current lease holder can mark it done. The handler
itself must be idempotent (the registry flow is: it re-reads the version's state first), since
a crash after its side effects and before the completion re-runs it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlgate.hooks.queue import ClaimedEvent, EventQueue

log = logging.getLogger(__name__)

Handler = Callable[[ClaimedEvent], dict[str, Any]]
GiveUp = Callable[[ClaimedEvent, str], None]


@dataclass(frozen=True)
class WorkerSettings:
    lease_s: float = 300.0
    max_attempts: int = 5
    backoff_s: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)
    poll_s: float = 1.0

    def retry_in(self, attempts: int) -> float:
        return self.backoff_s[min(attempts, len(self.backoff_s)) - 1] if self.backoff_s else 0.0


class Worker:
    def __init__(
        self,
        queue: EventQueue,
        handler: Handler,
        *,
        settings: WorkerSettings | None = None,
        owner: str | None = None,
        on_give_up: GiveUp | None = None,
        metrics: Any | None = None,
    ) -> None:
        self.queue = queue
        self.handler = handler
        self.settings = settings or WorkerSettings()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.on_give_up = on_give_up
        self.metrics = metrics  # mlgate.metrics.Metrics: counts events, verdicts, quarantines

    def _heartbeat(self, ev: ClaimedEvent, done: threading.Event) -> None:
        interval = max(self.settings.lease_s / 3.0, 0.05)
        try:
            while not done.wait(interval):
                if not self.queue.renew(ev, self.settings.lease_s):
                    log.warning("lost the lease on delivery %s", ev.delivery_id)
                    return
        finally:
            self.queue.close()  # this thread's connection

    def run_once(self) -> str | None:
        """Claim and process one event; the delivery id, or None if nothing is ready."""
        ev = self.queue.claim(self.owner, self.settings.lease_s)
        if ev is None:
            return None
        done = threading.Event()
        hb = threading.Thread(target=self._heartbeat, args=(ev, done), daemon=True, name="mlgate-hooks-lease")
        hb.start()
        try:
            result = self.handler(ev)
        except Exception as e:
            done.set()
            hb.join()
            err = f"{type(e).__name__}: {e}"
            if self.metrics is not None:
                self.metrics.record_result(ev.kind, None, err)
            final = ev.attempts >= self.settings.max_attempts
            status = self.queue.fail(ev, err, retry_in=None if final else self.settings.retry_in(ev.attempts))
            log.warning("delivery %s (%s, attempt %d) failed: %s -> %s", ev.delivery_id, ev.kind, ev.attempts, err,
                        status or "lease lost")
            if status == "failed" and self.on_give_up is not None:
                try:
                    self.on_give_up(ev, err)
                except Exception as e2:
                    log.error("give-up handler for %s failed: %s", ev.delivery_id, e2)
            return ev.delivery_id
        done.set()
        hb.join()
        if self.metrics is not None:
            self.metrics.record_result(ev.kind, result)
        if not self.queue.complete(ev, result):
            log.warning("delivery %s was processed but its lease had passed to another worker", ev.delivery_id)
        else:
            log.info("delivery %s (%s) done: %s", ev.delivery_id, ev.kind, result.get("action", "-"))
        return ev.delivery_id

    def run(self, *, stop: threading.Event | None = None, drain: bool = False, max_events: int | None = None) -> int:
        """Process events until ``stop`` is set; with ``drain``, return when nothing is ready."""
        n = 0
        stop = stop or threading.Event()
        while not stop.is_set():
            if max_events is not None and n >= max_events:
                break
            if self.run_once() is None:
                if drain:
                    break
                stop.wait(self.settings.poll_s)
                continue
            n += 1
        return n


def sleep_until_idle(queue: EventQueue, timeout_s: float, poll_s: float = 0.1) -> bool:
    """Wait until no event is new or processing (tests and the bench)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        c = queue.counts()
        if c["new"] == 0 and c["processing"] == 0:
            return True
        time.sleep(poll_s)
    return False
