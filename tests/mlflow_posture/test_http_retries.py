"""The posture prober tries again a request that got no answer (a busy server is not a finding),
never one that got an answer, and counts every try against the budget."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from mlgate.gates.mlflow_posture.http import BudgetExceeded, Http


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[str]]]:
    """Connection 1 is closed without an answer; connection 2 gets a 500; later ones a 200."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    seen: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                seen.append("conn")
                n = len(seen)
                if n == 1:
                    continue  # closed with no answer
                status = b"500 Internal Server Error" if n == 2 else b"200 OK"
                conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}", seen
    stop.set()
    srv.close()
    t.join(5)


def test_no_answer_is_tried_again_and_an_answer_is_not(flaky_server: tuple[str, list[str]]) -> None:
    url, seen = flaky_server
    http = Http(url, timeout=10, max_requests=10, retries=1)
    ex = http.request("GET", "/api/2.0/mlflow/experiments/get?experiment_id=x")
    assert ex.status == 500, ex.error  # the first try got no answer, the retry got the 500
    assert http.requests == 2
    assert len(seen) == 2
    ex = http.request("GET", "/x")
    assert ex.status == 200
    assert http.requests == 3


def test_without_retries_no_answer_is_an_error(flaky_server: tuple[str, list[str]]) -> None:
    url, _ = flaky_server
    http = Http(url, timeout=10, max_requests=10, retries=0)
    ex = http.request("GET", "/x")
    assert ex.status is None
    assert ex.error
    assert http.requests == 1


def test_retries_count_against_the_budget(flaky_server: tuple[str, list[str]]) -> None:
    url, _ = flaky_server
    http = Http(url, timeout=10, max_requests=1, retries=3)
    ex = http.request("GET", "/x")
    assert ex.status is None
    assert http.requests == 1
    with pytest.raises(BudgetExceeded, match="budget"):
        http.request("GET", "/x")
