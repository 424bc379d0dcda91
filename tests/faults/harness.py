"""Parts the fault suite and ``bench/bench_faults.py`` share: a real mlflow server on 127.0.0.1,
a real 1 MiB tmpfs, and filling a file system to its last block."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def mlflow_server(work: Path, timeout: float = 300) -> Iterator[str]:
    """A real ``mlflow server`` (one worker, sqlite, served artifacts in ``work``) on 127.0.0.1,
    health-checked within ``timeout`` and stopped on exit; yields its URL."""
    from mlgate.integrations.servers import LOOPBACK, free_port, start

    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    url = f"http://{LOOPBACK}:{port}"
    argv = [exe, "server", "--host", LOOPBACK, "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
            "--serve-artifacts", "--artifacts-destination", str(work / "artifacts"),
            "--allowed-hosts", f"{LOOPBACK}:{port},localhost:{port}"]
    server = start("mlflow", argv, url, url + "/health", log_path=work / "mlflow-server.log", cwd=work,
                   env={"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_TRACKING_URI": "",
                        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                   timeout=timeout)
    try:
        yield url
    finally:
        server.stop()


class TmpfsUnavailable(Exception):
    """No small tmpfs can be mounted here (not root, or mount refused)."""


@contextlib.contextmanager
def small_tmpfs(mnt: Path) -> Iterator[Path]:
    """A real 1 MiB file system (tmpfs) mounted at ``mnt`` and unmounted on exit."""
    mnt.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise TmpfsUnavailable("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise TmpfsUnavailable(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path) -> Path:
    """Take every free block of the file system holding ``folder``; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler
