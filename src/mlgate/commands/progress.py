"""A progress bar on stderr for long work (only when stderr is a terminal; CI logs stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from mlgate.gate import Progress


@contextmanager
def progress_bar(label: str, *, enabled: bool | None = None) -> Iterator[Progress]:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda _n, _d: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    with RichProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[item]}"),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None, item="")

        def update(n: int, item: str) -> None:
            if n == 0 and item.startswith(("scanning ", "auditing ", "checking ")):
                words = item.split()
                if len(words) > 1 and words[1].isdigit():
                    bar.update(task, total=int(words[1]))
                return
            bar.update(task, advance=n, item=item[-60:])

        yield update
