"""``mlgate run``: run a team's own pipeline through the gated Prefect flows.

Before any flow starts, the servers the pipeline names are checked (MLflow tracking server, the S3
endpoint, the Prefect API) within ``MLGATE_CONNECT_TIMEOUT``; flows run against the configured
Prefect API or one this command starts (:mod:`mlgate.orchestration.runtime`). The last line on
stderr names the outcome: the blocking checkpoint, gate and reason, or the error. Prefect's own
logs and tracebacks appear only with ``mlgate --debug run ...``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from mlgate.errors import ExitCode, GateFailed

STEPS = ("lifecycle", "train", "publish", "deploy")


def quiet_prefect() -> None:
    """Prefect logs every failed task with a traceback; mlgate prints one line instead. Must run
    before Prefect is imported."""
    if os.environ.get("MLGATE_DEBUG", "") in ("", "0", "false"):
        os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # no INFO chatter after the outcome
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def check_servers(cfg: Any, step: str) -> None:
    """Exit 2 with one line now, not after minutes of retries, if a server the step needs is down."""
    from mlgate.integrations.servers import check_mlflow, check_s3

    uris = [*(d.uri for d in cfg.doc.datasets.values()), *cfg.doc.base_models.values()]
    if step != "train" or any(u.startswith("models:/") for u in uris):
        check_mlflow(cfg.doc.tracking_uri)
    if cfg.doc.buckets or any(u.startswith("s3://") for u in uris) or step != "train":
        check_s3()


@click.command(epilog="Exit codes: 0 pass, 1 a gate blocked, 2 error, 3 incomplete, 4 usage.")
@click.argument("step", type=click.Choice(STEPS))
@click.option("--config", "-c", "config", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Pipeline config (YAML, see docs/lifecycle.md).")
@click.option("--artifact", type=click.Path(path_type=Path), default=None, help="publish: the model folder to publish.")
@click.option("--version", "version", default=None, help="deploy: the registered version (default: the latest).")
def run(step: str, config: Path, artifact: Path | None, version: str | None) -> int:
    """Run STEP (lifecycle, train, publish, deploy) of the pipeline in CONFIG as a Prefect flow."""
    from mlgate.lifecycle.config import load_pipeline_config

    cfg = load_pipeline_config(config)  # validate before starting Prefect (errors name file and field)
    if step == "publish" and artifact is None:
        raise click.UsageError("publish needs --artifact")
    check_servers(cfg, step)
    quiet_prefect()
    from mlgate.orchestration import flows
    from mlgate.orchestration.runtime import prefect_api

    try:
        with prefect_api():
            result: Any
            if step == "lifecycle":
                result = flows.lifecycle(str(config))
            elif step == "train":
                result = {"artifact": flows.train(str(config))}
            elif step == "publish":
                result = flows.publish(str(config), str(artifact))
            else:
                result = flows.deploy(str(config), version)
    except GateFailed as e:
        reason = " ".join(str(e.reason).split())
        click.echo(f"mlgate: blocked at {e.checkpoint} by {e.gate}: {reason}", err=True)
        return int(e.exit_code)
    click.echo(json.dumps(result, indent=2, default=str))
    return int(ExitCode.PASS)
