"""Quarantine and release of a registered model version. Nothing is deleted.

:func:`quarantine` marks the version (``mlgate.verdict=quarantined``, the reason, the time),
records and removes every alias it holds, revokes the attestation id of its current statement (on
the version, and globally when the statement verifies with a trusted key, so that no version of
any model can pass with it again), shows the quarantine in the version's description, and emits
the Prefect event
``mlgate.model.quarantined``. It is idempotent: running it again on a quarantined version removes
any alias set since and keeps the reason, time and aliases recorded the first time (two rescans
quarantining the same version at once leave one consistent record; the second one's result says
``already``).

:func:`release` needs new evidence (the tags returned by ``attach_evidence`` for a fresh scan):
the old envelope stays revoked, so releasing means re-checking, never just flipping a tag.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlgate.evidence import tags as T
from mlgate.evidence.keys import VerificationError
from mlgate.evidence.statement import attestation_id_of, envelope_text_digest, verify_statement
from mlgate.integrations.mlflow import RegistryClient
from mlgate.model import utcnow
from mlgate.registry.verify import envelope_digest

log = logging.getLogger(__name__)

QUARANTINE_EVENT = "mlgate.model.quarantined"
RELEASE_EVENT = "mlgate.model.released"
MAX_REASON = 4000  # MLflow tag values hold 5000 characters

EventEmitter = Callable[[str, dict[str, str], dict[str, Any]], None]


@dataclass
class QuarantineResult:
    name: str
    version: str
    reason: str
    removed_aliases: list[str] = field(default_factory=list)
    recorded_aliases: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    event_emitted: bool = False
    already: bool = False  # the version was already quarantined when this call read it


def prefect_emitter(event: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
    from prefect.events import emit_event

    emit_event(event=event, resource=resource, payload=payload)


def _resource(name: str, version: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"mlflow.model-version.{name}.{version}",
        "prefect.resource.name": f"{name} v{version}",
        "mlflow.registered-model": name,
        "mlflow.model-version": str(version),
    }


def _emit(emitter: EventEmitter | None, event: str, name: str, version: str, payload: dict[str, Any]) -> bool:
    try:
        (emitter or prefect_emitter)(event, _resource(name, version), payload)
        return True
    except Exception as e:  # a notification, not the enforcement: log and go on
        log.warning("could not emit %s for %s v%s: %s", event, name, version, e)
        return False


def quarantine(
    client: Any,
    name: str,
    version: str | int,
    reason: str,
    *,
    emit_event: bool = True,
    emitter: EventEmitter | None = None,
    public_keys: Sequence[Any] | None = None,
) -> QuarantineResult:
    """``public_keys``: the trusted keys; with them, the statement's attestation id is also revoked
    globally (only a statement that verifies is revoked globally: an unverified id in a forged
    envelope must not let anyone revoke someone else's statement)."""
    version = str(version)
    mv = client.get_model_version(name, version)
    tags = dict(mv.tags or {})
    held = list(mv.aliases or [])
    already = tags.get(T.VERDICT) == T.QUARANTINED
    recorded = list(dict.fromkeys([*T.parse_aliases(tags.get(T.QUARANTINED_ALIASES)), *held]))
    revoked = T.parse_revoked(tags.get(T.REVOKED))
    env = tags.get(T.ENVELOPE)
    global_ids: list[str] = []
    if env:
        presented = [d for d in (attestation_id_of(env), envelope_text_digest(env)) if d]
        revoked = [*revoked, *presented]  # not even JSON: nothing that could ever verify
        if public_keys:
            with contextlib.suppress(VerificationError):
                global_ids.append(verify_statement(env, public_keys).attestation_id)
    reason = reason.strip()[:MAX_REASON] or "quarantined"
    if already and tags.get(T.QUARANTINE_REASON):
        reason = tags[T.QUARANTINE_REASON]  # the first quarantine's reason stays the record
    # The verdict first: whatever reads tags stops trusting the version before anything else.
    client.set_model_version_tag(name, version, T.VERDICT, T.QUARANTINED)
    if not (already and tags.get(T.QUARANTINE_REASON)):
        client.set_model_version_tag(name, version, T.QUARANTINE_REASON, reason)
    if T.QUARANTINED_AT not in tags:
        client.set_model_version_tag(name, version, T.QUARANTINED_AT, utcnow().isoformat())
    client.set_model_version_tag(name, version, T.QUARANTINED_ALIASES, json.dumps(recorded))
    if revoked:
        client.set_model_version_tag(name, version, T.REVOKED, T.format_revoked(revoked))
    if global_ids:
        RegistryClient.wrap(client).revoke(global_ids, f"quarantined {name} v{version}: {reason}")
    with contextlib.suppress(Exception):  # display only
        client.update_model_version(name, version, description=T.describe(T.QUARANTINED, reason=reason))
    removed = []
    for alias in held:
        try:
            current = client.get_model_version_by_alias(name, alias)
        except Exception as e:
            log.info("alias %r of %s is already gone: %s", alias, name, e)
            continue
        if str(current.version) == version:
            client.delete_registered_model_alias(name, alias)
            removed.append(alias)
    log.warning("quarantined %s v%s (aliases removed: %s): %s", name, version, removed or "none", reason)
    result = QuarantineResult(name, version, reason, removed, recorded, T.parse_revoked(T.format_revoked(revoked)),
                              already=already)
    if emit_event and (removed or not already):  # nothing new to tell about a version already out
        result.event_emitted = _emit(emitter, QUARANTINE_EVENT, name, version, {
            "reason": reason, "removed_aliases": removed, "recorded_aliases": recorded, "source": mv.source,
        })
    return result



def release(
    client: Any,
    name: str,
    version: str | int,
    evidence_tags: Mapping[str, str],
    *,
    restore_aliases: bool = False,
    emit_event: bool = True,
    emitter: EventEmitter | None = None,
) -> list[str]:
    """Lift a quarantine with *new* evidence (``attach_evidence`` tags of a passing re-check).
    Writes the evidence (envelope first, verdict last), removes the quarantine marks and, when
    asked, puts back the aliases recorded at quarantine time (a registry guard verifies protected
    ones again). Returns the aliases restored."""
    version = str(version)
    if not T.is_passing(evidence_tags.get(T.VERDICT)) or not evidence_tags.get(T.ENVELOPE):
        raise ValueError("release needs new passing evidence (mlgate.verdict=pass and an attestation envelope)")
    mv = client.get_model_version(name, version)
    tags = dict(mv.tags or {})
    if evidence_tags[T.ENVELOPE] == tags.get(T.ENVELOPE) or envelope_digest(evidence_tags[T.ENVELOPE]) in set(
        T.parse_revoked(tags.get(T.REVOKED))
    ):
        raise ValueError("release needs a new attestation: the current one was revoked by the quarantine")
    for k, v in T.ordered_evidence_tags(evidence_tags):
        client.set_model_version_tag(name, version, k, v)
    aliases = T.parse_aliases(tags.get(T.QUARANTINED_ALIASES))
    restored = []
    if restore_aliases:
        for alias in aliases:
            client.set_registered_model_alias(name, alias, version)
            restored.append(alias)
    for k in (T.QUARANTINE_REASON, T.QUARANTINED_AT, T.QUARANTINED_ALIASES):
        if k in tags:
            client.delete_model_version_tag(name, version, k)
    client.set_model_version_tag(name, version, T.RELEASED_AT, utcnow().isoformat())
    with contextlib.suppress(Exception):  # display only
        client.update_model_version(name, version, description=T.describe(
            evidence_tags[T.VERDICT], checkpoint=evidence_tags.get(T.CHECKPOINT, ""),
            provenance=evidence_tags.get(T.PROVENANCE, ""), gates=evidence_tags.get(T.GATES, ""),
            policy_digest=evidence_tags.get(T.POLICY_DIGEST, ""),
            attestation_id=evidence_tags.get(T.ATTESTATION_ID, ""), report=evidence_tags.get(T.REPORT, ""),
            reason="released after a full re-check"))
    if emit_event:
        _emit(emitter, RELEASE_EVENT, name, version, {"restored_aliases": restored})
    return restored
