"""Prefect flows for the gated lifecycle. Thin: they compose mlgate tasks and hold no gate logic.
Deployments load them by path (``flows/lifecycle.py:lifecycle``)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from mlgate.lifecycle import tasks as t


@flow(name="mlgate-train", log_prints=False)
def train(config: str) -> str:
    """pre-train checkpoint (S3 audit, data gate, base-model scan), then the team's training function."""
    ctx = t.make_context(t.load_config(config))
    pre = t.pre_train_task(ctx)
    return str(t.train_task(ctx, pre))


@flow(name="mlgate-publish")
def publish(config: str, artifact: str) -> dict[str, Any]:
    """pre-publish checkpoint, then register in MLflow only if everything passed."""
    from pathlib import Path

    ctx = t.make_context(t.load_config(config))
    res = t.publish_task(ctx, Path(artifact))
    return {"run_id": res.run_id, "version": res.version}


@flow(name="mlgate-deploy")
def deploy(config: str, version: str | None = None) -> dict[str, Any]:
    """pre-deploy checkpoint: re-verify the registered bytes, then move the alias and deploy."""
    ctx = t.make_context(t.load_config(config))
    res = t.deploy_task(ctx, version)
    return {"version": res.version, "alias": res.alias, "deployed_to": res.target_location}


@flow(name="mlgate-lifecycle")
def lifecycle(config: str) -> dict[str, Any]:
    """train -> publish -> deploy in one flow run."""
    ctx = t.make_context(t.load_config(config))
    pre = t.pre_train_task(ctx)
    artifact = t.train_task(ctx, pre)
    pub = t.publish_task(ctx, artifact)
    dep = t.deploy_task(ctx, pub.version)
    return {"run_id": pub.run_id, "version": dep.version, "alias": dep.alias, "deployed_to": dep.target_location}
