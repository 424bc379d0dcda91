"""The MLflow posture gate: probe once (HTTP, bounded), evaluate purely, judge by policy."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from mlgate.errors import UsageError
from mlgate.gate import Gate, GateRun, Progress
from mlgate.gates.mlflow_posture.advisories import AdvisoryTable, load_table
from mlgate.gates.mlflow_posture.config import MlflowPostureConfig
from mlgate.gates.mlflow_posture.inventory import ServerInventory, collect_inventory, redact
from mlgate.gates.mlflow_posture.runner import INVENTORY_FINDING, evaluate_inventory
from mlgate.model import Finding, FindingKind, Location, Report, Severity
from mlgate.policy import Policy, default_policy_path, load_policy

GATE_ID = "mlflow-posture"
_OPTIONS = {"tracking_uri", "credentials", "server_env", "ca_file", "inventory"}


def advisory_table(policy: Policy, config: MlflowPostureConfig) -> AdvisoryTable:
    """The policy's advisory table (``advisories``, relative to the policy file's folder)."""
    path = Path(config.advisories)
    if not path.is_absolute():
        path = policy.path.parent / path
    return load_table(path)


def env_credentials() -> tuple[str, str] | None:
    """MLflow's own client settings: ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``."""
    user, pw = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    return (user, pw) if user and pw else None


def _servers(targets: Sequence[str], option: str | None, config: MlflowPostureConfig) -> tuple[list[str], list[str]]:
    """(http(s) servers to audit, targets that are not servers). Without a server among the targets:
    the ``tracking_uri`` option, the policy's ``tracking_uri``, then ``MLFLOW_TRACKING_URI``."""
    urls = [t for t in targets if urllib.parse.urlsplit(t).scheme in ("http", "https")]
    others = [t for t in targets if t not in urls]
    if not urls:
        fallback = option or config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if fallback:
            urls = [fallback]
    return urls, others


class MlflowPostureGate(Gate[MlflowPostureConfig]):
    """Audits a running MLflow tracking/registry server: version against the advisory table, anonymous
    access per route family, default credentials, Host/CORS/TLS, webhooks, registry content and,
    given its environment, the server-side settings."""

    id: ClassVar[str] = GATE_ID
    config_model: ClassVar[type[MlflowPostureConfig]] = MlflowPostureConfig
    subject_noun: ClassVar[str] = "server"

    def _check(self, targets: list[str], policy: Policy, checkpoint: str | None, config: MlflowPostureConfig,
               progress: Progress, **options: Any) -> GateRun:
        """Options: ``tracking_uri`` (server when no target is a URL), ``credentials`` ((user, password) to read
        registry content; default MLFLOW_TRACKING_USERNAME/PASSWORD), ``server_env`` (path of the server's
        KEY=VALUE environment), ``ca_file``, ``inventory`` (a :class:`ServerInventory` to judge instead)."""
        unknown = set(options) - _OPTIONS
        if unknown:
            raise UsageError(f"mlflow-posture: unknown option(s) {sorted(unknown)}")
        table = advisory_table(policy, config)
        inv: ServerInventory | None = options.get("inventory")
        if inv is not None:
            return evaluate_inventory(inv, config, table)
        urls, _ = _servers(targets, options.get("tracking_uri"), config)
        run = GateRun()
        if not urls:
            run.findings.append(Finding(
                id=INVENTORY_FINDING, title="MLflow server could not be audited", severity=Severity.MEDIUM,
                kind=FindingKind.UNSUPPORTED, engine="mlgate", location=Location(path="-"),
                message="no MLflow server to audit: no http(s) URL given, no tracking_uri in the policy, "
                        "MLFLOW_TRACKING_URI unset"))
            return run
        creds = options.get("credentials") or env_credentials()
        server_env = options.get("server_env")
        if server_env is None and config.server_env:
            server_env = str(Path(config.server_env) if Path(config.server_env).is_absolute()
                             else policy.path.parent / config.server_env)
        ca = options.get("ca_file") or os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
        for url in urls:
            if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                run.findings.append(Finding(
                    id=INVENTORY_FINDING, title="MLflow server could not be audited", severity=Severity.MEDIUM,
                    kind=FindingKind.UNSUPPORTED, engine="mlgate", location=Location(path=redact(url)),
                    message=f"{redact(url)} is not an http(s) tracking server: there is no server to audit"))
                continue
            progress(0, f"auditing {redact(url)}")
            inv = collect_inventory(url, config, credentials=creds,
                                    server_env=Path(server_env) if server_env else None, ca_file=ca)
            sub = evaluate_inventory(inv, config, table)
            run.subjects.extend(sub.subjects)
            run.notes.extend(sub.notes)
            progress(1, f"audited {redact(url)}")
        return run


def audit_server(
    url: str | None = None,
    *,
    policy: Policy | str | Path | None = None,
    checkpoint: str | None = None,
    credentials: tuple[str, str] | None = None,
    server_env: str | Path | None = None,
    ca_file: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Audit one MLflow server (default: the policy's ``tracking_uri``, then ``MLFLOW_TRACKING_URI``) and
    return the judged :class:`~mlgate.model.Report`. Never exits or prints."""
    pol = policy if isinstance(policy, Policy) else load_policy(policy if policy is not None else default_policy_path())
    opts: dict[str, Any] = {}
    if credentials is not None:
        opts["credentials"] = credentials
    if server_env is not None:
        opts["server_env"] = str(server_env)
    if ca_file is not None:
        opts["ca_file"] = ca_file
    return MlflowPostureGate().evaluate([url] if url else [], pol, checkpoint, progress, **opts)


def evaluate(inventory: ServerInventory, *, policy: Policy | str | Path | None = None,
             checkpoint: str | None = None) -> Report:
    """Judge an already collected inventory (no request): for replays and tests."""
    pol = policy if isinstance(policy, Policy) else load_policy(policy if policy is not None else default_policy_path())
    return MlflowPostureGate().evaluate([], pol, checkpoint, None, inventory=inventory)
