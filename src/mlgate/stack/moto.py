"""moto's standalone S3 server on 127.0.0.1 (the local stand-in for AWS S3)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from mlgate.stack.procs import LOOPBACK, Server, free_port, start

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "mlgate-local",
    "AWS_SECRET_ACCESS_KEY": "mlgate-local-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def start_moto(port: int = 0, log_path: Path | None = None) -> Server:
    port = port or free_port()
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    url = f"http://{LOOPBACK}:{port}"
    return start("moto", [exe, "-H", LOOPBACK, "-p", str(port)], url, url + "/moto-api/", log_path=log_path, timeout=30)
