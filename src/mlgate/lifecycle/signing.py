"""Model signatures with OpenSSF Model Signing (``model-signing``) and a local elliptic-curve key,
plus the signed verdict attestation that binds a manifest to its verdict.

The signer is pluggable (:class:`Signer`); keyless Sigstore signing needs the internet and is
not used here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlgate.evidence.attestation import (
    ATTESTATION_TYPE,
    VerificationError,
    load_private_key,
    load_public_key,
    sign,
    verify,
)
from mlgate.model import Report, Verdict, utcnow

SIGNATURE_FILE = "model.sig"
ATTESTATION_FILE = "attestation.json"


class Signer(Protocol):
    def sign_model(self, model_dir: Path, signature_path: Path) -> None: ...

    def verify_model(self, model_dir: Path, signature_path: Path) -> None: ...


@dataclass(frozen=True)
class ModelSigningKey:
    """OpenSSF Model Signing with a local EC key pair (PEM files)."""

    private_key: Path | None
    public_key: Path

    def sign_model(self, model_dir: Path, signature_path: Path) -> None:
        from model_signing import signing

        if self.private_key is None:
            raise VerificationError("no private key configured for signing")
        signature_path.parent.mkdir(parents=True, exist_ok=True)
        cfg = signing.Config()  # type: ignore[no-untyped-call]
        cfg.use_elliptic_key_signer(private_key=self.private_key).sign(model_dir, signature_path)

    def verify_model(self, model_dir: Path, signature_path: Path) -> None:
        from model_signing import verifying

        try:
            cfg = verifying.Config()  # type: ignore[no-untyped-call]
            cfg.use_elliptic_key_verifier(public_key=self.public_key).verify(model_dir, signature_path)
        except Exception as e:  # model_signing raises ValueError naming the changed file
            raise VerificationError(f"model signature does not verify: {e}") from e


def build_attestation(
    *,
    model_name: str,
    manifest_sha256: str,
    files: dict[str, str],
    reports: list[Report],
    source: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    verdict = Verdict.worst([r.verdict for r in reports]) if reports else Verdict.INCOMPLETE
    tools: dict[str, str] = {}
    for r in reports:
        tools.update(r.tools)
    return {
        "_type": ATTESTATION_TYPE,
        # Small on purpose (it also travels as a registry tag): the per-file digests are in the
        # manifest artifact, whose digest is manifest_sha256.
        "subject": {"name": model_name, "source": source, "manifest_sha256": manifest_sha256, "file_count": len(files)},
        "verdict": verdict.value,
        "checkpoints": sorted({r.checkpoint or "-" for r in reports}),
        "gates": [{"gate": r.gate, "checkpoint": r.checkpoint, "verdict": r.verdict.value} for r in reports],
        "policy_digests": sorted({r.policy.digest for r in reports}),
        "tools": tools,
        "checked_at": utcnow().isoformat(),
        **(extra or {}),
    }


def sign_attestation(payload: dict[str, Any], private_key: Path) -> dict[str, Any]:
    return sign(payload, load_private_key(private_key))


def verify_attestation(envelope: bytes | str | dict[str, Any], public_key: Path) -> dict[str, Any]:
    return verify(envelope, load_public_key(public_key))


def ensure_keys(private_key: Path, public_key: Path) -> None:
    """Create a key pair at the configured paths if neither exists (the demo's first run)."""
    if private_key.exists() or public_key.exists():
        return
    from mlgate.evidence.attestation import generate_keypair

    priv, pub = generate_keypair(private_key.parent)
    if priv != private_key:
        os.replace(priv, private_key)
    if pub != public_key:
        public_key.parent.mkdir(parents=True, exist_ok=True)
        os.replace(pub, public_key)
