"""``mlgate schedule``: serve the rescan flow on a cron schedule from this process (``Flow.serve``),
for teams without a work pool. With a work pool, use ``prefect deploy --all --prefect-file
infra/prefect.yaml`` instead. ``--dry-run`` prints the deployment and its next runs and exits."""

from __future__ import annotations

from pathlib import Path

import click

from mlgate.orchestration.schedule import DEFAULT_CRON, DEFAULT_TIMEZONE, DEPLOYMENT_NAME


@click.command()
@click.option("--config", "-c", "config", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Pipeline config the scheduled rescans use.")
@click.option("--cron", default=DEFAULT_CRON, show_default=True, help="When to rescan (cron syntax).")
@click.option("--timezone", default=DEFAULT_TIMEZONE, show_default=True, help="IANA time zone of the cron.")
@click.option("--name", default=DEPLOYMENT_NAME, show_default=True, help="Deployment name.")
@click.option("--model", "-m", "models", multiple=True, help="Only this registered model (repeatable).")
@click.option("--max-workers", type=click.IntRange(1, 256), default=None, help="Versions checked concurrently.")
@click.option("--artifacts-destination", default=None, metavar="S3URI",
              help="s3:// prefix of the tracking server's mlflow-artifacts:/ store.")
@click.option("--dry-run", is_flag=True, help="Print the schedule and its next runs; do not serve.")
@click.option("--next", "n_next", default=3, show_default=True, type=click.IntRange(1, 50),
              help="How many upcoming runs to print.")
def schedule(config: Path, cron: str, timezone: str, name: str, models: tuple[str, ...], max_workers: int | None,
             artifacts_destination: str | None, dry_run: bool, n_next: int) -> int:
    """Serve the rescan flow on a schedule (weekly by default)."""
    from mlgate.commands.rescan import quiet_libraries
    from mlgate.errors import ExitCode, UsageError
    from mlgate.orchestration.schedule import build_deployment, next_runs
    from mlgate.rescan.settings import load_settings

    quiet_libraries()
    load_settings(config)  # fail now, not at 03:00 on Monday
    try:
        runs = next_runs(cron, timezone, n_next)
    except ValueError as e:
        raise UsageError(f"--cron/--timezone: {e}") from None
    params: dict[str, object] = {}
    if models:
        params["model"] = list(models)
    if max_workers:
        params["max_workers"] = max_workers
    if artifacts_destination:
        params["artifacts_destination"] = artifacts_destination
    from mlgate.orchestration.flows import rescan

    deployment = build_deployment(rescan, config, cron=cron, timezone=timezone, name=name,
                                  parameters=params)
    click.echo(f"deployment {deployment.flow_name}/{deployment.name}: cron {cron!r} ({timezone}); "
               f"parameters {deployment.parameters}", err=True)
    for r in runs:
        click.echo(f"  next run: {r.isoformat()}", err=True)
    if dry_run:
        return int(ExitCode.PASS)
    from prefect import serve

    from mlgate.orchestration.runtime import prefect_api

    with prefect_api(services=True):  # the configured Prefect API, or a server with its scheduler
        serve(deployment)  # blocks; Ctrl-C stops it
    return int(ExitCode.PASS)
