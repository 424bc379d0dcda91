"""``mlgate scan``: the model-file gate on the command line."""

from __future__ import annotations

from pathlib import Path

import click

from mlgate.commands.common import checkpoint_option, emit, get_policy, report_options
from mlgate.commands.progress import progress_bar


@click.command(epilog="Exit codes: 0 pass, 1 fail, 2 error, 3 incomplete, 4 usage.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@checkpoint_option
@report_options
def scan(
    paths: tuple[Path, ...],
    checkpoint: str | None,
    policy_path: Path | None,
    fmt: str,
    output: Path | None,
    show_all: bool,
) -> int:
    """Scan model files or folders (Hugging Face, MLflow, checkpoint folders) without loading them.

    Every file under each PATH gets its own verdict (pass, fail, error, incomplete) and sha256;
    each PATH gets a manifest digest. Formats are detected by content, not by name.
    """
    from mlgate.api import scan as scan_api

    policy = get_policy(policy_path)
    with progress_bar("scanning") as progress:
        report = scan_api(list(paths), checkpoint=checkpoint, policy=policy, progress=progress)
    return emit([report], fmt, output, show_all)
