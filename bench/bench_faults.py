"""The fault suite as a table: each fault injected against the real parts on 127.0.0.1 (a real
``mlflow server`` behind the fault proxy of ``tests/faults``, a real tmpfs for full disks), then
the outcome, the one-line message, what was registered wrongly, what was lost, and whether the
re-run converged (with its time: the time to recover once the fault is gone).

Columns:

* outcome: ``error`` (a typed mlgate error, one line), ``blocked``, ``pass`` (the fault hit a
  best-effort step), ``UNTYPED`` (a raw exception: a bug);
* wrongly: registered versions that read as pass without evidence that verifies for their bytes
  (or an alias on a version that does not verify);
* lost: what existed before the fault and is gone after the re-run (registered versions, queue
  rows, source objects);
* converged: the re-run after the fault succeeded and left one verified version (publish), the
  alias on the verified version (deploy), or the stored data intact (queue, staging).

* races: two rescans at once (nothing changed; one version's bytes changed in S3) and a rescan
  during a deploy (forced between the deploy's verification and its alias move; free races with a
  clean and a changed version), on their own mlflow server with the versions' bytes in moto S3
  (tests/faults/test_rescan_races.py). "wrongly" there: an alias on a version that is quarantined
  or does not verify; "lost": a signed rescan state no longer valid, recorded aliases or the
  revocation missing after the quarantine.

Usage: python bench/bench_faults.py [--only publish,deploy,key,queue,staging,races]
Exit code 1 if any row has wrongly > 0, lost > 0, an untyped outcome or no convergence.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _machine import machine as base_machine  # bench/ is on sys.path when a bench script runs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.faults.conftest import HANG_SECONDS, MLFLOW_CLIENT_ENV  # noqa: E402
from tests.faults.fault_proxy import FaultProxy, Rule  # noqa: E402
from tests.faults.harness import TmpfsUnavailable, fill, mlflow_server, small_tmpfs  # noqa: E402
from tests.faults.lifecycle_helpers import (  # noqa: E402
    context,
    make_setup,
    registered_wrongly,
    version_verifies,
    versions,
)

from mlgate.errors import GateFailed, MlgateError  # noqa: E402

API = r"^/api/2\.0/mlflow"


@dataclasses.dataclass
class Row:
    fault: str
    step: str
    outcome: str
    message: str
    wrongly: int
    lost: int
    converged: bool
    recover_s: float

    def ok(self) -> bool:
        return self.wrongly == 0 and self.lost == 0 and self.converged and self.outcome != "UNTYPED"


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{base_machine()} | nproc {os.cpu_count()} | load average {load} at start"


def attempt(fn: Callable[[], Any]) -> tuple[str, str, Any]:
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # MLflow's "View run" lines
            return "pass", "", fn()
    except GateFailed as e:
        return ("blocked" if e.exit_code == 1 else "error"), str(e), None
    except MlgateError as e:
        return "error", str(e), None
    except Exception as e:
        return "UNTYPED", f"{type(e).__name__}: {e}", None




def fresh(rule: Rule) -> Rule:
    return dataclasses.replace(rule, hits=0, seen=0)


def label(rule: Rule) -> str:
    what = {"status": f"HTTP {rule.status}", "reset": "connection reset", "down": "server killed",
            "hang": f"hang {rule.seconds:g} s"}.get(rule.fault, rule.fault)
    return f"MLflow {what}{' after it did the work' if rule.after else ''}"


# -- publish ------------------------------------------------------------------------------------


def publish_rows(upstream: str, work: Path) -> list[Row]:
    from mlflow.tracking import MlflowClient
    from tests.faults.test_mlflow_publish_faults import STEP_FAULTS

    from mlgate.lifecycle.pipeline import publish

    direct = MlflowClient(tracking_uri=upstream)
    rows = []
    hang = [("version-created-then-hang", Rule("hang", "POST", API + r"/model-versions/create", after=True,
                                               seconds=HANG_SECONDS))]
    for fault_id, rule in [*STEP_FAULTS, *hang]:
        tmp = work / f"publish-{fault_id}"
        proxy = FaultProxy(upstream, flavour="mlflow", rewrite_host=True).start()
        os.environ["MLFLOW_TRACKING_URI"] = proxy.url
        try:
            setup = make_setup(tmp, proxy.url)
            r = proxy.add(fresh(rule))
            outcome, msg, _ = attempt(lambda s=setup: publish(context(s), s.model))
            wrongly = registered_wrongly(direct, setup.name, setup.public_key, tmp)
            before = {v.version for v in versions(direct, setup.name)}
            proxy.clear()
            proxy.up()
            t0 = time.monotonic()
            o2, m2, res = attempt(lambda s=setup: publish(context(s), s.model))
            took = time.monotonic() - t0
            after = versions(direct, setup.name)
            ok = (o2 == "pass" and len(after) == 1 and res is not None and res.version == after[0].version
                  and version_verifies(direct, after[0], setup.public_key, tmp))
            lost = len(before - {v.version for v in after})
            wrongly += registered_wrongly(direct, setup.name, setup.public_key, tmp)
            rows.append(Row(f"{label(rule)} (x{r.hits})", fault_id, outcome, msg or m2, wrongly, lost, ok, took))
        finally:
            proxy.stop()
    return rows


def key_rows(upstream: str, work: Path) -> list[Row]:
    from mlflow.tracking import MlflowClient

    from mlgate.lifecycle.pipeline import publish

    direct = MlflowClient(tracking_uri=upstream)
    rows = []
    for case in ("missing", "readable-by-others", "a-directory", "not-a-key"):
        tmp = work / f"key-{case}"
        setup = make_setup(tmp, upstream, keys=case != "missing")
        key = setup.private_key
        if case == "readable-by-others":
            key.chmod(0o644)
        elif case == "a-directory":
            key.unlink()
            key.mkdir()
        elif case == "not-a-key":
            key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        outcome, msg, _ = attempt(lambda s=setup: publish(context(s), s.model))
        created = direct.get_experiment_by_name(setup.name) is not None or bool(versions(direct, setup.name))
        # recovery: a good key
        if key.is_dir():
            key.rmdir()
        key.unlink(missing_ok=True)
        setup.public_key.unlink(missing_ok=True)
        from mlgate.evidence.attestation import generate_keypair

        generate_keypair(key.parent)
        t0 = time.monotonic()
        o2, _, res = attempt(lambda s=setup: publish(context(s), s.model))
        took = time.monotonic() - t0
        rows.append(Row(f"signing key {case}", "publish: before anything", outcome, msg, int(created), 0,
                        o2 == "pass" and res is not None, took))
    return rows


# -- deploy -------------------------------------------------------------------------------------


def deploy_rows(upstream: str, work: Path) -> list[Row]:
    import yaml
    from mlflow.tracking import MlflowClient
    from tests.faults.test_mlflow_deploy_faults import DEPLOY_FAULTS

    from mlgate.lifecycle.pipeline import deploy, publish

    direct = MlflowClient(tracking_uri=upstream)
    base = make_setup(work / "deploy-base", upstream)
    version = str(publish(context(base), base.model).version)
    rows = []
    hang = [("alias-move-hang", Rule("hang", "POST", API + r"/registered-models/alias", seconds=HANG_SECONDS), False)]
    for fault_id, rule, _moved in [*DEPLOY_FAULTS, *hang]:
        tmp = work / f"deploy-{fault_id}"
        tmp.mkdir(parents=True)
        proxy = FaultProxy(upstream, flavour="mlflow", rewrite_host=True).start()
        os.environ["MLFLOW_TRACKING_URI"] = proxy.url
        try:
            alias = f"prod{uuid.uuid4().hex[:8]}"
            cfg = yaml.safe_load(base.config.read_text())
            cfg.update(tracking_uri=proxy.url, work_dir=str(tmp / "runs"),
                       deploy={"alias": alias, "target": "folder", "folder": str(tmp / "serving")})
            path = tmp / "pipeline.yaml"
            path.write_text(yaml.safe_dump(cfg))
            setup = dataclasses.replace(base, config=path, serving=tmp / "serving")
            r = proxy.add(fresh(rule))
            outcome, msg, _ = attempt(lambda s=setup: deploy(context(s), version))
            wrongly = 0
            with contextlib.suppress(Exception):
                mv = direct.get_model_version_by_alias(setup.name, alias)
                wrongly = int(not version_verifies(direct, mv, setup.public_key, tmp))
            proxy.clear()
            proxy.up()
            t0 = time.monotonic()
            o2, _, res = attempt(lambda s=setup: deploy(context(s), version))
            took = time.monotonic() - t0
            ok = o2 == "pass" and res is not None and str(direct.get_model_version_by_alias(setup.name, alias).version) == version
            lost = int(not versions(direct, setup.name))
            rows.append(Row(f"{label(rule)} (x{r.hits})", fault_id, outcome, msg, wrongly, lost, ok, took))
        finally:
            proxy.stop()
    return rows


# -- races: rescans at once, a rescan during a deploy -----------------------------------------------


def _ran_outcome(ran: Any) -> str:
    return {0: "pass", 1: "blocked", 2: "error"}.get(ran.code, "UNTYPED")


def race_rows(work: Path) -> list[Row]:
    from tests.faults.test_rescan_races import (
        alias_of,
        deploy_and_rescan_at_once,
        deploy_version,
        deploy_with_a_rescan_before_the_alias_move,
        make_model,
        race_registry,
        rescan,
        rescans_at_once,
        state_ok,
        tamper_key,
    )
    from tests.rescan.rescan_helpers import flip_byte

    from mlgate.evidence import tags as T
    from mlgate.integrations.mlflow import RegistryClient
    from mlgate.stack.moto import start_moto

    rows: list[Row] = []

    def case(fault: str, step: str, fn: Callable[[Any], Row]) -> None:
        try:
            rows.append(fn(reg))
        except Exception as e:  # an assertion of the helpers (a traceback in a rescan) or a raw error
            rows.append(Row(fault, step, "UNTYPED", f"{type(e).__name__}: {e}", 0, 0, False, 0))

    def valid_state(r: Any, name: str, v: str) -> bool:
        try:
            return state_ok(r, name, v)
        except AssertionError:
            return False

    def two_rescans(r: Any) -> Row:
        name, cfg, (v1, v2) = make_model(r, 2)
        runs = rescans_at_once(cfg, name, r.work)
        codes = sorted(x.code for x in runs)
        outcome = "pass" if codes == [0, 0] else _ran_outcome(runs[-1])
        wrongly = sum(r.client.get_model_version(name, v).tags.get(T.VERDICT) != "pass" for v in (v1, v2))
        wrongly += int(alias_of(r.client, name) != v1)
        lost = sum(not valid_state(r, name, v) for v in (v1, v2))
        t0 = time.monotonic()
        third = rescan(cfg, name)
        took = time.monotonic() - t0
        ok = third.code == 0 and all(o[:2] == ["unchanged", "listing"] for o in third.outcomes.values())
        msg = f"exit codes {codes}; both wrote the signed state of both versions; third run only lists"
        rows.append(Row("two rescans at once, nothing changed", "rescan x2: check, write state", outcome, msg,
                        wrongly, lost, ok, took))
        # the same model, now with v1's bytes changed in S3
        flip_byte(r.s3, r.bucket, tamper_key(name))
        runs = rescans_at_once(cfg, name, r.work)
        codes = sorted(x.code for x in runs)
        mv = r.client.get_model_version(name, v1)
        tags = dict(mv.tags)
        wrongly = int(tags.get(T.VERDICT) != T.QUARANTINED) + int(alias_of(r.client, name) is not None)
        recorded = tags.get(T.QUARANTINED_ALIASES) == '["production"]'
        revoked = bool(tags.get(T.REVOKED)) and tags.get(T.ATTESTATION_ID) in RegistryClient.wrap(r.client).revoked_ids()
        lost = int(not recorded) + int(not revoked) + int(not valid_state(r, name, v2))
        t0 = time.monotonic()
        third = rescan(cfg, name)
        took = time.monotonic() - t0
        ok = third.code == 0 and third.outcomes[v1][0] == "still-quarantined" and third.outcomes[v2][0] == "unchanged"
        msg = (f"exit codes {codes}; v{v1}: " + ", ".join(x.outcomes[v1][0] for x in runs)
               + f"; {' '.join(tags.get(T.QUARANTINE_REASON, '').split())}")
        return Row("two rescans at once, v1 bytes changed in S3", "rescan x2: quarantine", "blocked" if 1 in codes
                   else "pass", msg, wrongly, lost, ok, took)

    def forced(r: Any) -> Row:
        name, cfg, (v1,) = make_model(r, 1, alias_first=False)
        outcome, msg, _ = attempt(lambda: deploy_with_a_rescan_before_the_alias_move(r, name, cfg, v1))
        wrongly = int(alias_of(r.client, name) is not None)
        t0 = time.monotonic()
        o2, _, _ = attempt(lambda: deploy_version(cfg, v1))
        again = rescan(cfg, name)
        took = time.monotonic() - t0
        ok = o2 == "blocked" and again.code == 0 and alias_of(r.client, name) is None
        return Row("rescan quarantines (bytes changed) between verify and alias move", "deploy: alias move",
                   outcome, msg, wrongly, 0, ok, took)

    def free(tampered: bool) -> Callable[[Any], Row]:
        def run(r: Any) -> Row:
            from tests.faults.lifecycle_helpers import version_verifies

            name, cfg, (v1,) = make_model(r, 1, alias_first=False)
            if tampered:
                flip_byte(r.s3, r.bucket, tamper_key(name))
            ran, errors = deploy_and_rescan_at_once(r, name, cfg, v1)
            outcome = "blocked" if errors and errors[0].exit_code == 1 else ("error" if errors else "pass")
            msg = str(errors[0]) if errors else f"rescan exit {ran.code} ({ran.outcomes[v1][0]}); alias moved"
            now = alias_of(r.client, name)
            wrongly = int(now is not None and not version_verifies(
                r.client, r.client.get_model_version(name, now), r.setup.public_key, r.work))
            t0 = time.monotonic()
            again = rescan(cfg, name)
            took = time.monotonic() - t0
            ok = again.code == 0 and (now is None) == tampered
            return Row(f"deploy and rescan at once, {'bytes changed before' if tampered else 'clean version'}",
                       "deploy + rescan", outcome, msg, wrongly, 0, ok, took)
        return run

    moto = start_moto()
    try:
        with race_registry(work / "races", moto.url) as reg:
            case("two rescans at once", "rescan x2", two_rescans)
            case("rescan between verify and alias move", "deploy: alias move", forced)
            case("deploy and rescan at once, clean version", "deploy + rescan", free(False))
            case("deploy and rescan at once, bytes changed before", "deploy + rescan", free(True))
    finally:
        moto.stop()
    return rows


# -- queue and staging (a real tmpfs; root only) --------------------------------------------------


@contextlib.contextmanager
def small_disk(work: Path) -> Iterator[Path | None]:
    try:
        disk = small_tmpfs(work / f"small-{uuid.uuid4().hex[:6]}")
        mnt = disk.__enter__()
    except TmpfsUnavailable:
        yield None
        return
    try:
        yield mnt
    finally:
        disk.__exit__(None, None, None)




def queue_rows(work: Path) -> list[Row]:
    from mlgate.hooks.queue import EventQueue, NewEvent

    def ev(i: int) -> NewEvent:
        return NewEvent(f"d-{i}-{uuid.uuid4().hex[:6]}", 1, "model_version", "created", f"m/{i}", b"{}" * 200)

    rows = []
    # corrupt database
    path = work / "corrupt" / "q.db"
    q = EventQueue(path)
    q.insert_many([ev(i) for i in range(300)])
    q._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    q.close()
    good = path.read_bytes()
    data = bytearray(good)
    data[2 * 4096:5 * 4096] = os.urandom(3 * 4096)
    path.write_bytes(bytes(data))
    outcome, msg, _ = attempt(lambda: EventQueue(path).counts())
    untouched = path.read_bytes() == bytes(data)
    path.write_bytes(good)  # the operator restores the copy they moved aside
    t0 = time.monotonic()
    o2, _, counts = attempt(lambda: EventQueue(path).counts())
    rows.append(Row("corrupt queue database", "hooks: open queue", outcome, msg, 0,
                    0 if untouched else 1, o2 == "pass" and counts["new"] == 300, time.monotonic() - t0))
    # full disk under the receiver's queue and under a worker's completion
    with small_disk(work) as mnt:
        if mnt is None:
            rows.append(Row("queue on a full disk", "hooks: record/complete", "SKIPPED (no tmpfs)", "", 0, 0, True, 0))
            return rows
        q = EventQueue(mnt / "q.db")
        q.insert(ev(0))
        claimed = q.claim("w", lease_s=30)
        q._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = fill(mnt)
        outcome, msg, _ = attempt(lambda: q.insert_many([ev(i) for i in range(1, 50)]))
        o_done, m_done, _ = attempt(lambda: q.complete(claimed, {"pad": "y" * 20000}))  # type: ignore[arg-type]
        filler.unlink()
        t0 = time.monotonic()
        counts = EventQueue(mnt / "q.db").counts()
        rows.append(Row("queue on a full disk (1 MiB tmpfs)", "hooks: record delivery", outcome, msg, 0,
                        0 if sum(counts.values()) == 1 else 1, o_done != "pass" and counts["done"] == 0,
                        time.monotonic() - t0))
        rows.append(Row("queue on a full disk (1 MiB tmpfs)", "hooks: worker marks done", o_done, m_done, 0,
                        0 if counts["processing"] == 1 else 1, counts["done"] == 0, 0.0))
    return rows


def staging_rows(work: Path) -> list[Row]:
    from mlgate.lifecycle.staging import stage

    rows = []
    with small_disk(work) as mnt:
        if mnt is None:
            return [Row("full disk", "staging", "SKIPPED (no tmpfs)", "", 0, 0, True, 0)]
        src = work / "big-model"
        src.mkdir()
        (src / "config.json").write_text("{}")
        (src / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024))
        dest = mnt / "run" / "model"
        outcome, msg, _ = attempt(lambda: stage(str(src), dest))
        partial = dest.exists()
        (src / "weights.bin").write_bytes(os.urandom(100_000))
        t0 = time.monotonic()
        o2, _, copy = attempt(lambda: stage(str(src), dest))
        rows.append(Row("full disk (1 MiB tmpfs)", "staging a local model", outcome, msg, int(partial), 0,
                        o2 == "pass" and copy is not None, time.monotonic() - t0))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="key,publish,deploy,queue,staging,races")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    os.environ.update(MLFLOW_CLIENT_ENV)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    import logging

    logging.basicConfig(level=logging.ERROR)
    for noisy in ("mlflow", "modelscan", "mlgate"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    print(f"machine: {machine()}")
    started = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-faults-") as d:
        work = Path(d)
        if parts & {"key", "publish", "deploy"}:
            t0 = time.monotonic()
            with mlflow_server(work / "mlflow") as upstream:
                print(f"mlflow server ready in {time.monotonic() - t0:.1f} s")
                if "key" in parts:
                    rows += key_rows(upstream, work)
                if "publish" in parts:
                    rows += publish_rows(upstream, work)
                if "deploy" in parts:
                    rows += deploy_rows(upstream, work)
        if "queue" in parts:
            rows += queue_rows(work)
        if "staging" in parts:
            rows += staging_rows(work)
        if "races" in parts:
            rows += race_rows(work)
    print()
    print("| fault | step | outcome | one-line message | registered wrongly | data lost | re-run converged | recover s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        msg = " ".join(r.message.split())
        msg = msg if len(msg) <= 150 else msg[:147] + "..."
        print(f"| {r.fault} | {r.step} | {r.outcome} | {msg.replace('|', '/')} | {r.wrongly} | {r.lost} | "
              f"{'yes' if r.converged else 'NO'} | {r.recover_s:.1f} |")
    bad = [r for r in rows if not r.ok()]
    print(f"\n{len(rows)} cases, {len(bad)} not ok, {time.monotonic() - started:.0f} s in all; "
          f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
