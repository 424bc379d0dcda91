"""Helpers of the registry-hook tests: MLflow-shaped signed deliveries and a receiver process."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from mlgate.hooks.verify import sign
from mlgate.stack.procs import LOOPBACK, Server, free_port, start

SECRET = "test-secret-" + "x" * 32


def payload(entity: str = "model_version", action: str = "created", **data: Any) -> dict[str, Any]:
    data = data or {"name": "m", "version": "1", "source": "models:/m-1", "run_id": None, "tags": {},
                    "description": None}
    return {"entity": entity, "action": action, "timestamp": "2026-01-01T00:00:00+00:00", "data": data}


def body_of(p: dict[str, Any]) -> bytes:
    return json.dumps(p).encode()  # MLflow sends json.dumps(payload) as UTF-8


def signed_headers(body: bytes, *, secret: str = SECRET, delivery_id: str | None = None,
                   timestamp: int | None = None) -> dict[str, str]:
    did = delivery_id or str(uuid.uuid4())
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": did,
        "X-MLflow-Timestamp": ts,
        "X-MLflow-Signature": sign(secret, did, ts, body),
    }


def start_receiver(workdir: Path, queue: Path, *, secret: str = SECRET, secret_file: Path | None = None,
                   port: int = 0) -> Server:
    """``python -m mlgate.hooks serve`` (the same command as ``mlgate hooks serve``) on 127.0.0.1,
    with the secret from the environment or from ``secret_file``."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://{LOOPBACK}:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLGATE_WEBHOOK_SECRET")}
    argv = [sys.executable, "-m", "mlgate.hooks", "serve", "--host", LOOPBACK, "--port", str(port),
            "--queue", str(queue)]
    if secret_file is not None:
        argv += ["--secret-file", str(secret_file)]
    else:
        env["MLGATE_WEBHOOK_SECRET"] = secret
    return start("hooks-receiver", argv, url, url + "/healthz", env=env, log_path=workdir / "receiver.log",
                 timeout=30, cwd=workdir)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 10) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def post_oversized(url: str, body: bytes, headers: dict[str, str], timeout: float = 10) -> int:
    """POST a body the server refuses before reading it all: it answers and closes, so the
    upload may break off; read the answer anyway."""
    import http.client
    import urllib.parse

    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.putrequest("POST", u.path)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(k, v)
        conn.endheaders()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.send(body)
        return conn.getresponse().status
    finally:
        conn.close()


def kill9(server: Server) -> None:
    os.killpg(server.proc.pid, 9)
    server.proc.wait(10)


def run_quiet(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
