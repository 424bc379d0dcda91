"""The durable webhook queue under faults: a corrupt database and a full disk are one clear line
(exit 2 from the CLI), the file is left exactly as it was, and nothing is acknowledged that was not
stored (the receiver answers 503; a worker's ``done`` is not recorded, the event stays claimable).

The full disk is a real one: a 1 MiB tmpfs mounted by the test (root only; skipped otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tests.faults.harness import fill
from tests.hooks.hooks_helpers import SECRET, body_of, payload, signed_headers

from mlgate.hooks.queue import EventQueue, NewEvent, QueueError

URL = "/webhooks/mlflow"


def _event(i: int) -> NewEvent:
    return NewEvent(f"d-{i}-{uuid.uuid4().hex[:8]}", 1, "model_version", "created", f"m/{i}", b"{}" * 200)


def _one_line(e: BaseException) -> str:
    text = str(e)
    assert "\n" not in text
    return text


def test_a_file_that_is_not_a_database_is_one_line_and_left_untouched(tmp_path: Path) -> None:
    q = tmp_path / "q.db"
    junk = os.urandom(8192)
    q.write_bytes(junk)
    with pytest.raises(QueueError, match="not a database") as ei:
        EventQueue(q)
    assert str(q) in _one_line(ei.value)
    assert q.read_bytes() == junk


def test_a_damaged_queue_with_events_is_refused_and_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    q = EventQueue(path)
    q.insert_many([_event(i) for i in range(300)])
    q._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    q.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 6 * 4096
    data[2 * 4096:5 * 4096] = os.urandom(3 * 4096)  # damage pages, keep the header
    path.write_bytes(bytes(data))
    with pytest.raises(QueueError, match="damaged") as ei:
        EventQueue(path).counts()
    _one_line(ei.value)
    assert path.read_bytes() == bytes(data)


def test_cli_on_a_corrupt_queue_exits_2_with_one_line(tmp_path: Path) -> None:
    q = tmp_path / "q.db"
    q.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    proc = subprocess.run([sys.executable, "-m", "mlgate", "hooks", "status", "--queue", str(q)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert str(q) in lines[0]






def test_receiver_on_a_full_disk_answers_503_and_keeps_what_it_had(small_disk: Path) -> None:
    from mlgate.hooks.receiver import ReceiverSettings, create_app

    queue = EventQueue(small_disk / "q.db")
    first = body_of(payload(name="m", version="1"))
    app = create_app(ReceiverSettings(secrets=[SECRET.encode()], max_body=65536), queue)
    with TestClient(app) as client:
        h1 = signed_headers(first)
        assert client.post(URL, content=first, headers=h1).status_code == 202
        queue._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = fill(small_disk)
        accepted = 0
        refused = []
        for i in range(40):  # until the WAL needs a block the disk does not have
            body = body_of(payload(name="m", version=str(i + 2), description="x" * 3000))
            h = signed_headers(body)
            r = client.post(URL, content=body, headers=h)
            assert r.status_code in (202, 503), r.text
            if r.status_code == 503:
                refused.append(h["X-MLflow-Delivery-Id"])
            else:
                accepted += 1
        assert refused, "the disk never filled up"
        filler.unlink()
        # nothing acknowledged was lost; nothing refused was recorded; MLflow's retry now succeeds
        check = EventQueue(small_disk / "q.db")
        assert check.get(h1["X-MLflow-Delivery-Id"]) is not None
        assert sum(check.counts().values()) == 1 + accepted
        assert all(check.get(d) is None for d in refused)
        body = body_of(payload(name="m", version="99"))
        assert client.post(URL, content=body, headers=signed_headers(body)).status_code == 202


def test_worker_completion_on_a_full_disk_is_not_acknowledged(small_disk: Path) -> None:
    t = [1000.0]
    queue = EventQueue(small_disk / "q.db", clock=lambda: t[0])
    queue.insert(_event(1))
    ev = queue.claim("w1", lease_s=30)
    assert ev is not None
    queue._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = fill(small_disk)
    with pytest.raises(QueueError, match="full") as ei:  # the emptied WAL needs new blocks
        queue.complete(ev, {"action": "verified", "pad": "y" * 20000})
    _one_line(ei.value)
    filler.unlink()
    assert queue.counts()["done"] == 0
    t[0] += 31  # the lease runs out: the event is handed out again, not lost
    again = EventQueue(small_disk / "q.db", clock=lambda: t[0]).claim("w2", lease_s=30)
    assert again is not None
    assert again.delivery_id == ev.delivery_id
