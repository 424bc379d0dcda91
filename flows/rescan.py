"""Prefect flow: rescan everything already registered (weekly by default, see ``infra/prefect.yaml``).
Thin: the logic is :mod:`mlgate.rescan`. Deployments load it by path (``flows/rescan.py:rescan``).

The flow walks the registry, re-audits the artifact buckets, lists the versions' storage once,
checks the versions in batches, at most ``max_workers`` at a time (quarantining failures at
once), and publishes the summary. The same code runs on Prefect's thread pool and on a Dask
cluster: ``mlgate rescan --task-runner dask`` starts it with a ``DaskTaskRunner``; a deployment
started with ``task_runner=dask`` runs the checks in a subflow with that runner.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from mlgate.model import utcnow
from mlgate.rescan import tasks as t
from mlgate.rescan.settings import RescanSettings, load_settings
from mlgate.rescan.summary import RescanSummary


def _rescan(settings: RescanSettings, task_runner: str) -> RescanSummary:
    started = utcnow()
    audit = t.audit_task.submit(settings, t.audit_targets(settings))  # side by side with the registry walk
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
@flow(name="mlgate-rescan", task_runner=ThreadPoolTaskRunner())
def rescan(
    config: str,
    model: list[str] | None = None,
    max_workers: int | None = None,
    task_runner: Literal["threads", "dask"] = "threads",
    dask_address: str | None = None,
    artifacts_destination: str | None = None,
    full: bool = False,
) -> RescanSummary:
    """Rescan the registered versions the pipeline config's policy selects (or only ``model``)."""
    settings = load_settings(config, models=tuple(model or ()), max_workers=max_workers,
                             artifacts_destination=artifacts_destination, full=full)
    if t.needs_own_runner(task_runner):
        runner = t.make_task_runner(task_runner, settings.max_workers, dask_address)
        return rescan_versions.with_options(task_runner=runner)(settings, task_runner)
    return _rescan(settings, task_runner)
