"""Every wait on a server is bounded, configurable and says what it waited for.

Two kinds of server, two deadlines:

* a server mlgate **starts** (moto, ``mlflow server``, ``prefect server start``): health-checked
  until ``MLGATE_START_TIMEOUT`` seconds (default 180: generous, because a busy 2-core machine can
  take a minute to import MLflow or Prefect);
* a server mlgate **talks to** (the MLflow tracking server, the S3 endpoint, the Prefect API):
  checked once before a command starts work, retried until ``MLGATE_CONNECT_TIMEOUT`` seconds
  (default 15). A server that does not answer ends the command with exit 2 and one line naming the
  server, the URL, the wait and the last error.

Once work has started, the clients' own retries are bounded too (:func:`apply_default_bounds` sets
these unless the environment already does):

==============================================  ========  ============  ==========================
setting                                         mlgate    library        worst case it bounds
==============================================  ========  ============  ==========================
``MLFLOW_HTTP_REQUEST_MAX_RETRIES``             3         7             MLflow server down: ~8 s
``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``          1         2             (was 286 s)
``MLFLOW_HTTP_REQUEST_TIMEOUT``                 30        120           hanging: 4 x 30 s + backoff
``AWS_MAX_ATTEMPTS``                            3         5 (legacy)    S3 down: a few seconds
``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_...``  300     20            only where ephemeral remains
==============================================  ========  ============  ==========================
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mlgate.errors import MlgateError, UsageError

LOOPBACK = "127.0.0.1"

ENV_START_TIMEOUT = "MLGATE_START_TIMEOUT"
ENV_CONNECT_TIMEOUT = "MLGATE_CONNECT_TIMEOUT"
DEFAULT_START_TIMEOUT = 180.0
DEFAULT_CONNECT_TIMEOUT = 15.0

# Library settings mlgate bounds (environment wins: these are only defaults).
CLIENT_BOUNDS: dict[str, str] = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "AWS_MAX_ATTEMPTS": "3",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
}


class ServerUnavailable(MlgateError):
    """A server did not answer within its deadline (exit 2)."""


def apply_default_bounds() -> None:
    """Bound the retries of the MLflow, boto3 and Prefect clients (keeps values already set)."""
    for k, v in CLIENT_BOUNDS.items():
        os.environ.setdefault(k, v)


def seconds(env: str, default: float) -> float:
    """A positive number of seconds from the environment variable ``env``."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{env}={raw!r}: not a number of seconds") from None
    if not 0 < value <= 86_400:
        raise UsageError(f"{env}={raw!r}: must be between 0 and 86400 seconds")
    return value


def start_timeout() -> float:
    return seconds(ENV_START_TIMEOUT, DEFAULT_START_TIMEOUT)


def connect_timeout() -> float:
    return seconds(ENV_CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT)


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _reason(e: BaseException | None) -> str:
    if e is None:
        return "no answer"
    import urllib.error  # here, not at the top: ``mlgate --help`` and ``mlgate scan`` never poll

    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return str(e.reason)
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None,
              ca_file: Path | str | None = None, *, what: str = "server", env_name: str = ENV_START_TIMEOUT,
              any_status: bool = False, log_path: Path | None = None) -> None:
    """Poll ``url`` until it answers (status < 500, or any HTTP status with ``any_status``) or
    ``timeout`` seconds pass; raise :class:`ServerUnavailable` naming ``what`` and the wait."""
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    started = time.monotonic()
    deadline = started + timeout
    last: BaseException | None = None
    logs = f"; its log: {log_path}" if log_path else ""
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerUnavailable(f"{what} exited with code {proc.returncode} before answering {url}{logs}")
        try:
            per_try = max(0.5, min(5.0, deadline - time.monotonic()))
            with urllib.request.urlopen(url, timeout=per_try, context=ctx) as r:  # noqa: S310 - URLs we were given
                if r.status < 500:
                    return
        except urllib.error.HTTPError as e:
            if any_status or e.code < 500:
                return
            last = e
        except (OSError, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            break
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    raise ServerUnavailable(
        f"{what} at {url} did not answer within {timeout:g} s ({_reason(last)}); "
        f"is it running? (the wait is {env_name}){logs}")


def _base(url: str) -> str:
    return url.rstrip("/")


def check_mlflow(tracking_uri: str | None) -> None:
    """An http(s) tracking server must answer ``/health`` within the connect deadline."""
    if not tracking_uri or urlparse(tracking_uri).scheme not in ("http", "https"):
        return  # file:, sqlite:, databricks ... are not servers mlgate can probe
    wait_http(_base(tracking_uri) + "/health", connect_timeout(), what="MLflow tracking server",
              env_name=ENV_CONNECT_TIMEOUT, ca_file=os.environ.get("REQUESTS_CA_BUNDLE") or None)


def check_s3(endpoint: str | None = None) -> None:
    """A custom S3 endpoint (``AWS_ENDPOINT_URL``, e.g. the local stack) must answer at all within
    the connect deadline. AWS itself is not probed (its answer depends on credentials)."""
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint or urlparse(endpoint).scheme not in ("http", "https"):
        return
    wait_http(_base(endpoint) + "/", connect_timeout(), what="S3 endpoint", env_name=ENV_CONNECT_TIMEOUT,
              ca_file=os.environ.get("AWS_CA_BUNDLE") or None, any_status=True)


def check_prefect(api_url: str) -> None:
    """The Prefect API must answer ``/health`` within the connect deadline."""
    wait_http(_base(api_url) + "/health", connect_timeout(), what="Prefect API", env_name=ENV_CONNECT_TIMEOUT)


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path | None = None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def start(
    name: str,
    argv: list[str],
    url: str,
    health: str,
    *,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
    ca_file: Path | None = None,
) -> Server:
    """Start a server process in its own session and wait (``timeout``, default
    ``$MLGATE_START_TIMEOUT``) until ``health`` answers; stop it again if it does not."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        argv,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        cwd=cwd,
    )
    if not isinstance(out, int):
        out.close()  # the child has its own copy
    server = Server(name, proc, url, log_path)
    try:
        wait_http(health, timeout if timeout is not None else start_timeout(), proc, ca_file, what=name,
                  log_path=log_path)
    except BaseException:
        server.stop()
        raise
    return server


def prefect_env(home: Path) -> dict[str, str]:
    """Environment of a Prefect server (and its clients) whose state lives in ``home``."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }


def start_prefect_server(home: Path, *, port: int = 0, log_path: Path | None = None,
                         timeout: float | None = None, services: bool = True) -> Server:
    """``prefect server start`` on 127.0.0.1 with its database under ``home``; returns when
    ``/api/health`` answers. ``Server.url`` is the API URL (``http://127.0.0.1:PORT/api``).
    ``services=False`` leaves out the scheduler and the other background services (enough to
    run flows, as Prefect's ephemeral mode does; schedules need them)."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    exe = str(Path(sys.executable).parent / "prefect")
    if not Path(exe).exists():
        exe = "prefect"
    api = f"http://{LOOPBACK}:{port}/api"
    env = {**prefect_env(home), "PREFECT_API_URL": "", "PREFECT_SERVER_API_HOST": LOOPBACK,
           "PREFECT_SERVER_API_PORT": str(port), "PREFECT_LOGGING_LEVEL": "WARNING"}
    argv = [exe, "server", "start", "--host", LOOPBACK, "--port", str(port)]
    if not services:
        argv.append("--no-services")
    return start("Prefect server", argv, api, api + "/health", env=env, log_path=log_path or home / "prefect-server.log",
                 timeout=timeout, cwd=home)
