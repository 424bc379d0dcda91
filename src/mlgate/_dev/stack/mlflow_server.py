"""A real ``mlflow server`` process on 127.0.0.1: sqlite backend (or any ``backend_store_uri``,
e.g. a test's PostgreSQL), artifacts proxied to S3
(``--artifacts-destination``), hardened flags (allowed hosts, CORS, X-Frame-Options, telemetry
off, server-side job execution off). Clients then need no S3 credentials."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from mlgate._dev.stack.moto import FAKE_CREDENTIALS
from mlgate.integrations.servers import LOOPBACK, Server, free_port, start


def start_mlflow(
    workdir: Path,
    *,
    s3_endpoint: str,
    artifact_bucket: str,
    port: int = 0,
    registry_store_uri: str | None = None,
    backend_store_uri: str | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    db = workdir / "mlflow.db"
    url = f"http://{LOOPBACK}:{port}"
    argv = [
        exe, "server",
        "--host", LOOPBACK, "--port", str(port), "--workers", "1",
        "--backend-store-uri", backend_store_uri or f"sqlite:///{db}",
        "--artifacts-destination", f"s3://{artifact_bucket}/mlflow",
        "--serve-artifacts",
        "--allowed-hosts", f"{LOOPBACK}:{port},localhost:{port}",
        "--cors-allowed-origins", f"http://{LOOPBACK}:{port}",
        "--x-frame-options", "DENY",
    ]
    if registry_store_uri:
        argv += ["--registry-store-uri", registry_store_uri]
    env = {
        **FAKE_CREDENTIALS,
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_TRACKING_URI": "",
        # No server-side jobs (the posture gate's mlflow_server_job_execution remediation): no code
        # runs in the process that holds the registry, and no huey consumers eat a busy machine.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **(extra_env or {}),
    }
    return start("mlflow", argv, url, url + "/health", env=env, log_path=workdir / "mlflow-server.log",
                 timeout=timeout, cwd=workdir)
