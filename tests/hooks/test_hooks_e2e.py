"""Both halves together, end to end on 127.0.0.1: a real ``mlflow server`` (registry guard on,
webhooks on, artifacts proxied to moto S3), ``mlgate hooks register`` creating the webhook,
the receiver as its own process, and the worker running the Prefect flow
``flows/registry_hooks.py`` under a test harness.

A version registered by hand (plain ``MlflowClient`` calls, no mlgate) is scanned, signed and
tagged within seconds and can then be promoted; a malicious one is quarantined and its
promotion refused by the server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from tests.hooks.hooks_helpers import body_of, payload, post, post_oversized, signed_headers, start_receiver

from mlgate.evidence.attestation import generate_keypair
from mlgate.hooks.process import HookSettings, fetch_version
from mlgate.hooks.queue import EventQueue
from mlgate.hooks.runners import give_up_handler
from mlgate.hooks.worker import Worker, WorkerSettings
from mlgate.orchestration.hooks import flow_handler
from mlgate.registry import tags as T
from mlgate.samples import write_clean_model, write_poisoned_model
from mlgate.stack.moto import FAKE_CREDENTIALS
from mlgate.stack.procs import LOOPBACK, Server, free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WITHIN_S = 30.0  # "within seconds" (measured ~3-4 s here, the first flow run included)


@dataclass
class E2E:
    client: MlflowClient
    url: str
    receiver: Server
    hook_url: str
    queue: EventQueue
    worker: Worker
    settings: HookSettings
    secret_file: Path
    register_output: str
    work: Path


@pytest.fixture(scope="module")
def e2e(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    from cryptography.fernet import Fernet
    from prefect.testing.utilities import prefect_test_harness

    from mlgate.commands.hooks import hooks
    from mlgate.stack.mlflow_server import start_mlflow

    work = tmp_path_factory.mktemp("hooks-e2e")
    priv, pub = generate_keypair(work / "keys")
    bucket = f"hooks-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                 aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=bucket)
    db = work / "mlflow" / "mlflow.db"
    server = start_mlflow(work / "mlflow", s3_endpoint=moto_server, artifact_bucket=bucket,
                          registry_store_uri=f"mlgate+sqlite:///{db}",
                          extra_env={
                              "MLGATE_REGISTRY_PUBLIC_KEY": str(pub),
                              # loopback receiver over http: tests only (see docs/registry-hooks.md)
                              "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
                              "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
                              "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                              "MLFLOW_WEBHOOK_CACHE_TTL": "1",
                              "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                          })
    port = free_port()
    hook_url = f"http://{LOOPBACK}:{port}/webhooks/mlflow"
    secret_file = work / "secret" / "webhook.secret"
    res = CliRunner().invoke(hooks, ["register", "--tracking-uri", server.url, "--url", hook_url,
                                     "--secret-file", str(secret_file)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    receiver = start_receiver(work / "receiver", work / "queue.db", secret_file=secret_file, port=port)
    env = {"MLGATE_SIGNING_KEY": str(priv), "MLGATE_PUBLIC_KEY": str(pub),
           "MLGATE_POLICY": str(REPO / "policies" / "default.yaml"), "MLGATE_HOOK_WORK_DIR": str(work / "hook-work"),
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "PREFECT_HOME": str(work / "prefect"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    try:
        with pytest.MonkeyPatch.context() as mp, prefect_test_harness(server_startup_timeout=120):
            for k, v in env.items():
                mp.setenv(k, v)
            settings = HookSettings.from_env(server.url)
            queue = EventQueue(work / "queue.db")
            worker = Worker(queue, flow_handler(settings), on_give_up=give_up_handler(settings),
                            settings=WorkerSettings(lease_s=120, max_attempts=3, backoff_s=(1.0,), poll_s=0.2))
            yield E2E(MlflowClient(tracking_uri=server.url), server.url, receiver, hook_url, queue, worker, settings,
                      secret_file, res.output, work)
    finally:
        receiver.stop()
        server.stop()


def hand_register(e: E2E, name: str, writer: Callable[[Path], Path]) -> str:
    c = e.client
    exp = c.get_experiment_by_name("notebooks")
    exp_id = exp.experiment_id if exp else c.create_experiment("notebooks")
    run = c.create_run(exp_id)
    folder = writer(e.work / f"{name}-src")
    c.log_artifacts(run.info.run_id, str(folder), "model")
    c.create_registered_model(name)
    return str(c.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id).version)


def pump(e: E2E, done: Callable[[], bool], timeout: float = WITHIN_S) -> float:
    """Run the worker until ``done()``; the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if done():
            return time.monotonic() - t0
        if e.worker.run_once() is None:
            time.sleep(0.2)
    raise AssertionError(f"not done within {timeout} s; queue: {e.queue.counts()}")


def results_for(e: E2E, subject: str) -> list[dict[str, Any]]:
    return [json.loads(r["result"]) for r in e.queue.rows("done") if r["subject"] == subject]


def test_register_creates_the_webhook_and_keeps_the_secret_private(e2e: E2E) -> None:
    secret = e2e.secret_file.read_text().strip()
    assert len(secret) >= 32
    assert stat.S_IMODE(e2e.secret_file.stat().st_mode) == 0o600
    assert secret not in e2e.register_output
    out = json.loads(e2e.register_output)
    assert out["secret_file"] == str(e2e.secret_file)
    [hook] = [h for h in e2e.client.list_webhooks() if h.url == e2e.hook_url]
    assert str(hook.webhook_id) == out["webhook_id"]
    assert {str(ev) for ev in hook.events} >= {"model_version.created", "model_version_alias.created"}


def test_hand_registered_clean_version_is_signed_within_seconds(e2e: E2E) -> None:
    t0 = time.monotonic()
    version = hand_register(e2e, "notebook-clean", write_clean_model)
    took = pump(e2e, lambda: e2e.client.get_model_version("notebook-clean", version).tags.get(T.VERDICT) == "pass")
    took_total = time.monotonic() - t0
    print(f"hand-registered version signed and tagged {took_total:.1f} s after registration")
    assert took <= WITHIN_S
    mv = e2e.client.get_model_version("notebook-clean", version)
    copy = fetch_version(e2e.client, "notebook-clean", version, e2e.work / "check-clean", e2e.url)
    from mlgate.gates.model_version import verify_version
    from mlgate.policy import load_policy

    report = verify_version(e2e.client, "notebook-clean", version, policy=load_policy(e2e.settings.policy_path),
                            public_keys=str(e2e.settings.public_key), profile="webhook",
                            work_dir=e2e.work / "verify-clean")  # statement, source, bytes, model signature
    assert report.verdict.value == "pass", report.reason
    assert report.subjects[0].details["provenance"] == "registry-hook"
    assert mv.tags[T.MANIFEST] == copy.manifest_sha256
    assert e2e.client.get_run(mv.tags[T.EVIDENCE_RUN]).data.tags["mlgate.verdict"] == "pass"
    created = [r for r in results_for(e2e, f"notebook-clean/{version}") if r["trigger"] == "model_version.created"]
    assert [r["action"] for r in created] == ["signed"]
    # usable, but a hand-registered version is not promotable to a protected alias by default:
    # the server's guard refuses it (provenance registry-hook); an unprotected alias is fine
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="provenance 'registry-hook'"):
        e2e.client.set_registered_model_alias("notebook-clean", "production", version)
    e2e.client.set_registered_model_alias("notebook-clean", "staging", version)
    # our own tag writes came back as events; each re-verified the evidence and changed nothing
    pump(e2e, lambda: e2e.queue.counts()["new"] == 0 and e2e.queue.counts()["processing"] == 0)
    others = Counter(r["action"] for r in results_for(e2e, f"notebook-clean/{version}") if r not in created)
    # envelope tag, verdict tag: re-verified; the descriptive tags and the staging alias: ignored
    assert others["verified"] == 2
    assert set(others) == {"verified", "ignored"}
    assert e2e.client.get_model_version_by_alias("notebook-clean", "staging").tags[T.VERDICT] == "pass"


def test_malicious_version_is_quarantined_and_cannot_be_promoted(e2e: E2E) -> None:
    version = hand_register(e2e, "notebook-poisoned", write_poisoned_model)
    pump(e2e, lambda: e2e.client.get_model_version("notebook-poisoned", version).tags.get(T.VERDICT) == "quarantined")
    mv = e2e.client.get_model_version("notebook-poisoned", version)
    assert mv.tags[T.QUARANTINE_REASON].startswith("pre-publish verdict fail: model-scan")
    assert T.ENVELOPE not in mv.tags  # nothing was signed
    [res] = [r for r in results_for(e2e, f"notebook-poisoned/{version}") if r["trigger"] == "model_version.created"]
    assert (res["action"], res["verdict"], res["event_emitted"]) == ("quarantined", "fail", True)
    report = e2e.client.download_artifacts(mv.tags[T.EVIDENCE_RUN], "mlgate/report.json", str(e2e.work / "rep"))
    doc = json.loads(Path(report).read_text())
    assert (doc["gate"], doc["verdict"]) == ("model-scan", "fail")
    with pytest.raises(MlflowException, match=r"PERMISSION_DENIED.*notebook-poisoned/1: quarantined: pre-publish verdict fail"):
        e2e.client.set_registered_model_alias("notebook-poisoned", "production", version)
    with pytest.raises(MlflowException, match=r"PERMISSION_DENIED.*no signed verdict statement \(mlgate.attestation_envelope\)"):
        e2e.client.set_model_version_tag("notebook-poisoned", version, T.VERDICT, "pass")


def test_forged_replayed_and_oversized_requests_do_nothing(e2e: E2E) -> None:
    pump(e2e, lambda: e2e.queue.counts()["new"] == 0 and e2e.queue.counts()["processing"] == 0)
    before = e2e.queue.counts()
    real = e2e.queue.rows("done")[0]  # a delivery MLflow really sent
    body = bytes(real["body"])
    secret = e2e.secret_file.read_text().strip()
    forged = signed_headers(body, secret="not-the-secret-0123456789")
    assert post(e2e.hook_url, body, forged)[0] == 401
    unsigned = {k: v for k, v in signed_headers(body, secret=secret).items() if k != "X-MLflow-Signature"}
    assert post(e2e.hook_url, body, unsigned)[0] == 401
    replay = signed_headers(body, secret=secret, delivery_id=real["delivery_id"])
    assert post(e2e.hook_url, body, replay) == (200, {"status": "duplicate", "delivery_id": real["delivery_id"]})
    stale = signed_headers(body, secret=secret, timestamp=int(time.time()) - 3600)
    assert post(e2e.hook_url, body, stale)[0] == 400
    big = body_of(payload(name="x", version="1", description="x" * (2 * 1024 * 1024)))
    assert post_oversized(e2e.hook_url, big, signed_headers(big, secret=secret)) == 413
    assert e2e.queue.counts() == before
    assert e2e.worker.run_once() is None


def _mlgate_hooks(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m mlgate.hooks`` is ``mlgate hooks`` (same group, same exit codes)."""
    return subprocess.run([sys.executable, "-m", "mlgate.hooks", *args], capture_output=True, text=True,
                          timeout=120, check=False, env=env)


def test_cli_refuses_what_it_cannot_do_safely(e2e: E2E, tmp_path: Path) -> None:
    hooks_before = len(e2e.client.list_webhooks())
    r = _mlgate_hooks("register", "--tracking-uri", e2e.url, "--url", e2e.hook_url,
                      "--secret-file", str(e2e.secret_file))
    assert r.returncode == 4, r.stderr
    assert "already exists" in r.stderr
    assert len(e2e.client.list_webhooks()) == hooks_before  # nothing created before the file check
    no_keys = {k: v for k, v in os.environ.items() if k not in ("MLGATE_SIGNING_KEY", "MLGATE_PUBLIC_KEY")}
    r = _mlgate_hooks("worker", "--queue", str(e2e.work / "queue.db"), "--tracking-uri", e2e.url, "--drain",
                      env=no_keys)
    assert (r.returncode, "MLGATE_SIGNING_KEY" in r.stderr) == (4, True), r.stderr
    r = _mlgate_hooks("worker", "--queue", str(tmp_path / "missing.db"), "--tracking-uri", e2e.url)
    assert (r.returncode, "no such queue" in r.stderr) == (4, True), r.stderr
    r = _mlgate_hooks("status", "--queue", str(e2e.work / "queue.db"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"] == e2e.queue.counts()


def test_worker_process_serves_its_metrics(e2e: E2E) -> None:
    """``mlgate hooks worker --metrics-port`` as its own process (inline runner) takes the
    deliveries MLflow sent for two hand-registered versions from the real queue; its counters are
    scraped over HTTP on 127.0.0.1 and agree with what the queue says it did."""
    from tests.hooks.test_metrics import samples, scrape

    from mlgate.stack.procs import start

    # start from a settled queue: what the process counts is then only what it processed
    pump(e2e, lambda: e2e.queue.counts()["new"] == 0 and e2e.queue.counts()["processing"] == 0)
    clean = hand_register(e2e, "metrics-clean", write_clean_model)
    poisoned = hand_register(e2e, "metrics-poisoned", write_poisoned_model)
    port = free_port()
    url = f"http://{LOOPBACK}:{port}/metrics"
    worker = start("hooks-worker", [sys.executable, "-m", "mlgate", "hooks", "worker", "--runner", "inline",
                                    "--queue", str(e2e.work / "queue.db"), "--tracking-uri", e2e.url,
                                    "--metrics-port", str(port), "--poll", "0.2"],
                   url, url, log_path=e2e.work / "worker.log", timeout=60, cwd=e2e.work)
    try:
        deadline = time.monotonic() + 120  # a bound on waiting, not an assertion about speed

        def created_done() -> dict[str, dict[str, Any]]:
            rows = {r["subject"]: json.loads(r["result"]) for r in e2e.queue.rows("done")
                    if r["subject"] in (f"metrics-clean/{clean}", f"metrics-poisoned/{poisoned}")
                    and (r["entity"], r["action"]) == ("model_version", "created")}
            return rows

        while len(created_done()) < 2 and time.monotonic() < deadline and worker.proc.poll() is None:
            time.sleep(0.3)
        done = created_done()
        assert len(done) == 2, (e2e.queue.counts(), (e2e.work / "worker.log").read_text()[-3000:])
        m = samples(scrape(url))
    finally:
        worker.stop(timeout=60)  # SIGTERM: it finishes the event in hand, then exits
    assert worker.proc.returncode == 0, (e2e.work / "worker.log").read_text()[-3000:]
    assert "processed" in (e2e.work / "worker.log").read_text()  # it stopped cleanly on SIGTERM
    assert done[f"metrics-clean/{clean}"]["action"] == "signed"
    assert done[f"metrics-poisoned/{poisoned}"]["action"] == "quarantined"
    created = "model_version.created"
    assert m[("mlgate_hooks_events_processed_total", (("kind", created), ("outcome", "signed")))] == 1
    assert m[("mlgate_hooks_events_processed_total", (("kind", created), ("outcome", "quarantined")))] == 1
    assert m[("mlgate_verdicts_total", (("verdict", "pass"),))] >= 1
    assert m[("mlgate_verdicts_total", (("verdict", "fail"),))] >= 1
    assert m[("mlgate_quarantines_total", ())] >= 1
    # the queue gauges are read from the same SQLite file at scrape time
    assert m[("mlgate_hooks_queue_events", (("status", "done"),))] >= 2
    assert ("mlgate_hooks_queue_oldest_age_seconds", ()) in m
