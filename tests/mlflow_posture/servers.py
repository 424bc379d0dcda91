"""Real ``mlflow server`` processes for the posture tests, in the configurations of issue 12, started
concurrently (each start is ~7 s alone) on free 127.0.0.1 ports; plus what an operator would write
as the server's environment file (``--server-env``)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.gates.mlflow_posture.http import Http
from mlgate.stack.procs import LOOPBACK, Server, free_port, start

ADMIN = "admin"
STRONG_PASSWORD = "Posture-Test-Pass-2026!"
WEAK_DEFAULT = "changeme-admin-2026"
ENCRYPTION_KEY = "0bAjAsmYqNPnHVmEj2HqbxAl_2hhrXv4GzqOmWXjPiY="  # a Fernet key for the test servers only

MLFLOW = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"


@dataclass
class Srv:
    name: str
    url: str
    work: Path
    env_file: Path
    server: Server | None = None
    credentials: tuple[str, str] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def http(self) -> Http:
        return Http(self.url, timeout=30, max_requests=10_000)


@dataclass
class Spec:
    name: str
    flags: list[str]
    env: dict[str, str]
    credentials: tuple[str, str] | None = None
    registry_store: str | None = None


def auth_config(path: Path, db: Path, password: str) -> Path:
    path.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{db}\n"
        f"admin_username = {ADMIN}\n"
        f"admin_password = {password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return path


def _launch(spec: Spec, root: Path) -> Srv:
    work = root / spec.name
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    db = work / "mlflow.db"
    flags = [f.replace("{port}", str(port)).replace("{work}", str(work)) for f in spec.flags]
    argv = [MLFLOW, "server", "--host", LOOPBACK, "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{db}", *flags]
    env = {k: v.replace("{work}", str(work)) for k, v in spec.env.items()}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_TRACKING_URI": ""})
    store_env = {"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{db}"}
    if spec.registry_store:
        reg = spec.registry_store.replace("{db}", str(db))
        argv += ["--registry-store-uri", reg]
        store_env["MLFLOW_REGISTRY_STORE_URI"] = reg
    env_file = work / "server.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {**store_env, **env}.items()
                                if k not in ("MLFLOW_TRACKING_URI",)))
    server = start(spec.name, argv, url, url + "/health", env=env, log_path=work / "server.log",
                   timeout=240, cwd=work)
    return Srv(spec.name, url, work, env_file, server, spec.credentials)


def start_all(specs: list[Spec], root: Path) -> dict[str, Srv]:
    """Start every server at once (threads: the waits overlap); stop all if one fails."""
    out: dict[str, Srv] = {}
    with ThreadPoolExecutor(len(specs)) as pool:
        futures = {s.name: pool.submit(_launch, s, root) for s in specs}
        errors = []
        for name, fut in futures.items():
            try:
                out[name] = fut.result()
            except Exception as e:
                errors.append(f"{name}: {e}")
    if errors:
        stop_all(out)
        raise RuntimeError("; ".join(errors))
    return out


def stop_all(servers: dict[str, Srv]) -> None:
    for s in servers.values():
        if s.server is not None:
            s.server.stop()


def rest(srv: Srv, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A REST call with the server's admin credentials; fails the test setup on any error."""
    ex = srv.http().request(method, path, body=body, auth=srv.credentials)
    if ex.status != 200:
        raise AssertionError(f"{srv.name}: {method} {path}: HTTP {ex.status} {ex.body[:300]!r}")
    data = ex.json()
    assert isinstance(data, dict)
    return data


Setup = Callable[[Srv], None]
