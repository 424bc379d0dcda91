"""What the posture audit collected about one MLflow server, and the collector.

Collect once, evaluate purely: :func:`collect_inventory` sends HTTP requests that read nothing
sensitive and change nothing (lookups of ids that do not exist, an empty GraphQL query, the
abort of an upload that does not exist), each bounded by the policy's timeout and counted against
its budget; registry content (experiments, model versions, webhooks) is read only when the
server lets the auditor read it. The server-side environment comes from a ``KEY=VALUE`` file
(``--server-env``). Every field that could not be collected is recorded in ``errors`` (never
raised), so the runner can turn it into an ``error`` or ``unsupported`` finding.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sqlite3
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mlgate.gates.mlflow_posture.config import MlflowPostureConfig
from mlgate.gates.mlflow_posture.http import BudgetExceeded, Exchange, Http

log = logging.getLogger(__name__)

PROBE_ID = "mlgate-posture-probe"
FOREIGN_HOST = "mlgate-posture-probe.invalid"
FOREIGN_ORIGIN = "https://mlgate-posture-probe.invalid"

FIELDS = ("version", "routes", "default_credentials", "host_header", "cors", "tls", "webhooks",
          "model_versions", "experiments", "server_env", "webhook_secrets")

RouteOutcome = Literal["open", "protected", "absent", "unknown", "error"]

# family -> (method, path, body): requests that read nothing and change nothing.
ROUTE_PROBES: dict[str, tuple[str, str, dict[str, Any] | bytes | None]] = {
    "rest-2.0": ("GET", f"/api/2.0/mlflow/experiments/get?experiment_id={PROBE_ID}", None),
    "rest-3.0": ("GET", f"/api/3.0/mlflow/traces/{PROBE_ID}", None),
    "ajax-api": ("GET", f"/ajax-api/2.0/mlflow/experiments/get?experiment_id={PROBE_ID}", None),
    "graphql": ("POST", "/graphql", {"query": "{ __typename }"}),
    "artifacts": ("GET", f"/api/2.0/mlflow-artifacts/artifacts?path={PROBE_ID}", None),
    "multipart-upload": ("POST", f"/api/2.0/mlflow-artifacts/mpu/abort/{PROBE_ID}/{PROBE_ID}",
                         {"path": PROBE_ID, "upload_id": PROBE_ID}),
    "jobs": ("GET", f"/ajax-api/3.0/jobs/{PROBE_ID}", None),
    "traces": ("POST", "/v1/traces", b""),
    "gateway": ("POST", f"/gateway/{PROBE_ID}/mlflow/invocations", {}),
    "gateway-api": ("GET", f"/api/3.0/mlflow/gateway/endpoints/get?endpoint_id={PROBE_ID}", None),
    "webhooks": ("GET", f"/api/2.0/mlflow/webhooks/{PROBE_ID}", None),
}

_DENIED = {"UNAUTHENTICATED", "PERMISSION_DENIED"}
_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data", "metadata.azure.internal"}


class CallError(BaseModel):
    field: str
    message: str
    category: Literal["failed", "denied", "unsupported"] = "failed"

    def __str__(self) -> str:
        return self.message


class RouteProbe(BaseModel):
    family: str
    method: str
    path: str
    status: int | None
    outcome: RouteOutcome
    detail: str = ""


class HeaderProbe(BaseModel):
    status: int | None
    detail: str = ""
    headers: dict[str, str] = Field(default_factory=dict)


class WebhookRef(BaseModel):
    webhook_id: str
    name: str = ""
    url: str
    status: str = ""
    addresses: list[str] = Field(default_factory=list)  # what the host name resolved to (audit time)
    resolve_error: str | None = None


class ModelVersionRef(BaseModel):
    name: str
    version: str
    source: str
    resolved: str | None = None  # where a models:/m-... or runs:/ source really lives
    resolve_error: str | None = None


class ExperimentRef(BaseModel):
    experiment_id: str
    name: str
    artifact_location: str


class ServerInventory(BaseModel):
    url: str
    scheme: str
    hostname: str
    loopback: bool
    version: str | None = None
    version_source: str | None = None
    routes: dict[str, RouteProbe] = Field(default_factory=dict)
    default_credentials_accepted: list[str] = Field(default_factory=list)
    default_credentials_tried: list[str] = Field(default_factory=list)
    host_header: HeaderProbe | None = None
    cors: HeaderProbe | None = None
    tls_verified: bool | None = None
    webhooks: list[WebhookRef] | None = None
    model_versions: list[ModelVersionRef] | None = None
    experiments: list[ExperimentRef] | None = None
    server_env: dict[str, str] | None = None
    server_env_path: str | None = None
    webhook_secrets: dict[str, bool] | None = None  # webhook_id -> has a secret (server side)
    errors: dict[str, CallError] = Field(default_factory=dict)
    collected: set[str] = Field(default_factory=set)
    requests: int = 0
    seconds: float = 0.0
    request_log: list[tuple[str, str, int | None]] = Field(default_factory=list)

    @property
    def anonymous_open(self) -> list[str]:
        return [f for f, r in self.routes.items() if r.outcome == "open"]

    @property
    def auth_enabled(self) -> bool:
        return any(r.outcome == "protected" for r in self.routes.values())


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def classify_address(host: str) -> str | None:
    """Why a webhook host is not a public destination (None: a public literal or a name)."""
    h = host.strip("[]").lower().rstrip(".")
    if h in _METADATA_HOSTS:
        return "cloud metadata service"
    if h == "localhost" or h.endswith(".localhost"):
        return "loopback"
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16"):
        return "cloud metadata service"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private or ip.is_reserved or ip.is_unspecified or ip.is_multicast or not ip.is_global:
        return "private"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def resolve(host: str, timeout: float) -> tuple[list[str], str | None]:
    """The addresses a name resolves to, bounded by ``timeout`` (getaddrinfo has no timeout)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["addrs"] = sorted({str(i[4][0]) for i in socket.getaddrinfo(host, None)})
        except OSError as e:
            box["error"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        return [], f"resolving {host} took longer than {timeout} s"
    return list(box.get("addrs", [])), box.get("error")


def parse_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export`` and quotes allowed, ``#`` comments); later lines win."""
    out: dict[str, str] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            raise ValueError(f"{path}:{n}: not a KEY=VALUE line")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def _route_outcome(ex: Exchange) -> tuple[RouteOutcome, str]:
    if ex.status is None:
        return "error", ex.error or "no response"
    code = ex.error_code
    if ex.status in (401, 403) or code in _DENIED:
        return "protected", f"HTTP {ex.status}" + (f" {code}" if code else "")
    if ex.status == 404 and code is None:
        data = ex.json()
        if data is None or data == {"detail": "Not Found"}:
            return "absent", "HTTP 404: route not served"
    if ex.status == 405:
        return "unknown", "HTTP 405: the probe's method is not served here"
    return "open", f"HTTP {ex.status}" + (f" {code}" if code else "") + " without credentials"


class _Collector:
    def __init__(self, url: str, config: MlflowPostureConfig, credentials: tuple[str, str] | None,
                 ca_file: str | None) -> None:
        self.http = Http(url, timeout=config.timeout_seconds, max_requests=config.max_requests, ca_file=ca_file,
                         retries=config.retries)
        self.config = config
        self.credentials = credentials
        self.inv = ServerInventory(url=url, scheme=self.http.scheme, hostname=self.http.hostname,
                                   loopback=is_loopback_host(self.http.hostname))
        self.unreachable: str | None = None  # the server did not answer at all: stop sending

    def err(self, field: str, message: str, category: Literal["failed", "denied", "unsupported"] = "failed") -> None:
        self.inv.errors[field] = CallError(field=field, message=message, category=category)

    def ok(self, field: str) -> None:
        self.inv.collected.add(field)

    # -- outside --------------------------------------------------------------------------------
    def version(self) -> None:
        ex = self.http.request("GET", "/version", headers={"Accept": "text/plain"})
        if ex.status == 401 and self.credentials:  # basic-auth guards /version too (3.17)
            ex = self.http.request("GET", "/version", headers={"Accept": "text/plain"}, auth=self.credentials)
        text = ex.body.decode("utf-8", "replace").strip()
        if ex.status == 200 and text and len(text) < 64 and "<" not in text:
            self.inv.version, self.inv.version_source = text, "GET /version"
            self.ok("version")
        elif ex.status is None:
            self.err("version", f"GET /version: {ex.error}")
            self.unreachable = ex.error or "no response"
        elif ex.status == 401:
            self.err("version", "GET /version needs credentials: give the audit a user (--username) to see the "
                                "version", "unsupported")
        else:
            self.err("version", f"GET /version answered HTTP {ex.status}: the server does not report its version",
                     "unsupported")

    def routes(self) -> None:
        for family, (method, path, body) in ROUTE_PROBES.items():
            headers = {"Content-Type": "application/x-protobuf"} if isinstance(body, bytes) else None
            ex = self.http.request(method, path, body=body, headers=headers)
            outcome, detail = _route_outcome(ex)
            self.inv.routes[family] = RouteProbe(family=family, method=method, path=path, status=ex.status,
                                                 outcome=outcome, detail=detail)
        if all(r.outcome == "error" for r in self.inv.routes.values()):
            self.err("routes", "no route family answered: " + next(iter(self.inv.routes.values())).detail)
        else:
            self.ok("routes")

    def default_credentials(self) -> None:
        probe = self.inv.routes.get("rest-2.0")
        if probe is None or probe.outcome != "protected":
            self.ok("default_credentials")  # nothing to log in to: anonymous access is its own check
            return
        method, path, _ = ROUTE_PROBES["rest-2.0"]
        for cred in self.config.default_credentials:
            ex = self.http.request(method, path, auth=(cred.username, cred.password))
            self.inv.default_credentials_tried.append(cred.username)
            if ex.status is None:
                self.err("default_credentials", f"login as {cred.username}: {ex.error}")
                return
            if ex.status != 401 and ex.error_code != "UNAUTHENTICATED":
                self.inv.default_credentials_accepted.append(cred.username)
        self.ok("default_credentials")

    def host_header(self) -> None:
        method, path, _ = ROUTE_PROBES["rest-2.0"]
        ex = self.http.request(method, path, host=FOREIGN_HOST, auth=self.credentials)
        if ex.status is None:
            self.err("host_header", f"request with a foreign Host header: {ex.error}")
            return
        self.inv.host_header = HeaderProbe(status=ex.status, detail=ex.body[:200].decode("utf-8", "replace"))
        self.ok("host_header")

    def cors(self) -> None:
        method, path, _ = ROUTE_PROBES["rest-2.0"]
        ex = self.http.request("OPTIONS", path, headers={
            "Origin": FOREIGN_ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization"})
        ex2 = self.http.request(method, path, headers={"Origin": FOREIGN_ORIGIN}, auth=self.credentials)
        if ex.status is None and ex2.status is None:
            self.err("cors", f"CORS probe: {ex.error}")
            return
        keep = ("access-control-allow-origin", "access-control-allow-credentials", "vary")
        merged: dict[str, str] = {}
        for e in (ex, ex2):
            for k in keep:
                v = e.header(k)
                if v is not None:
                    merged[f"{e.method} {k}"] = v
        self.inv.cors = HeaderProbe(status=ex.status, headers=merged)
        self.ok("cors")

    def tls(self) -> None:
        if self.inv.scheme == "https":
            # every answered request went through a verified TLS handshake (default context)
            answered = [r for r in self.inv.routes.values() if r.status is not None]
            tls_errors = [r.detail for r in self.inv.routes.values() if r.detail.startswith("TLS")]
            if tls_errors and not answered:
                self.inv.tls_verified = False
                self.err("tls", tls_errors[0])
                return
            self.inv.tls_verified = bool(answered)
        self.ok("tls")

    # -- registry content -------------------------------------------------------------------------
    def _read(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[Any, str | None]:
        ex = self.http.request(method, path, body=body, auth=self.credentials)
        if ex.status == 200:
            data = ex.json()
            return (data, None) if isinstance(data, dict) else (None, f"{method} {path}: not JSON")
        if ex.status is None:
            return None, f"{method} {path}: {ex.error}"
        return None, f"{method} {path}: HTTP {ex.status} {ex.error_code or ''}".rstrip()

    def _denied(self, why: str) -> Literal["denied", "failed"]:
        return "denied" if (" 401" in why or " 403" in why) else "failed"

    def experiments(self) -> None:
        out: list[ExperimentRef] = []
        token: str | None = None
        while True:
            body: dict[str, Any] = {"max_results": 1000, "view_type": "ALL"}
            if token:
                body["page_token"] = token
            data, why = self._read("POST", "/api/2.0/mlflow/experiments/search", body)
            if why:
                self.err("experiments", why, self._denied(why))
                return
            for e in data.get("experiments", []):
                out.append(ExperimentRef(experiment_id=str(e.get("experiment_id", "")), name=str(e.get("name", "")),
                                         artifact_location=str(e.get("artifact_location", ""))))
            token = data.get("next_page_token")
            if len(out) > self.config.max_registry_items:
                self.err("experiments", f"more than {self.config.max_registry_items} experiments "
                                        "(max_registry_items): not all were read", "unsupported")
                return
            if not token:
                break
        self.inv.experiments = out
        self.ok("experiments")

    def model_versions(self) -> None:
        out: list[ModelVersionRef] = []
        token: str | None = None
        while True:
            q = "max_results=1000" + (f"&page_token={urllib.parse.quote(token)}" if token else "")
            data, why = self._read("GET", f"/api/2.0/mlflow/model-versions/search?{q}")
            if why:
                self.err("model_versions", why, self._denied(why))
                return
            for mv in data.get("model_versions", []):
                out.append(ModelVersionRef(name=str(mv.get("name", "")), version=str(mv.get("version", "")),
                                           source=str(mv.get("source", ""))))
            token = data.get("next_page_token")
            if len(out) > self.config.max_registry_items:
                self.err("model_versions", f"more than {self.config.max_registry_items} model versions "
                                           "(max_registry_items): not all were read", "unsupported")
                return
            if not token:
                break
        cache: dict[str, tuple[str | None, str | None]] = {}
        for mv in out if self.config.resolve_indirect_sources else []:
            key = _indirection(mv.source)
            if key is None:
                continue
            if key not in cache:
                cache[key] = self._resolve(key)
            mv.resolved, mv.resolve_error = cache[key]
        self.inv.model_versions = out
        self.ok("model_versions")

    def _resolve(self, key: str) -> tuple[str | None, str | None]:
        kind, ident, sub = key.split("\x00")
        if kind == "model":
            data, why = self._read("GET", f"/api/2.0/mlflow/logged-models/{urllib.parse.quote(ident)}")
            if why:
                return None, why
            loc = ((data.get("model") or {}).get("info") or {}).get("artifact_uri")
            return (str(loc), None) if loc else (None, "logged model has no artifact_uri")
        data, why = self._read("GET", f"/api/2.0/mlflow/runs/get?run_id={urllib.parse.quote(ident)}")
        if why:
            return None, why
        root = ((data.get("run") or {}).get("info") or {}).get("artifact_uri")
        if not root:
            return None, "run has no artifact_uri"
        return (str(root).rstrip("/") + ("/" + sub if sub else "")), None

    def webhooks(self) -> None:
        out: list[WebhookRef] = []
        token: str | None = None
        while True:
            q = "max_results=100" + (f"&page_token={urllib.parse.quote(token)}" if token else "")
            data, why = self._read("GET", f"/api/2.0/mlflow/webhooks?{q}")
            if why:
                self.err("webhooks", why, self._denied(why))
                return
            for w in data.get("webhooks", []):
                out.append(WebhookRef(webhook_id=str(w.get("webhook_id", "")), name=str(w.get("name", "")),
                                      url=str(w.get("url", "")), status=str(w.get("status", ""))))
            token = data.get("next_page_token")
            if not token or len(out) > self.config.max_registry_items:
                break
        for w in out:
            host = urllib.parse.urlsplit(w.url).hostname or ""
            if host and classify_address(host) is None and not _is_ip(host):
                w.addresses, w.resolve_error = resolve(host, self.config.timeout_seconds)
        self.inv.webhooks = out
        self.ok("webhooks")

    # -- server side ------------------------------------------------------------------------------
    def server_env(self, path: Path | None) -> None:
        if path is None:
            self.err("server_env", "no server environment given (--server-env FILE): the server-side settings "
                                   "cannot be seen from outside", "unsupported")
            self.err("webhook_secrets", "whether a webhook has a secret is never returned by the API; give the "
                                        "server environment (--server-env) of a sqlite-backed server", "unsupported")
            return
        try:
            env = parse_env_file(path)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            self.err("server_env", f"server environment {path}: {e}")
            self.err("webhook_secrets", "server environment unreadable")
            return
        self.inv.server_env, self.inv.server_env_path = env, str(path)
        self.ok("server_env")
        store = env.get("MLFLOW_REGISTRY_STORE_URI") or env.get("MLFLOW_BACKEND_STORE_URI") or ""
        db = sqlite_path(store)
        if db is None:
            self.err("webhook_secrets", f"registry store {redact(store) or '(unset)'} is not a sqlite file this audit "
                                        "can read: whether webhooks have secrets is unknown", "unsupported")
            return
        try:
            con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=self.config.timeout_seconds)
            try:
                rows = con.execute("SELECT webhook_id, secret FROM webhooks").fetchall()
            finally:
                con.close()
        except sqlite3.Error as e:
            self.err("webhook_secrets", f"{db}: {e}")
            return
        self.inv.webhook_secrets = {str(r[0]): bool(r[1]) for r in rows}
        self.ok("webhook_secrets")


def _indirection(source: str) -> str | None:
    """``models:/m-<id>`` and ``runs:/<run>/<path>`` sources say nothing about where the bytes are."""
    u = urllib.parse.urlsplit(source)
    if u.scheme == "models":
        part = (u.netloc + u.path).lstrip("/")
        if part.startswith("m-") and "/" not in part:
            return f"model\x00{part}\x00"
        return None
    if u.scheme == "runs":
        part = (u.netloc + u.path).lstrip("/")
        run, _, sub = part.partition("/")
        return f"run\x00{run}\x00{sub}" if run else None
    return None


def sqlite_path(uri: str) -> Path | None:
    u = urllib.parse.urlsplit(uri)
    scheme = u.scheme.split("+")[-1]
    if scheme != "sqlite":
        return None
    path = u.path
    if u.netloc:  # sqlite://host/... is not a local file
        return None
    return Path(path) if path.startswith("/") else None


def redact(uri: str) -> str:
    u = urllib.parse.urlsplit(uri)
    if u.password:
        return uri.replace(f":{u.password}@", ":***@")
    return uri


def collect_inventory(url: str, config: MlflowPostureConfig, *, credentials: tuple[str, str] | None = None,
                      server_env: Path | None = None, ca_file: str | None = None) -> ServerInventory:
    """Probe one server. Never raises for what the server does; a budget overrun is recorded."""
    c = _Collector(url, config, credentials, ca_file)
    started = time.monotonic()
    steps = [c.version, c.routes, c.default_credentials, c.host_header, c.cors, c.tls,
             c.experiments, c.model_versions, c.webhooks]
    names = ["version", "routes", "default_credentials", "host_header", "cors", "tls",
             "experiments", "model_versions", "webhooks"]
    for step, name in zip(steps, names, strict=True):
        if c.unreachable is not None and name != "version":
            c.err(name, f"not probed: the server did not answer GET /version ({c.unreachable})")
            continue
        try:
            step()
        except BudgetExceeded as e:
            c.err(name, str(e), "unsupported")
    c.server_env(server_env)
    c.inv.requests = c.http.requests
    c.inv.request_log = list(c.http.log)
    c.inv.seconds = time.monotonic() - started
    return c.inv
