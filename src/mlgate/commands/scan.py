"""``mlgate scan``: the model-file gate on the command line."""

from __future__ import annotations

from pathlib import Path

import click

from mlgate.commands.common import checkpoint_option, emit, get_policy, report_options
from mlgate.commands.progress import progress_bar


@click.command(epilog="Exit codes: 0 pass, 1 fail, 2 error, 3 incomplete, 4 usage.")
@click.argument("paths", nargs=-1, required=True)
@checkpoint_option
@report_options
@click.option("--tracking-uri", default=None, envvar="MLFLOW_TRACKING_URI",
              help="MLflow server for models:/ and runs:/ targets (default: $MLFLOW_TRACKING_URI).")
def scan(
    paths: tuple[str, ...],
    checkpoint: str | None,
    policy_path: Path | None,
    fmt: str,
    output: Path | None,
    show_all: bool,
    tracking_uri: str | None,
) -> int:
    """Scan model files or folders (Hugging Face, MLflow, checkpoint folders) without loading them.

    Every file under each PATH gets its own verdict (pass, fail, error, incomplete) and sha256;
    each PATH gets a manifest digest. Formats are detected by content, not by name.

    A PATH may be remote: s3://bucket/prefix, models:/name/version (or @alias), runs:/run_id/path,
    hf://org/repo@<40-hex commit sha>. Remote objects are streamed one at a time, verified against
    the store's listing, scanned and deleted; the manifest digest is the same as for a local copy.
    """
    from mlgate.api import scan as scan_api
    from mlgate.targets import check_target, is_remote

    for p in paths:
        check_target(p)
    policy = get_policy(policy_path)
    remote: dict[str, str] = {"tracking_uri": tracking_uri} if tracking_uri and any(map(is_remote, paths)) else {}
    with progress_bar("scanning") as progress:
        report = scan_api(list(paths), checkpoint=checkpoint, policy=policy, progress=progress, **remote)
    return emit([report], fmt, output, show_all)
