"""Options and output handling shared by every gate command."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from mlgate.errors import ExitCode, UsageError
from mlgate.model import Report, Verdict
from mlgate.policy import CHECKPOINTS, Policy, default_policy_path, load_policy
from mlgate.report import FORMATS, render

F = TypeVar("F", bound=Callable[..., Any])


def report_options(func: F) -> F:
    """--policy, --format, --output, --verbose-findings."""
    func = click.option("--show-all", is_flag=True, help="Console: list non-blocking findings too.")(func)
    func = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write the report to this file (atomically) instead of stdout.",
    )(func)
    func = click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(FORMATS),
        default="console",
        show_default=True,
        help="Report format.",
    )(func)
    func = click.option(
        "--policy",
        "-p",
        "policy_path",
        type=click.Path(path_type=Path),
        default=None,
        help="Policy file (default: $MLGATE_POLICY or policies/default.yaml).",
    )(func)
    return func


def checkpoint_option(func: F) -> F:
    return click.option(
        "--checkpoint",
        "-c",
        type=click.Choice(CHECKPOINTS),
        default=None,
        help="Lifecycle checkpoint whose blocking rules apply (default: the policy's defaults).",
    )(func)


def get_policy(policy_path: Path | None) -> Policy:
    return load_policy(policy_path or default_policy_path())


def write_atomic(path: Path, text: str) -> None:
    """Write a report file all at once (a temporary file renamed over it). A path that exists and
    is not a regular file (``-o /dev/null``, a FIFO, ``/dev/stderr``) is written through instead:
    renaming over it would replace the device itself (as root, /dev/null became a 0600 file)."""
    import tempfile  # only when a report file is written (not on a scan's start-up path)

    if path.exists() and not path.is_file():
        with path.open("w", encoding="utf-8") as f:
            f.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def emit(reports: Sequence[Report], fmt: str, output: Path | None, show_all: bool = False) -> int:
    """Render, write, summarise on stderr, and return the exit code for the worst verdict."""
    if not reports:
        raise UsageError("nothing was checked")
    color = output is None and fmt == "console" and sys.stdout.isatty()
    text = render(reports, fmt, color=color, verbose=show_all)
    if output is not None:
        write_atomic(output, text)
        if fmt != "console":
            click.echo(render(reports, "console", verbose=show_all), err=True, nl=False)
    elif fmt == "console":
        click.echo(text, nl=False)
    else:
        click.echo(text, nl=False)
    overall = Verdict.worst([r.verdict for r in reports])
    if fmt != "console" or output is not None:
        click.echo(f"mlgate: {overall.value}", err=True)
    return int(ExitCode.for_verdict(overall))
