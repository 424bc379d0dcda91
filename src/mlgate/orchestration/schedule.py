"""The rescan schedule: the weekly deployment of :func:`mlgate.orchestration.flows.rescan`, and its
next run times computed with Prefect's own scheduler code, so a schedule can be checked without
waiting a week.

Two ways to run it on a schedule:

* with a work pool: ``prefect deploy --all --prefect-file infra/prefect.yaml`` (deployment
  ``weekly-rescan``, cron ``0 3 * * 1`` UTC) and a worker;
* without one: ``mlgate schedule --config ...`` (``Flow.serve``: this process is the worker).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from pathlib import Path
from typing import Any

DEFAULT_CRON = "0 3 * * 1"  # Mondays 03:00
DEFAULT_TIMEZONE = "UTC"
DEPLOYMENT_NAME = "weekly-rescan"
ENTRYPOINT = "flows/rescan.py:rescan"  # infra/prefect.yaml (from a checkout)
MODULE_ENTRYPOINT = "mlgate.orchestration.flows:rescan"  # the same flow, from an installed package


def next_runs(cron: str, timezone: str = DEFAULT_TIMEZONE, n: int = 3,
              start: _dt.datetime | None = None) -> list[_dt.datetime]:
    """The next ``n`` run times of a cron schedule, by the Prefect server's own schedule code."""
    from prefect.server.schemas.schedules import CronSchedule

    sched = CronSchedule(cron=cron, timezone=timezone)
    dates = asyncio.run(sched.get_dates(n=n, start=start or _dt.datetime.now(_dt.UTC)))
    return [_dt.datetime.fromisoformat(d.isoformat()) for d in dates]


def build_deployment(flow: Any, config: str | Path, *, cron: str = DEFAULT_CRON, timezone: str = DEFAULT_TIMEZONE,
                     name: str = DEPLOYMENT_NAME, parameters: dict[str, Any] | None = None) -> Any:
    """A ``RunnerDeployment`` of the rescan flow on a cron schedule (what ``mlgate schedule`` serves)."""
    from prefect.client.schemas.schedules import CronSchedule

    params = {"config": str(Path(config).resolve()), **(parameters or {})}
    return flow.to_deployment(name=name, schedule=CronSchedule(cron=cron, timezone=timezone), parameters=params,
                              description="mlgate: rescan every registered model version; quarantine what fails",
                              tags=["mlgate", "rescan"])
