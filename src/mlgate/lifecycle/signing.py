"""Signing in the publishing step. The kernel does the work (:mod:`mlgate.evidence`): the signer
(:func:`mlgate.evidence.model_signature.load_signer`: a 0600 key file owned by the publishing user,
or a signer plugin), the verdict statement (:mod:`mlgate.evidence.statement`) and the OpenSSF
model signature. This module keeps the file names, the demo's key creation and, for one release,
the first release's :class:`ModelSigningKey`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlgate.evidence.keys import VerificationError, generate_keypair
from mlgate.evidence.model_signature import LocalKeyModelSigner, verify_model_signature

SIGNATURE_FILE = "model.sig"
ATTESTATION_FILE = "attestation.json"


@dataclass(frozen=True)
class ModelSigningKey:
    """Compatibility (first release): OpenSSF Model Signing with a local EC key pair."""

    private_key: Path | None
    public_key: Path

    def sign_model(self, model_dir: Path, signature_path: Path) -> None:
        if self.private_key is None:
            raise VerificationError("no private key configured for signing")
        LocalKeyModelSigner(self.private_key).sign_model(model_dir, signature_path)

    def verify_model(self, model_dir: Path, signature_path: Path) -> None:
        verify_model_signature(model_dir, signature_path, str(self.public_key))


def ensure_keys(private_key: Path, public_key: Path) -> None:
    """Create a key pair at the configured paths if neither exists (the demo's first run)."""
    if private_key.exists() or public_key.exists():
        return
    priv, pub = generate_keypair(private_key.parent)
    if priv != private_key:
        os.replace(priv, private_key)
    if pub != public_key:
        public_key.parent.mkdir(parents=True, exist_ok=True)
        os.replace(pub, public_key)
