"""``mlgate audit-mlflow [URL]``: audit the posture of a running MLflow tracking/registry server."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mlgate.commands.common import checkpoint_option, emit, get_policy, report_options
from mlgate.commands.progress import progress_bar
from mlgate.errors import UsageError


@click.command("audit-mlflow", epilog="Exit codes: 0 pass, 1 fail, 2 error, 3 incomplete, 4 usage.")
@click.argument("url", required=False)
@report_options
@checkpoint_option
@click.option("--server-env", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The server's environment as KEY=VALUE lines (run next to the server): enables the "
                   "server-side checks.")
@click.option("--username", default=None,
              help="User to read registry content and webhooks with (default: MLFLOW_TRACKING_USERNAME; the "
                   "password comes from MLFLOW_TRACKING_PASSWORD).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CA bundle for an https server (default: MLFLOW_TRACKING_SERVER_CERT_PATH, else the system's).")
def audit_mlflow(
    url: str | None,
    policy_path: Path | None,
    fmt: str,
    output: Path | None,
    show_all: bool,
    checkpoint: str | None,
    server_env: Path | None,
    username: str | None,
    ca_file: str | None,
) -> int:
    """Audit the MLflow server at URL (default: the policy's tracking_uri, then MLFLOW_TRACKING_URI):
    its version against the advisory table, anonymous access on every route family, the default
    admin password, Host-header validation, CORS, TLS, registered webhooks and the registry's
    stores; with --server-env, the server-side settings too (docs/mlflow-posture.md).

    Every request reads nothing sensitive and changes nothing, and is bounded by the policy's
    timeout and request budget.
    """
    from mlgate.gates.mlflow_posture import audit_server

    policy = get_policy(policy_path)
    credentials = None
    if username:
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
        if not password:
            raise UsageError("--username needs the password in MLFLOW_TRACKING_PASSWORD")
        credentials = (username, password)
    with progress_bar("auditing") as progress:
        report = audit_server(url, policy=policy, checkpoint=checkpoint, credentials=credentials,
                              server_env=server_env, ca_file=ca_file, progress=progress)
    return emit([report], fmt, output, show_all)
