"""The durable queue and the worker: exactly-once completion, per-version ordering, crash
recovery by lease expiry, heartbeats, retries with back-off, give-up."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from mlgate.hooks.queue import ClaimedEvent, EventQueue, NewEvent
from mlgate.hooks.worker import Worker, WorkerSettings


class FakeClock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def ev(i: int, subject: str = "m/1") -> NewEvent:
    return NewEvent(f"d-{i}", 0, "model_version", "created", subject, b'{"entity":"model_version"}')


def test_insert_is_idempotent_per_delivery_id(tmp_path: Path) -> None:
    q = EventQueue(tmp_path / "q.db")
    assert q.insert_many([ev(1), ev(2), ev(1)]) == [True, True, False]
    assert q.insert(ev(2)) is False
    assert q.counts()["new"] == 2


def test_one_subject_is_handed_out_in_order_one_at_a_time(tmp_path: Path) -> None:
    q = EventQueue(tmp_path / "q.db")
    q.insert_many([ev(1, "a/1"), ev(2, "a/1"), ev(3, "b/1")])
    first = q.claim("w1", 60)
    second = q.claim("w2", 60)
    assert first is not None
    assert second is not None
    assert (first.delivery_id, second.delivery_id) == ("d-1", "d-3")  # d-2 waits for d-1 (same version)
    assert q.claim("w3", 60) is None
    assert q.complete(first, {"ok": 1})
    nxt = q.claim("w3", 60)
    assert nxt is not None
    assert nxt.delivery_id == "d-2"


def test_a_dead_workers_event_is_reclaimed_and_completed_once(tmp_path: Path) -> None:
    clock = FakeClock()
    q = EventQueue(tmp_path / "q.db", clock=clock)
    q.insert(ev(1))
    dead = q.claim("dead-worker", lease_s=30)
    assert dead is not None
    assert dead.attempts == 1
    clock.t += 10
    assert q.claim("w2", 30) is None  # lease still valid
    clock.t += 25
    again = q.claim("w2", 30)
    assert again is not None
    assert again.delivery_id == "d-1"
    assert again.attempts == 2
    assert q.complete(dead, {"by": "dead"}) is False  # the old holder's late completion is refused
    assert q.complete(again, {"by": "w2"}) is True
    assert q.complete(again, {"by": "w2"}) is False
    row = q.get("d-1")
    assert row is not None
    assert row["status"] == "done"
    assert row["result"] == '{"by": "w2"}'


def test_retries_with_backoff_then_fails_and_gives_up(tmp_path: Path) -> None:
    clock = FakeClock()
    q = EventQueue(tmp_path / "q.db", clock=clock)
    q.insert(ev(1))
    calls: list[int] = []
    gave_up: list[tuple[str, str]] = []

    def boom(e: ClaimedEvent) -> dict[str, Any]:
        calls.append(e.attempts)
        raise RuntimeError("mlflow is down")

    w = Worker(q, boom, settings=WorkerSettings(max_attempts=3, backoff_s=(5, 50)),
               on_give_up=lambda e, err: gave_up.append((e.delivery_id, err)))
    assert w.run_once() == "d-1"
    assert q.get("d-1")["status"] == "new"  # type: ignore[index]
    assert w.run_once() is None  # backing off
    clock.t += 5
    assert w.run_once() == "d-1"
    clock.t += 49
    assert w.run_once() is None
    clock.t += 1
    assert w.run_once() == "d-1"
    row = q.get("d-1")
    assert row is not None
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert "mlflow is down" in row["last_error"]
    assert calls == [1, 2, 3]
    assert gave_up == [("d-1", "RuntimeError: mlflow is down")]


def test_heartbeat_keeps_a_long_job_from_being_taken_over(tmp_path: Path) -> None:
    q = EventQueue(tmp_path / "q.db")
    q.insert(ev(1))
    started = threading.Event()
    release = threading.Event()

    def slow(_e: ClaimedEvent) -> dict[str, Any]:
        started.set()
        release.wait(5)
        return {"action": "slow"}

    w = Worker(q, slow, settings=WorkerSettings(lease_s=0.3))
    t = threading.Thread(target=w.run_once)
    t.start()
    assert started.wait(5)
    time.sleep(1.0)  # three lease lengths: without renewals the event would be claimable
    assert EventQueue(tmp_path / "q.db").claim("intruder", 0.3) is None
    release.set()
    t.join(5)
    assert q.counts()["done"] == 1


def test_concurrent_workers_process_every_event_exactly_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    q = EventQueue(path)
    n, subjects = 400, 25
    q.insert_many([ev(i, f"m{i % subjects}/1") for i in range(n)])
    seen: Counter[str] = Counter()
    order: dict[str, list[int]] = defaultdict(list)
    lock = threading.Lock()

    def handler(e: ClaimedEvent) -> dict[str, Any]:
        with lock:
            seen[e.delivery_id] += 1
            order[e.subject].append(e.seq)
        return {"action": "noop"}

    workers = [Worker(EventQueue(path), handler, settings=WorkerSettings(poll_s=0.01)) for _ in range(4)]
    threads = [threading.Thread(target=w.run, kwargs={"drain": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # drain can stop a worker while a sibling still holds an event; finish what is left
    Worker(q, handler).run(drain=True)
    assert set(seen) == {f"d-{i}" for i in range(n)}
    assert set(seen.values()) == {1}
    assert all(o == sorted(o) for o in order.values())
    assert q.counts() == {"new": 0, "processing": 0, "done": n, "failed": 0}


@pytest.mark.parametrize("older", [True, False])
def test_prune_keeps_recent_ids_for_dedupe(tmp_path: Path, older: bool) -> None:
    clock = FakeClock()
    q = EventQueue(tmp_path / "q.db", clock=clock)
    q.insert(ev(1))
    c = q.claim("w", 10)
    assert c is not None
    q.complete(c, {})
    clock.t += 3600 if older else 60
    assert q.prune(older_than_s=600) == (1 if older else 0)
    assert q.insert(ev(1)) is older  # a pruned id could be recorded again; keep retention > window
