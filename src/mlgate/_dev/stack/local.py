"""The embedded local stack: a moto S3 server, an ``mlflow server`` and a Prefect server
(``prefect server start``, with its UI) on 127.0.0.1, with state under a work directory, started
and stopped by one command each (``mlgate stack up|down``). Each server is health-checked within
``MLGATE_START_TIMEOUT`` seconds (default 180) and a failure names the server and its log.

* moto plays AWS S3 (its state is in memory: the launcher re-creates the hardened buckets on every
  start; MLflow's sqlite database, keys and staged copies live under the work directory and
  survive a restart);
* the ``mlflow server`` proxies artifacts to ``s3://<artifact bucket>/mlflow`` so clients need no
  S3 credentials;
* Prefect's server keeps its database under ``<workdir>/prefect``; flows run against it
  (``PREFECT_API_URL`` in the printed environment), never against Prefect's ephemeral server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlgate._dev.stack.mlflow_server import start_mlflow
from mlgate._dev.stack.moto import FAKE_CREDENTIALS, start_moto
from mlgate.integrations.servers import Server, prefect_env, start_prefect_server

DATA_BUCKET = "mlgate-data"
ARTIFACT_BUCKET = "mlgate-artifacts"
LOG_BUCKET = "mlgate-access-logs"


@dataclass
class StackInfo:
    workdir: str
    s3_endpoint: str
    tracking_uri: str
    moto_pid: int
    mlflow_pid: int
    buckets: list[str]
    prefect_api_url: str = ""
    prefect_pid: int = 0

    @property
    def pids(self) -> list[int]:
        return [p for p in (self.prefect_pid, self.mlflow_pid, self.moto_pid) if p]

    def env(self) -> dict[str, str]:
        """Environment for clients of this stack (boto3, MLflow, Prefect): complete, so that
        ``eval "$(mlgate stack up)"`` is all a shell needs. The credentials are moto's fake ones."""
        prefect = {"PREFECT_API_URL": self.prefect_api_url} if self.prefect_api_url else {}
        return {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.s3_endpoint,
            "AWS_CA_BUNDLE": str(Path(self.workdir) / "tls" / "tls-cert.pem"),
            # MLflow clients download proxied artifacts through presigned S3 URLs with requests
            "REQUESTS_CA_BUNDLE": str(Path(self.workdir) / "tls" / "tls-cert.pem"),
            "MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
            "DO_NOT_TRACK": "true",
            **prefect_env(Path(self.workdir) / "prefect"),
            **prefect,
            "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
        }


def boto3_session() -> Any:
    """A session with the stack's fake credentials. The endpoint comes from AWS_ENDPOINT_URL
    (standard boto3 configuration), as it does against AWS."""
    from mlgate.integrations import aws

    return aws.session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
    )


def create_buckets(endpoint: str) -> list[str]:
    """The stack's buckets, created with the secure configuration the S3 audit wants."""
    from mlgate._dev.stack.buckets import create_secure_buckets

    return create_secure_buckets(boto3_session(), endpoint,
                                 [DATA_BUCKET, ARTIFACT_BUCKET], log_bucket=LOG_BUCKET)


def _state_file(workdir: Path) -> Path:
    return workdir / "stack.json"


def _start_all(workdir: Path, prefect: bool) -> tuple[StackInfo, list[Server]]:
    workdir.mkdir(parents=True, exist_ok=True)
    moto = start_moto(log_path=workdir / "moto.log", tls_dir=workdir / "tls")
    ca = str(workdir / "tls" / "tls-cert.pem")
    os.environ["AWS_CA_BUNDLE"] = ca
    servers: list[Server] = [moto]
    try:
        buckets = create_buckets(moto.url)
        mlflow = start_mlflow(workdir / "mlflow", s3_endpoint=moto.url, artifact_bucket=ARTIFACT_BUCKET,
                              extra_env={"AWS_CA_BUNDLE": ca})
        servers.append(mlflow)
        pf = start_prefect_server(workdir / "prefect", log_path=workdir / "prefect-server.log") if prefect else None
        if pf is not None:
            servers.append(pf)
    except BaseException:
        for s in reversed(servers):
            s.stop()
        raise
    info = StackInfo(str(workdir), moto.url, mlflow.url, moto.proc.pid, mlflow.proc.pid, buckets,
                     pf.url if pf else "", pf.proc.pid if pf else 0)
    return info, servers


@contextmanager
def running_stack(workdir: Path, *, prefect: bool = False) -> Iterator[StackInfo]:
    """Start moto and mlflow (and, with ``prefect``, a Prefect server) for the duration of a
    ``with`` block (tests and the demo)."""
    info, servers = _start_all(workdir, prefect)
    try:
        yield info
    finally:
        for s in reversed(servers):
            s.stop()


def up(workdir: Path) -> StackInfo:
    """Start the stack (moto, mlflow, Prefect) in the background and record it in
    ``workdir/stack.json``. Idempotent: a running stack is returned as it is."""
    workdir.mkdir(parents=True, exist_ok=True)
    state = _state_file(workdir)
    if state.exists():
        info = StackInfo(**json.loads(state.read_text()))
        if info.prefect_pid and all(_alive(p) for p in info.pids):
            return info
        down(workdir)
    info, _servers = _start_all(workdir, prefect=True)
    state.write_text(json.dumps(asdict(info), indent=2))
    return info


def down(workdir: Path) -> bool:
    state = _state_file(workdir)
    if not state.exists():
        return False
    info = StackInfo(**json.loads(state.read_text()))
    for pid in info.pids:
        _stop_group(pid)
    state.unlink()
    return True


def status(workdir: Path) -> StackInfo | None:
    state = _state_file(workdir)
    if not state.exists():
        return None
    info = StackInfo(**json.loads(state.read_text()))
    return info if all(_alive(p) for p in info.pids) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _stop_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
