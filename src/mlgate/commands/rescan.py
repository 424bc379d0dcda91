"""``mlgate rescan``: rescan everything registered now (the flow
``mlgate.orchestration.flows:rescan`` runs in this process, against the configured Prefect API or
one this command starts). Exit 1 when anything was quarantined (or a bucket fails its audit), 2
when a version could not be checked or a server did not answer (the tracking server is checked
first, within ``MLGATE_CONNECT_TIMEOUT``; MLflow's own retries are bounded, see
:mod:`mlgate.integrations.servers`), 3 when a version is still waiting for its first check, else 0."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, cast

import click

from mlgate.rescan.summary import FORMATS

TASK_RUNNERS = ("threads", "dask")


def quiet_libraries() -> None:
    """Progress bars and INFO chatter of MLflow and Dask off unless the user asked for them."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if os.environ.get("MLGATE_DEBUG", "") in ("", "0", "false"):
        os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"  # tracebacks only with --debug
    for name in ("distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.ERROR)


@click.command()
@click.option("--config", "-c", "config", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Pipeline config: tracking URI, policy (its gates.rescan section), signing keys, buckets.")
@click.option("--model", "-m", "models", multiple=True, help="Only this registered model (repeatable).")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="console", show_default=True,
              help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to this file (atomically) instead of stdout.")
@click.option("--max-workers", type=click.IntRange(1, 256), default=None,
              help="Versions checked concurrently (default: gates.rescan.max_workers, 4).")
@click.option("--task-runner", type=click.Choice(TASK_RUNNERS), default="threads", show_default=True,
              help="Prefect's thread pool, or a Dask cluster (local in-process one unless --dask-address).")
@click.option("--dask-address", default=None, help="Scheduler address of an existing Dask cluster.")
@click.option("--artifacts-destination", default=None, metavar="S3URI",
              help="s3:// prefix the tracking server stores mlflow-artifacts:/ under (enables the cheap byte "
                   "check); default $MLGATE_ARTIFACTS_DESTINATION or gates.rescan.artifacts_destination.")
@click.option("--full", is_flag=True, help="Ignore recorded states: download, re-hash and rescan every version.")
@click.option("--show-all", is_flag=True, help="Console: list every version, not only those needing attention.")
@click.option("--metrics-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write mlgate_rescan_* metrics to this Prometheus textfile-collector file "
                   "(default: $MLGATE_RESCAN_METRICS_FILE, else the policy's gates.rescan.metrics_file).")
def rescan(config: Path, models: tuple[str, ...], fmt: str, output: Path | None, max_workers: int | None,
           task_runner: str, dask_address: str | None, artifacts_destination: str | None, full: bool,
           show_all: bool, metrics_file: Path | None) -> int:
    """Rescan registered model versions now; quarantine what no longer verifies."""
    from mlgate.commands.common import write_atomic
    from mlgate.commands.progress import progress_bar
    from mlgate.integrations.servers import check_mlflow, check_s3
    from mlgate.rescan import progress
    from mlgate.rescan.settings import load_settings
    from mlgate.rescan.summary import RescanSummary, render_summary

    quiet_libraries()
    settings = load_settings(config, max_workers=max_workers, artifacts_destination=artifacts_destination)
    check_mlflow(settings.tracking_uri)
    check_s3()
    from mlgate.orchestration import flows
    from mlgate.orchestration.runtime import prefect_api
    from mlgate.orchestration.tasks import make_task_runner

    flow = flows.rescan.with_options(task_runner=make_task_runner(task_runner, settings.max_workers, dask_address))
    with prefect_api(), progress_bar("rescan") as update, progress.listen(update), \
            contextlib.redirect_stdout(sys.stderr):
        summary: RescanSummary = flow(str(config), model=list(models) or None, max_workers=max_workers,
                                      task_runner=cast(Any, task_runner), dask_address=dask_address,
                                      artifacts_destination=artifacts_destination, full=full,
                                      metrics_file=str(metrics_file) if metrics_file else None)
    text = render_summary(summary, fmt, verbose=show_all)
    if output is not None:
        write_atomic(output, text)
    else:
        click.echo(text, nl=False)
    if fmt != "console" or output is not None:
        click.echo(render_summary(summary, "console", verbose=False), err=True, nl=False)
    return int(summary.exit_code)
