"""Prometheus metrics of the long-running parts (prometheus-client: declared in the flows extra,
pulled in by prefect too, pinned in constraints.txt).

* the webhook receiver serves ``/metrics`` (deliveries by outcome, queue depth by status, age of
  the oldest waiting event), read from the SQLite queue at scrape time;
* the worker counts processed events, verdicts and quarantines; it exposes them with
  :func:`serve_worker_metrics` (an HTTP port on 127.0.0.1) or :func:`write_textfile`;
* the rescan writes a node-exporter *textfile collector* file (:func:`write_rescan_textfile`):
  it is a batch job, so it pushes nothing; ``time() - mlgate_rescan_last_success_timestamp_seconds``
  is the rescan lag an alert can use.

Each process keeps its own :class:`Metrics` (its own registry): nothing global, nothing shared
between tests.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from mlgate.hooks.queue import EventQueue
    from mlgate.rescan.summary import RescanSummary

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class QueueCollector(Collector):
    """Queue depth by status and the age of the oldest event not yet done, at scrape time."""

    def __init__(self, queue: EventQueue, clock: Any = time.time) -> None:
        self.queue = queue
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("mlgate_hooks_queue_events", "Events in the webhook queue by status",
                                  labels=["status"])
        try:
            counts = self.queue.counts()
        finally:
            self.queue.close()  # the scrape thread's connection
        for status, n in sorted(counts.items()):
            depth.add_metric([status], n)
        yield depth
        age = GaugeMetricFamily("mlgate_hooks_queue_oldest_age_seconds",
                                "Age of the oldest event waiting or being processed (0 when none)")
        try:
            oldest = self.queue.oldest_pending_received_at()
        finally:
            self.queue.close()
        age.add_metric([], max(0.0, self.clock() - oldest) if oldest is not None else 0.0)
        yield age


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter("mlgate_hooks_deliveries", "Webhook deliveries by outcome",
                                  ["outcome"], registry=self.registry)
        self.events = Counter("mlgate_hooks_events_processed", "Queue events processed by the worker",
                              ["kind", "outcome"], registry=self.registry)
        self.verdicts = Counter("mlgate_verdicts", "Verdicts given by the worker", ["verdict"],
                                registry=self.registry)
        self.quarantines = Counter("mlgate_quarantines", "Model versions quarantined", registry=self.registry)

    def watch_queue(self, queue: EventQueue) -> None:
        self.registry.register(QueueCollector(queue))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def record_result(self, kind: str, result: dict[str, Any] | None, error: str | None = None) -> None:
        """A worker hook: one processed event (its handler's result dict, or the error)."""
        if error is not None:
            self.events.labels(kind=kind, outcome="error").inc()
            return
        res = result or {}
        self.events.labels(kind=kind, outcome=str(res.get("action") or "done")).inc()
        verdict = res.get("verdict")
        if isinstance(verdict, str) and verdict:
            self.verdicts.labels(verdict=verdict).inc()
        if res.get("action") == "quarantined" or res.get("quarantined"):
            self.quarantines.inc()


def serve_worker_metrics(metrics: Metrics, port: int, addr: str = "127.0.0.1") -> Any:
    """Expose ``metrics`` on http://addr:port/metrics (a daemon thread); returns the server."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=addr, registry=metrics.registry)
    return server


def write_textfile(registry: CollectorRegistry, path: Path) -> None:
    """Atomically write ``registry`` in the text format (node-exporter textfile collector). A path
    that exists and is not a regular file (/dev/null, a FIFO) is written through, never renamed over."""
    if path.exists() and not path.is_file():
        with path.open("wb") as out:
            out.write(generate_latest(registry))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(generate_latest(registry))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rescan_registry(summary: RescanSummary) -> CollectorRegistry:
    from prometheus_client import Gauge

    from mlgate.errors import ExitCode
    from mlgate.rescan.summary import Outcome

    reg = CollectorRegistry()
    Gauge("mlgate_rescan_last_run_timestamp_seconds", "When the last rescan finished", registry=reg).set(
        summary.finished_at.timestamp())
    ok = Gauge("mlgate_rescan_last_success_timestamp_seconds",
               "When the last rescan that checked everything (exit pass or fail) finished", registry=reg)
    if summary.exit_code in (ExitCode.PASS, ExitCode.FAIL):
        ok.set(summary.finished_at.timestamp())
    Gauge("mlgate_rescan_duration_seconds", "Duration of the last rescan", registry=reg).set(summary.seconds)
    Gauge("mlgate_rescan_exit_code", "Exit code of the last rescan (0 pass, 1 fail, 2 error, 3 incomplete)",
          registry=reg).set(int(summary.exit_code))
    by = Gauge("mlgate_rescan_versions", "Model versions by outcome in the last rescan", ["outcome"], registry=reg)
    for o in Outcome:
        by.labels(outcome=o.value).set(sum(v.outcome is o for v in summary.versions))
    Gauge("mlgate_rescan_quarantined", "Versions quarantined by the last rescan", registry=reg).set(
        summary.counts.quarantined)
    Gauge("mlgate_rescan_buckets_failed", "Artifact buckets not passing the audit in the last rescan",
          registry=reg).set(summary.counts.buckets_failed)
    return reg


def write_rescan_textfile(summary: RescanSummary, path: Path) -> None:
    """The rescan's hook: ``mlgate_rescan_*`` into a textfile-collector file. Only a run that
    checked everything moves ``last_success``, so a failing schedule shows up as growing lag."""
    # keep the previous success time when this run did not check everything
    prev = _read_gauge(path, "mlgate_rescan_last_success_timestamp_seconds") if path.exists() else None
    reg = rescan_registry(summary)
    from mlgate.errors import ExitCode

    if prev is not None and summary.exit_code not in (ExitCode.PASS, ExitCode.FAIL):
        g = reg._names_to_collectors["mlgate_rescan_last_success_timestamp_seconds"]
        g.set(prev)  # type: ignore[attr-defined]
    write_textfile(reg, path)


def _read_gauge(path: Path, name: str) -> float | None:
    for line in path.read_text().splitlines():
        if line.startswith(name + " "):
            try:
                return float(line.split()[1])
            except ValueError:
                return None
    return None
