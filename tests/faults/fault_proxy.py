"""A fault-injecting HTTP proxy for the fault suite: it sits on 127.0.0.1 in front of a real server
(moto's S3, an ``mlflow server``) and, for the requests a rule matches, answers with a fault instead
of (or after) forwarding. Everything else is forwarded unchanged.

Faults:

* ``status``: an HTTP error with an S3-style XML body (``500 InternalError``, ``503 SlowDown``, ...)
  or, with ``flavour="mlflow"``, MLflow's JSON error body;
* ``reset``: the connection is closed without an answer (the client sees a reset);
* ``truncate``: the real answer, with its full ``Content-Length`` but only part of the body;
* ``delay``: the real answer after ``seconds`` (past the client's read timeout, a time-out);
* ``hang``: nothing is forwarded; the connection is held ``seconds`` and then closed (a server that
  accepted the connection and stopped answering);
* ``down``: the connection is cut and the proxy stops listening (the server was killed at this
  request): every later request is refused until :meth:`FaultProxy.up`;
* ``pass``: forwarded unchanged (with ``then``: a hook at an exact request, e.g. a concurrent writer).

``skip`` lets the first matching requests through (fault the third tag write: ``skip=2``);
``then`` is called after forwarding and before answering (the server did the work, the client has
not heard yet): deterministic races.

``after=True`` forwards the request first (the server does the work and commits) and then applies
``status``/``reset``/``hang`` to the answer: the client sees a failure for something that happened.

:meth:`FaultProxy.down` stops listening and closes every open connection (the server is down:
connection refused); :meth:`FaultProxy.up` listens again on the same port.

A rule fires ``times`` times (``None``: every time) and counts its hits, so a test can assert
that the fault really happened.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>{code}</Code><Message>injected by the fault suite</Message>"
    "<RequestId>fault</RequestId></Error>"
)
MLFLOW_ERROR = '{{"error_code": "{code}", "message": "injected by the fault suite"}}'


@dataclass
class Rule:
    fault: str  # status | reset | truncate | delay | hang | down | pass
    method: str = ".*"
    path: str = ".*"  # regex on the path and query
    status: int = 500
    code: str = "InternalError"
    seconds: float = 0.0
    times: int | None = 1
    after: bool = False  # forward first, then fail the answer
    skip: int = 0  # let this many matching requests through first
    then: Callable[[], None] | None = None
    hits: int = 0
    seen: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if not (re.fullmatch(self.method, method) and re.search(self.path, path)):
            return False
        self.seen += 1
        return self.seen > self.skip


@dataclass
class FaultProxy:
    upstream: str
    flavour: str = "s3"  # s3 | mlflow: the error body of ``status`` faults
    rewrite_host: bool = False  # the proxy's own Host becomes the upstream's (mlflow checks --allowed-hosts)
    rules: list[Rule] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _handler: Any = None
    _refuse: bool = False
    _updown: threading.Lock = field(default_factory=threading.Lock)
    _conns: set[socket.socket] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self._port, "the proxy was never started"
        return f"http://127.0.0.1:{self._port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _pick(self, method: str, path: str) -> Rule | None:
        with self._lock:
            self.requests.append((method, path))
            for r in self.rules:
                if r.matches(method, path):
                    r.hits += 1
                    return r
        return None

    def start(self) -> FaultProxy:
        proxy = self
        up = urlsplit(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def _forward(self) -> tuple[int, list[tuple[str, str]], bytes]:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = self._read_chunked()
                conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding",)}
                if proxy.rewrite_host and headers.get("Host") in (f"127.0.0.1:{proxy._port}",
                                                                    f"localhost:{proxy._port}"):
                    # the proxy's own name becomes the upstream's; any other Host (a posture
                    # probe's bogus one) goes through unchanged, for the server to judge
                    headers["Host"] = up.netloc
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out = [(k, v) for k, v in resp.getheaders() if k.lower() not in ("transfer-encoding", "connection")]
                conn.close()
                return resp.status, out, data

            def _read_chunked(self) -> bytes:
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()

            def _send(
                self, status: int, headers: list[tuple[str, str]], data: bytes, *, cut: int | None = None
            ) -> None:
                self.send_response(status)
                head = self.command == "HEAD"  # keep the upstream Content-Length: no body follows
                for k, v in headers:
                    if head or k.lower() != "content-length":
                        self.send_header(k, v)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data if cut is None else data[:cut])
                self.wfile.flush()

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.close_connection = True
                self.connection.close()

            def _error(self, rule: Rule) -> None:
                if proxy.flavour == "mlflow":
                    body = MLFLOW_ERROR.format(code=rule.code).encode()
                    ctype = "application/json"
                else:
                    body = S3_ERROR.format(code=rule.code).encode()
                    ctype = "application/xml"
                self._send(rule.status, [("Content-Type", ctype)], body)

            def _hang(self, rule: Rule) -> None:
                time.sleep(rule.seconds)
                self._reset()

            def _drain(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    self._read_chunked()

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._conns.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._conns.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def _handle(self) -> None:
                if proxy._refuse:  # going down: nothing gets through any more
                    self._reset()
                    return
                rule = proxy._pick(self.command, self.path)
                if rule is not None and rule.fault == "down":
                    with proxy._updown:  # the server is gone before anyone can call up()
                        proxy._refuse = True
                        if rule.after:
                            self._forward()  # the server did the work, then died before answering
                        else:
                            self._drain()
                        self._reset()
                        proxy._down()
                    return
                if rule is not None and rule.then is not None and rule.fault == "pass":
                    status, headers, data = self._forward()
                    rule.then()
                    if rule.fault == "pass":
                        self._send(status, headers, data)
                        return
                if rule is not None and rule.after and rule.fault in ("status", "reset", "hang"):
                    self._forward()  # the server does the work; the client never hears of it
                    {"status": self._error, "reset": lambda _r: self._reset(), "hang": self._hang}[rule.fault](rule)
                    return
                if rule is not None and rule.fault == "reset":
                    self._reset()
                    return
                if rule is not None and rule.fault == "hang":
                    self._drain()
                    self._hang(rule)
                    return
                if rule is not None and rule.fault == "status":
                    self._drain()
                    self._error(rule)
                    return
                status, headers, data = self._forward()
                if rule is not None and rule.fault == "delay":
                    time.sleep(rule.seconds)
                if rule is not None and rule.fault == "truncate" and data:
                    self._send(status, headers, data, cut=max(1, len(data) // 2))
                    self.close_connection = True
                    return
                self._send(status, headers, data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

        self._handler = Handler
        return self.up()

    def up(self) -> FaultProxy:
        """Listen (again, on the same port after :meth:`down`)."""
        with self._updown:
            self._up()
        return self

    def _up(self) -> None:
        self._refuse = False
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler)
            self._server.daemon_threads = True
            self._port = int(self._server.server_address[1])
            threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True).start()

    def down(self) -> None:
        """The server is gone: refuse new connections and cut the open ones."""
        with self._updown:
            self._down()

    def _down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self.down()
