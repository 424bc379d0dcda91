"""Keys of the evidence kernel: ECDSA P-256 PEM files, key ids, and the rules a signing key file
must meet before the publishing step uses it.

A signing key is read only from a file that the publishing step alone can read: a regular file
(not a symlink), owned by the user running the step, with no group or other permission bits
(``0600`` or ``0400``). Anything else is refused with a message that says how to fix it: a key
that other local users (or the training code of another job) can read is not a secret.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


class VerificationError(Exception):
    """Evidence does not verify, or a key cannot be used. The message says why."""


class KeyFileError(VerificationError):
    """A signing key file is missing, unreadable, or readable by others than its owner."""


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
    os.chmod(priv, 0o600)  # an existing file keeps its mode under O_CREAT
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


def check_key_file(path: str | os.PathLike[str]) -> Path:
    """``path`` if it is a private key file only its owner (the current user) can read; else
    :class:`KeyFileError` naming the problem and the fix."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        raise KeyFileError(f"signing key {p}: no such file") from None
    except OSError as e:
        raise KeyFileError(f"signing key {p}: cannot be read: {e.strerror or e}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"signing key {p}: not a regular file (symlinks are refused)")
    if st.st_uid != os.geteuid():
        raise KeyFileError(f"signing key {p}: owned by uid {st.st_uid}, not by the publishing user "
                           f"(uid {os.geteuid()}); only the publishing step may own and read it")
    if st.st_mode & 0o077:
        raise KeyFileError(f"signing key {p}: mode {stat.S_IMODE(st.st_mode):04o} lets others read it; "
                           f"run `chmod 600 {p}` (only the publishing step may read the key)")
    return p


def load_private_key(path: str | os.PathLike[str], *, check_permissions: bool = True) -> ec.EllipticCurvePrivateKey:
    """The EC private key at ``path`` (after :func:`check_key_file`, unless told otherwise)."""
    p = check_key_file(path) if check_permissions else Path(path)
    try:
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise KeyFileError(f"signing key {p}: cannot be loaded: {e}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{p}: not an elliptic-curve private key")
    return key


def load_public_key(path: str | os.PathLike[str]) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as e:
        raise VerificationError(f"{path}: cannot load the public key: {type(e).__name__}: {e}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise VerificationError(f"{path}: not an elliptic-curve public key")
    return key


def public_key_paths(spec: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Paths of one or more public keys: a list, or one string separated by ``os.pathsep`` (several
    trusted keys during a rotation)."""
    parts = [str(spec)] if isinstance(spec, (str, os.PathLike)) else [str(s) for s in spec]
    out = [Path(q.strip()) for part in parts for q in part.split(os.pathsep) if q.strip()]
    if not out:
        raise VerificationError("no public key path given")
    return out


def load_public_keys(spec: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[ec.EllipticCurvePublicKey]:
    """Every trusted key named by ``spec`` (see :func:`public_key_paths`)."""
    return [load_public_key(p) for p in public_key_paths(spec)]


def key_id(pub: ec.EllipticCurvePublicKey) -> str:
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
