"""Every Prefect flow of mlgate. Thin: they compose :mod:`mlgate.orchestration.tasks` and hold no
gate logic. Importable by module (``mlgate.orchestration.flows:lifecycle``); the repository's
``flows/*.py`` re-export them for ``infra/prefect.yaml``'s path entrypoints.

* ``train``, ``publish``, ``deploy``, ``lifecycle``: the gated lifecycle (``docs/lifecycle.md``).
* ``rescan`` (and its subflow ``rescan_versions``): rescan everything already registered, weekly by
  default (``docs/rescan.md``). The flow walks the registry, re-audits the artifact buckets, lists
  the versions' storage once, checks the versions in batches, at most ``max_workers`` at a time
  (quarantining failures at once), and publishes the summary. ``task_runner=dask`` runs the checks
  on a Dask cluster (in a subflow with that runner when the deployment runs on threads).
* ``registry_hook``: one MLflow registry event (``docs/registry-hooks.md``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal, cast

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from mlgate.model import utcnow
from mlgate.orchestration import tasks as t
from mlgate.rescan.check import audit_targets
from mlgate.rescan.settings import RescanSettings, load_settings
from mlgate.rescan.summary import RescanSummary

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# lifecycle
# ---------------------------------------------------------------------------------------------


@flow(name="mlgate-train", log_prints=False)
def train(config: str) -> str:
    """pre-train checkpoint (S3 audit, data gate, base-model scan), then the team's training function
    in its own confined process."""
    ctx = t.make_context(t.load_config(config))
    pre = t.pre_train_task(ctx)
    return str(t.train_task(ctx, pre))


@flow(name="mlgate-publish")
def publish(config: str, artifact: str) -> dict[str, Any]:
    """pre-publish checkpoint, then register in MLflow only if everything passed."""
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


# ---------------------------------------------------------------------------------------------
# rescan
# ---------------------------------------------------------------------------------------------


def _rescan(settings: RescanSettings, task_runner: str) -> RescanSummary:
    started = utcnow()
    audit = t.audit_task.submit(settings, audit_targets(settings))  # side by side with the registry walk
    posture = t.posture_task.submit(settings)  # the tracking server itself, once per run
    refs = t.select_task(settings)
    inventory = t.inventory_task.submit(settings, refs)
    extra = t.more_audit_targets(settings, refs)  # buckets of s3:// sources
    buckets = audit.result() + (t.audit_task(settings, extra) if extra else [])
    results = t.check_all(settings, refs, buckets, inventory.result())
    return t.summarize(settings, started, results, buckets, task_runner, extra_notes=posture.result())


@flow(name="mlgate-rescan-versions")
def rescan_versions(settings: RescanSettings, task_runner: str = "threads") -> RescanSummary:
    """The checks on another task runner than the calling flow's."""
    return _rescan(settings, task_runner)


# The thread pool is unbounded here on purpose: check_all bounds the work to max_workers batches.
@flow(name="mlgate-rescan", task_runner=cast(Any, ThreadPoolTaskRunner()))
def rescan(
    config: str,
    model: list[str] | None = None,
    max_workers: int | None = None,
    task_runner: Literal["threads", "dask"] = "threads",
    dask_address: str | None = None,
    artifacts_destination: str | None = None,
    full: bool = False,
    metrics_file: str | None = None,
) -> RescanSummary:
    """Rescan the registered versions the pipeline config's policy selects (or only ``model``);
    then write the metrics file, if one is set (``metrics_file``, ``$MLGATE_RESCAN_METRICS_FILE``
    or ``gates.rescan.metrics_file``)."""
    settings = load_settings(config, models=tuple(model or ()), max_workers=max_workers,
                             artifacts_destination=artifacts_destination, full=full, metrics_file=metrics_file)
    if t.needs_own_runner(task_runner):
        runner = t.make_task_runner(task_runner, settings.max_workers, dask_address)
        summary = rescan_versions.with_options(task_runner=runner)(settings, task_runner)
    else:
        summary = _rescan(settings, task_runner)
    write_metrics(settings, summary)
    return summary


def write_metrics(settings: RescanSettings, summary: RescanSummary) -> None:
    """The textfile-collector file, when one is set. A file that cannot be written is logged, never
    a change of verdict: the stale file's last-success time then grows and the lag alert fires."""
    if settings.metrics_file is None:
        return
    from mlgate.metrics import write_rescan_textfile

    try:
        settings.metrics_file.parent.mkdir(parents=True, exist_ok=True)
        write_rescan_textfile(summary, settings.metrics_file)
    except OSError as e:
        log.warning("rescan metrics file %s not written: %s", settings.metrics_file, e)


# ---------------------------------------------------------------------------------------------
# registry hooks
# ---------------------------------------------------------------------------------------------


@flow(name="mlgate-registry-hook")
def registry_hook(payload: dict[str, Any], delivery_id: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """One registry event: check the model version it is about (sign and tag, or quarantine)."""
    return t.process_event(payload, delivery_id, tracking_uri)
