"""Report files are written atomically, but devices and pipes are written through, never replaced."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from mlgate.commands.common import write_atomic


def test_regular_file_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "report.json"
    write_atomic(out, "one")
    write_atomic(out, "two")
    assert out.read_text() == "two"
    assert [p.name for p in out.parent.iterdir()] == ["report.json"]


def test_dev_null_stays_a_device() -> None:
    write_atomic(Path("/dev/null"), "{}")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not [p for p in Path("/dev").glob(".null.*.tmp")]


def test_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    write_atomic(fifo, "report")
    reader.join(10)
    assert got == ["report"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_metrics_textfile_to_a_fifo_is_written_through(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, Counter

    from mlgate.metrics import write_textfile

    registry = CollectorRegistry()
    Counter("mlgate_demo", "a counter", registry=registry).inc()
    fifo = tmp_path / "metrics.fifo"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    write_textfile(registry, fifo)
    reader.join(10)
    assert "mlgate_demo_total 1.0" in got[0]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    out = tmp_path / "m.prom"
    write_textfile(registry, out)
    assert out.is_file()
    assert "mlgate_demo_total" in out.read_text()
