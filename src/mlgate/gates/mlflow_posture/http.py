"""A small HTTP prober: every request bounded by a timeout, counted against a budget, never
following redirects, with an explicit ``Host`` header when asked (stdlib only)."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

MAX_BODY = 4 * 1024 * 1024
USER_AGENT = "mlgate-mlflow-posture"


class BudgetExceeded(Exception):
    """The audit reached its request budget (``max_requests``)."""


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    elapsed: float = 0.0

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def error_code(self) -> str | None:
        """MLflow's ``error_code`` (or FastAPI's ``detail``) of an error response."""
        data = self.json()
        if isinstance(data, dict):
            code = data.get("error_code")
            if isinstance(code, str):
                return code
        return None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class Http:
    def __init__(self, base_url: str, *, timeout: float, max_requests: int,
                 ca_file: str | None = None, retries: int = 0) -> None:
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.scheme = u.scheme
        self.hostname = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = u.path.rstrip("/")
        default_port = (u.scheme == "https" and self.port == 443) or (u.scheme == "http" and self.port == 80)
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        self.host_header = host if default_port else f"{host}:{self.port}"
        self.timeout = timeout
        self.max_requests = max_requests
        self.ca_file = ca_file
        self.retries = retries
        self.requests = 0
        self.log: list[tuple[str, str, int | None]] = []
        self.elapsed = 0.0

    def _conn(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()
            return http.client.HTTPSConnection(self.hostname, self.port, timeout=self.timeout, context=ctx)
        return http.client.HTTPConnection(self.hostname, self.port, timeout=self.timeout)

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                body: bytes | dict[str, Any] | None = None, host: str | None = None,
                auth: tuple[str, str] | None = None) -> Exchange:
        """One probe. A request that got no answer at all (timeout, reset, refused) is tried again
        up to ``retries`` times (every probe reads nothing sensitive and changes nothing, so a retry
        is harmless; each try counts against the budget): a busy server is not a finding. An answer,
        whatever its status, is never retried."""
        ex = self._once(method, path, headers=headers, body=body, host=host, auth=auth)
        for _ in range(self.retries):
            if ex.status is not None or (ex.error or "").startswith("TLS:") or self.requests >= self.max_requests:
                break
            ex = self._once(method, path, headers=headers, body=body, host=host, auth=auth)
        return ex

    def _once(self, method: str, path: str, *, headers: dict[str, str] | None,
              body: bytes | dict[str, Any] | None, host: str | None,
              auth: tuple[str, str] | None) -> Exchange:
        if self.requests >= self.max_requests:
            raise BudgetExceeded(f"request budget of {self.max_requests} reached")
        self.requests += 1
        hdrs = {"User-Agent": USER_AGENT, "Accept": "application/json", "Host": host or self.host_header}
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if auth is not None:
            hdrs["Authorization"] = basic_auth(*auth)
        hdrs.update(headers or {})
        full = self.prefix + path
        started = time.monotonic()
        conn = self._conn()
        try:
            conn.request(method, full, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read(MAX_BODY + 1)[:MAX_BODY]
            ex = Exchange(method, path, resp.status, {k.lower(): v for k, v in resp.getheaders()}, data,
                          elapsed=time.monotonic() - started)
        except ssl.SSLError as e:
            ex = Exchange(method, path, None, error=f"TLS: {e}", elapsed=time.monotonic() - started)
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            ex = Exchange(method, path, None, error=f"{type(e).__name__}: {e}", elapsed=time.monotonic() - started)
        finally:
            conn.close()
        self.elapsed += ex.elapsed
        self.log.append((method, path, ex.status))
        return ex
