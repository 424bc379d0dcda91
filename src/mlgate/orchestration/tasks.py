"""Prefect tasks: thin wrappers over the use cases (:mod:`mlgate.lifecycle.pipeline`,
:mod:`mlgate.lifecycle.train`, :mod:`mlgate.rescan`, :mod:`mlgate.hooks.process`).

* Only transient errors (network, throttling: :class:`~mlgate.errors.TransientError`) are
  retried; a gate failure is never retried.
* Every checkpoint's reports become a Prefect markdown artifact; the rescan summary a markdown and
  a table artifact.
* A failure fails the flow run with a typed error naming the checkpoint and the reason.
* Rescan: versions are checked in small batches mapped over the flow's task runner: Prefect's
  ``ThreadPoolTaskRunner(max_workers=N)`` locally, ``prefect_dask.DaskTaskRunner`` on a Dask
  cluster (:func:`make_task_runner`). Inside a batch, transient errors are retried per version (a
  Prefect retry of the batch would check its finished versions again).
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from mlgate.errors import TransientError
from mlgate.hooks.process import HookSettings, handle_event
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
)
from mlgate.lifecycle.train import run_isolated
from mlgate.model import utcnow
from mlgate.report.markdown import render_markdown
from mlgate.rescan import progress
from mlgate.rescan.bytecheck import Inventory
from mlgate.rescan.check import (
    audit_buckets,
    audit_targets,
    check_version,
    complete_inventory,
    describe,
    failed_buckets,
    hint_locations,
    runtime_for,
    take_inventory,
)
from mlgate.rescan.select import VersionRef, select_versions
from mlgate.rescan.settings import RescanSettings, rescan_policy
from mlgate.rescan.summary import BucketResult, RescanSummary, VersionResult, table_rows
from mlgate.rescan.summary import render_markdown as render_rescan_markdown
from mlgate.rescan.tasks import batches

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# lifecycle
# ---------------------------------------------------------------------------------------------
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
    """The team's code in its own confined process (:func:`mlgate.lifecycle.train.run_isolated`)."""
    return run_isolated(ctx, pre)


@task(name="mlgate-publish", **TASK_OPTS)
def publish_task(ctx: Context, artifact: Path) -> PublishResult:
    return publish(ctx, artifact)


@task(name="mlgate-deploy", **TASK_OPTS)
def deploy_task(ctx: Context, version: str | None) -> DeployResult:
    return deploy(ctx, version)


# ---------------------------------------------------------------------------------------------
# rescan
# ---------------------------------------------------------------------------------------------

TASK_RUNNERS = ("threads", "dask")
SINGLE_OPTS: dict[str, Any] = {"retries": 2, "retry_delay_seconds": 2, "retry_condition_fn": retry_transient,
                               "cache_policy": NONE}


def make_task_runner(kind: str, max_workers: int, dask_address: str | None = None) -> Any:
    """``threads``: Prefect's thread pool bounded to ``max_workers``. ``dask``: an existing cluster
    at ``dask_address``, else a local in-process cluster of ``max_workers`` single-thread workers
    (no ports opened, no dashboard)."""
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=max_workers)
    if kind == "dask":
        try:
            from prefect_dask.task_runners import DaskTaskRunner
        except ImportError as e:  # pragma: no cover - prefect-dask is in the flows extra
            from mlgate.errors import UsageError

            raise UsageError("the dask task runner needs prefect-dask: pip install 'mlgate[flows]'") from e
        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": max_workers, "threads_per_worker": 1,
                                              "processes": False, "dashboard_address": None})
    from mlgate.errors import UsageError

    raise UsageError(f"unknown task runner {kind!r}; choose from {', '.join(TASK_RUNNERS)}")


@task(name="mlgate-rescan-select", **SINGLE_OPTS)
def select_task(settings: RescanSettings) -> list[VersionRef]:
    from mlgate.integrations.mlflow import mlflow_client
    from mlgate.policy import load_policy

    rp = rescan_policy(load_policy(settings.policy_path))
    refs = select_versions(mlflow_client(settings.tracking_uri), patterns=rp.models,
                           exclude=rp.exclude_models, names=settings.models, max_workers=settings.max_workers)
    progress.notify(0, f"checking {len(refs)} version(s)")
    return refs


@task(name="mlgate-rescan-audit-buckets", **SINGLE_OPTS)
def audit_task(settings: RescanSettings, targets: list[str]) -> list[BucketResult]:
    return audit_buckets(settings, targets)


@task(name="mlgate-rescan-mlflow-posture", **SINGLE_OPTS)
def posture_task(settings: RescanSettings) -> list[str]:
    """The MLflow posture gate over the tracking server, once per run, when the policy runs it at the
    rescan's (aliased) checkpoint; its outcome becomes a note of the summary."""
    from mlgate.api import run_gate
    from mlgate.errors import MlgateError
    from mlgate.policy import load_policy

    policy = load_policy(settings.policy_path)
    checkpoint = rescan_policy(policy).aliased_checkpoint
    if "mlflow-posture" not in policy.gates_for(checkpoint):
        return []
    try:
        report = run_gate("mlflow-posture", [settings.tracking_uri], policy=policy, checkpoint=checkpoint)
    except MlgateError as e:
        return [f"mlflow-posture: error: {e}"]
    return [f"mlflow-posture: {report.verdict.value}: {report.reason}"]


def more_audit_targets(settings: RescanSettings, refs: list[VersionRef]) -> list[str]:
    """Buckets of s3:// sources that the audit started before the selection did not cover."""
    known = set(audit_targets(settings))
    return [b for b in audit_targets(settings, refs) if b not in known]


@task(name="mlgate-rescan-inventory", **SINGLE_OPTS)
def inventory_task(settings: RescanSettings, refs: list[VersionRef]) -> Inventory:
    """One bulk listing of the versions' storage for the whole run (1,000 objects a request)."""
    return take_inventory(settings, refs)


@task(name="mlgate-rescan-check", cache_policy=NONE)
def check_batch_task(settings: RescanSettings, batch: list[VersionRef], inventory: Inventory | None,
                     failed: dict[str, str], run_token: str) -> list[VersionResult]:
    rt = runtime_for(settings, run_token, failed)
    inventory = complete_inventory(rt, batch, inventory)
    out = []
    for ref in batch:
        r = check_version(rt, ref, inventory)
        out.append(r)
        progress.notify(1, f"{r.label}: {r.outcome.value}")
    return out


def check_all(settings: RescanSettings, refs: list[VersionRef], buckets: list[BucketResult],
              inventory: Inventory | None = None) -> list[VersionResult]:
    """Submit the batches (each with its slice of the run's listing) to the flow's task runner,
    at most ``settings.max_workers`` at a time whatever the runner (a Dask cluster of a hundred
    workers must not hammer the tracking server), and gather the results in order."""
    from prefect.futures import as_completed

    groups = batches(refs, settings.max_workers)
    if not groups:
        return []
    token = uuid.uuid4().hex
    failed = failed_buckets(settings, buckets)
    inflight: dict[int, tuple[Any, int]] = {}
    done: dict[int, list[VersionResult]] = {}

    def collect_one() -> None:
        fut = next(as_completed([f for f, _ in inflight.values()]))
        _, index = inflight.pop(id(fut))
        done[index] = fut.result()

    for index, group in enumerate(groups):
        while len(inflight) >= settings.max_workers:
            collect_one()
        part = inventory.subset(hint_locations(group, settings.artifacts_destination)) if inventory else None
        fut = check_batch_task.submit(settings, group, part, failed, token)
        inflight[id(fut)] = (fut, index)
    while inflight:
        collect_one()
    return [r for index in range(len(groups)) for r in done[index]]


def needs_own_runner(kind: str) -> bool:
    """Whether the current flow run's task runner is not the ``kind`` asked for (a deployment
    runs on the flow's default thread pool; ``task_runner=dask`` then needs a subflow)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    on_dask = ctx is not None and type(ctx.task_runner).__name__ == "DaskTaskRunner"
    return (kind == "dask") != on_dask


def summarize(settings: RescanSettings, started: Any, results: list[VersionResult], buckets: list[BucketResult],
              task_runner: str, extra_notes: list[str] | None = None) -> RescanSummary:
    policy, scanners = describe(settings)
    summary = RescanSummary(
        started_at=started, finished_at=utcnow(), tracking_uri=settings.tracking_uri,
        policy_name=policy.name, policy_digest=policy.digest, scanners=scanners,
        task_runner=task_runner, max_workers=settings.max_workers, versions=tuple(results), buckets=tuple(buckets),
        notes=tuple(_notes(settings) + list(extra_notes or ())),
    )
    publish_rescan_artifacts(summary)
    return summary


def _notes(settings: RescanSettings) -> list[str]:
    notes = []
    if settings.private_key is None:
        notes.append("no signing key: the rescan state is not recorded, so every run downloads every version")
    if not settings.artifacts_destination:
        notes.append("no artifacts destination: mlflow-artifacts:/ versions are read through MLflow (no cheap byte check)")
    if settings.full:
        notes.append("full rescan requested: recorded states ignored")
    return notes


def publish_rescan_artifacts(summary: RescanSummary) -> None:
    try:
        create_markdown_artifact(markdown=render_rescan_markdown(summary), key="mlgate-rescan",
                                 description="mlgate rescan summary")
        rows = table_rows(summary)
        if rows:
            create_table_artifact(table=rows, key="mlgate-rescan-attention",
                                  description="Versions quarantined, pending or not checked")
    except Exception as e:  # outside a flow run: log only
        log.debug("artifact not created: %s", e)


# ---------------------------------------------------------------------------------------------
# registry hooks
# ---------------------------------------------------------------------------------------------


@task(name="mlgate-registry-hook-process", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_transient,
      cache_policy=NONE)
def process_event(payload: dict[str, Any], delivery_id: str, tracking_uri: str | None) -> dict[str, Any]:
    """Only transient errors (network, throttling) are retried; a verdict never is."""
    return handle_event(payload, HookSettings.from_env(tracking_uri), delivery_id=delivery_id)
