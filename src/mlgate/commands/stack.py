"""``mlgate stack``: start and stop the embedded local stack (moto S3 over TLS, mlflow server,
Prefect server). ``eval "$(mlgate stack up)"`` sets everything a shell needs to use it (the AWS
credentials printed are moto's fake ones). Each server gets ``MLGATE_START_TIMEOUT`` seconds
(default 180) to answer its health check."""

from __future__ import annotations

from pathlib import Path

import click

from mlgate.errors import ExitCode

WORKDIR = click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".work/stack"),
                       show_default=True, help="Where the stack keeps its state.")


@click.group()
def stack() -> None:
    """Start, stop and inspect the embedded local stack."""


def _print_env(info: object) -> None:
    import shlex

    for k, v in sorted(info.env().items()):  # type: ignore[attr-defined]
        click.echo(f"export {k}={shlex.quote(v)}")


def _urls(info: object) -> str:
    return (f"S3 {info.s3_endpoint}  MLflow {info.tracking_uri}  "  # type: ignore[attr-defined]
            f"Prefect {info.prefect_api_url or '(not running)'}")  # type: ignore[attr-defined]


@stack.command()
@WORKDIR
def up(workdir: Path) -> int:
    """Start the stack in the background (idempotent) and print its environment."""
    from mlgate._dev.stack.local import up as stack_up

    info = stack_up(workdir.resolve())
    click.echo(f"stack up: {_urls(info)}  (state in {workdir})", err=True)
    _print_env(info)
    return int(ExitCode.PASS)


@stack.command()
@WORKDIR
def down(workdir: Path) -> int:
    """Stop the stack started in WORKDIR."""
    from mlgate._dev.stack.local import down as stack_down

    click.echo("stack stopped" if stack_down(workdir.resolve()) else "no stack running", err=True)
    return int(ExitCode.PASS)


@stack.command()
@WORKDIR
def status(workdir: Path) -> int:
    """Exit 0 if the stack in WORKDIR is running (and print its environment), 2 if not."""
    from mlgate._dev.stack.local import status as stack_status

    info = stack_status(workdir.resolve())
    if info is None:
        click.echo("no stack running", err=True)
        return int(ExitCode.ERROR)
    click.echo(f"stack running: {_urls(info)}", err=True)
    _print_env(info)
    return int(ExitCode.PASS)
