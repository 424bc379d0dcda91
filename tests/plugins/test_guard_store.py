"""The guarded registry store in-process (sqlite, local folders as sources): every refusal
rule, its reason, and that everything else is stock MLflow. The same store inside a real
``mlflow server`` is tested in ``test_guard_server.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.entities.model_registry import ModelVersionTag
from mlflow.exceptions import MlflowException
from mlgate_registry_guard.config import GuardConfig, GuardConfigError
from mlgate_registry_guard.store import GuardedSqlAlchemyStore, build_store, inner_db_uri
from tests.plugins.guard_helpers import envelope, manifest

from mlgate.evidence.attestation import generate_keypair
from mlgate.registry import tags as T
from mlgate.registry.verify import envelope_digest
from mlgate.samples import write_clean_model

REPO = Path(__file__).resolve().parents[2]

ENV, VERDICT = T.ENVELOPE, T.VERDICT


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    priv, pub = generate_keypair(d / "good")
    bad_priv, _ = generate_keypair(d / "attacker")
    return {"priv": priv, "pub": pub, "attacker": bad_priv}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"mlgate+sqlite:///{tmp_path_factory.mktemp('db') / 'registry.db'}"


StoreFactory = Callable[..., GuardedSqlAlchemyStore]


@pytest.fixture(autouse=True)
def _quiet_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture
def make_store(db: str, keys: dict[str, Path]) -> StoreFactory:
    def make(**kw: object) -> GuardedSqlAlchemyStore:
        cfg = {"public_key": str(keys["pub"]), "protected_aliases": frozenset({"production"}),
               "allow_local_sources": True, **kw}
        return GuardedSqlAlchemyStore(db, config=GuardConfig(**cfg))  # type: ignore[arg-type]

    return make


_n = [0]


def new_version(store: GuardedSqlAlchemyStore, tmp_path: Path, tags: dict[str, str] | None = None) -> tuple[str, Path]:
    """A registered model with one version whose source is a clean model folder."""
    _n[0] += 1
    name = f"model-{_n[0]}"
    folder = write_clean_model(tmp_path / name)
    store.create_registered_model(name)
    store.create_model_version(name, str(folder), tags=[ModelVersionTag(k, v) for k, v in (tags or {}).items()])
    return name, folder


def sign_version(store: GuardedSqlAlchemyStore, name: str, folder: Path, priv: Path, *, set_verdict: bool = True) -> str:
    env = envelope(priv, source=str(folder), manifest_sha256=manifest(folder), name=name)
    store.set_model_version_tag(name, "1", ModelVersionTag(ENV, env))
    if set_verdict:
        store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "pass"))
    return env


def denied(match: str):  # type: ignore[no-untyped-def]
    return pytest.raises(MlflowException, match=match)


def assert_denied(exc: pytest.ExceptionInfo[MlflowException]) -> None:
    assert exc.value.error_code == "PERMISSION_DENIED"
    assert exc.value.get_http_status_code() == 403


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "inner"),
    [
        ("mlgate+sqlite:////abs/x.db", "sqlite:////abs/x.db"),
        ("mlgate+sqlite:///rel.db", "sqlite:///rel.db"),
        ("mlgate+sqlite:/rel.db", "sqlite:///rel.db"),  # MLflow's normal form of the line above
        ("mlgate+postgresql://u:p@db.internal:5432/mlflow?sslmode=require",
         "postgresql://u:p@db.internal:5432/mlflow?sslmode=require"),
    ],
)
def test_inner_database_uri(uri: str, inner: str) -> None:
    assert inner_db_uri(uri) == inner


def test_other_schemes_are_refused() -> None:
    with pytest.raises(MlflowException, match="unsupported database scheme 'mysql'"):
        inner_db_uri("mlgate+mysql://u@h/db")


def test_config_from_env_is_strict() -> None:
    c = GuardConfig.from_env({"MLGATE_PROTECTED_ALIASES": " Production, champion ,",
                              "MLGATE_REQUIRE_VERIFIED_SOURCE": "yes"})
    assert c.protected_aliases == {"production", "champion"}
    assert c.require_verified_source is True
    assert c.public_key is None
    assert GuardConfig.from_env({}).protected_aliases == {"production"}
    with pytest.raises(GuardConfigError, match="MLGATE_REQUIRE_VERIFIED_SOURCE='maybe'"):
        GuardConfig.from_env({"MLGATE_REQUIRE_VERIFIED_SOURCE": "maybe"})
    with pytest.raises(GuardConfigError, match="MLGATE_GUARD_MAX_FILES"):
        GuardConfig.from_env({"MLGATE_GUARD_MAX_FILES": "-1"})


def test_entry_point_builder_reads_the_environment(db: str, keys: dict[str, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import entry_points

    eps = {e.name: e for e in entry_points(group="mlflow.model_registry_store")}
    assert eps["mlgate+sqlite"].load() is build_store
    assert eps["mlgate+postgresql"].load() is build_store
    monkeypatch.setenv("MLGATE_REGISTRY_PUBLIC_KEY", str(keys["pub"]))
    monkeypatch.setenv("MLGATE_PROTECTED_ALIASES", "champion")
    s = build_store(store_uri=db, tracking_uri=None)
    assert s.guard.protected_aliases == {"champion"}
    assert s.keys.error is None


# -- fail closed --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "/nonexistent/key.pub"])
def test_without_a_usable_key_protected_operations_fail_closed(make_store: StoreFactory, tmp_path: Path,
                                                               keys: dict[str, Path], key: str | None) -> None:
    good = make_store()
    name, folder = new_version(good, tmp_path)
    sign_version(good, name, folder, keys["priv"])
    store = make_store(public_key=key)
    with denied("MLGATE_REGISTRY_PUBLIC_KEY") as e:
        store.set_registered_model_alias(name, "production", "1")
    assert_denied(e)
    # everything else is stock
    store.set_registered_model_alias(name, "staging", "1")
    store.set_model_version_tag(name, "1", ModelVersionTag("team", "fraud"))
    assert store.get_model_version(name, "1").tags["team"] == "fraud"


# -- protected aliases --------------------------------------------------------------------------


def test_unsigned_version_cannot_be_promoted(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store()
    name, _ = new_version(store, tmp_path)
    for alias in ("production", "Production", "PRODUCTION"):
        with denied(f"refused to set the protected alias '{alias}'.*no signed verdict statement") as e:
            store.set_registered_model_alias(name, alias, "1")
        assert_denied(e)
    assert store.get_registered_model(name).aliases == {}
    store.set_registered_model_alias(name, "candidate", "1")  # an unprotected alias is stock
    assert str(store.get_model_version_by_alias(name, "candidate").version) == "1"


def test_signed_version_can_be_promoted(make_store: StoreFactory, tmp_path: Path, keys: dict[str, Path]) -> None:
    store = make_store()
    name, folder = new_version(store, tmp_path)
    sign_version(store, name, folder, keys["priv"])
    store.set_registered_model_alias(name, "production", "1")
    assert str(store.get_model_version_by_alias(name, "production").version) == "1"


def test_bytes_changed_after_signing_block_promotion(make_store: StoreFactory, tmp_path: Path,
                                                     keys: dict[str, Path]) -> None:
    store = make_store()
    name, folder = new_version(store, tmp_path)
    sign_version(store, name, folder, keys["priv"])
    (folder / "config.json").write_text('{"auto_map": {"AutoModel": "evil.Model"}}')
    with denied("are not the signed bytes") as e:
        store.set_registered_model_alias(name, "production", "1")
    assert_denied(e)
    (folder / "extra.bin").write_bytes(b"x")


def test_forged_or_foreign_evidence_is_refused(make_store: StoreFactory, tmp_path: Path,
                                               keys: dict[str, Path]) -> None:
    store = make_store()
    name, folder = new_version(store, tmp_path)
    forged = envelope(keys["attacker"], source=str(folder), manifest_sha256=manifest(folder), name=name)
    store.set_model_version_tag(name, "1", ModelVersionTag(ENV, forged))  # a tag anyone may write...
    with denied("not signed by a trusted key") as e:
        store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "pass"))  # ...but it makes nothing pass
    assert_denied(e)
    with denied("not signed by a trusted key"):
        store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, " PASS "))

    other = envelope(keys["priv"], source="s3://elsewhere/model", manifest_sha256=manifest(folder), name=name)
    store.set_model_version_tag(name, "1", ModelVersionTag(ENV, other))
    with denied("signed source 's3://elsewhere/model' is not the version's source"):
        store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "pass"))

    failed = envelope(keys["priv"], source=str(folder), manifest_sha256=manifest(folder), verdict="fail", name=name)
    store.set_model_version_tag(name, "1", ModelVersionTag(ENV, failed))
    with denied("the signed verdict is 'fail'"):
        store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "pass"))

    store.set_model_version_tag(name, "1", ModelVersionTag(ENV, "not json at all"))
    with denied("malformed envelope"):
        store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "pass"))
    store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "fail"))  # non-passing values are stock
    assert store.get_model_version(name, "1").tags[VERDICT] == "fail"


def test_verdict_before_envelope_is_refused_with_the_order(make_store: StoreFactory, tmp_path: Path,
                                                           keys: dict[str, Path]) -> None:
    store = make_store()
    name, folder = new_version(store, tmp_path)
    with denied("no signed verdict statement.*write mlgate.attestation_envelope first"):
        store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "pass"))
    sign_version(store, name, folder, keys["priv"])
    assert store.get_model_version(name, "1").tags[VERDICT] == "pass"


def test_protected_stage_is_guarded_like_the_alias(make_store: StoreFactory, tmp_path: Path,
                                                   keys: dict[str, Path]) -> None:
    store = make_store()
    name, folder = new_version(store, tmp_path)
    with denied("protected stage 'Production'"):
        store.transition_model_version_stage(name, "1", "Production", False)
    store.transition_model_version_stage(name, "1", "Staging", False)
    sign_version(store, name, folder, keys["priv"])
    assert store.transition_model_version_stage(name, "1", "Production", False).current_stage == "Production"


# -- the envelope of a trusted version ----------------------------------------------------------


def test_envelope_of_a_promoted_version_is_frozen(make_store: StoreFactory, tmp_path: Path,
                                                  keys: dict[str, Path]) -> None:
    store = make_store()
    name, folder = new_version(store, tmp_path)
    env = sign_version(store, name, folder, keys["priv"])
    store.set_registered_model_alias(name, "production", "1")
    other = envelope(keys["priv"], source=str(folder), manifest_sha256=manifest(folder), note="resigned", name=name)
    with denied("holds the protected alias"):
        store.set_model_version_tag(name, "1", ModelVersionTag(ENV, other))
    with denied("holds the protected alias"):
        store.delete_model_version_tag(name, "1", ENV)
    store.set_model_version_tag(name, "1", ModelVersionTag(ENV, env))  # the same value is a no-op
    store.delete_registered_model_alias(name, "production")
    store.set_model_version_tag(name, "1", ModelVersionTag(ENV, other))  # valid replacement, no alias
    with denied("new envelope does not verify"):
        store.set_model_version_tag(name, "1", ModelVersionTag(ENV, envelope(keys["attacker"], source=str(folder),
                                                                             manifest_sha256=manifest(folder), name=name)))
    with denied("verdict is passing; change the verdict first"):
        store.delete_model_version_tag(name, "1", ENV)
    store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "quarantined"))
    store.delete_model_version_tag(name, "1", ENV)
    assert ENV not in store.get_model_version(name, "1").tags


def test_revoked_envelope_cannot_pass_again_and_revocations_only_grow(make_store: StoreFactory, tmp_path: Path,
                                                                      keys: dict[str, Path]) -> None:
    store = make_store()
    name, folder = new_version(store, tmp_path)
    env = sign_version(store, name, folder, keys["priv"])
    store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "quarantined"))
    store.set_model_version_tag(name, "1", ModelVersionTag(T.REVOKED, envelope_digest(env)))
    with denied("revoked by a quarantine"):
        store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "pass"))
    with denied("revoked attestations can only be added"):
        store.set_model_version_tag(name, "1", ModelVersionTag(T.REVOKED, "ab" * 32))
    with denied("revoked attestations can only be added"):
        store.delete_model_version_tag(name, "1", T.REVOKED)
    store.set_model_version_tag(name, "1", ModelVersionTag(T.REVOKED, f"{envelope_digest(env)},{'ab' * 32}"))
    fresh = envelope(keys["priv"], source=str(folder), manifest_sha256=manifest(folder), note="re-checked", name=name)
    store.set_model_version_tag(name, "1", ModelVersionTag(ENV, fresh))
    store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "pass"))  # new evidence: released
    store.set_registered_model_alias(name, "production", "1")


# -- creating versions --------------------------------------------------------------------------


def test_created_with_a_passing_verdict_needs_its_envelope_in_the_same_call(make_store: StoreFactory,
                                                                           tmp_path: Path,
                                                                           keys: dict[str, Path]) -> None:
    store = make_store()
    name, folder = new_version(store, tmp_path)
    with denied("refused to create a version tagged mlgate.verdict=pass.*carries no signed statement") as e:
        store.create_model_version(name, str(folder), tags=[ModelVersionTag(VERDICT, "pass")])
    assert_denied(e)
    env = envelope(keys["priv"], source=str(folder), manifest_sha256=manifest(folder), name=name)
    mv = store.create_model_version(name, str(folder), tags=[ModelVersionTag(VERDICT, "pass"),
                                                             ModelVersionTag(ENV, env)])
    assert mv.version == 2  # publish() registers this way: tags at creation
    store.set_registered_model_alias(name, "production", "2")


def test_require_verified_source(make_store: StoreFactory, tmp_path: Path, keys: dict[str, Path]) -> None:
    store = make_store(require_verified_source=True)
    name = "strict-model"
    folder = write_clean_model(tmp_path / name)
    store.create_registered_model(name)
    with denied(f"refused to create a version on model '{name}'.*is not verified") as e:
        store.create_model_version(name, str(folder))
    assert_denied(e)
    env = envelope(keys["priv"], source=str(folder), manifest_sha256=manifest(folder), name=name)
    other = write_clean_model(tmp_path / "other", seed=7)
    with denied("is not the version's source"):
        store.create_model_version(name, str(other), tags=[ModelVersionTag(ENV, env)])
    mv = store.create_model_version(name, str(folder), tags=[ModelVersionTag(ENV, env)])
    assert mv.version == 1
    assert store.search_model_versions(f"name='{name}'")[0].version == 1


# -- what the guard reads -----------------------------------------------------------------------


def test_local_sources_are_not_read_unless_allowed(make_store: StoreFactory, tmp_path: Path,
                                                   keys: dict[str, Path]) -> None:
    name, folder = new_version(make_store(), tmp_path)
    sign_version(make_store(), name, folder, keys["priv"])
    with denied("local paths are not read by the guard"):
        make_store(allow_local_sources=False).set_registered_model_alias(name, "production", "1")


def test_limits_refuse_oversized_versions(make_store: StoreFactory, tmp_path: Path, keys: dict[str, Path]) -> None:
    name, folder = new_version(make_store(), tmp_path)
    sign_version(make_store(), name, folder, keys["priv"])
    with denied("more than 3 files"):
        make_store(max_files=3).set_registered_model_alias(name, "production", "1")
    with denied("more than 1000 bytes"):
        make_store(max_bytes=1000).set_registered_model_alias(name, "production", "1")
    empty = tmp_path / "empty"
    empty.mkdir()
    store = make_store()
    store.create_registered_model("empty-model")
    store.create_model_version("empty-model", str(empty))
    env = envelope(keys["priv"], source=str(empty), manifest_sha256="0" * 64, name="empty-model")
    store.set_model_version_tag("empty-model", "1", ModelVersionTag(ENV, env))
    with denied("no files"):
        store.set_model_version_tag("empty-model", "1", ModelVersionTag(VERDICT, "pass"))


def test_the_plugin_needs_neither_prefect_nor_great_expectations() -> None:
    """It is installed into the MLflow server's environment: MLflow and the mlgate core only."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for m in ('prefect', 'great_expectations', 'pandas', 'boto3', 'modelscan', 'mlgate.lifecycle', 'mlgate.gates'):\n"
        "    sys.modules[m] = None  # any import of these now fails\n"
        "from mlgate_registry_guard.store import build_store, GuardedSqlAlchemyStore\n"
        "import mlgate_registry_guard.artifacts, mlgate_registry_guard.config\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr


def test_protected_alias_accepts_only_the_provenances_the_policy_names(make_store: StoreFactory, tmp_path: Path,
                                                                        keys: dict[str, Path]) -> None:
    from mlgate_registry_guard.config import load_evidence_policy

    from mlgate.evidence.verify import EvidencePolicy, PromotionPolicy

    store = make_store()
    name, folder = new_version(store, tmp_path)
    hook = envelope(keys["priv"], source=str(folder), manifest_sha256=manifest(folder), name=name,
                    provenance="registry-hook")
    store.set_model_version_tag(name, "1", ModelVersionTag(ENV, hook))
    store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "pass"))  # usable...
    store.set_registered_model_alias(name, "staging", "1")
    with denied("provenance 'registry-hook'; a protected alias accepts \\['pipeline', 'release'\\]"):
        store.set_registered_model_alias(name, "production", "1")  # ...not promotable by default
    lenient = EvidencePolicy(promotion=PromotionPolicy(provenances=("pipeline", "release", "registry-hook")))
    make_store(evidence=lenient).set_registered_model_alias(name, "production", "1")
    pinned = EvidencePolicy(promotion=PromotionPolicy(policy_digests=("sha256:" + "cd" * 32,)))
    other, folder2 = new_version(store, tmp_path)
    sign_version(store, other, folder2, keys["priv"])
    with denied("not an accepted one"):
        make_store(evidence=pinned).set_registered_model_alias(other, "production", "1")
    # the guard reads the policy named by MLGATE_POLICY (the default policy: the default rules)
    assert load_evidence_policy(str(REPO / "policies" / "default.yaml")) == EvidencePolicy()
    with pytest.raises(GuardConfigError, match="MLGATE_POLICY"):
        load_evidence_policy(str(tmp_path / "missing.yaml"))


def test_global_revocation_list_refuses_the_statement_everywhere_and_only_grows(
        make_store: StoreFactory, tmp_path: Path, keys: dict[str, Path]) -> None:
    from mlgate.evidence import tags as T
    from mlgate.evidence.statement import attestation_id_of

    store = make_store()
    name, folder = new_version(store, tmp_path)
    env = envelope(keys["priv"], source=str(folder), manifest_sha256=manifest(folder), name=name)
    store.set_model_version_tag(name, "1", ModelVersionTag(ENV, env))
    aid = attestation_id_of(env)
    assert aid is not None
    import contextlib

    from mlflow.entities.model_registry import RegisteredModelTag

    with contextlib.suppress(MlflowException):  # created by an earlier test in this database
        store.create_registered_model(T.REVOCATION_MODEL)

    store.set_registered_model_tag(T.REVOCATION_MODEL, RegisteredModelTag(T.revocation_tag(aid), "test"))
    with denied("was revoked by a quarantine"):
        store.set_model_version_tag(name, "1", ModelVersionTag(VERDICT, "pass"))
    with denied("revocations can only be added"):
        store.delete_registered_model_tag(T.REVOCATION_MODEL, T.revocation_tag(aid))
    with denied("revocations can only be added"):
        store.delete_registered_model(T.REVOCATION_MODEL)
    with denied("revocations can only be added"):
        store.rename_registered_model(T.REVOCATION_MODEL, "gone")
