"""The processing behind the flow, against a local MLflow registry without the guard (sqlite,
local artifacts): what each event does, signing, verification of existing evidence, quarantine
of forged or changed versions, idempotence, give-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from tests.plugins.guard_helpers import envelope, manifest

from mlgate.evidence.attestation import generate_keypair
from mlgate.hooks.process import HookSettings, give_up, handle_event, process_version, trigger_of
from mlgate.registry import tags as T
from mlgate.registry.verify import envelope_digest
from mlgate.samples import write_clean_model, write_poisoned_model

REPO = Path(__file__).resolve().parents[2]


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    def __call__(self, event: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> tuple[MlflowClient, HookSettings, Path]:
    work = tmp_path_factory.mktemp("process")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    client.create_experiment("mlgate-registry-hooks", artifact_location=str(work / "evidence-artifacts"))
    client.create_experiment("notebooks", artifact_location=str(work / "notebook-artifacts"))
    priv, pub = generate_keypair(work / "keys")
    settings = HookSettings(tracking_uri=uri, policy_path=REPO / "policies" / "default.yaml", private_key=priv,
                            public_key=pub, work_dir=work / "hook-work", protected_aliases=frozenset({"production"}))
    return client, settings, work


def register(client: MlflowClient, work: Path, name: str, poisoned: bool = False) -> str:
    exp = client.get_experiment_by_name("notebooks")
    assert exp is not None
    run = client.create_run(exp.experiment_id)
    folder = (write_poisoned_model if poisoned else write_clean_model)(work / f"{name}-src")
    client.log_artifacts(run.info.run_id, str(folder), "model")
    client.create_registered_model(name)
    return str(client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id).version)


def event(kind: str, **data: Any) -> dict[str, Any]:
    entity, action = kind.rsplit(".", 1)
    return {"entity": entity, "action": action, "timestamp": "-", "data": data}


def stored_folder(client: MlflowClient, name: str, version: str) -> Path:
    return Path(client.get_model_version_download_uri(name, version))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (event("model_version.created", name="m", version="3", source="s"), ("m", "3")),
        (event("model_version_tag.set", name="m", version="3", key=T.VERDICT, value="pass"), ("m", "3")),
        (event("model_version_tag.set", name="m", version="3", key=T.VERDICT, value="quarantined"), None),
        (event("model_version_tag.set", name="m", version="3", key=T.ENVELOPE, value="{}"), ("m", "3")),
        (event("model_version_tag.set", name="m", version="3", key="team", value="x"), None),
        (event("model_version_tag.deleted", name="m", version="3", key=T.ENVELOPE), ("m", "3")),
        (event("model_version_alias.created", name="m", version="3", alias="Production"), ("m", "3")),
        (event("model_version_alias.created", name="m", version="3", alias="staging"), None),
        (event("model_version_alias.deleted", name="m", alias="production"), None),
        (event("registered_model.created", name="m", tags={}, description=None), None),
        ({"entity": "model_version", "action": "created", "data": "junk"}, None),
    ],
)
def test_which_events_check_a_version(env: tuple[MlflowClient, HookSettings, Path], payload: dict[str, Any],
                                      expected: tuple[str, str] | None) -> None:
    assert trigger_of(payload, env[1]) == expected


def test_clean_version_is_signed_then_only_verified(env: tuple[MlflowClient, HookSettings, Path]) -> None:
    client, settings, work = env
    v = register(client, work, "p-clean")
    res = handle_event(event("model_version.created", name="p-clean", version=v), settings, client=client,
                       delivery_id="d-1")
    assert (res["action"], res["verdict"]) == ("signed", "pass")
    mv = client.get_model_version("p-clean", v)
    assert mv.tags[T.VERDICT] == "pass"
    # signed as a hand-registered version: usable, not promotable by default; readable at a glance
    assert mv.tags[T.PROVENANCE] == "registry-hook"
    assert mv.description.startswith("mlgate: PASS at pre-publish (registry-hook) · ")
    assert f"report: runs:/{mv.tags[T.EVIDENCE_RUN]}/mlgate/report.json" in mv.description
    assert mv.tags[T.MANIFEST] == manifest(stored_folder(client, "p-clean", v))
    evidence_run = client.get_run(mv.tags[T.EVIDENCE_RUN])
    assert evidence_run.data.tags["mlgate.delivery_id"] == "d-1"
    assert {a.path for a in client.list_artifacts(evidence_run.info.run_id, "mlgate")} >= {
        "mlgate/attestation.json", "mlgate/model.sig", "mlgate/manifest.json", "mlgate/report.json"}
    again = handle_event(event("model_version.created", name="p-clean", version=v), settings, client=client)
    assert again["action"] == "verified", again.get("reason")  # idempotent: a re-delivered event does not re-sign
    assert client.get_model_version("p-clean", v).tags[T.ENVELOPE] == mv.tags[T.ENVELOPE]


def test_poisoned_version_is_quarantined_with_its_report(env: tuple[MlflowClient, HookSettings, Path]) -> None:
    client, settings, work = env
    v = register(client, work, "p-poisoned", poisoned=True)
    client.set_registered_model_alias("p-poisoned", "candidate", v)
    rec = Recorder()
    res = process_version(client, settings, "p-poisoned", v, emitter=rec)
    assert (res["action"], res["verdict"]) == ("quarantined", "fail")
    assert res["removed_aliases"] == ["candidate"]
    assert rec.events == ["mlgate.model.quarantined"]
    mv = client.get_model_version("p-poisoned", v)
    assert mv.tags[T.VERDICT] == "quarantined"
    assert mv.description.startswith("mlgate: QUARANTINED · pre-publish verdict fail: model-scan")
    assert "model-scan" in mv.tags[T.QUARANTINE_REASON]
    report = client.download_artifacts(mv.tags[T.EVIDENCE_RUN], "mlgate/report.json", str(work / "rep"))
    assert json.loads(Path(report).read_text())["verdict"] == "fail"
    # quarantine sticks: a later event does not re-sign it, and an alias set since is removed
    client.set_registered_model_alias("p-poisoned", "production", v)
    res2 = handle_event(event("model_version_alias.created", name="p-poisoned", version=v, alias="production"),
                        settings, client=client, emitter=rec)
    assert res2["action"] == "quarantined"
    assert client.get_model_version("p-poisoned", v).aliases == []
    assert process_version(client, settings, "p-poisoned", v, emitter=rec)["action"] == "already-quarantined"


def test_forged_pass_without_the_guard_is_caught_and_quarantined(env: tuple[MlflowClient, HookSettings, Path],
                                                                 tmp_path: Path) -> None:
    client, settings, work = env
    v = register(client, work, "p-forged")
    folder = stored_folder(client, "p-forged", v)
    attacker, _ = generate_keypair(tmp_path / "attacker")
    mv = client.get_model_version("p-forged", v)
    forged = envelope(attacker, source=mv.source, manifest_sha256=manifest(folder))
    client.set_model_version_tag("p-forged", v, T.ENVELOPE, forged)  # no guard on this registry
    client.set_model_version_tag("p-forged", v, T.VERDICT, "pass")
    client.set_registered_model_alias("p-forged", "production", v)
    res = handle_event(event("model_version_tag.set", name="p-forged", version=v, key=T.VERDICT, value="pass"),
                       settings, client=client, emitter=Recorder())
    assert res["action"] == "quarantined"
    assert "not signed by a trusted key" in res["reason"]
    mv = client.get_model_version("p-forged", v)
    assert (mv.tags[T.VERDICT], mv.aliases) == ("quarantined", [])
    assert envelope_digest(forged) in T.parse_revoked(mv.tags[T.REVOKED])


def test_bytes_changed_after_signing_are_caught_on_promotion(env: tuple[MlflowClient, HookSettings, Path]) -> None:
    client, settings, work = env
    v = register(client, work, "p-swapped")
    assert process_version(client, settings, "p-swapped", v)["action"] == "signed"
    (stored_folder(client, "p-swapped", v) / "config.json").write_text('{"auto_map": {"AutoModel": "x.Y"}}')
    client.set_registered_model_alias("p-swapped", "production", v)
    res = handle_event(event("model_version_alias.created", name="p-swapped", version=v, alias="production"),
                       settings, client=client, emitter=Recorder())
    assert res["action"] == "quarantined"
    assert "are not the signed bytes" in res["reason"]
    assert client.get_model_version("p-swapped", v).aliases == []


def test_gone_versions_and_giving_up(env: tuple[MlflowClient, HookSettings, Path]) -> None:
    client, settings, work = env
    assert process_version(client, settings, "no-such-model", "1")["action"] == "gone"
    give_up(event("model_version.created", name="no-such-model", version="1"), settings, "boom", client=client)
    v = register(client, work, "p-unreachable")
    rec = Recorder()
    give_up(event("model_version.created", name="p-unreachable", version=v), settings, "TransientError: S3 down",
            client=client, emitter=rec)
    mv = client.get_model_version("p-unreachable", v)
    assert mv.tags[T.VERDICT] == "quarantined"
    assert mv.tags[T.QUARANTINE_REASON] == "could not be checked: TransientError: S3 down"
    assert rec.events == ["mlgate.model.quarantined"]


def test_settings_need_the_key_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgate.errors import UsageError

    with pytest.raises(UsageError, match="MLGATE_SIGNING_KEY and MLGATE_PUBLIC_KEY"):
        HookSettings.from_env("http://127.0.0.1:1", env={})
    with pytest.raises(UsageError, match="no tracking URI"):
        HookSettings.from_env(None, env={"MLGATE_SIGNING_KEY": "a", "MLGATE_PUBLIC_KEY": "b"})
    s = HookSettings.from_env("http://x", env={"MLGATE_SIGNING_KEY": "a", "MLGATE_PUBLIC_KEY": "b",
                                               "MLGATE_PROTECTED_ALIASES": "Champion"})
    assert s.is_protected("champion")
    assert not s.is_protected("production")
    with pytest.raises(UsageError, match="the signing key pair does not load"):
        s.validate()


def test_protected_alias_on_a_hook_signed_version_is_taken_away(env: tuple[MlflowClient, HookSettings, Path]) -> None:
    """Without a guard anyone can set `production`: the worker removes a protected alias that the
    version's statement does not qualify for (registry-hook), and the version stays usable."""
    client, settings, work = env
    v = register(client, work, "p-promoted")
    assert process_version(client, settings, "p-promoted", v)["action"] == "signed"
    client.set_registered_model_alias("p-promoted", "production", v)
    client.set_registered_model_alias("p-promoted", "staging", v)
    res = handle_event(event("model_version_alias.created", name="p-promoted", version=v, alias="production"),
                       settings, client=client)
    assert (res["action"], res["removed_aliases"]) == ("demoted", ["production"])
    mv = client.get_model_version("p-promoted", v)
    assert (mv.tags[T.VERDICT], mv.aliases) == ("pass", ["staging"])
