"""``mlgate check-data``: the data-quality gate on the command line.

Importing this module is cheap (click and mlgate's core); Great Expectations (~2 s) is imported
only when a dataset is checked, never for ``--help``.
"""

from __future__ import annotations

from pathlib import Path

import click

from mlgate.commands.common import checkpoint_option, emit, get_policy, report_options


@click.command("check-data")
@click.argument("datasets", nargs=-1, required=True, metavar="DATASET...")
@click.option(
    "--suite", "-s", type=click.Path(path_type=Path), default=None,
    help="Expectation suite file (JSON or YAML). Required unless the policy maps the dataset to a suite "
    "(gates.data-quality.datasets).",
)
@click.option(
    "--data-docs", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Also write Great Expectations data docs (HTML) into this folder.",
)
@click.option(
    "--input-format", type=click.Choice(["csv", "parquet", "jsonl"]), default=None,
    help="Read every file as this format (default: by file suffix).",
)
@checkpoint_option
@report_options
def check_data(
    datasets: tuple[str, ...],
    suite: Path | None,
    data_docs: Path | None,
    input_format: str | None,
    checkpoint: str | None,
    policy_path: Path | None,
    fmt: str,
    output: Path | None,
    show_all: bool,
) -> int:
    """Validate training DATASET(s) against an expectation suite before training.

    A DATASET is a CSV, Parquet or JSON Lines file, or a folder / S3 prefix of files of one
    format (local path or s3://bucket/key; AWS_ENDPOINT_URL is honoured). The report binds the
    verdict to the dataset's fingerprint (sha256 per file, rows, schema).

    Exit codes: 0 pass, 1 fail, 2 error (unreadable data, bad suite or policy), 3 incomplete
    (skipped files, limits), 4 usage.
    """
    from mlgate.gates.data_quality import check_data as run_check

    policy = get_policy(policy_path)
    report = run_check(
        list(datasets), suite, policy=policy, checkpoint=checkpoint, data_docs=data_docs, input_format=input_format,
    )
    return emit([report], fmt, output, show_all)
