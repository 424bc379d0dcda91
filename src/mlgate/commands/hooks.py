"""``mlgate hooks``: MLflow registry webhooks (receiver, worker, registration, queue status).

The shared secret comes from ``MLGATE_WEBHOOK_SECRET`` or a file (``--secret-file`` /
``MLGATE_WEBHOOK_SECRET_FILE``, mode 0600), never from the command line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import click

from mlgate.errors import UsageError

DEFAULT_QUEUE = Path(".mlgate") / "hooks" / "queue.db"
DEFAULT_SECRET_FILE = Path(".mlgate") / "hooks" / "webhook.secret"

queue_option = click.option(
    "--queue", "queue_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_QUEUE,
    show_default=True, envvar="MLGATE_HOOKS_QUEUE", help="SQLite file of the durable event queue.",
)


@click.group()
def hooks() -> None:
    """MLflow registry webhooks: scan, sign or quarantine versions registered outside the pipeline."""


@hooks.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@queue_option
@click.option("--secret-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File holding the webhook secret (one per line during a rotation). Default: "
                   "$MLGATE_WEBHOOK_SECRET_FILE, else $MLGATE_WEBHOOK_SECRET.")
@click.option("--path", "url_path", default="/webhooks/mlflow", show_default=True, help="URL path of the endpoint.")
@click.option("--max-body", default=1024 * 1024, show_default=True, type=click.IntRange(1024, 64 * 1024 * 1024),
              help="Largest accepted body in bytes.")
@click.option("--tolerance", default=300, show_default=True, type=click.IntRange(5, 3600),
              help="Replay window: accepted clock difference in seconds.")
@click.option("--limit-concurrency", default=512, show_default=True, type=click.IntRange(1),
              help="Concurrent connections before answering 503 (MLflow retries 503).")
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False), default=None, help="TLS certificate.")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False), default=None, help="TLS key.")
def serve(host: str, port: int, queue_path: Path, secret_file: Path | None, url_path: str, max_body: int,
          tolerance: int, limit_concurrency: int, ssl_certfile: str | None, ssl_keyfile: str | None) -> int:
    """Run the webhook receiver (ASGI): verify, record durably, answer at once."""
    import uvicorn

    from mlgate.hooks.queue import EventQueue
    from mlgate.hooks.receiver import ReceiverSettings, create_app
    from mlgate.hooks.verify import load_secrets

    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise UsageError("--ssl-certfile and --ssl-keyfile go together")
    secrets = load_secrets(secret_file)
    app = create_app(ReceiverSettings(secrets=secrets, max_body=max_body, tolerance_s=tolerance, path=url_path),
                     EventQueue(queue_path))
    click.echo(f"mlgate hooks: receiving on {'https' if ssl_certfile else 'http'}://{host}:{port}{url_path} "
               f"(queue {queue_path})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                limit_concurrency=limit_concurrency, timeout_keep_alive=30, ssl_certfile=ssl_certfile,
                ssl_keyfile=ssl_keyfile, server_header=False)
    return 0


@hooks.command()
@queue_option
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", required=True, help="MLflow tracking server.")
@click.option("--runner", type=click.Choice(["flow", "inline"]), default="flow", show_default=True,
              help="flow: run the registry-hook flow under Prefect (the configured Prefect API or one this "
                   "command starts); inline: the same logic in-process.")
@click.option("--drain", is_flag=True, help="Exit when no event is ready instead of waiting for more.")
@click.option("--lease", default=300.0, show_default=True, type=click.FloatRange(1.0),
              help="Seconds a claimed event stays reserved without a heartbeat (crash recovery).")
@click.option("--max-attempts", default=5, show_default=True, type=click.IntRange(1),
              help="Attempts before an event is failed (and its version quarantined).")
@click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(0.05), help="Idle poll interval.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics (events processed, verdicts, quarantines, queue depth and age) "
                   "on http://<metrics-host>:PORT/metrics. Default: no metrics endpoint.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address the metrics endpoint binds (loopback unless a scraper elsewhere needs it).")
def worker(queue_path: Path, tracking_uri: str, runner: str, drain: bool, lease: float,
           max_attempts: int, poll: float, metrics_port: int | None, metrics_host: str) -> int:
    """Process recorded deliveries: scan, sign and tag, or quarantine."""
    from mlgate.hooks.process import HookSettings
    from mlgate.hooks.queue import EventQueue
    from mlgate.hooks.runners import give_up_handler, inline_handler
    from mlgate.hooks.worker import Worker, WorkerSettings

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not queue_path.exists():
        raise UsageError(f"{queue_path}: no such queue (start `mlgate hooks serve` first or pass --queue)")
    settings = HookSettings.from_env(tracking_uri)
    settings.validate()
    from mlgate.integrations.servers import check_mlflow

    check_mlflow(tracking_uri)
    runtime: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if runner == "flow":
        from mlgate.orchestration.hooks import flow_handler
        from mlgate.orchestration.runtime import prefect_api

        handler, runtime = flow_handler(settings), prefect_api()
    else:
        handler = inline_handler(settings)
    metrics = None
    metrics_server: Any = None
    if metrics_port is not None:
        from mlgate.metrics import Metrics, serve_worker_metrics

        metrics = Metrics()
        metrics.watch_queue(EventQueue(queue_path))  # its own connection, read at scrape time
        try:
            metrics_server = serve_worker_metrics(metrics, metrics_port, addr=metrics_host)
        except OSError as e:
            raise UsageError(f"--metrics-port {metrics_port}: cannot listen on {metrics_host}: {e}") from None
        click.echo(f"mlgate hooks: worker metrics on http://{metrics_host}:{metrics_server.server_port}/metrics",
                   err=True)
    w = Worker(EventQueue(queue_path), handler, on_give_up=give_up_handler(settings),
               settings=WorkerSettings(lease_s=lease, max_attempts=max_attempts, poll_s=poll), metrics=metrics)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    logging.getLogger("mlgate.hooks").setLevel(logging.INFO)
    try:
        with runtime:
            n = w.run(stop=stop, drain=drain)
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
    click.echo(f"mlgate hooks: processed {n} deliveries", err=True)
    return 0


@hooks.command()
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", required=True, help="MLflow tracking server.")
@click.option("--url", required=True, help="Receiver URL MLflow will POST to (https in production).")
@click.option("--events", "events", multiple=True, help="Event to subscribe (repeatable). Default: version "
              "created, version tag set/deleted, alias created.")
@click.option("--name", default="mlgate-registry-hooks", show_default=True, help="Webhook name in MLflow.")
@click.option("--secret-file", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_SECRET_FILE,
              show_default=True, help="Where to write the generated secret (mode 0600).")
@click.option("--force", is_flag=True, help="Replace an existing secret file.")
def register(tracking_uri: str, url: str, events: tuple[str, ...], name: str, secret_file: Path, force: bool) -> int:
    """Create the webhook on an MLflow server with a generated secret (written to a file, never shown)."""
    from mlgate.hooks.register import DEFAULT_EVENTS, register_webhook
    from mlgate.integrations.mlflow import mlflow_client

    reg = register_webhook(mlflow_client(tracking_uri), url, secret_file,
                           events=list(events) or list(DEFAULT_EVENTS), name=name, overwrite=force)
    click.echo(json.dumps({"webhook_id": reg.webhook_id, "name": reg.name, "url": reg.url, "events": reg.events,
                           "secret_file": str(reg.secret_file)}, indent=2))
    return 0


@hooks.command()
@queue_option
@click.option("--failed", "show_failed", is_flag=True, help="Also list failed deliveries with their last error.")
def status(queue_path: Path, show_failed: bool) -> int:
    """Counts of recorded deliveries by state (JSON on stdout)."""
    from mlgate.hooks.queue import EventQueue

    if not queue_path.exists():
        raise UsageError(f"{queue_path}: no such queue")
    q = EventQueue(queue_path)
    out: dict[str, Any] = {"counts": q.counts()}
    if show_failed:
        out["failed"] = [{k: r[k] for k in ("delivery_id", "entity", "action", "subject", "attempts", "last_error")}
                         for r in q.rows("failed")]
    click.echo(json.dumps(out, indent=2))
    return 0
