"""Publish against a real mlflow server behind the fault proxy (127.0.0.1): MLflow failing at each
step (5xx, a hang past the client's time-out, a reset, the server going down) ends in one clear
line, nothing is registered that reads as pass without its verified signed statement, and a re-run
converges (it adopts a left-over version only when that version's evidence verifies for the same
bytes). A missing or unusable signing key fails before MLflow is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.faults.conftest import HANG_SECONDS, MLFLOW_CLIENT_ENV
from tests.faults.fault_proxy import FaultProxy, Rule
from tests.faults.lifecycle_helpers import (
    context,
    make_setup,
    one_line,
    registered_wrongly,
    version_verifies,
    versions,
)

from mlgate.errors import MlgateError

API = r"^/api/2\.0/mlflow"
ARTIFACTS = r"^/api/2\.0/mlflow-artifacts/artifacts/"


def _publish(setup: Any) -> Any:
    from mlgate.lifecycle.pipeline import publish

    return publish(context(setup), setup.model)


# -- the signing key --------------------------------------------------------------------------


def _rsa_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A proxy that records requests in front of nothing: a test that must make no request at all."""
    from mlgate.integrations.servers import free_port

    for k, v in MLFLOW_CLIENT_ENV.items():
        monkeypatch.setenv(k, v)
    proxy = FaultProxy(f"http://127.0.0.1:{free_port()}", flavour="mlflow").start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.mark.parametrize("case", ["missing", "readable-by-others", "a-directory", "wrong-type", "not-a-key"])
def test_unusable_signing_key_fails_first_and_creates_nothing(no_server: FaultProxy, tmp_path: Path,
                                                              case: str) -> None:
    from mlgate.lifecycle.pipeline import SigningKeyError

    setup = make_setup(tmp_path, no_server.url, keys=case != "missing")
    key = setup.private_key
    if case == "readable-by-others":
        key.chmod(0o644)
    elif case == "a-directory":
        key.unlink()
        key.mkdir()
    elif case == "wrong-type":
        _rsa_key(key)
    elif case == "not-a-key":
        key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SigningKeyError, match="signing key") as ei:
        _publish(setup)
    line = one_line(ei.value)
    assert line.startswith("publish: signing key"), line
    assert str(key) in line
    # before anything: not one request reached MLflow (nothing logged, nothing registered), and
    # publish created no key
    assert no_server.requests == []
    if case == "missing":
        assert not key.exists()
        assert not setup.public_key.exists()


# -- MLflow faults at each step -----------------------------------------------------------------

# (id, rule, whether the server did the work before the client saw the fault)
STEP_FAULTS = [
    ("run-create-500", Rule("status", "POST", API + r"/runs/create", status=500, code="INTERNAL_ERROR")),
    ("reports-upload-503", Rule("status", "PUT", ARTIFACTS + r".*/mlgate/report\.json", status=503,
                                code="TEMPORARILY_UNAVAILABLE")),
    ("after-logging-model-reset", Rule("reset", "PUT", ARTIFACTS + r".*/model/", after=True)),
    ("evidence-upload-down", Rule("down", "PUT", ARTIFACTS + r".*/mlgate/attestation\.json")),
    ("between-run-tag-writes-500", Rule("status", "POST", API + r"/runs/set-tag", status=500,
                                        code="INTERNAL_ERROR", skip=2)),
    ("before-registration-down", Rule("down", "GET", API + r"/registered-models/get")),
    ("registered-model-create-500", Rule("status", "POST", API + r"/registered-models/create", status=500,
                                         code="INTERNAL_ERROR")),
    ("version-create-500", Rule("status", "POST", API + r"/model-versions/create", status=500,
                                code="INTERNAL_ERROR")),
    ("version-created-answer-lost", Rule("reset", "POST", API + r"/model-versions/create", after=True)),
    ("version-created-then-down", Rule("down", "POST", API + r"/runs/update", skip=0)),
]


# Everything below starts a real mlflow server (20-50 s on a busy 2-core machine): `slow`, run by
# `make test`/`make unit` and by bench/bench_faults.py, not by `-m "not slow"`.


@pytest.mark.slow
@pytest.mark.parametrize("rule", [pytest.param(r, id=i) for i, r in STEP_FAULTS])
def test_mlflow_fault_at_a_publish_step_is_one_line_and_a_rerun_converges(
    mlflow_proxy: FaultProxy, direct_mlflow: Any, tmp_path: Path, rule: Rule
) -> None:
    setup = make_setup(tmp_path, mlflow_proxy.url)
    mlflow_proxy.add(rule)
    outcome: Any = None
    try:
        outcome = _publish(setup)
    except MlgateError as e:
        line = one_line(e)
        assert "publish" in line, line
    assert rule.hits == 1, "the fault did not happen"
    assert registered_wrongly(direct_mlflow, setup.name, setup.public_key, tmp_path) == 0
    before = versions(direct_mlflow, setup.name)
    if outcome is not None:  # the fault hit a best-effort clean-up step after the registration
        assert len(before) == 1
        assert version_verifies(direct_mlflow, before[0], setup.public_key, tmp_path)
    # the server is back, the faults are gone: the re-run converges on one verified version
    mlflow_proxy.clear()
    mlflow_proxy.up()
    result = _publish(setup)
    after = versions(direct_mlflow, setup.name)
    assert len(after) == 1, [v.version for v in after]
    assert result.version == after[0].version
    assert version_verifies(direct_mlflow, after[0], setup.public_key, tmp_path)
    if before:  # a left-over (verified) version is adopted, not duplicated
        assert before[0].version == result.version


@pytest.mark.slow
def test_hanging_mlflow_at_registration_times_out_in_one_line_and_converges(
    mlflow_proxy: FaultProxy, direct_mlflow: Any, tmp_path: Path
) -> None:
    setup = make_setup(tmp_path, mlflow_proxy.url)
    rule = mlflow_proxy.add(Rule("hang", "POST", API + r"/model-versions/create", after=True,
                                 seconds=HANG_SECONDS))
    with pytest.raises(MlgateError, match="registering the version") as ei:
        _publish(setup)
    assert "registering the version" in one_line(ei.value)
    assert rule.hits == 1
    assert registered_wrongly(direct_mlflow, setup.name, setup.public_key, tmp_path) == 0
    mlflow_proxy.clear()
    result = _publish(setup)
    (mv,) = versions(direct_mlflow, setup.name)
    assert result.version == mv.version


@pytest.mark.slow
def test_a_left_over_version_that_does_not_verify_is_not_adopted(
    mlflow_proxy: FaultProxy, direct_mlflow: Any, tmp_path: Path
) -> None:
    """A version with the same manifest and a pass tag but evidence signed by another key (or for
    other bytes) is never adopted: the re-run makes a new, verified version."""
    from mlgate.evidence import tags as T
    from mlgate.evidence.attestation import generate_keypair

    setup = make_setup(tmp_path, mlflow_proxy.url)
    first = _publish(setup)
    # the left-over version now carries a statement by an untrusted key for the same bytes
    other = make_setup(tmp_path / "other", mlflow_proxy.url, name=setup.name)
    generate_keypair(tmp_path / "other" / "keys")
    forged = _publish(other)
    assert forged.version != first.version
    direct_mlflow.delete_model_version(setup.name, first.version)
    mv = direct_mlflow.get_model_version(setup.name, forged.version)
    assert mv.tags[T.MANIFEST]
    assert mv.tags[T.VERDICT] == "pass"
    result = _publish(setup)
    assert result.version not in (first.version, forged.version)
    assert version_verifies(direct_mlflow, direct_mlflow.get_model_version(setup.name, result.version),
                            setup.public_key, tmp_path)


@pytest.mark.slow
def test_race_on_creating_the_registered_model_both_end_consistent(
    mlflow_proxy: FaultProxy, direct_mlflow: Any, tmp_path: Path
) -> None:
    """Deterministic race: another publisher creates the registered model between this publish's
    'does it exist?' and its create."""
    setup = make_setup(tmp_path, mlflow_proxy.url)
    rule = mlflow_proxy.add(Rule("pass", "GET", API + r"/registered-models/get",
                                 then=lambda: direct_mlflow.create_registered_model(setup.name)))
    result = _publish(setup)
    assert rule.hits == 1
    (mv,) = versions(direct_mlflow, setup.name)
    assert mv.version == result.version
    assert version_verifies(direct_mlflow, mv, setup.public_key, tmp_path)


CHILD = """
import json, sys
from pathlib import Path
from mlgate.lifecycle.config import load_pipeline_config
from mlgate.lifecycle.pipeline import Context, publish
r = publish(Context(load_pipeline_config(sys.argv[1])), Path(sys.argv[2]))
print(json.dumps({"version": r.version}))
"""


@pytest.mark.slow
def test_two_publishes_of_the_same_model_at_once_both_end_consistent(
    mlflow_proxy: FaultProxy, direct_mlflow: Any, tmp_path: Path
) -> None:
    setup = make_setup(tmp_path, mlflow_proxy.url)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(setup.config), str(setup.model)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    vs = versions(direct_mlflow, setup.name)
    assert 1 <= len(vs) <= 2
    assert all(version_verifies(direct_mlflow, v, setup.public_key, tmp_path) for v in vs)
    assert registered_wrongly(direct_mlflow, setup.name, setup.public_key, tmp_path) == 0


@pytest.mark.slow
def test_client_retries_never_send_the_version_create_twice(
    mlflow_proxy: FaultProxy, direct_mlflow: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the CLI's bounded retries (3: MLflow retries POSTs too), a committed create whose answer
    was lost is not re-sent (that would make a second version): one error line, then the re-run
    adopts the one version."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    setup = make_setup(tmp_path, mlflow_proxy.url)
    rule = mlflow_proxy.add(Rule("reset", "POST", API + r"/model-versions/create", after=True))
    with pytest.raises(MlgateError, match="registering the version") as ei:
        _publish(setup)
    one_line(ei.value)
    assert rule.hits == 1
    assert sum(1 for _, path in mlflow_proxy.requests if "/model-versions/create" in path) == 1  # sent once
    (left,) = versions(direct_mlflow, setup.name)
    mlflow_proxy.clear()
    assert _publish(setup).version == left.version
    assert len(versions(direct_mlflow, setup.name)) == 1


@pytest.mark.slow
def test_a_task_retry_with_the_same_context_converges(
    mlflow_proxy: FaultProxy, direct_mlflow: Any, tmp_path: Path
) -> None:
    """Prefect retries a transient publish failure with the same Context (same run folder)."""
    from mlgate.lifecycle.pipeline import RegistryTransientError, publish

    setup = make_setup(tmp_path, mlflow_proxy.url)
    ctx = context(setup)
    mlflow_proxy.add(Rule("reset", "POST", API + r"/model-versions/create", after=True))
    with pytest.raises(RegistryTransientError, match="registering the version"):
        publish(ctx, setup.model)
    result = publish(ctx, setup.model)  # the retry
    (mv,) = versions(direct_mlflow, setup.name)
    assert result.version == mv.version
