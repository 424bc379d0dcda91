"""The signed rescan state: the "last clean result" of a version, what makes a rescan incremental.

Stored on the version as the tag ``mlgate.rescan_state``: a DSSE envelope (:mod:`.envelope`) with
its own payload type, so it can never be mistaken for a verdict statement. Anyone who can write
registry tags can write this tag, so it is only used when its signature verifies *and* it is
bound to the version's name, number, exact source, current attestation and signed manifest. A
state that does not hold is ignored (the version is then checked in full), never trusted.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, ValidationError

from mlgate.evidence.envelope import EnvelopeSigner, LocalKeySigner, canonical, sign_envelope, to_text, verify_envelope
from mlgate.evidence.keys import VerificationError, load_private_key
from mlgate.evidence.tags import RESCAN_STATE

STATE_TAG = RESCAN_STATE
STATE_TYPE = "mlgate.rescan-state/v1"
PAYLOAD_TYPE = "application/vnd.mlgate.rescan-state.v1+json"
MAX_TAG = 5000


class ScanKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    manifest_sha256: str
    scanners: str  # digest of the scanner versions
    policy: str  # scan-relevant policy digest
    checkpoint: str


class RescanState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    source: str
    attestation_sha256: str  # the attestation id of the statement it was checked against
    manifest_sha256: str
    location: str | None = None  # s3:// of the bytes, when known
    location_is_folder: bool = True
    objects_digest: str | None = None  # identities digest at the last full byte check
    objects: int = 0
    identity: str | None = None  # the weakest identity kind in that listing
    signature_location: str | None = None
    signature_digest: str | None = None
    scan: ScanKey | None = None
    bytes_verified_at: str
    scanned_at: str | None = None

    def bytes_verified(self) -> _dt.datetime:
        return _dt.datetime.fromisoformat(self.bytes_verified_at)


def sign_state(state: RescanState, signer: EnvelopeSigner | str | os.PathLike[str]) -> str:
    s = signer if not isinstance(signer, (str, os.PathLike)) else LocalKeySigner(load_private_key(Path(signer)))
    body = canonical({"_type": STATE_TYPE, **state.model_dump(mode="json")})
    text = to_text(sign_envelope(body, PAYLOAD_TYPE, s))
    if len(text) > MAX_TAG:
        raise ValueError("rescan state too large for a tag")
    return text


def load_state(
    tag: str | None,
    public_keys: Sequence[ec.EllipticCurvePublicKey],
    *,
    name: str,
    version: str,
    source: str,
    attestation_sha256: str,
    manifest_sha256: str,
) -> tuple[RescanState | None, str]:
    """The state if it verifies and is bound to this version and its current evidence, else
    ``(None, why)``. Never raises on malformed input."""
    if not tag:
        return None, "no rescan state"
    try:
        body = verify_envelope(tag, PAYLOAD_TYPE, public_keys).body
    except VerificationError as e:
        return None, f"rescan state: {e}"
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or data.pop("_type", None) != STATE_TYPE:
            return None, "rescan state: wrong type"
        state = RescanState.model_validate(data)
        state.bytes_verified()
    except (ValueError, ValidationError):
        return None, "rescan state: invalid payload"
    expected = (name, version, source, attestation_sha256, manifest_sha256)
    actual = (state.name, state.version, state.source, state.attestation_sha256, state.manifest_sha256)
    if expected != actual:
        return None, "rescan state: bound to other evidence"
    return state, "ok"
