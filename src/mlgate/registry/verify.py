"""Checking the evidence a model version carries. Pure functions (no MLflow, no network): the
caller supplies the envelope tag, the version's exact source, the revoked digests and, once it
has the bytes, their manifest digest. Used in-process by the registry guard inside the MLflow
server and by the webhook flow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.evidence.attestation import VerificationError, attestation_digest, load_public_key, verify


class EvidenceError(VerificationError):
    """The version's evidence does not establish a passing, signed verdict for its bytes."""


def load_public_keys(spec: str) -> list[ec.EllipticCurvePublicKey]:
    """One or more PEM public keys, paths separated by ``os.pathsep`` (several keys during a
    rotation). Raises OSError/VerificationError/ValueError with the path in the message."""
    keys = []
    for part in spec.split(os.pathsep):
        if not part.strip():
            continue
        p = Path(part.strip())
        try:
            keys.append(load_public_key(p))
        except VerificationError:
            raise
        except Exception as e:
            raise VerificationError(f"{p}: cannot load the public key: {type(e).__name__}: {e}") from None
    if not keys:
        raise VerificationError("no public key path given")
    return keys


def envelope_digest(envelope: str) -> str:
    """sha256 of the canonical JSON of an envelope tag (what ``mlgate.revoked_attestations`` lists)."""
    try:
        env = json.loads(envelope)
    except ValueError as e:
        raise EvidenceError(f"the attestation envelope is not JSON: {e}") from None
    if not isinstance(env, dict):
        raise EvidenceError("the attestation envelope is not a JSON object")
    return attestation_digest(env)


def check_attestation(
    envelope: str | None,
    public_keys: Sequence[ec.EllipticCurvePublicKey],
    *,
    source: str,
    revoked: Collection[str] = (),
) -> dict[str, Any]:
    """Everything that can be checked without the bytes: a signature by one of ``public_keys``,
    a passing verdict, the exact ``source`` string, and an envelope that was not revoked. Returns
    the signed payload (whose ``subject.manifest_sha256`` must then match the bytes)."""
    if not envelope:
        raise EvidenceError("the version has no mlgate.attestation_envelope tag")
    if not public_keys:
        raise EvidenceError("no public key is configured to verify attestations")
    digest = envelope_digest(envelope)
    if digest in {r.lower() for r in revoked}:
        raise EvidenceError(f"the attestation envelope was revoked by a quarantine (sha256 {digest[:16]}...)")
    payload: dict[str, Any] | None = None
    errors = []
    for key in public_keys:
        try:
            payload = verify(envelope, key)
            break
        except VerificationError as e:
            errors.append(str(e))
    if payload is None:
        raise EvidenceError("; ".join(dict.fromkeys(errors)))
    if payload.get("verdict") != "pass":
        raise EvidenceError(f"the signed verdict is {payload.get('verdict')!r}, not 'pass'")
    subject = payload.get("subject")
    if not isinstance(subject, dict):
        raise EvidenceError("the signed attestation has no subject")
    if subject.get("source") != source:
        raise EvidenceError(f"the signed source {subject.get('source')!r} is not the version's source {source!r}")
    manifest = subject.get("manifest_sha256")
    if not isinstance(manifest, str) or len(manifest) != 64:
        raise EvidenceError("the signed attestation names no manifest digest")
    return payload


def check_manifest(payload: dict[str, Any], manifest_sha256: str) -> None:
    signed = payload["subject"]["manifest_sha256"]
    if signed != manifest_sha256:
        raise EvidenceError(
            f"the bytes at the version's source (manifest {manifest_sha256[:16]}...) are not the signed bytes "
            f"(manifest {signed[:16]}...)"
        )
