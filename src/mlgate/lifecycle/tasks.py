"""Prefect tasks: thin wrappers over :mod:`mlgate.lifecycle.pipeline`.

* Only transient errors (network, throttling: :class:`~mlgate.errors.TransientError`) are
  retried; a gate failure is never retried.
* Every checkpoint's reports become a Prefect markdown artifact.
* A failure fails the flow run with a typed error naming the checkpoint and the reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from mlgate.errors import TransientError
from mlgate.lifecycle.checkpoints import CheckpointOutcome
from mlgate.lifecycle.config import PipelineConfig, load_pipeline_config
from mlgate.lifecycle.pipeline import (
    Context,
    DeployResult,
    PreTrainResult,
    PublishResult,
    deploy,
    pre_train,
    publish,
    run_training,
)
from mlgate.report.markdown import render_markdown


def retry_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """retry_condition_fn: retry only TransientError, never a gate verdict."""
    try:
        state.result()
    except TransientError:
        return True
    except BaseException:
        return False
    return False


def publish_artifacts(checkpoint: str, outcome: CheckpointOutcome) -> None:
    key = re.sub(r"[^a-z0-9-]", "-", f"mlgate-{checkpoint}".lower())
    md = render_markdown(outcome.reports, title=f"mlgate {checkpoint}: {outcome.verdict.value}")
    if outcome.notes:
        md += "\n" + "\n".join(f"- {n}" for n in outcome.notes) + "\n"
    try:
        create_markdown_artifact(markdown=md, key=key, description=f"mlgate {checkpoint} verdict")
    except Exception as e:  # outside a flow run (plain function call): log only
        get_run_logger().debug("artifact not created: %s", e)


TASK_OPTS: dict[str, Any] = {"retries": 2, "retry_delay_seconds": 2, "retry_condition_fn": retry_transient,
                             "cache_policy": NONE}


@task(name="mlgate-load-config", cache_policy=NONE)
def load_config(path: str, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    return load_pipeline_config(path, overrides)


def make_context(cfg: PipelineConfig) -> Context:
    return Context(cfg, hook=publish_artifacts)


@task(name="mlgate-pre-train", **TASK_OPTS)
def pre_train_task(ctx: Context) -> PreTrainResult:
    return pre_train(ctx)


@task(name="mlgate-train", cache_policy=NONE)
def train_task(ctx: Context, pre: PreTrainResult) -> Path:
    return run_training(ctx, pre)


@task(name="mlgate-publish", **TASK_OPTS)
def publish_task(ctx: Context, artifact: Path) -> PublishResult:
    return publish(ctx, artifact)


@task(name="mlgate-deploy", **TASK_OPTS)
def deploy_task(ctx: Context, version: str | None) -> DeployResult:
    return deploy(ctx, version)
