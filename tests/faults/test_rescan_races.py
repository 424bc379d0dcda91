"""Rescans racing each other and a deploy, against the real parts on 127.0.0.1: a real
``mlflow server`` (the module's own) and the session's moto S3 server (the versions' bytes are
s3:// sources in a versioned moto bucket, their evidence signed as publish signs it).

Each rescan is its own process running the rescan's per-version code (``select_task``, the run's
S3 listing, ``check_batch_task``: what every task of the ``mlgate-rescan`` flow runs) without a
Prefect server, and exits with the summary's exit code. Two of them start together (a file
barrier); a deploy is paused between its verification and its alias move while a rescan runs.

Outcomes asserted: the signed rescan state stays valid (one tag, written whole: two writers leave
one complete signed state); a changed version ends quarantined once-consistent (verdict, reason,
aliases removed and recorded, revocation) whichever run wins, never re-promoted; an alias never
ends on a quarantined version; a third rescan converges.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.faults.harness import mlflow_server
from tests.faults.lifecycle_helpers import Setup, context, make_setup, one_line, version_verifies
from tests.rescan.rescan_helpers import flip_byte, write_policy

from mlgate.errors import GateFailed, MlgateError
from mlgate.evidence import tags as T

pytestmark = pytest.mark.slow  # a real mlflow server and moto

RESCAN_CHILD = r"""
import json, os, sys, time, uuid
from pathlib import Path
from mlgate.model import utcnow
from mlgate.orchestration.tasks import check_batch_task, select_task
from mlgate.rescan.check import take_inventory
from mlgate.rescan.settings import load_settings
from mlgate.rescan.summary import RescanSummary

config, model, go = sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "")
settings = load_settings(config, models=(model,), emit_events=False)
if go:  # the barrier: announce readiness, start when the test says go
    Path(f"{go}.ready-{os.getpid()}").touch()
    while not Path(go).exists():
        time.sleep(0.005)
started = utcnow()
refs = select_task.fn(settings)
results = check_batch_task.fn(settings, refs, take_inventory(settings, refs), {}, uuid.uuid4().hex)
summary = RescanSummary(started_at=started, finished_at=utcnow(), tracking_uri=settings.tracking_uri,
                        policy_name="test", policy_digest="-", scanners={}, task_runner="threads",
                        max_workers=settings.max_workers, versions=tuple(results), buckets=())
print(json.dumps({v.version: [v.outcome.value, v.byte_check, v.category or "", v.reason or ""]
                  for v in summary.versions}))
sys.exit(int(summary.exit_code))
"""


@dataclass
class Reg:
    setup: Setup
    bucket: str
    s3: Any
    client: Any
    work: Path


@dataclass
class Ran:
    code: int
    outcomes: dict[str, list[str]]
    stderr: str


@contextlib.contextmanager
def race_registry(work: Path, moto_url: str) -> Iterator[Reg]:
    """A real mlflow server of its own (its versions, stored outside the stack's allowed stores,
    would fail the MLflow posture gate of other tests sharing a server), a versioned bucket on the
    moto server ``moto_url``, keys and a pipeline config; the environment points boto3 at moto
    for the duration (shared by the tests below and ``bench/bench_faults.py``)."""
    import boto3
    from mlflow.tracking import MlflowClient

    from mlgate.stack.moto import FAKE_CREDENTIALS

    with pytest.MonkeyPatch.context() as mp:
        for k, v in {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": moto_url, "AWS_DEFAULT_REGION": "us-east-1",
                     "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                     "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}.items():
            mp.setenv(k, v)
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("MLGATE_ARTIFACTS_DESTINATION", raising=False)
        with mlflow_server(work / "mlflow", timeout=180) as tracking_uri:
            s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
            bucket = f"races-{uuid.uuid4().hex[:10]}"
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            setup = make_setup(work, tracking_uri, name="races-unused")
            # local-stack.yaml, with this bucket among the MLflow posture's allowed artifact stores
            policy = write_policy(work / "policies" / "races.yaml")
            doc = yaml.safe_load(policy.read_text())
            doc["gates"]["mlflow-posture"]["allowed_stores"].append(
                {"prefix": f"s3://{bucket}/models/", "reason": "the test's versioned bucket"})
            policy.write_text(yaml.safe_dump(doc, sort_keys=False))
            cfg = yaml.safe_load(setup.config.read_text())
            setup.config.write_text(yaml.safe_dump({**cfg, "policy": str(policy)}, sort_keys=False))
            yield Reg(setup, bucket, s3, MlflowClient(tracking_uri=tracking_uri), work)


@pytest.fixture(scope="module")
def reg(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reg]:
    with race_registry(tmp_path_factory.mktemp("rescan-races"), moto_server) as r:
        yield r


def make_model(reg: Reg, n_versions: int, alias_first: bool = True) -> tuple[str, Path, list[str]]:
    """A registered model with ``n_versions`` versions stored at s3:// sources, each with evidence
    signed as publish signs it (provenance pipeline); the first one holds ``production``."""
    from mlgate._dev.samples import write_clean_model
    from mlgate.api import scan
    from mlgate.evidence.model_signature import load_signer
    from mlgate.lifecycle.pipeline import attach_evidence
    from mlgate.lifecycle.staging import stage
    from mlgate.policy import packaged_policies_dir

    name = f"races-{uuid.uuid4().hex[:8]}"
    c = reg.client
    exp = c.get_experiment_by_name("races")
    exp_id = exp.experiment_id if exp else c.create_experiment("races")
    c.create_registered_model(name)
    out = []
    for i in range(n_versions):
        folder = write_clean_model(reg.work / "src" / f"{name}-{i}", seed=i + 1)
        prefix = f"models/{name}/v{i}"
        for p in sorted(folder.iterdir()):
            reg.s3.upload_file(str(p), reg.bucket, f"{prefix}/{p.name}")
        source = f"s3://{reg.bucket}/{prefix}"
        copy = stage(source, reg.work / "staged" / f"{name}-{i}")
        report = scan([copy.path], checkpoint="pre-publish", policy=packaged_policies_dir() / "local-stack.yaml")
        run = c.create_run(exp_id)
        tags = attach_evidence(c, run.info.run_id, copy, [report], model_name=name, source=source,
                               signer=load_signer(reg.setup.private_key), provenance="pipeline",
                               folder=reg.work / "evidence" / f"{name}-{i}")
        out.append(str(c.create_model_version(name, source, run_id=run.info.run_id, tags=tags).version))
    if alias_first:
        c.set_registered_model_alias(name, "production", out[0])
    cfg = yaml.safe_load(reg.setup.config.read_text())
    cfg.update(model_name=name, name=name, work_dir=str(reg.work / "runs" / name),
               deploy={"alias": "production", "target": "folder", "folder": str(reg.work / "serving" / name)})
    path = reg.work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return name, path, out


def tamper_key(name: str, index: int = 0) -> str:
    """The S3 key of a file of the ``index``-th version of ``name`` (to flip a byte of)."""
    return f"models/{name}/v{index}/model.safetensors"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _start(config: Path, name: str, go: Path | None = None) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", RESCAN_CHILD, str(config), name, *([str(go)] if go else [])]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def _finish(p: subprocess.Popen[str]) -> Ran:
    out, err = p.communicate(timeout=300)
    assert "Traceback" not in err, err[-3000:]
    assert out.strip(), f"exit {p.returncode}, no summary: {err[-3000:]}"
    return Ran(p.returncode, json.loads(out.strip().splitlines()[-1]), err)


def rescan(config: Path, name: str) -> Ran:
    return _finish(_start(config, name))


def rescans_at_once(config: Path, name: str, work: Path, n: int = 2) -> list[Ran]:
    go = work / f"go-{uuid.uuid4().hex[:6]}"
    procs = [_start(config, name, go) for _ in range(n)]
    deadline = time.monotonic() + 120
    while len(list(work.glob(f"{go.name}.ready-*"))) < n:
        assert time.monotonic() < deadline, "rescan processes never got ready"
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs if p.poll() is not None]
        time.sleep(0.02)
    go.touch()
    return [_finish(p) for p in procs]


def state_ok(reg: Reg, name: str, version: str) -> bool:
    from mlgate.evidence.attestation import load_public_key
    from mlgate.registry.verify import envelope_digest
    from mlgate.rescan.state import STATE_TAG, load_state

    mv = reg.client.get_model_version(name, version)
    state, why = load_state(mv.tags.get(STATE_TAG), [load_public_key(reg.setup.public_key)], name=name,
                            version=version, source=mv.source,
                            attestation_sha256=envelope_digest(mv.tags[T.ENVELOPE]),
                            manifest_sha256=mv.tags[T.MANIFEST])
    assert state is not None, why
    return state.objects_digest is not None


def alias_of(client: Any, name: str, alias: str = "production") -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def assert_quarantined_once(reg: Reg, name: str, version: str, *, recorded: list[str]) -> None:
    mv = reg.client.get_model_version(name, version)
    assert mv.tags[T.VERDICT] == T.QUARANTINED
    # the first quarantine's reason stays the record (a second run that saw the version already
    # quarantined does not overwrite it with "unverified: ... quarantined: ...")
    assert mv.tags[T.QUARANTINE_REASON].startswith("rescan [bytes-changed]: "), mv.tags[T.QUARANTINE_REASON]
    assert "[unverified]" not in mv.tags[T.QUARANTINE_REASON]
    assert mv.tags[T.QUARANTINED_AT]
    assert json.loads(mv.tags[T.QUARANTINED_ALIASES]) == recorded  # recorded once, not lost by the 2nd run
    assert not mv.aliases
    assert mv.tags[T.REVOKED]
    revoked = T.parse_revoked(mv.tags[T.REVOKED])
    assert len(revoked) == len(set(revoked))  # no duplicates from the second quarantine
    from mlgate.integrations.mlflow import RegistryClient

    assert mv.tags[T.ATTESTATION_ID] in RegistryClient.wrap(reg.client).revoked_ids()  # globally


# -- two rescans at once ----------------------------------------------------------------------


def test_two_rescans_at_once_unchanged_then_with_a_changed_version(reg: Reg) -> None:
    """(a) Nothing changed: both pass, both write the signed state of each version (one tag,
    written whole: the last writer's complete state survives) and it stays valid and usable.
    (b) Then one version's bytes change in S3: it ends quarantined once-consistent."""
    name, cfg, (v1, v2) = make_model(reg, 2)
    runs = rescans_at_once(cfg, name, reg.work)
    assert [r.code for r in runs] == [0, 0], [r.stderr[-2000:] for r in runs]
    for r in runs:  # both downloaded, checked and wrote a state (two writers of the same tag)
        assert {v: o[0] for v, o in r.outcomes.items()} == {v1: "clean", v2: "clean"}
    assert state_ok(reg, name, v1)
    assert state_ok(reg, name, v2)
    # The surviving state is complete and usable: the next run only lists.
    third = rescan(cfg, name)
    assert third.code == 0
    assert {v: o[:2] for v, o in third.outcomes.items()} == {v1: ["unchanged", "listing"],
                                                             v2: ["unchanged", "listing"]}
    assert alias_of(reg.client, name) == v1
    assert all(reg.client.get_model_version(name, v).tags[T.VERDICT] == "pass" for v in (v1, v2))

    # (b) v1's bytes change in S3, then two rescans at once.
    flip_byte(reg.s3, reg.bucket, tamper_key(name))
    runs = rescans_at_once(cfg, name, reg.work)
    # The run whose quarantine finds v1 not yet quarantined reports it quarantined (exit 1); a run
    # that finds it already quarantined, when it reads the registry or when it goes to quarantine
    # it, reports it still quarantined (exit 0) and leaves the first record alone. Both exit 1 only
    # if both read it before either wrote the verdict (both found the change on their own).
    assert sorted(r.code for r in runs) in ([0, 1], [1, 1]), [(r.code, r.outcomes) for r in runs]
    for r in runs:
        assert r.outcomes[v1][0] == ("quarantined" if r.code == 1 else "still-quarantined")
        assert r.outcomes[v2][:2] == ["unchanged", "listing"]
    assert any(r.outcomes[v1][2] == "bytes-changed" for r in runs)
    assert_quarantined_once(reg, name, v1, recorded=["production"])
    assert reg.client.get_model_version(name, v2).tags[T.VERDICT] == "pass"
    assert state_ok(reg, name, v2)
    assert alias_of(reg.client, name) is None  # not re-promoted
    third = rescan(cfg, name)
    assert third.code == 0
    assert third.outcomes[v1][0] == "still-quarantined"
    assert third.outcomes[v2][0] == "unchanged"
    assert_quarantined_once(reg, name, v1, recorded=["production"])


# -- a rescan during a deploy -----------------------------------------------------------------


def deploy_version(cfg: Path, version: str) -> Any:
    from mlgate.lifecycle.pipeline import deploy

    return deploy(context(Setup(cfg, Path(), "", Path(), Path(), Path())), version)


def deploy_with_a_rescan_before_the_alias_move(reg: Reg, name: str, cfg: Path, version: str) -> Any:
    """Deploy ``version``; once it is verified (and its copy in hand), change its bytes in S3 and
    run a rescan in another process to its end, then let the deploy go on to the alias move. The
    rescan's result is attached to what the deploy raised (``.rescan``) or returned."""
    import mlgate.lifecycle.pipeline as P

    real = P.deploy_to_target
    seen: list[Ran] = []

    def between(ctx: Any, copy: Any, v: str) -> str:
        flip_byte(reg.s3, reg.bucket, tamper_key(name))
        seen.append(rescan(cfg, name))
        return real(ctx, copy, v)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(P, "deploy_to_target", between)
        try:
            result = deploy_version(cfg, version)
        except MlgateError as e:
            assert len(seen) == 1, "the deploy failed before it was verified"
            e.rescan = seen[0]  # type: ignore[attr-defined]
            raise
    assert len(seen) == 1
    result.rescan = seen[0]
    return result


def test_rescan_quarantining_between_deploy_verification_and_alias_move_leaves_no_alias(reg: Reg) -> None:
    """The interleaving forced: the deploy verified v1, then (bytes changed in S3) a rescan in
    another process quarantines v1, then the deploy moves the alias. The deploy must not leave
    the alias on the quarantined version."""
    name, cfg, (v1,) = make_model(reg, 1, alias_first=False)
    with pytest.raises(GateFailed, match="quarantined during this deploy") as ei:
        deploy_with_a_rescan_before_the_alias_move(reg, name, cfg, v1)
    line = one_line(ei.value)
    assert "not left on it" in line
    r = ei.value.rescan  # type: ignore[attr-defined]
    assert (r.code, r.outcomes[v1][0], r.outcomes[v1][2]) == (1, "quarantined", "bytes-changed")
    assert alias_of(reg.client, name) is None
    assert reg.client.get_model_version(name, v1).tags[T.VERDICT] == T.QUARANTINED
    # Re-runs converge: the deploy is blocked at verification, the rescan leaves it quarantined.
    with pytest.raises(GateFailed, match="model-version blocked") as ei2:
        deploy_version(cfg, v1)
    one_line(ei2.value)
    assert alias_of(reg.client, name) is None
    again = rescan(cfg, name)
    assert (again.code, again.outcomes[v1][0]) == (0, "still-quarantined")


def deploy_and_rescan_at_once(reg: Reg, name: str, cfg: Path, version: str) -> tuple[Ran, list[MlgateError]]:
    """A rescan process and a deploy (a thread here) let go together; the rescan's result and
    what the deploy raised (if anything)."""
    go = reg.work / f"go-{uuid.uuid4().hex[:6]}"
    proc = _start(cfg, name, go)
    errors: list[MlgateError] = []

    def deploy() -> None:
        try:
            deploy_version(cfg, version)
        except MlgateError as e:
            errors.append(e)

    deadline = time.monotonic() + 120
    while not list(reg.work.glob(f"{go.name}.ready-*")):
        assert time.monotonic() < deadline, "the rescan never got ready"
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.02)
    th = threading.Thread(target=deploy)
    go.touch()
    th.start()
    r = _finish(proc)
    th.join(timeout=300)
    assert not th.is_alive()
    return r, errors


@pytest.mark.parametrize("tampered", [False, True], ids=["clean", "bytes-changed-before"])
def test_a_deploy_and_a_rescan_at_once_end_consistent(reg: Reg, tampered: bool) -> None:
    """Free race (no pause): the alias ends on the version only if it verifies, else nowhere."""
    name, cfg, (v1,) = make_model(reg, 1, alias_first=False)
    if tampered:
        flip_byte(reg.s3, reg.bucket, tamper_key(name))
    r, errors = deploy_and_rescan_at_once(reg, name, cfg, v1)
    mv = reg.client.get_model_version(name, v1)
    if tampered:
        assert r.code == 1
        assert r.outcomes[v1][0] == "quarantined"
        assert len(errors) == 1
        one_line(errors[0])
        assert mv.tags[T.VERDICT] == T.QUARANTINED
        assert alias_of(reg.client, name) is None
    else:
        assert (r.code, r.outcomes[v1][0]) == (0, "clean"), r.outcomes
        assert errors == []
        assert alias_of(reg.client, name) == v1
        assert mv.tags[T.VERDICT] == "pass"
        assert version_verifies(reg.client, mv, reg.setup.public_key, reg.work)
    # a re-run converges
    again = rescan(cfg, name)
    assert again.code == 0
    assert again.outcomes[v1][0] == ("still-quarantined" if tampered else "unchanged")
