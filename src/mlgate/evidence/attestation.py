"""Signed verdict attestations (``mlgate.verdict/v1``).

An attestation is a small JSON statement: *these files (manifest digest and per-file sha256) got
this verdict at this checkpoint under this policy digest with these tool versions*. It is signed
with an ECDSA P-256 key over its canonical JSON (sorted keys, no spaces) and stored as an envelope
``{"payloadType", "payload": base64, "signatures": [{"keyid", "sig"}]}`` (the DSSE shape, with the
payload signed directly). Verification returns the payload only if the signature is valid for the
configured public key; a tag alone is never trusted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

PAYLOAD_TYPE = "application/vnd.mlgate.verdict.v1+json"
ATTESTATION_TYPE = "mlgate.verdict/v1"


class VerificationError(Exception):
    """The attestation or signature does not verify. The message says why."""


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def generate_keypair(folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``signing-key.pem`` (0600) and ``signing-key.pub`` into ``folder``; return both paths."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    priv = d / "signing-key.pem"
    pub = d / "signing-key.pub"
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


def load_private_key(path: str | os.PathLike[str]) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise VerificationError(f"{path}: not an elliptic-curve private key")
    return key


def load_public_key(path: str | os.PathLike[str]) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise VerificationError(f"{path}: not an elliptic-curve public key")
    return key


def key_id(pub: ec.EllipticCurvePublicKey) -> str:
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def sign(payload: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    if payload.get("_type") != ATTESTATION_TYPE:
        raise ValueError(f"payload _type must be {ATTESTATION_TYPE}")
    body = canonical(payload)
    sig = key.sign(body, ec.ECDSA(hashes.SHA256()))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(body).decode(),
        "signatures": [{"keyid": key_id(key.public_key()), "sig": base64.b64encode(sig).decode()}],
    }


def verify(envelope: dict[str, Any] | bytes | str, pub: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The payload of a valid envelope signed by ``pub``; VerificationError otherwise."""
    try:
        env = json.loads(envelope) if isinstance(envelope, (bytes, str)) else envelope
        if env.get("payloadType") != PAYLOAD_TYPE:
            raise VerificationError(f"unexpected payloadType {env.get('payloadType')!r}")
        body = base64.b64decode(env["payload"], validate=True)
        sigs = env["signatures"]
    except VerificationError:
        raise
    except Exception as e:
        raise VerificationError(f"malformed attestation envelope: {type(e).__name__}: {e}") from None
    kid = key_id(pub)
    for s in sigs if isinstance(sigs, list) else []:
        if not isinstance(s, dict) or s.get("keyid") != kid:
            continue
        try:
            pub.verify(base64.b64decode(s["sig"], validate=True), body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, KeyError, TypeError):
            raise VerificationError("signature does not verify with the configured public key") from None
        payload = json.loads(body)
        if not isinstance(payload, dict) or payload.get("_type") != ATTESTATION_TYPE:
            raise VerificationError("signed payload is not an mlgate verdict attestation")
        return payload
    raise VerificationError(f"no signature by the configured key ({kid[:16]}...)")


def attestation_digest(envelope: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(envelope)).hexdigest()
