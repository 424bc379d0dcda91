"""Which Prefect API a command's flows run against: a real server, never Prefect's ephemeral one
racing its 20 s start-up timer.

* ``PREFECT_API_URL`` is set (``eval "$(mlgate stack up)"``, a team's server, Prefect Cloud): its
  ``/health`` must answer within ``MLGATE_CONNECT_TIMEOUT`` (default 15 s), else exit 2 with one line.
* it is not: the command starts ``prefect server start`` on 127.0.0.1 (state under
  ``$PREFECT_HOME``, else a temporary folder), waits for it within ``MLGATE_START_TIMEOUT``
  (default 180 s), runs its flows against it and stops it afterwards.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlgate.integrations.servers import check_prefect, start_prefect_server


def configured_api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    value = PREFECT_API_URL.value()
    return str(value) if value else None


@contextmanager
def prefect_api(home: Path | None = None, *, services: bool = False) -> Iterator[str]:
    """The API URL flows run against for the duration of the block (see the module docstring).
    ``services``: a started server also runs Prefect's scheduler (needed to serve schedules)."""
    url = configured_api_url()
    if url:
        check_prefect(url)
        yield url
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    env_home = os.environ.get("PREFECT_HOME")
    with tempfile.TemporaryDirectory(prefix="mlgate-prefect-") as tmp:
        root = home or (Path(env_home) if env_home else Path(tmp))
        server = start_prefect_server(root, services=services)
        try:
            with temporary_settings(updates={PREFECT_API_URL: server.url}):
                yield server.url
        finally:
            server.stop()
