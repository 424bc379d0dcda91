"""Progress of a rescan inside this process (the CLI draws its bar from it). Tasks running in this
process (Prefect's thread pool, a Dask cluster with ``processes=False``) report here; tasks on
remote workers do not, and the bar then only shows the start and the end."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from mlgate.gate import Progress

_listeners: list[Progress] = []
_lock = threading.Lock()


@contextmanager
def listen(fn: Progress) -> Iterator[None]:
    with _lock:
        _listeners.append(fn)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(fn)


def notify(advance: int, text: str) -> None:
    with _lock:
        listeners = list(_listeners)
    for fn in listeners:
        with contextlib.suppress(Exception):  # a display problem never stops a rescan
            fn(advance, text)
