"""Quarantine and release against a local MLflow registry (sqlite, no server): tags, aliases
recorded and removed, the envelope revoked, the Prefect event, idempotence; release needs new
evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from tests.plugins.guard_helpers import envelope, manifest

from mlgate.evidence.attestation import generate_keypair
from mlgate.registry import tags as T
from mlgate.registry.quarantine import QUARANTINE_EVENT, quarantine, release
from mlgate.registry.verify import envelope_digest
from mlgate.samples import write_clean_model


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path_factory.mktemp('reg') / 'mlflow.db'}")


@pytest.fixture(scope="module")
def priv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_keypair(tmp_path_factory.mktemp("keys"))[0]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    def __call__(self, event: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        self.events.append((event, resource, payload))


def _version(client: MlflowClient, tmp_path: Path, name: str, priv: Path) -> tuple[str, str]:
    folder = write_clean_model(tmp_path / name)
    client.create_registered_model(name)
    env = envelope(priv, source=str(folder), manifest_sha256=manifest(folder))
    mv = client.create_model_version(name, str(folder), tags={T.ENVELOPE: env, T.VERDICT: "pass"})
    client.create_model_version(name, str(folder))  # a sibling version keeps its own aliases
    client.set_registered_model_alias(name, "production", mv.version)
    client.set_registered_model_alias(name, "champion", mv.version)
    client.set_registered_model_alias(name, "shadow", "2")
    return str(mv.version), env


def test_quarantine_marks_revokes_removes_aliases_and_emits(client: MlflowClient, tmp_path: Path, priv: Path) -> None:
    version, env = _version(client, tmp_path, "q-model", priv)
    rec = Recorder()
    res = quarantine(client, "q-model", version, "pre-publish verdict fail: model-scan: posix.system", emitter=rec)
    mv = client.get_model_version("q-model", version)
    assert mv.tags[T.VERDICT] == "quarantined"
    assert mv.tags[T.QUARANTINE_REASON] == "pre-publish verdict fail: model-scan: posix.system"
    assert mv.tags[T.QUARANTINED_AT]
    assert sorted(json.loads(mv.tags[T.QUARANTINED_ALIASES])) == ["champion", "production"]
    assert envelope_digest(env) in T.parse_revoked(mv.tags[T.REVOKED])  # the signed attestation id
    assert mv.tags[T.ENVELOPE] == env  # nothing is deleted
    assert mv.aliases == []
    assert {k: str(v) for k, v in client.get_registered_model("q-model").aliases.items()} == {"shadow": "2"}
    assert sorted(res.removed_aliases) == ["champion", "production"]
    assert res.event_emitted is True
    [(name, resource, payload)] = rec.events
    assert name == QUARANTINE_EVENT
    assert resource["prefect.resource.id"] == f"mlflow.model-version.q-model.{version}"
    assert payload["reason"].startswith("pre-publish verdict fail")

    # Idempotent: an alias set since is removed again, the first record is kept.
    first_at = mv.tags[T.QUARANTINED_AT]
    client.set_registered_model_alias("q-model", "production", version)
    res2 = quarantine(client, "q-model", version, "again", emit_event=False)
    mv2 = client.get_model_version("q-model", version)
    assert res2.removed_aliases == ["production"]
    assert mv2.aliases == []
    assert mv2.tags[T.QUARANTINED_AT] == first_at
    assert mv2.tags[T.QUARANTINE_REASON] == "pre-publish verdict fail: model-scan: posix.system"  # the first
    assert (res2.already, res2.reason) == (True, "pre-publish verdict fail: model-scan: posix.system")
    assert res.already is False
    assert sorted(json.loads(mv2.tags[T.QUARANTINED_ALIASES])) == ["champion", "production"]
    assert T.parse_revoked(mv2.tags[T.REVOKED]) == T.parse_revoked(mv.tags[T.REVOKED])  # not listed twice


def test_a_failing_emitter_does_not_undo_the_quarantine(client: MlflowClient, tmp_path: Path, priv: Path) -> None:
    version, _ = _version(client, tmp_path, "q-emit", priv)

    def broken(*_a: Any) -> None:
        raise ConnectionError("prefect api down")

    res = quarantine(client, "q-emit", version, "reason", emitter=broken)
    assert res.event_emitted is False
    assert client.get_model_version("q-emit", version).tags[T.VERDICT] == "quarantined"


def test_release_needs_new_evidence(client: MlflowClient, tmp_path: Path, priv: Path) -> None:
    version, env = _version(client, tmp_path, "q-release", priv)
    quarantine(client, "q-release", version, "suspicious", emit_event=False)
    with pytest.raises(ValueError, match="revoked by the quarantine"):
        release(client, "q-release", version, {T.ENVELOPE: env, T.VERDICT: "pass"}, emit_event=False)
    with pytest.raises(ValueError, match="needs new passing evidence"):
        release(client, "q-release", version, {T.VERDICT: "pass"}, emit_event=False)
    folder = Path(client.get_model_version("q-release", version).source)
    fresh = envelope(priv, source=str(folder), manifest_sha256=manifest(folder), note="re-checked")
    restored = release(client, "q-release", version, {T.ENVELOPE: fresh, T.VERDICT: "pass", T.MANIFEST: "m"},
                       restore_aliases=True, emit_event=False)
    mv = client.get_model_version("q-release", version)
    assert sorted(restored) == ["champion", "production"]
    assert sorted(mv.aliases) == ["champion", "production"]
    assert (mv.tags[T.VERDICT], mv.tags[T.ENVELOPE]) == ("pass", fresh)
    assert T.QUARANTINE_REASON not in mv.tags
    assert T.QUARANTINED_ALIASES not in mv.tags
    assert T.RELEASED_AT in mv.tags
    assert envelope_digest(env) in T.parse_revoked(mv.tags[T.REVOKED])  # the old one stays revoked
