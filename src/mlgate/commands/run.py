"""``mlgate run``: run a team's own pipeline through the gated Prefect flows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mlgate.errors import ExitCode, GateFailed

STEPS = ("lifecycle", "train", "publish", "deploy")


@click.command(epilog="Exit codes: 0 pass, 1 a gate blocked, 2 error, 3 incomplete, 4 usage.")
@click.argument("step", type=click.Choice(STEPS))
@click.option("--config", "-c", "config", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Pipeline config (YAML, see docs/lifecycle.md).")
@click.option("--artifact", type=click.Path(path_type=Path), default=None, help="publish: the model folder to publish.")
@click.option("--version", "version", default=None, help="deploy: the registered version (default: the latest).")
def run(step: str, config: Path, artifact: Path | None, version: str | None) -> int:
    """Run STEP (lifecycle, train, publish, deploy) of the pipeline in CONFIG as a Prefect flow."""
    from mlgate.lifecycle.config import load_pipeline_config
    from mlgate.lifecycle.demo import _load_flows, find_repo

    load_pipeline_config(config)  # validate before starting Prefect (errors name file and field)
    flows = _load_flows(find_repo())
    try:
        result: Any
        if step == "lifecycle":
            result = flows.lifecycle(str(config))
        elif step == "train":
            result = {"artifact": flows.train(str(config))}
        elif step == "publish":
            if artifact is None:
                raise click.UsageError("publish needs --artifact")
            result = flows.publish(str(config), str(artifact))
        else:
            result = flows.deploy(str(config), version)
    except GateFailed as e:
        click.echo(f"mlgate: blocked at {e.checkpoint} by {e.gate}: {e.reason}", err=True)
        return int(e.exit_code)
    click.echo(json.dumps(result, indent=2, default=str))
    return int(ExitCode.PASS)
