"""Compatibility API of the first release (the registry guard plugin is versioned separately).
The checks live in :mod:`mlgate.evidence.verify`; these wrappers raise :class:`EvidenceError`
with the first finding's message."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.evidence.attestation import claims_view
from mlgate.evidence.keys import VerificationError
from mlgate.evidence.keys import load_public_keys as _load_public_keys
from mlgate.evidence.statement import attestation_id_of, envelope_text_digest, verify_statement


class EvidenceError(VerificationError):
    """The version's evidence does not establish a passing, signed verdict for its bytes."""


def load_public_keys(spec: str) -> list[ec.EllipticCurvePublicKey]:
    return _load_public_keys(spec)


def envelope_digest(envelope: str) -> str:
    """What a quarantine revokes for this envelope: its signed attestation id (the digest of the
    envelope text for an envelope that has none)."""
    aid = attestation_id_of(envelope)
    if aid:
        return aid
    d = envelope_text_digest(envelope)
    if d is None:
        raise EvidenceError("the attestation envelope is not a JSON object")
    return d


def check_attestation(envelope: str | None, public_keys: Sequence[ec.EllipticCurvePublicKey], *, source: str,
                      revoked: Collection[str] = ()) -> dict[str, Any]:
    if not envelope:
        raise EvidenceError("the version has no mlgate.attestation_envelope tag")
    try:
        claims = verify_statement(envelope, public_keys)
    except VerificationError as e:
        raise EvidenceError(str(e)) from None
    ids = {claims.attestation_id, envelope_text_digest(envelope) or ""}
    if ids & {r.lower() for r in revoked}:
        raise EvidenceError(f"the attestation was revoked by a quarantine (id {claims.attestation_id[:16]}...)")
    if claims.verdict != "pass":
        raise EvidenceError(f"the signed verdict is {claims.verdict!r}, not 'pass'")
    if claims.source != source:
        raise EvidenceError(f"the signed source {claims.source!r} is not the version's source {source!r}")
    if claims.manifest_sha256 is None:
        raise EvidenceError("the signed attestation names no manifest digest")
    return claims_view(claims)


def check_manifest(payload: dict[str, Any], manifest_sha256: str) -> None:
    signed = payload["subject"]["manifest_sha256"]
    if signed != manifest_sha256:
        raise EvidenceError(
            f"the bytes at the version's source (manifest {manifest_sha256[:16]}...) are not the signed bytes "
            f"(manifest {signed[:16]}...)"
        )
