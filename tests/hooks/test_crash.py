"""A receiver killed (SIGKILL) right after it acknowledged loses no event: the worker processes
each acknowledged delivery exactly once, and a restarted receiver still knows the ids."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from tests.hooks.hooks_helpers import body_of, kill9, payload, post, signed_headers, start_receiver

from mlgate.hooks.queue import ClaimedEvent, EventQueue
from mlgate.hooks.worker import Worker


def test_receiver_killed_after_ack_loses_nothing(tmp_path: Path) -> None:
    queue = tmp_path / "queue.db"
    server = start_receiver(tmp_path / "r1", queue)
    acked: list[str] = []
    try:
        for i in range(5):
            body = body_of(payload(name=f"model-{i}", version="1", source=f"models:/m-{i}", run_id=None, tags={},
                                   description=None))
            h = signed_headers(body)
            status, answer = post(server.url + "/webhooks/mlflow", body, h)
            assert (status, answer["status"]) == (202, "accepted")
            acked.append(h["X-MLflow-Delivery-Id"])
        # SIGKILL right after the last acknowledgement: no shutdown hook, no flush, no goodbye.
        kill9(server)
        assert server.proc.returncode == -signal.SIGKILL
    finally:
        server.stop()

    seen: Counter[str] = Counter()

    def record(ev: ClaimedEvent) -> dict[str, Any]:
        seen[ev.delivery_id] += 1
        return {"action": "noop", "subject": ev.subject}

    q = EventQueue(queue)
    assert Worker(q, record).run(drain=True) == 5
    assert Worker(q, record).run(drain=True) == 0  # a second pass finds nothing left
    assert seen == Counter(dict.fromkeys(acked, 1))
    assert q.counts()["done"] == 5

    # A restarted receiver on the same queue recognises an MLflow retry of an acknowledged delivery.
    server2 = start_receiver(tmp_path / "r2", queue)
    try:
        body = body_of(payload(name="model-0", version="1", source="models:/m-0", run_id=None, tags={},
                               description=None))
        status, answer = post(server2.url + "/webhooks/mlflow", body, signed_headers(body, delivery_id=acked[0]))
        assert (status, answer["status"]) == (200, "duplicate")
    finally:
        server2.stop()
    assert sum(EventQueue(queue).counts().values()) == 5


def test_serve_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    import sys

    from tests.hooks.hooks_helpers import run_quiet

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLGATE_WEBHOOK_SECRET")}
    r = run_quiet([sys.executable, "-m", "mlgate.hooks", "serve", "--queue", str(tmp_path / "q.db")], env=env,
                  timeout=60)
    assert r.returncode == 4, r.stderr
    assert "no webhook secret" in r.stderr
