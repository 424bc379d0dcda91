"""``mlgate stack``: start and stop the embedded local stack (moto S3 over TLS + mlflow server)."""

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
    for k, v in sorted(info.env().items()):  # type: ignore[attr-defined]
        if "SECRET" not in k:
            click.echo(f"export {k}={v}")


@stack.command()
@WORKDIR
def up(workdir: Path) -> int:
    """Start the stack in the background (idempotent) and print its environment."""
    from mlgate.stack.local import up as stack_up

    info = stack_up(workdir.resolve())
    click.echo(f"stack up: S3 {info.s3_endpoint}  MLflow {info.tracking_uri}  (state in {workdir})", err=True)
    _print_env(info)
    return int(ExitCode.PASS)


@stack.command()
@WORKDIR
def down(workdir: Path) -> int:
    """Stop the stack started in WORKDIR."""
    from mlgate.stack.local import down as stack_down

    click.echo("stack stopped" if stack_down(workdir.resolve()) else "no stack running", err=True)
    return int(ExitCode.PASS)


@stack.command()
@WORKDIR
def status(workdir: Path) -> int:
    """Exit 0 if the stack in WORKDIR is running (and print its environment), 2 if not."""
    from mlgate.stack.local import status as stack_status

    info = stack_status(workdir.resolve())
    if info is None:
        click.echo("no stack running", err=True)
        return int(ExitCode.ERROR)
    _print_env(info)
    return int(ExitCode.PASS)
