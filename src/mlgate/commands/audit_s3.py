"""``mlgate audit-s3 [BUCKET...]``: audit S3 buckets for misconfigurations."""

from __future__ import annotations

from pathlib import Path

import click

from mlgate.commands.common import checkpoint_option, emit, get_policy, report_options
from mlgate.commands.progress import progress_bar


@click.command("audit-s3", epilog="Exit codes: 0 pass, 1 fail, 2 error, 3 incomplete, 4 usage.")
@click.argument("buckets", nargs=-1)
@report_options
@checkpoint_option
@click.option("--profile", default=None, help="AWS profile (default: the standard boto3 configuration).")
@click.option("--region", default=None, help="Default AWS region for the session.")
@click.option("--max-workers", type=click.IntRange(1, 64), default=None,
              help="Buckets collected in parallel (default: the policy's max_workers, 8).")
def audit_s3(
    buckets: tuple[str, ...],
    policy_path: Path | None,
    fmt: str,
    output: Path | None,
    show_all: bool,
    checkpoint: str | None,
    profile: str | None,
    region: str | None,
    max_workers: int | None,
) -> int:
    """Audit BUCKET... (names, s3:// URIs or patterns such as 'ml-*') for the Security Hub S3
    controls and mlgate's ML artifact-store controls (docs/s3-audit.md).

    With no BUCKET, the buckets named by the policy (gates.s3-audit.buckets) are audited, or,
    if it names none, every bucket the credentials can list. The standard boto3 configuration
    is honoured: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL (a local endpoint such as moto).
    """
    from mlgate.gates.s3_audit import audit_buckets, default_session
    from mlgate.gates.s3_audit.gate import preflight

    policy = get_policy(policy_path)
    session = default_session(profile, region)
    preflight(session)  # missing credentials or endpoint: one line, exit 2
    with progress_bar("auditing") as progress:
        report = audit_buckets(list(buckets), policy=policy, session=session, checkpoint=checkpoint,
                               max_workers=max_workers, progress=progress)
    return emit([report], fmt, output, show_all)
