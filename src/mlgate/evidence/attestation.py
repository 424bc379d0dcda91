"""Compatibility names for one release (the first release's ``mlgate.verdict/v1`` API).

New code uses :mod:`mlgate.evidence.statement` (in-toto statement in a DSSE envelope),
:mod:`mlgate.evidence.keys` and :mod:`mlgate.evidence.envelope`. The first format is read here
(verify-only); nothing writes it any more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.evidence.envelope import canonical
from mlgate.evidence.keys import (
    VerificationError,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
)
from mlgate.evidence.statement import LEGACY_PAYLOAD_TYPE as PAYLOAD_TYPE
from mlgate.evidence.statement import LEGACY_TYPE as ATTESTATION_TYPE
from mlgate.evidence.statement import VerdictClaims, envelope_text_digest, verify_statement

__all__ = ["ATTESTATION_TYPE", "PAYLOAD_TYPE", "VerificationError", "attestation_digest", "canonical",
           "claims_view", "generate_keypair", "key_id", "load_private_key", "load_public_key", "verify"]


def claims_view(c: VerdictClaims) -> dict[str, Any]:
    """The claims in the first release's payload shape (``subject.source``, ``subject.manifest_sha256``)."""
    return {
        "_type": ATTESTATION_TYPE,
        "attestation_id": c.attestation_id,
        "provenance": c.provenance,
        "subject": {"name": c.name, "source": c.source, "manifest_sha256": c.manifest_sha256,
                    "file_count": c.file_count},
        "verdict": c.verdict,
        "checkpoints": list(c.checkpoints),
        "gates": [{"gate": g, "checkpoint": cp, "verdict": v} for g, cp, v in c.gates],
        "policy_digests": list(c.policy_digests),
        "tools": dict(c.tools),
        "checked_at": c.checked_at,
        "run_id": c.run_id,
    }


def verify(envelope: Mapping[str, Any] | bytes | str, pub: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The claims of an envelope (either format) signed by ``pub``, in the first release's shape."""
    return claims_view(verify_statement(envelope, [pub]))


def attestation_digest(envelope: Mapping[str, Any] | str) -> str:
    """The first release's revocation key (the digest of the envelope text). Still honoured when
    read; revocations are now keyed on the signed attestation id."""
    import json

    text = envelope if isinstance(envelope, str) else json.dumps(dict(envelope))
    d = envelope_text_digest(text)
    if d is None:
        raise VerificationError("the envelope is not a JSON object")
    return d
