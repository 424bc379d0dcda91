"""A durable event queue in SQLite (WAL, ``synchronous=FULL``).

* The receiver inserts a delivery and **commits before it answers**; a crash after the answer
  loses nothing. ``delivery_id`` is unique: a retried or replayed delivery is recognised and not
  recorded twice. Concurrent requests are committed together (:class:`GroupCommitWriter`): one
  fsync for many deliveries.
* Workers claim one event at a time (``new -> processing``) under a lease they renew while they
  work; an event whose lease ran out (its worker died) is claimed again. Completion is accepted
  only from the current lease holder, so every delivery reaches ``done`` (or ``failed``) exactly
  once. Events about the same model version are handed out in arrival order, one at a time.
* Failures are retried with back-off up to ``max_attempts``, then the event is ``failed``
  (kept, with its last error, for an operator).
* A queue file that is not a sound SQLite database (corrupt, truncated, another file) or that
  cannot be written (full disk) is a :class:`QueueError`: one line, the file is left exactly as
  it is (never recreated, never truncated), nothing is acknowledged that was not committed (the
  receiver answers 503, MLflow retries; a worker's ``done`` is not recorded and the lease runs
  out). Recovery: ``docs/operations.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue as _q
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError

log = logging.getLogger(__name__)

Clock = Callable[[], float]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT NOT NULL UNIQUE,
    received_at   REAL NOT NULL,
    webhook_ts    INTEGER NOT NULL,
    entity        TEXT NOT NULL,
    action        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    body          BLOB NOT NULL,
    status        TEXT NOT NULL DEFAULT 'new',
    attempts      INTEGER NOT NULL DEFAULT 0,
    not_before    REAL NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_token   TEXT,
    lease_expires REAL,
    finished_at   REAL,
    result        TEXT,
    last_error    TEXT
);
CREATE INDEX IF NOT EXISTS events_status ON events(status, seq);
CREATE INDEX IF NOT EXISTS events_subject ON events(subject, status, seq);
"""

STATUSES = ("new", "processing", "done", "failed")


@dataclass(frozen=True)
class NewEvent:
    delivery_id: str
    webhook_ts: int
    entity: str
    action: str
    subject: str
    body: bytes


@dataclass(frozen=True)
class ClaimedEvent:
    seq: int
    delivery_id: str
    entity: str
    action: str
    subject: str
    body: bytes
    attempts: int
    lease_token: str
    received_at: float

    @property
    def kind(self) -> str:
        return f"{self.entity}.{self.action}"

    def payload(self) -> dict[str, Any]:
        data = json.loads(self.body)
        return data if isinstance(data, dict) else {}


def subject_of(payload: dict[str, Any]) -> str:
    """What an event is about (``name/version``, or ``name``), for per-subject ordering."""
    raw = payload.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    name = str(data.get("name") or "")
    version = str(data.get("version") or "")
    return f"{name}/{version}" if version else name


class QueueError(MlgateError):
    """The queue database cannot be used (corrupt, not a database, disk full, unreadable)."""


def _explain(e: BaseException) -> str:
    text = str(e)
    low = text.lower()
    if "full" in low:
        return f"{text}: the disk holding the queue is full (free space; nothing was acknowledged that is not stored)"
    if "not a database" in low or "malformed" in low or "corrupt" in low or "integrity" in low:
        return (f"{text}: the queue database is damaged; it was left untouched. Stop the receiver and the "
                "worker, move the file aside, and recover it (docs/operations.md)")
    return text


class EventQueue:
    def __init__(self, path: str | Path, *, clock: Clock = time.time, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.clock = clock
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._errors():
            db = self._conn()
            db.executescript(SCHEMA)  # idempotent; executescript manages its own transaction
            bad = db.execute("PRAGMA quick_check(1)").fetchone()
            if bad is None or bad[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {bad[0] if bad else 'no answer'}")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as e:
            raise QueueError(" ".join(f"hooks queue {self.path}: {_explain(e)}".split())) from e

    # -- connections ----------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # the commit is on disk before the 2xx answer
            db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _tx(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        with self._errors():
            db = self._conn()
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # a failed COMMIT may have rolled back already
                    db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except sqlite3.Error:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- receiver side --------------------------------------------------------------------------

    def insert_many(self, events: Sequence[NewEvent]) -> list[bool]:
        """Insert in one transaction; ``True`` for each new delivery id, ``False`` for a duplicate."""
        now = self.clock()
        out = []
        with self._tx() as db:
            for e in events:
                cur = db.execute(
                    "INSERT OR IGNORE INTO events (delivery_id, received_at, webhook_ts, entity, action, subject, body)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (e.delivery_id, now, e.webhook_ts, e.entity, e.action, e.subject, e.body),
                )
                out.append(cur.rowcount == 1)
        return out

    def insert(self, event: NewEvent) -> bool:
        return self.insert_many([event])[0]

    # -- worker side ----------------------------------------------------------------------------

    def claim(self, owner: str, lease_s: float) -> ClaimedEvent | None:
        now = self.clock()
        token = uuid.uuid4().hex
        with self._tx() as db:
            row = db.execute(
                """
                SELECT e.seq FROM events e
                WHERE ((e.status = 'new' AND e.not_before <= :now)
                       OR (e.status = 'processing' AND e.lease_expires < :now))
                  AND NOT EXISTS (SELECT 1 FROM events o
                                  WHERE o.subject = e.subject AND o.seq < e.seq
                                    AND o.status IN ('new', 'processing'))
                  AND NOT EXISTS (SELECT 1 FROM events p
                                  WHERE p.subject = e.subject AND p.seq != e.seq
                                    AND p.status = 'processing' AND p.lease_expires >= :now)
                ORDER BY e.seq LIMIT 1
                """,
                {"now": now},
            ).fetchone()
            if row is None:
                return None
            seq = row[0]
            db.execute(
                "UPDATE events SET status='processing', attempts=attempts+1, lease_owner=?, lease_token=?,"
                " lease_expires=? WHERE seq=?",
                (owner, token, now + lease_s, seq),
            )
            r = db.execute(
                "SELECT seq, delivery_id, entity, action, subject, body, attempts, received_at FROM events WHERE seq=?",
                (seq,),
            ).fetchone()
        return ClaimedEvent(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], token, r[7])

    def renew(self, ev: ClaimedEvent, lease_s: float) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE events SET lease_expires=? WHERE seq=? AND lease_token=? AND status='processing'",
                (self.clock() + lease_s, ev.seq, ev.lease_token),
            )
            return cur.rowcount == 1

    def complete(self, ev: ClaimedEvent, result: dict[str, Any]) -> bool:
        """Mark done; False if the lease was lost (another worker took the event over)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE events SET status='done', finished_at=?, result=?, lease_token=NULL, last_error=NULL"
                " WHERE seq=? AND lease_token=? AND status='processing'",
                (self.clock(), json.dumps(result, sort_keys=True, default=str), ev.seq, ev.lease_token),
            )
            return cur.rowcount == 1

    def fail(self, ev: ClaimedEvent, error: str, *, retry_in: float | None) -> str | None:
        """Give the event back for a retry in ``retry_in`` seconds, or mark it failed (None).
        Returns the new status, or None if the lease was lost."""
        now = self.clock()
        status = "new" if retry_in is not None else "failed"
        with self._tx() as db:
            cur = db.execute(
                "UPDATE events SET status=?, not_before=?, last_error=?, lease_token=NULL,"
                " finished_at=CASE WHEN ?='failed' THEN ? ELSE NULL END"
                " WHERE seq=? AND lease_token=? AND status='processing'",
                (status, now + (retry_in or 0), error[:4000], status, now, ev.seq, ev.lease_token),
            )
            return status if cur.rowcount == 1 else None

    # -- inspection -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self._errors():
            rows = self._conn().execute("SELECT status, COUNT(*) FROM events GROUP BY status").fetchall()
        out = dict.fromkeys(STATUSES, 0)
        out.update({r[0]: r[1] for r in rows})
        return out

    def oldest_pending_received_at(self) -> float | None:
        """When the oldest event not yet done or failed arrived (metrics: queue age)."""
        row = self._conn().execute(
            "SELECT MIN(received_at) FROM events WHERE status IN ('new', 'processing')").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        db = self._conn()
        cur = db.execute("SELECT * FROM events WHERE delivery_id=?", (delivery_id,))
        row = cur.fetchone()
        if row is None:
            return None
        return {d[0]: v for d, v in zip(cur.description, row, strict=True)}

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        with self._errors():
            db = self._conn()
            if status:
                cur = db.execute("SELECT * FROM events WHERE status=? ORDER BY seq", (status,))
            else:
                cur = db.execute("SELECT * FROM events ORDER BY seq")
            return [{d[0]: v for d, v in zip(cur.description, r, strict=True)} for r in cur.fetchall()]

    def prune(self, older_than_s: float) -> int:
        """Delete finished events older than ``older_than_s`` (keep it above the replay window:
        a delivery id must be remembered for as long as its timestamp would be accepted)."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM events WHERE status IN ('done', 'failed') AND finished_at < ?",
                             (self.clock() - older_than_s,))
            return cur.rowcount


class GroupCommitWriter:
    """One thread owns the receiver's inserts: concurrent requests wait on futures, and every
    batch (up to ``max_batch``) is one transaction, one fsync. A future is resolved only after
    the commit returned, so an acknowledged delivery is on disk."""

    _STOP = object()

    def __init__(self, queue: EventQueue, *, max_batch: int = 256) -> None:
        self.queue = queue
        self.max_batch = max_batch
        self._inbox: _q.Queue[Any] = _q.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mlgate-hooks-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._inbox.put(self._STOP)
            self._thread.join(timeout)
            self._thread = None

    async def submit(self, event: NewEvent) -> bool:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        self._inbox.put((event, fut, loop))
        return await fut

    def _run(self) -> None:
        try:
            while True:
                item = self._inbox.get()
                if item is self._STOP:
                    return
                batch = [item]
                stop = False
                while len(batch) < self.max_batch:
                    try:
                        nxt = self._inbox.get_nowait()
                    except _q.Empty:
                        break
                    if nxt is self._STOP:
                        stop = True
                        break
                    batch.append(nxt)
                self._commit(batch)
                if stop:
                    return
        finally:
            self.queue.close()

    def _commit(self, batch: list[Any]) -> None:
        try:
            results: list[Any] = self.queue.insert_many([b[0] for b in batch])
            exc: BaseException | None = None
        except BaseException as e:
            log.error("could not record %d deliveries: %s", len(batch), e)
            results, exc = [None] * len(batch), e
        for (_, fut, loop), res in zip(batch, results, strict=True):
            loop.call_soon_threadsafe(_resolve, fut, res, exc)


def _resolve(fut: asyncio.Future[bool], res: bool | None, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(bool(res))
