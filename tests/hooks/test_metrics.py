"""Prometheus metrics: scraped over HTTP from the real receiver process (`python -m mlgate.hooks
serve`), from the worker's metrics port, and read from the rescan's textfile-collector file."""

from __future__ import annotations

import datetime as dt
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from tests.hooks.hooks_helpers import body_of, payload, post, signed_headers, start_receiver

from mlgate.hooks.queue import EventQueue
from mlgate.hooks.worker import Worker, WorkerSettings
from mlgate.metrics import Metrics, serve_worker_metrics, write_rescan_textfile
from mlgate.model import Verdict
from mlgate.rescan.summary import BucketResult, Outcome, RescanSummary, VersionResult
from mlgate.stack.procs import free_port


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        return r.read().decode()


def test_receiver_metrics_scraped_from_the_real_process(tmp_path: Path) -> None:
    qpath = tmp_path / "queue.db"
    server = start_receiver(tmp_path / "recv", qpath)
    try:
        before = samples(scrape(server.url + "/metrics"))
        assert before[("mlgate_hooks_queue_events", (("status", "new"),))] == 0
        assert before[("mlgate_hooks_queue_oldest_age_seconds", ())] == 0
        body = body_of(payload(name="m", version="1"))
        headers = signed_headers(body, delivery_id="d-1")
        url = server.url + "/webhooks/mlflow"
        assert post(url, body, headers)[0] == 202
        assert post(url, body, headers)[0] == 200  # duplicate
        assert post(url, body, {**headers, "X-MLflow-Signature": "v1,AAAA"})[0] == 401
        m = samples(scrape(server.url + "/metrics"))
        assert m[("mlgate_hooks_deliveries_total", (("outcome", "accepted"),))] == 1
        assert m[("mlgate_hooks_deliveries_total", (("outcome", "duplicate"),))] == 1
        assert m[("mlgate_hooks_deliveries_total", (("outcome", "rejected-401"),))] == 1
        assert m[("mlgate_hooks_queue_events", (("status", "new"),))] == 1
        assert m[("mlgate_hooks_queue_oldest_age_seconds", ())] >= 0
    finally:
        server.stop()
    # The worker drains it, counting the verdict and the quarantine, exposed on its own port.
    metrics = Metrics()
    worker = Worker(EventQueue(qpath), lambda ev: {"action": "quarantined", "verdict": "fail"},
                    settings=WorkerSettings(), metrics=metrics)
    port = free_port()
    srv = serve_worker_metrics(metrics, port)
    try:
        assert worker.run(drain=True) == 1
        w = samples(scrape(f"http://127.0.0.1:{port}/metrics"))
    finally:
        srv.shutdown()
    assert w[("mlgate_verdicts_total", (("verdict", "fail"),))] == 1
    assert w[("mlgate_quarantines_total", ())] == 1
    assert w[("mlgate_hooks_events_processed_total", (("kind", "model_version.created"),
                                                       ("outcome", "quarantined")))] == 1


def test_rescan_textfile(tmp_path: Path) -> None:
    t0 = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)

    def summary(outcome: Outcome, at: dt.datetime) -> RescanSummary:
        return RescanSummary(started_at=at, finished_at=at + dt.timedelta(seconds=4), tracking_uri="x",
                             policy_name="default", policy_digest="sha256:1",
                             versions=(VersionResult(name="m", version="1", outcome=outcome),),
                             buckets=(BucketResult(bucket="b", verdict=Verdict.PASS),))

    f = tmp_path / "textfile" / "mlgate_rescan.prom"
    write_rescan_textfile(summary(Outcome.QUARANTINED, t0), f)
    m = samples(f.read_text())
    ok = (t0 + dt.timedelta(seconds=4)).timestamp()
    assert m[("mlgate_rescan_last_success_timestamp_seconds", ())] == ok
    assert m[("mlgate_rescan_quarantined", ())] == 1
    assert m[("mlgate_rescan_versions", (("outcome", "quarantined"),))] == 1
    assert m[("mlgate_rescan_exit_code", ())] == 1
    # A week later the run errors: the last success stays where it was, so the lag grows.
    later = t0 + dt.timedelta(days=7)
    write_rescan_textfile(summary(Outcome.ERROR, later), f)
    m = samples(f.read_text())
    assert m[("mlgate_rescan_last_success_timestamp_seconds", ())] == ok
    assert m[("mlgate_rescan_last_run_timestamp_seconds", ())] == (later + dt.timedelta(seconds=4)).timestamp()
    assert m[("mlgate_rescan_exit_code", ())] == 2
