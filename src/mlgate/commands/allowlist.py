"""``mlgate allowlist``: build allowlist entries from the real libraries."""

from __future__ import annotations

from pathlib import Path

import click

from mlgate.errors import ExitCode


@click.group()
def allowlist() -> None:
    """Build and inspect allowlists that name objects, not spellings."""


@allowlist.command()
@click.argument("specs", nargs=-1, required=True)
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="YAML file to write (merged with it when it exists: versions are added up).")
@click.option("--module", "modules", multiple=True,
              help="Module prefix to inspect (repeatable; default: the package's import name).")
@click.option("--python", "python", help="Python of a venv where the library is installed.")
@click.option("--install", is_flag=True, help="Install each PACKAGE==VERSION into a throwaway venv first.")
def build(specs: tuple[str, ...], out: Path, modules: tuple[str, ...], python: str | None, install: bool) -> int:
    """Inspect PACKAGE==VERSION... in a separate, network-less process and write reviewed YAML."""
    from mlgate.gates.model_scan.allowlist_build.build import Spec
    from mlgate.gates.model_scan.allowlist_build.build import build as run_build

    counts = run_build([Spec.parse(s) for s in specs], modules, out, python, install)
    click.echo(f"{out}: {counts['entries']} entries, {counts['rejected']} rejected", err=True)
    return int(ExitCode.PASS)
