"""Benchmark of the webhook receiver under sustained load on 127.0.0.1.

1. Start ``python -m mlgate.hooks serve`` (the receiver of ``mlgate hooks serve``: uvicorn, one
   process, SQLite queue with WAL and ``synchronous=FULL``, group commit).
2. Send ``--requests`` MLflow-shaped, HMAC-signed ``model_version.created`` deliveries from
   ``--concurrency`` keep-alive client threads, bounded by ``--max-seconds``. A fraction
   (``--replays``) re-sends an already acknowledged delivery id: it must be answered 200
   "duplicate" and recorded nowhere.
3. Report accepted deliveries per second and the acknowledgement latency (p50/p99/max; the
   acknowledgement is sent only after the delivery is committed to disk).
4. Drain the queue with ``--workers`` worker threads and a no-op handler, then check that every
   accepted delivery id was processed exactly once and nothing else was.

Client and server share the machine's cores. Exit code 1 if any check fails.

Usage: python bench/bench_webhooks.py [--requests 5000] [--concurrency 8] [--max-seconds 120]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from _machine import machine as base_machine  # bench/ is on sys.path when a bench script runs

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-" + uuid.uuid4().hex


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{base_machine()} | SQLite {sqlite3.sqlite_version} | load average {load} at start"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


class Client(threading.Thread):
    def __init__(self, host: str, port: int, path: str, jobs: list[tuple[str, bytes]], deadline: float,
                 replay_pool: list[str], replays: float, lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.path = host, port, path
        self.jobs = jobs
        self.deadline = deadline
        self.replay_pool = replay_pool
        self.replays = replays
        self.lock = lock
        self.accepted: list[str] = []
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.rng = random.Random()

    def _post(self, conn: http.client.HTTPConnection, did: str, body: bytes) -> tuple[int, str]:
        from mlgate.hooks.verify import sign

        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-MLflow-Delivery-Id": did, "X-MLflow-Timestamp": ts,
                   "X-MLflow-Signature": sign(SECRET, did, ts, body)}
        conn.request("POST", self.path, body=body, headers=headers)
        r = conn.getresponse()
        answer = json.loads(r.read() or b"{}")
        return r.status, str(answer.get("status"))

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        for did, body in self.jobs:
            if time.monotonic() > self.deadline:
                self.statuses["not-sent (time bound)"] += 1
                continue
            t = time.perf_counter()
            try:
                status, kind = self._post(conn, did, body)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                self.statuses[f"error {type(e).__name__}"] += 1
                continue
            dt = time.perf_counter() - t
            self.statuses[f"{status} {kind}"] += 1
            if status == 202:
                self.accepted.append(did)
                self.latencies.append(dt)
                with self.lock:
                    self.replay_pool.append(did)
            if self.replays and self.rng.random() < self.replays:
                with self.lock:
                    old = self.rng.choice(self.replay_pool) if self.replay_pool else None
                if old is not None:
                    try:
                        status, kind = self._post(conn, old, body)
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                        continue
                    self.statuses[f"replay {status} {kind}"] += 1
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--replays", type=float, default=0.02, help="fraction of requests followed by a replay")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()

    sys.path.insert(0, str(REPO / "src"))
    from mlgate.hooks.queue import ClaimedEvent, EventQueue
    from mlgate.hooks.worker import Worker, WorkerSettings
    from mlgate.stack.procs import LOOPBACK, free_port, start

    work = args.dir or Path(tempfile.mkdtemp(prefix="mlgate-bench-webhooks-"))
    work.mkdir(parents=True, exist_ok=True)
    queue_path = work / "queue.db"
    port = free_port()
    env = {"MLGATE_WEBHOOK_SECRET": SECRET}
    server = start("receiver", [sys.executable, "-m", "mlgate.hooks", "serve", "--host", LOOPBACK, "--port",
                                str(port), "--queue", str(queue_path)],
                   f"http://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{port}/healthz", env=env,
                   log_path=work / "receiver.log", timeout=60, cwd=work)
    print(f"machine: {machine()}")
    print(f"receiver: 1 uvicorn process on {LOOPBACK}:{port}, queue {queue_path} (WAL, synchronous=FULL)")
    print(f"load: {args.requests} signed deliveries, {args.concurrency} keep-alive client threads, "
          f"~{args.replays:.0%} followed by a replay, time bound {args.max_seconds:.0f} s")
    try:
        jobs = []
        for i in range(args.requests):
            did = str(uuid.uuid4())
            body = json.dumps({"entity": "model_version", "action": "created",
                               "timestamp": "2026-01-01T00:00:00+00:00",
                               "data": {"name": f"bench-{i % 200}", "version": str(i // 200 + 1),
                                        "source": f"models:/m-{uuid.uuid4().hex}", "run_id": None,
                                        "tags": {}, "description": None}}).encode()
            jobs.append((did, body))
        lock = threading.Lock()
        pool: list[str] = []
        deadline = time.monotonic() + args.max_seconds
        clients = [Client(LOOPBACK, port, "/webhooks/mlflow", jobs[k::args.concurrency], deadline, pool,
                          args.replays, lock) for k in range(args.concurrency)]
        t0 = time.perf_counter()
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        elapsed = time.perf_counter() - t0
    finally:
        server.stop()

    accepted = [d for c in clients for d in c.accepted]
    lat = [x * 1000 for c in clients for x in c.latencies]
    statuses: Counter[str] = Counter()
    for c in clients:
        statuses.update(c.statuses)
    print(f"\nsend phase: {elapsed:.2f} s")
    for k, v in sorted(statuses.items()):
        print(f"  {k:<28} {v}")
    print(f"accepted: {len(accepted)} deliveries, {len(accepted) / elapsed:.0f} accepted/s "
          f"({sum(statuses.values()) / elapsed:.0f} requests/s incl. replays)")
    print(f"ack latency (ms, committed before the answer): p50 {statistics.median(lat):.1f}  "
          f"p90 {pct(lat, 90):.1f}  p99 {pct(lat, 99):.1f}  max {max(lat):.1f}")

    # drain: exactly once
    q = EventQueue(queue_path)
    seen: Counter[str] = Counter()
    seen_lock = threading.Lock()

    def noop(ev: ClaimedEvent) -> dict[str, Any]:
        with seen_lock:
            seen[ev.delivery_id] += 1
        return {"action": "noop"}

    workers = [Worker(EventQueue(queue_path), noop, settings=WorkerSettings(poll_s=0.01)) for _ in range(args.workers)]
    t1 = time.perf_counter()
    threads = [threading.Thread(target=w.run, kwargs={"drain": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Worker(q, noop).run(drain=True)  # whatever a sibling still held when the others drained
    drain = time.perf_counter() - t1
    counts = q.counts()
    print(f"\ndrain: {args.workers} worker threads, {sum(seen.values())} events in {drain:.2f} s "
          f"({sum(seen.values()) / drain:.0f}/s); queue now {counts}")
    checks = {
        "every accepted id processed": set(seen) == set(accepted),
        "each exactly once": all(v == 1 for v in seen.values()),
        "no replay recorded": counts["done"] == len(accepted) and len(set(accepted)) == len(accepted),
        "nothing left or failed": counts["new"] == counts["processing"] == counts["failed"] == 0,
        "no send errors": not any(k.startswith("error") for k in statuses),
        "replays answered as duplicates": all(k.endswith("duplicate") for k in statuses if k.startswith("replay")),
    }
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    lost = set(accepted) - set(seen)
    print(f"events lost: {len(lost)}; processed more than once: {sum(1 for v in seen.values() if v > 1)}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
