"""Model signatures (OpenSSF Model Signing, ``model-signing``) and the signer the publishing step
uses for both the model signature and the verdict statement.

Signers
-------
``load_signer(spec)`` builds the one signer of a publishing step:

* a path: a local EC P-256 private key (PEM). It must be readable by the publishing step alone
  (:func:`mlgate.evidence.keys.check_key_file`: a regular file owned by the current user, mode
  ``0600``/``0400``); anything else is a clear error, never a warning.
* ``plugin:<name>``: a factory registered under the entry-point group ``mlgate.signers`` that
  returns an object with ``keyid``, ``sign(data) -> bytes`` (ECDSA P-256 over SHA-256, DER) and
  ``sign_model(model_dir, signature_path)``. This is how a hardware or cloud key is plugged in,
  e.g. ``model_signing``'s PKCS#11 signer (``signing.Config().use_pkcs11_signer(pkcs11_uri=...)``)
  or its Sigstore signer (``use_sigstore_signer(...)``, keyless, against public or private
  Fulcio/Rekor instances); see ``docs/signing.md``.

Verification accepts several trusted public keys (a key rotation): the signature must verify with
one of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from mlgate.evidence.envelope import EnvelopeSigner, LocalKeySigner
from mlgate.evidence.keys import VerificationError, load_private_key, public_key_paths

SIGNER_GROUP = "mlgate.signers"
PLUGIN_PREFIX = "plugin:"


class ModelSigner(EnvelopeSigner, Protocol):
    def sign_model(self, model_dir: Path, signature_path: Path) -> None: ...


class LocalKeyModelSigner(LocalKeySigner):
    """A local EC private key file, checked to be readable by its owner only."""

    def __init__(self, private_key: str | os.PathLike[str]) -> None:
        self.path = Path(private_key)
        super().__init__(load_private_key(self.path))

    def sign_model(self, model_dir: Path, signature_path: Path) -> None:
        from model_signing import signing

        signature_path.parent.mkdir(parents=True, exist_ok=True)
        cfg = signing.Config()  # type: ignore[no-untyped-call]
        cfg.use_elliptic_key_signer(private_key=self.path).sign(model_dir, signature_path)


def load_signer(spec: str | os.PathLike[str]) -> ModelSigner:
    """The signer named by ``spec`` (a key path or ``plugin:<name>``); KeyFileError /
    VerificationError with the reason otherwise."""
    text = str(spec)
    if text.startswith(PLUGIN_PREFIX):
        from importlib.metadata import entry_points

        name = text[len(PLUGIN_PREFIX):]
        eps = [ep for ep in entry_points(group=SIGNER_GROUP) if ep.name == name]
        if not eps:
            raise VerificationError(f"no signer plugin {name!r} is installed (entry-point group {SIGNER_GROUP})")
        try:
            signer: ModelSigner = eps[0].load()()
        except Exception as e:
            raise VerificationError(f"signer plugin {name!r} failed to load: {type(e).__name__}: {e}") from None
        return signer
    return LocalKeyModelSigner(text)


def verify_model_signature(model_dir: Path, signature_path: Path,
                           public_keys: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> Path:
    """The key that verifies the OpenSSF signature of ``model_dir``; VerificationError naming
    why every trusted key failed otherwise (a changed file is named by model_signing)."""
    from model_signing import verifying

    if not signature_path.is_file():
        raise VerificationError(f"the model signature {signature_path.name} is missing")
    errors: list[str] = []
    for key in public_key_paths(public_keys):
        try:
            cfg = verifying.Config()  # type: ignore[no-untyped-call]
            cfg.use_elliptic_key_verifier(public_key=key).verify(model_dir, signature_path)
            return key
        except Exception as e:  # model_signing raises ValueError naming the changed file
            errors.append(f"{key.name}: {e}")
    raise VerificationError("model signature does not verify: " + "; ".join(dict.fromkeys(errors)))
