"""A fault-injecting HTTP proxy for the fault suite: it sits on 127.0.0.1 in front of a real server
(moto's S3, an mlflow server) and, for the requests a rule matches, answers with a fault instead
of (or after) forwarding. Everything else is forwarded unchanged.

Faults:

* ``status``: an HTTP error with an S3-style XML body (``500 InternalError``, ``503 SlowDown``, ...);
* ``reset``: the connection is closed without an answer (the client sees a reset);
* ``truncate``: the real answer, with its full ``Content-Length`` but only part of the body;
* ``delay``: the real answer after ``seconds`` (past the client's read timeout, a time-out).

A rule fires ``times`` times (``None``: every time) and counts its hits, so a test can assert
that the fault really happened.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>{code}</Code><Message>injected by the fault suite</Message>"
    "<RequestId>fault</RequestId></Error>"
)


@dataclass
class Rule:
    fault: str  # status | reset | truncate | delay
    method: str = ".*"
    path: str = ".*"  # regex on the path and query
    status: int = 500
    code: str = "InternalError"
    seconds: float = 0.0
    times: int | None = 1
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return bool(re.fullmatch(self.method, method)) and bool(re.search(self.path, path))


@dataclass
class FaultProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

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

            def _handle(self) -> None:
                rule = proxy._pick(self.command, self.path)
                if rule is not None and rule.fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    self.connection.close()
                    return
                if rule is not None and rule.fault == "status":
                    body = S3_ERROR.format(code=rule.code).encode()
                    length = int(self.headers.get("Content-Length") or 0)
                    if length:
                        self.rfile.read(length)
                    self._send(rule.status, [("Content-Type", "application/xml")], body)
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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
