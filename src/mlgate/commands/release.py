"""``mlgate release MODEL VERSION``: lift a quarantine, only after verifying the version again
from scratch (original signed evidence, the same bytes, the model signature, the bucket audit, a
rescan under the current policy). Exit 0 when released, 1 when a check fails (nothing changes),
4 when the version is not quarantined."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click


@click.command()
@click.argument("model")
@click.argument("version")
@click.option("--config", "-c", "config", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Pipeline config: tracking URI, policy, signing key pair (the private key signs new evidence).")
@click.option("--restore-aliases", is_flag=True,
              help="Point the aliases it held at quarantine time back at it (checked at the aliased checkpoint).")
@click.option("--artifacts-destination", default=None, metavar="S3URI",
              help="s3:// prefix the tracking server stores mlflow-artifacts:/ under (read the exact object versions).")
@click.option("--format", "-f", "fmt", type=click.Choice(("console", "json")), default="console", show_default=True)
def release(model: str, version: str, config: Path, restore_aliases: bool, artifacts_destination: str | None,
            fmt: str) -> int:
    """Re-verify a quarantined model version and release it."""
    from mlgate.commands.rescan import quiet_libraries
    from mlgate.errors import ExitCode
    from mlgate.rescan.release import release_version
    from mlgate.rescan.settings import load_settings

    quiet_libraries()
    settings = load_settings(config, artifacts_destination=artifacts_destination)
    from mlgate.integrations.servers import check_mlflow

    check_mlflow(settings.tracking_uri)  # exit 2 with one line now, not after retries
    with contextlib.redirect_stdout(sys.stderr):  # MLflow prints run links on stdout
        res = release_version(settings, model, version, restore_aliases=restore_aliases)
    if fmt == "json":
        click.echo(json.dumps({"name": res.name, "version": res.version, "released": True,
                               "manifest_sha256": res.manifest_sha256, "checkpoint": res.checkpoint,
                               "evidence_run_id": res.evidence_run_id, "restored_aliases": res.restored_aliases,
                               "gates": {r.gate: r.verdict.value for r in res.reports}}, indent=2))
    else:
        aliases = f"; aliases restored: {', '.join(res.restored_aliases)}" if res.restored_aliases else ""
        click.echo(f"released {res.name} v{res.version}: bytes (manifest {res.manifest_sha256[:16]}...), signature "
                   f"and a rescan at {res.checkpoint} verified; new evidence in run {res.evidence_run_id}{aliases}")
    return int(ExitCode.PASS)
