"""One signed-envelope format: DSSE (Dead Simple Signing Envelope) with its pre-authentication
encoding (PAE), ECDSA P-256 / SHA-256 signatures.

``{"payloadType": T, "payload": base64(body), "signatures": [{"keyid": K, "sig": base64(sig)}]}``
where ``sig`` signs ``PAE(T, body) = "DSSEv1 <len T> T <len body> body"``. The payload type is
bound into what is signed, so a verdict statement can never be read as a rescan state or the
other way round.

Only the *body* is trusted after verification. Anything else in the envelope (extra members,
further ``signatures`` entries, the encoding of a signature, e.g. the ECDSA ``(r, n-s)`` twin) is
unsigned, which is why revocation is keyed on an id inside the signed body, never on the
envelope's text.

Verify-only, for one release: ``legacy_payload_type`` accepts the first format
(``application/vnd.mlgate.verdict.v1+json``), whose signature covers the body directly.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.evidence.keys import VerificationError, key_id

MAX_ENVELOPE = 64 * 1024  # a tag holds 5000 characters; a file-borne envelope is still small


class EnvelopeSigner(Protocol):
    """Signs the PAE bytes. A local key (:class:`LocalKeySigner`) or a plugin (HSM, KMS, ...)."""

    @property
    def keyid(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


class LocalKeySigner:
    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self._keyid = key_id(key.public_key())

    @property
    def keyid(self) -> str:
        return self._keyid

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def canonical(obj: Any) -> bytes:
    """Canonical JSON (sorted keys, no spaces, UTF-8): what statements are serialised as."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pae(payload_type: str, body: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def sign_envelope(body: bytes, payload_type: str, signer: EnvelopeSigner) -> dict[str, Any]:
    sig = signer.sign(pae(payload_type, body))
    return {"payloadType": payload_type, "payload": base64.b64encode(body).decode(),
            "signatures": [{"keyid": signer.keyid, "sig": base64.b64encode(sig).decode()}]}


def to_text(envelope: Mapping[str, Any]) -> str:
    return json.dumps(envelope, separators=(",", ":"))


@dataclass(frozen=True)
class Verified:
    body: bytes
    payload_type: str
    keyid: str
    legacy: bool  # signed in the first (pre-DSSE) format


def parse(envelope: Mapping[str, Any] | str | bytes) -> tuple[str, bytes, list[Any]]:
    """``(payloadType, body, signatures)`` of a well-formed envelope; VerificationError otherwise."""
    try:
        if isinstance(envelope, (str, bytes)):
            if len(envelope) > MAX_ENVELOPE:
                raise VerificationError("the envelope is too large")
            env = json.loads(envelope)
        else:
            env = envelope
        if not isinstance(env, Mapping):
            raise VerificationError("the envelope is not a JSON object")
        ptype, payload, sigs = env.get("payloadType"), env.get("payload"), env.get("signatures")
        if not isinstance(ptype, str) or not isinstance(payload, str) or not isinstance(sigs, list):
            raise VerificationError("the envelope lacks payloadType, payload or signatures")
        body = base64.b64decode(payload, validate=True)
    except VerificationError:
        raise
    except Exception as e:
        raise VerificationError(f"malformed envelope: {type(e).__name__}: {e}") from None
    return ptype, body, sigs


def verify_envelope(
    envelope: Mapping[str, Any] | str | bytes,
    payload_type: str,
    keys: Sequence[ec.EllipticCurvePublicKey],
    *,
    legacy_payload_type: str | None = None,
) -> Verified:
    """The signed body if one signature verifies with one of ``keys`` (several trusted keys during
    a rotation), else VerificationError. Unknown key ids and bad entries are skipped, never
    trusted."""
    ptype, body, sigs = parse(envelope)
    if ptype == payload_type:
        legacy = False
        signed = pae(payload_type, body)
    elif legacy_payload_type is not None and ptype == legacy_payload_type:
        legacy = True
        signed = body
    else:
        raise VerificationError(f"unexpected payloadType {ptype!r} (expected {payload_type!r})")
    if not keys:
        raise VerificationError("no trusted public key is configured")
    by_id = {key_id(k): k for k in keys}
    tried = False
    for s in sigs:
        if not isinstance(s, Mapping):
            continue
        kid = s.get("keyid")
        key = by_id.get(kid) if isinstance(kid, str) else None
        if key is None:
            continue
        tried = True
        try:
            raw = base64.b64decode(str(s.get("sig", "")), validate=True)
            key.verify(raw, signed, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, TypeError):
            continue
        assert isinstance(kid, str)
        return Verified(body=body, payload_type=ptype, keyid=kid, legacy=legacy)
    if tried:
        raise VerificationError("the signature does not verify with the trusted key(s)")
    ids = ", ".join(k[:16] + "..." for k in by_id)
    raise VerificationError(f"not signed by a trusted key (trusted: {ids})")
