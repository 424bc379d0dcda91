"""The verification matrix: the same attacks through every caller that could admit a model
version, against one real ``mlflow server`` with the registry guard (``mlgate+sqlite``) and its
artifacts proxied to a moto S3 on 127.0.0.1.

Callers (columns) and the profile each one uses (:data:`mlgate.evidence.verify.PROFILES`):

* ``guard``: a plain client sets the protected alias ``production`` (the server decides);
* ``deploy``: :func:`mlgate.lifecycle.pipeline.verify_version` (the deploy checkpoint);
* ``webhook``: :func:`mlgate.hooks.process.process_version` (the worker behind the webhooks);
* ``rescan``: :func:`mlgate.rescan.check.check_version` (one version of the weekly rescan);
* ``release``: :func:`mlgate.rescan.release.release_version` after a quarantine.

A registry guard does not stop someone with database access; the rows that need evidence the
guard would refuse to store write it straight into the registry database (as such an attacker
would), so that the other callers are tested on their own.

Each cell is one outcome: ``ok`` (admitted) or ``refused``. The deliberate differences (declared in
the profile table) are visible as cells: the guard does not check the model signature inline
(``missing model signature``), a ``registry-hook`` statement is usable but not promotable, and
release re-verifies a revoked statement from scratch (it ignores revocation by design: the
revoked statement still says which bytes were approved; a new statement is signed).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersionTag
from mlflow.exceptions import MlflowException
from tests.plugins.guard_helpers import envelope
from tests.rescan.rescan_helpers import write_policy

from mlgate.digest import hash_tree, manifest_of
from mlgate.errors import GateFailed
from mlgate.evidence import tags as T
from mlgate.evidence.keys import generate_keypair, load_public_keys
from mlgate.evidence.model_signature import load_signer
from mlgate.evidence.statement import PIPELINE, REGISTRY_HOOK
from mlgate.samples import write_clean_model
from mlgate.stack.moto import FAKE_CREDENTIALS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CALLERS = ("guard", "deploy", "webhook", "rescan", "release")


@dataclass
class Env:
    url: str
    client: MlflowClient
    raw: Any  # the registry database without the guard (an attacker with database access)
    s3: Any
    bucket: str
    work: Path
    keys: dict[str, Path]
    trusted: str  # the verifiers' trusted keys: new and old (a rotation)
    policy: Path
    exp: str
    results: dict[tuple[str, str], str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def env(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    import os

    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    from mlgate.stack.mlflow_server import start_mlflow

    work = tmp_path_factory.mktemp("matrix")
    new_priv, new_pub = generate_keypair(work / "keys-new")
    old_priv, old_pub = generate_keypair(work / "keys-old")
    attacker, _ = generate_keypair(work / "attacker")
    trusted = f"{new_pub}{os.pathsep}{old_pub}"
    bucket = f"matrix-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                      aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    s3.create_bucket(Bucket=bucket)
    db = work / "mlflow" / "mlflow.db"
    server = start_mlflow(work / "mlflow", s3_endpoint=moto_server, artifact_bucket=bucket,
                          registry_store_uri=f"mlgate+sqlite:///{db}",
                          extra_env={"MLGATE_REGISTRY_PUBLIC_KEY": trusted,
                                     "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"},
                          timeout=300)  # a busy shared machine can take minutes to start it
    policy = write_policy(work / "policy.yaml", base="default.yaml", include_rescan=True,
                          rescan={"audit_buckets": False, "artifacts_destination": f"s3://{bucket}/mlflow"})
    try:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in FAKE_CREDENTIALS.items():
                mp.setenv(k, v)
            mp.setenv("MLFLOW_S3_ENDPOINT_URL", moto_server)
            mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            client = MlflowClient(tracking_uri=server.url)
            e = Env(server.url, client, SqlAlchemyStore(f"sqlite:///{db}"), s3, bucket, work,
                    {"new": new_priv, "old": old_priv, "attacker": attacker}, trusted, policy,
                    client.create_experiment("matrix"))
            yield e
            print_matrix(e)
    finally:
        server.stop()


# -- building versions --------------------------------------------------------------------------


_REPORTS: dict[str, Any] = {}


def _scan_report(folder: Path) -> Any:
    """The pre-publish scan (the sample model's bytes are the same every time: scanned once)."""
    from mlgate.api import run_gate

    m = manifest_of(hash_tree(folder))
    if m not in _REPORTS:
        _REPORTS[m] = run_gate("model-scan", [folder], policy=REPO / "policies" / "default.yaml",
                               checkpoint="pre-publish")
    return _REPORTS[m]


def publish_like(e: Env, name: str, *, key: str = "new", provenance: str = PIPELINE,
                 register_with_evidence: bool = True) -> tuple[str, dict[str, str]]:
    """Log a clean model to a run and register it with evidence signed exactly as publish does."""
    from mlgate.lifecycle.pipeline import attach_evidence
    from mlgate.lifecycle.staging import StagedCopy

    folder = write_clean_model(e.work / "src" / f"{name}-{uuid.uuid4().hex[:6]}")
    c = e.client
    run = c.create_run(e.exp)
    c.log_artifacts(run.info.run_id, str(folder), "model")
    source = f"{run.info.artifact_uri}/model"
    files = hash_tree(folder)
    copy = StagedCopy(uri=source, path=folder, files=files, manifest_sha256=manifest_of(files), source_versions={})
    tags = attach_evidence(c, run.info.run_id, copy, [_scan_report(folder)], model_name=name, source=source,
                           signer=load_signer(e.keys[key]), provenance=provenance,
                           folder=e.work / "ev" / uuid.uuid4().hex)
    _ensure_model(c, name)
    mv = c.create_model_version(name, source, run_id=run.info.run_id,
                                tags=tags if register_with_evidence else {})
    return str(mv.version), tags


def _ensure_model(c: MlflowClient, name: str) -> None:
    try:
        c.get_registered_model(name)
    except MlflowException:
        c.create_registered_model(name)


def bypass_tags(e: Env, name: str, version: str, tags: dict[str, str]) -> None:
    """Write tags straight into the registry database (no guard): envelope first, verdict last."""
    for k, v in T.ordered_evidence_tags(tags):
        e.raw.set_model_version_tag(name, version, ModelVersionTag(k, v))


def _objects(e: Env, run_id: str, part: str) -> list[str]:
    keys = [o["Key"] for o in e.s3.list_objects_v2(Bucket=e.bucket, Prefix="mlflow/").get("Contents", [])]
    return [k for k in keys if f"/{run_id}/artifacts/{part}" in k]


def rewrap(env_text: str) -> str:
    """The same signed statement in another envelope: an extra member, the ECDSA (r, n-s) twin of
    the signature first, and the original signature as a second entry."""
    env = json.loads(env_text)
    sig = env["signatures"][0]
    r, s = decode_dss_signature(base64.b64decode(sig["sig"]))
    twin = {"keyid": sig["keyid"], "sig": base64.b64encode(encode_dss_signature(r, P256_N - s)).decode()}
    env["signatures"] = [twin, sig]
    env["note"] = "re-wrapped"
    return json.dumps(env)


# -- the callers --------------------------------------------------------------------------------


def call(e: Env, caller: str, name: str, version: str) -> str:
    fn: Callable[[Env, str, str], str] = {"guard": _guard, "deploy": _deploy, "webhook": _webhook,
                                          "rescan": _rescan, "release": _release}[caller]
    return fn(e, name, version)


def _guard(e: Env, name: str, version: str) -> str:
    try:
        e.client.set_registered_model_alias(name, "production", version)
    except MlflowException as ex:
        e.results[("guard-reason", f"{name}/{version}")] = ex.message
        return "refused" if ex.error_code == "PERMISSION_DENIED" else f"error: {ex.error_code}"
    e.client.delete_registered_model_alias(name, "production")
    return "ok"


def _deploy_policy(e: Env) -> Path:
    """The default policy, pre-deploy judging the version's evidence and bytes only: the matrix's
    MLflow server is a bare test server, whose posture is the posture suite's subject, not this one's."""
    path = e.work / "deploy-policy.yaml"
    if not path.exists():
        write_policy(path, base="default.yaml",
                     checkpoints={"pre-deploy": {"gates": ["model-scan"], "block_severity": "low"}})
    return path


def _deploy(e: Env, name: str, version: str) -> str:
    from mlgate.lifecycle.config import load_pipeline_config
    from mlgate.lifecycle.pipeline import Context, verify_version

    cfg = e.work / "pipelines" / f"{name}.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(yaml.safe_dump({
        "apiVersion": "mlgate/v1", "kind": "Pipeline", "name": name, "tracking_uri": e.url,
        "policy": str(_deploy_policy(e)), "model_name": name,
        "training": {"function": "mlgate.examples.train_sklearn:train"},
        "signing": {"private_key": str(e.keys["new"]), "public_key": e.trusted},
        "deploy": {"alias": "production", "target": "folder", "folder": str(e.work / "serving")},
        "work_dir": str(e.work / "pipeline-work"),
    }))
    try:
        verify_version(Context(load_pipeline_config(cfg)), version)
    except GateFailed as ex:
        e.results[("deploy-reason", f"{name}/{version}")] = ex.reason
        return "refused"
    return "ok"


def _hook_settings(e: Env) -> Any:
    from mlgate.hooks.process import HookSettings

    return HookSettings(tracking_uri=e.url, policy_path=REPO / "policies" / "default.yaml",
                        private_key=e.keys["new"], public_key=Path(e.trusted), work_dir=e.work / "hook-work",
                        protected_aliases=frozenset({"production"}), emit_events=False)


def _webhook(e: Env, name: str, version: str) -> str:
    from mlgate.hooks.process import process_version

    res = process_version(e.client, _hook_settings(e), name, version)
    e.results[("webhook-reason", f"{name}/{version}")] = str(res.get("reason", ""))
    return {"verified": "ok", "signed": "ok", "quarantined": "refused"}[res["action"]]


def _rescan_settings(e: Env) -> Any:
    from mlgate.rescan.settings import RescanSettings

    return RescanSettings(tracking_uri=e.url, policy_path=e.policy, public_key=Path(e.trusted),
                          private_key=e.keys["new"], artifacts_destination=f"s3://{e.bucket}/mlflow",
                          work_dir=e.work / "rescan-work", emit_events=False)


def _rescan(e: Env, name: str, version: str) -> str:
    from mlgate.rescan.check import Runtime, check_version
    from mlgate.rescan.select import VersionRef
    from mlgate.rescan.summary import Outcome

    mv = e.client.get_model_version(name, version)
    ref = VersionRef(name=name, version=version, source=mv.source, run_id=mv.run_id, tags=dict(mv.tags),
                     aliases=tuple(mv.aliases or ()), created_ms=0)
    rt = Runtime.build(_rescan_settings(e), client=e.client, s3=e.s3)
    res = check_version(rt, ref)
    e.results[("rescan-reason", f"{name}/{version}")] = res.reason
    assert res.outcome is not Outcome.ERROR, res.reason
    return "refused" if res.outcome is Outcome.QUARANTINED else "ok"


def _release(e: Env, name: str, version: str) -> str:
    from mlgate.registry.quarantine import quarantine
    from mlgate.rescan.release import release_version

    tags = e.client.get_model_version(name, version).tags
    if tags.get(T.VERDICT) != T.QUARANTINED:
        quarantine(e.client, name, version, "matrix: held for release", emit_event=False,
                   public_keys=load_public_keys(e.trusted))
    try:
        release_version(_rescan_settings(e), name, version, client=e.client, s3=e.s3)
    except GateFailed as ex:
        e.results[("release-reason", f"{name}/{version}")] = ex.reason
        return "refused"
    return "ok"


def print_matrix(e: Env) -> None:
    rows = sorted({k[0] for k in e.results if k[0] not in {c + "-reason" for c in CALLERS}})
    print("\nverification matrix (ok = admitted):")
    print(f"{'scenario':32}" + "".join(f"{c:>10}" for c in CALLERS))
    for r in rows:
        print(f"{r:32}" + "".join(f"{e.results.get((r, c), '-'):>10}" for c in CALLERS))


# -- the scenarios ------------------------------------------------------------------------------
# Each call builds one fresh version and returns (name, version).

Builder = Callable[[Env, str], tuple[str, str]]


def clean(e: Env, tag: str) -> tuple[str, str]:
    name = f"clean-{tag}"
    return name, publish_like(e, name)[0]


def bytes_changed(e: Env, tag: str) -> tuple[str, str]:
    name = f"bytes-{tag}"
    version, _ = publish_like(e, name)
    run_id = e.client.get_model_version(name, version).run_id
    key = sorted(_objects(e, run_id, "model/"))[0]
    body = bytearray(e.s3.get_object(Bucket=e.bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    e.s3.put_object(Bucket=e.bucket, Key=key, Body=bytes(body))
    return name, version


def revoked_rewrapped(e: Env, tag: str) -> tuple[str, str]:
    """A statement revoked by a quarantine, re-wrapped and presented by another version of the
    same model with the same source (and so the same bytes)."""
    from mlgate.registry.quarantine import quarantine

    name = f"revoked-{tag}"
    version, tags = publish_like(e, name)
    quarantine(e.client, name, version, "matrix: compromised", emit_event=False,
               public_keys=load_public_keys(e.trusted))
    mv = e.client.get_model_version(name, version)
    again = e.client.create_model_version(name, mv.source, run_id=mv.run_id)  # no verdict: the guard lets it in
    new = str(again.version)
    bypass_tags(e, name, new, {**tags, T.ENVELOPE: rewrap(tags[T.ENVELOPE])})
    return name, new


def revoked_other_model(e: Env, tag: str) -> tuple[str, str]:
    """The same revoked statement presented by a version of another model (same source)."""
    from mlgate.registry.quarantine import quarantine

    name = f"revoked-src-{tag}"
    version, tags = publish_like(e, name)
    quarantine(e.client, name, version, "matrix: compromised", emit_event=False,
               public_keys=load_public_keys(e.trusted))
    mv = e.client.get_model_version(name, version)
    other = f"other-{tag}"
    _ensure_model(e.client, other)
    new = str(e.client.create_model_version(other, mv.source, run_id=mv.run_id).version)
    bypass_tags(e, other, new, tags)
    return other, new


def forged_verdict(e: Env, tag: str) -> tuple[str, str]:
    name = f"forged-{tag}"
    version, tags = publish_like(e, name, register_with_evidence=False)
    mv = e.client.get_model_version(name, version)
    folder = e.work / "dl" / uuid.uuid4().hex
    got = Path(e.client.download_artifacts(mv.run_id, "model", str(folder)))
    forged = envelope(e.keys["attacker"], source=mv.source, manifest_sha256=manifest_of(hash_tree(got)), name=name)
    bypass_tags(e, name, version, {**tags, T.ENVELOPE: forged})
    return name, version


def no_source(e: Env, tag: str) -> tuple[str, str]:
    name = f"nosource-{tag}"
    version, tags = publish_like(e, name, register_with_evidence=False)
    unsourced = envelope(e.keys["new"], source=None, manifest_sha256=tags[T.MANIFEST], name=name)
    bypass_tags(e, name, version, {**tags, T.ENVELOPE: unsourced})
    return name, version


def rotated_key(e: Env, tag: str) -> tuple[str, str]:
    name = f"rotated-{tag}"
    return name, publish_like(e, name, key="old")[0]


def missing_model_signature(e: Env, tag: str) -> tuple[str, str]:
    name = f"nosig-{tag}"
    version, tags = publish_like(e, name)
    run_id = tags[T.SIGNATURE].split("/")[1]
    for key in _objects(e, run_id, "mlgate/model.sig"):
        e.s3.delete_object(Bucket=e.bucket, Key=key)
    return name, version


def registry_hook_provenance(e: Env, tag: str) -> tuple[str, str]:
    name = f"hook-{tag}"
    return name, publish_like(e, name, provenance=REGISTRY_HOOK)[0]


R = "refused"
# Why a refusal must happen (so that a cell cannot pass for an unrelated reason).
WHY = {
    "bytes changed": "not the signed bytes",
    "revoked, re-wrapped, re-registered": "revoked",
    "revoked, on another model": "revoked",
    "forged verdict": "not signed by a trusted key",
    "statement without source": "names no source",
    "missing model signature": "model signature",
    "provenance registry-hook": "provenance 'registry-hook'",
}
SCENARIOS: dict[str, tuple[Builder, dict[str, str]]] = {
    # scenario: (builder, expected outcome per caller)
    "clean": (clean, dict.fromkeys(CALLERS, "ok")),
    "bytes changed": (bytes_changed, dict.fromkeys(CALLERS, R)),
    "revoked, re-wrapped, re-registered": (revoked_rewrapped, {**dict.fromkeys(CALLERS, R), "release": "ok"}),
    "revoked, on another model": (revoked_other_model, dict.fromkeys(CALLERS, R)),
    "forged verdict": (forged_verdict, dict.fromkeys(CALLERS, R)),
    "statement without source": (no_source, dict.fromkeys(CALLERS, R)),
    "key rotated (old key trusted)": (rotated_key, dict.fromkeys(CALLERS, "ok")),
    "missing model signature": (missing_model_signature, {**dict.fromkeys(CALLERS, R), "guard": "ok"}),
    "provenance registry-hook": (registry_hook_provenance,
                                 {"guard": R, "deploy": R, "webhook": "ok", "rescan": "ok", "release": "ok"}),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_verification_matrix(env: Env, scenario: str) -> None:
    builder, expected = SCENARIOS[scenario]
    got, subjects = {}, set()
    # guard and deploy change nothing; release needs a quarantined version, which the webhook
    # leaves behind when it refuses (else release quarantines it first); the rescan gets its own.
    copies = {"gd": builder(env, "gd"), "wr": builder(env, "wr"), "rescan": builder(env, "rescan")}
    for caller in CALLERS:
        name, version = copies[{"guard": "gd", "deploy": "gd", "webhook": "wr", "release": "wr"}.get(caller, caller)]
        subjects.add(f"{name}/{version}")
        got[caller] = call(env, caller, name, version)
        env.results[(scenario, caller)] = got[caller]
    reasons = {k: v for k, v in env.results.items() if k[1] in subjects}
    assert got == expected, reasons
    for caller, outcome in got.items():
        if outcome == R:
            why = [v for (c, s), v in reasons.items() if c == f"{caller}-reason"]
            assert any(WHY[scenario] in w for w in why), (caller, why)


def test_revocation_is_global_and_keyed_on_the_signed_id(env: Env) -> None:
    """The revoked id is on the global list; the guard refuses to delete it or the list."""
    revoked_rewrapped(env, "global")
    tags_model = env.client.get_registered_model(T.REVOCATION_MODEL).tags
    assert any(k.startswith(T.REVOKED_PREFIX) for k in tags_model)
    key = next(k for k in tags_model if k.startswith(T.REVOKED_PREFIX))
    with pytest.raises(MlflowException, match="revocations can only be added"):
        env.client.delete_registered_model_tag(T.REVOCATION_MODEL, key)
    with pytest.raises(MlflowException, match="revocations can only be added"):
        env.client.delete_registered_model(T.REVOCATION_MODEL)


def _chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_version_page_shows_the_verdict_at_a_glance(env: Env) -> None:
    """The real MLflow UI in headless Chromium: the version's description carries the verdict in
    one line (signed by the webhook worker; quarantined by a rescan), above the tag box."""
    import subprocess

    from mlgate.hooks.process import process_version

    name = "ui-glance"
    _ensure_model(env.client, name)
    folder = write_clean_model(env.work / "src" / name)
    run = env.client.create_run(env.exp)
    env.client.log_artifacts(run.info.run_id, str(folder), "model")
    v1 = str(env.client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id).version)
    assert process_version(env.client, _hook_settings(env), name, v1)["action"] == "signed"
    v2 = bytes_changed(env, "ui")[1]
    assert _rescan(env, "bytes-ui", v2) == "refused"
    pages = {(name, v1): "mlgate: PASS at pre-publish (registry-hook) · ",
             ("bytes-ui", v2): "mlgate: QUARANTINED · rescan [bytes-changed]: "}
    for (model, version), expected in pages.items():
        url = f"{env.url}/#/models/{model}/versions/{version}"
        argv = [str(_chromium()), "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                "--window-size=1400,900"]
        dom = subprocess.run([*argv, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
        assert expected in dom, f"{url}: the description is not on the page"
        shot = env.work / f"{model}-v{version}.png"  # kept with the test's temporary files for a look
        subprocess.run([*argv, f"--screenshot={shot}", url], capture_output=True, timeout=180, check=False)
        assert shot.is_file()
        assert shot.stat().st_size > 10_000
