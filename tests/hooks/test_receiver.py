"""The receiver (Starlette TestClient): authentic deliveries are recorded before the answer;
forged, replayed, stale, oversized and malformed ones are answered and record nothing."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette 1.x suggests httpx2 for its TestClient; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tests.hooks.hooks_helpers import SECRET, body_of, payload, signed_headers

from mlgate.hooks.queue import EventQueue
from mlgate.hooks.receiver import ReceiverSettings, create_app

URL = "/webhooks/mlflow"


@pytest.fixture
def queue(tmp_path: Path) -> EventQueue:
    return EventQueue(tmp_path / "q.db")


@pytest.fixture
def client(queue: EventQueue) -> Iterator[TestClient]:
    app = create_app(ReceiverSettings(secrets=[SECRET.encode()], max_body=4096), queue)
    with TestClient(app) as c:
        yield c


def _total(q: EventQueue) -> int:
    return sum(q.counts().values())


def test_authentic_delivery_is_recorded_before_the_answer(client: TestClient, queue: EventQueue) -> None:
    body = body_of(payload(name="fraud", version="3", source="models:/m-abc", run_id=None, tags={}, description=None))
    h = signed_headers(body)
    r = client.post(URL, content=body, headers=h)
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "accepted", "delivery_id": h["X-MLflow-Delivery-Id"]}
    # A fresh connection (another process could do the same) sees the committed row.
    row = EventQueue(queue.path).get(h["X-MLflow-Delivery-Id"])
    assert row is not None
    assert (row["status"], row["entity"], row["action"], row["subject"]) == ("new", "model_version", "created",
                                                                               "fraud/3")
    assert bytes(row["body"]) == body


def test_replay_of_a_delivery_id_is_a_no_op(client: TestClient, queue: EventQueue) -> None:
    body = body_of(payload())
    h = signed_headers(body)
    assert client.post(URL, content=body, headers=h).status_code == 202
    r = client.post(URL, content=body, headers=h)
    assert (r.status_code, r.json()["status"]) == (200, "duplicate")
    # Same id, new signature over a different body (an attacker with a captured id but no secret
    # cannot sign; MLflow's own retry reuses the id): still one event.
    h2 = signed_headers(body_of(payload(entity="model_version_alias", action="created", name="m", alias="production",
                                        version="1")), delivery_id=h["X-MLflow-Delivery-Id"])
    r2 = client.post(URL, content=body_of(payload(entity="model_version_alias", action="created", name="m",
                                                   alias="production", version="1")), headers=h2)
    assert (r2.status_code, r2.json()["status"]) == (200, "duplicate")
    assert _total(queue) == 1


def test_forged_signature_is_401_and_records_nothing(client: TestClient, queue: EventQueue) -> None:
    body = body_of(payload())
    forged = signed_headers(body, secret="attacker-guessed-secret-xxxx")
    assert client.post(URL, content=body, headers=forged).status_code == 401
    unsigned = {k: v for k, v in signed_headers(body).items() if k != "X-MLflow-Signature"}
    assert client.post(URL, content=body, headers=unsigned).status_code == 401
    tampered = signed_headers(body)
    assert client.post(URL, content=body.replace(b'"1"', b'"2"'), headers=tampered).status_code == 401
    assert _total(queue) == 0


def test_stale_replay_is_400_and_records_nothing(client: TestClient, queue: EventQueue) -> None:
    body = body_of(payload())
    old = signed_headers(body, timestamp=int(time.time()) - 3600)
    r = client.post(URL, content=body, headers=old)
    assert r.status_code == 400
    assert "replay window" in r.json()["reason"]
    assert _total(queue) == 0


def test_oversized_by_content_length_is_413(client: TestClient, queue: EventQueue) -> None:
    big = body_of(payload(name="m", version="1", description="x" * 5000))
    r = client.post(URL, content=big, headers=signed_headers(big))
    assert r.status_code == 413
    assert _total(queue) == 0


def test_oversized_chunked_body_without_length_is_413(client: TestClient, queue: EventQueue) -> None:
    big = body_of(payload(name="m", version="1", description="x" * 5000))

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    h = signed_headers(big)
    r = client.post(URL, content=chunks(), headers=h)
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413
    assert _total(queue) == 0


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", json.dumps({"entity": "model_version"}).encode(),
                                  json.dumps({"entity": "x", "action": "y", "data": "z"}).encode()])
def test_signed_but_malformed_is_400(client: TestClient, queue: EventQueue, body: bytes) -> None:
    r = client.post(URL, content=body, headers=signed_headers(body))
    assert r.status_code == 400
    assert _total(queue) == 0


def test_only_post_and_health(client: TestClient) -> None:
    assert client.get(URL).status_code == 405
    assert client.get("/healthz").json() == {"status": "ok"}


def test_a_queue_failure_is_503_so_mlflow_retries(tmp_path: Path) -> None:
    q = EventQueue(tmp_path / "q.db")
    app = create_app(ReceiverSettings(secrets=[SECRET.encode()]), q)

    def broken(_events):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    q.insert_many = broken  # type: ignore[method-assign]
    with TestClient(app) as c:
        body = body_of(payload())
        r = c.post(URL, content=body, headers=signed_headers(body))
    assert r.status_code == 503
    assert sum(EventQueue(tmp_path / "q.db").counts().values()) == 0


def test_concurrent_deliveries_are_grouped_and_all_recorded(queue: EventQueue) -> None:
    import concurrent.futures as cf

    app = create_app(ReceiverSettings(secrets=[SECRET.encode()]), queue)
    bodies = [body_of(payload(name=f"m{i}", version="1")) for i in range(60)]
    with TestClient(app) as c, cf.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda b: c.post(URL, content=b, headers=signed_headers(b)).status_code, bodies))
    assert codes == [202] * 60
    assert queue.counts()["new"] == 60
