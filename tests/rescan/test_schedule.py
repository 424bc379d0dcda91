"""The weekly schedule without waiting a week: ``infra/prefect.yaml`` parses, its entrypoints load
by path as a worker loads them, its cron fires on Mondays at 03:00 UTC (computed by Prefect's own
scheduler code), and ``mlgate schedule`` builds the same deployment. ``prefect deploy --all`` of
the file against a Prefect server is in test_rescan_e2e.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.rescan.rescan_helpers import REPO, RESCAN_SUBCOMMANDS, write_policy

from mlgate.orchestration.flows import rescan as rescan_flow
from mlgate.orchestration.schedule import DEFAULT_CRON, build_deployment, next_runs

PREFECT_YAML = REPO / "infra" / "prefect.yaml"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PREFECT_YAML.read_text())
    return data


def test_prefect_yaml_declares_the_deployments(doc: dict[str, Any]) -> None:
    names = {d["name"]: d for d in doc["deployments"]}
    assert set(names) == {"weekly-rescan", "lifecycle", "train", "publish", "deploy"}
    weekly = names["weekly-rescan"]
    assert weekly["entrypoint"] == "flows/rescan.py:rescan"
    assert weekly["schedules"] == [{"cron": "0 3 * * 1", "timezone": "UTC", "active": True}]
    assert weekly["concurrency_limit"] == 1
    assert weekly["work_pool"]["name"] == "mlgate"
    assert {names[n]["entrypoint"] for n in ("lifecycle", "train", "publish", "deploy")} == {
        "flows/lifecycle.py:lifecycle", "flows/lifecycle.py:train", "flows/lifecycle.py:publish",
        "flows/lifecycle.py:deploy"}
    assert all("schedules" not in names[n] for n in ("lifecycle", "train", "publish", "deploy"))


def test_entrypoints_load_by_path(doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.flows import Flow, load_flow_from_entrypoint

    monkeypatch.chdir(REPO)  # entrypoints are relative to the repository root, as for a worker
    flows = {d["name"]: load_flow_from_entrypoint(d["entrypoint"]) for d in doc["deployments"]}
    assert all(isinstance(f, Flow) for f in flows.values())
    assert flows["weekly-rescan"].name == "mlgate-rescan"
    assert flows["lifecycle"].name == "mlgate-lifecycle"
    params = flows["weekly-rescan"].parameters.properties
    assert {"config", "model", "max_workers", "task_runner", "artifacts_destination", "full"} <= set(params)


def test_the_weekly_cron_fires_on_mondays_at_three_utc(doc: dict[str, Any]) -> None:
    sched = next(d for d in doc["deployments"] if d["name"] == "weekly-rescan")["schedules"][0]
    start = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)  # a Wednesday
    runs = next_runs(sched["cron"], sched["timezone"], 4, start=start)
    assert runs == [dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC) + dt.timedelta(weeks=i) for i in range(4)]
    assert all(r.weekday() == 0 for r in runs)
    # a run exactly at the boundary is the first one; DST does not move a UTC schedule
    assert next_runs(DEFAULT_CRON, "UTC", 1, start=dt.datetime(2027, 3, 29, 3, 0, tzinfo=dt.UTC)) == [
        dt.datetime(2027, 3, 29, 3, 0, tzinfo=dt.UTC)]


def test_schedule_command_builds_the_same_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from mlgate import cli as cli_mod
    from mlgate.evidence.attestation import generate_keypair

    priv, pub = generate_keypair(tmp_path / "keys")
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(yaml.safe_dump({
        "apiVersion": "mlgate/v1", "kind": "Pipeline", "name": "p", "tracking_uri": "http://127.0.0.1:9",
        "policy": str(write_policy(tmp_path / "policy.yaml", include_rescan=True)), "model_name": "m",
        "training": {"function": "mlgate.examples.train_sklearn:train"},
        "signing": {"private_key": str(priv), "public_key": str(pub)}}))
    deployment = build_deployment(rescan_flow, cfg)
    assert deployment.name == "weekly-rescan"
    assert deployment.parameters == {"config": str(cfg.resolve())}
    [sched] = deployment.schedules
    assert (sched.schedule.cron, sched.schedule.timezone) == ("0 3 * * 1", "UTC")

    for k, v in RESCAN_SUBCOMMANDS.items():
        monkeypatch.setitem(cli_mod.SUBCOMMANDS, k, v)
    code = cli_mod.main(["schedule", "--config", str(cfg), "--dry-run", "--next", "2", "--model", "iris"])
    err = capsys.readouterr().err
    assert code == 0
    assert "deployment mlgate-rescan/weekly-rescan: cron '0 3 * * 1' (UTC)" in err
    assert "'model': ['iris']" in err
    assert err.count("next run: ") == 2
    assert "T03:00:00+00:00" in err
    assert cli_mod.main(["schedule", "--config", str(cfg), "--dry-run", "--cron", "not a cron"]) == 4
