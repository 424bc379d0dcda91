"""The "last clean result" of a version: what makes a rescan incremental.

Stored on the version as the tag ``mlgate.rescan_state``: a small signed envelope (ECDSA P-256
with the pipeline's signing key, DSSE pre-authentication encoding, its own payload type so it can
never be mistaken for a verdict attestation). Anyone who can write registry tags can write this
tag, so it is only used when its signature verifies *and* it is bound to the version's name,
number, exact source, current attestation envelope and signed manifest. A state that does not hold
is ignored (the version is then checked in full), never trusted.

It records

* the **byte identities** at the last full byte check (the S3 location and the digest of its
  object identities, plus the model signature file's identity): :mod:`.bytecheck`;
* the **scan key** of the last clean scan: the manifest, the scanner versions and the
  scan-relevant policy digest at a checkpoint (:func:`scan_key`). Unchanged key: no rescan.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, ValidationError

from mlgate.evidence.attestation import canonical, key_id, load_private_key
from mlgate.policy import Policy

STATE_TAG = "mlgate.rescan_state"
STATE_TYPE = "mlgate.rescan-state/v1"
PAYLOAD_TYPE = "application/vnd.mlgate.rescan-state.v1+json"
# gates.<id> sections that cannot change a model-file verdict (they are not run on model files)
NON_SCAN_SECTIONS = frozenset({"rescan", "s3-audit", "data-quality"})
MAX_TAG = 5000


class ScanKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    manifest_sha256: str
    scanners: str  # digest of scanner_versions()
    policy: str  # scan_policy_digest()
    checkpoint: str


class RescanState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    source: str
    attestation_sha256: str
    manifest_sha256: str
    location: str | None = None  # s3:// of the bytes, when known
    location_is_folder: bool = True
    objects_digest: str | None = None  # identities_digest() at the last full byte check
    objects: int = 0
    identity: str | None = None  # the weakest identity kind in that listing
    signature_location: str | None = None
    signature_digest: str | None = None
    scan: ScanKey | None = None
    bytes_verified_at: str
    scanned_at: str | None = None

    def bytes_verified(self) -> _dt.datetime:
        return _dt.datetime.fromisoformat(self.bytes_verified_at)


def _pae(body: bytes) -> bytes:
    t = PAYLOAD_TYPE.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def sign_state(state: RescanState, private_key: Path) -> str:
    key = load_private_key(private_key)
    payload = {"_type": STATE_TYPE, **state.model_dump(mode="json")}
    body = canonical(payload)
    sig = key.sign(_pae(body), ec.ECDSA(hashes.SHA256()))
    env = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(body).decode(),
           "signatures": [{"keyid": key_id(key.public_key()), "sig": base64.b64encode(sig).decode()}]}
    text = json.dumps(env, separators=(",", ":"))
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
        env = json.loads(tag)
        if env.get("payloadType") != PAYLOAD_TYPE:
            return None, "rescan state: unexpected payload type"
        body = base64.b64decode(env["payload"], validate=True)
        sigs = env["signatures"]
        if not isinstance(sigs, list):
            return None, "rescan state: malformed"
    except Exception:
        return None, "rescan state: malformed"
    ok = False
    for key in public_keys:
        kid = key_id(key)
        for s in sigs:
            if not isinstance(s, dict) or s.get("keyid") != kid:
                continue
            try:
                key.verify(base64.b64decode(s["sig"], validate=True), _pae(body), ec.ECDSA(hashes.SHA256()))
                ok = True
            except (InvalidSignature, ValueError, KeyError, TypeError):
                continue
    if not ok:
        return None, "rescan state: signature does not verify"
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


def scanner_versions(policy: Policy, checkpoint: str, engines: Iterable[str]) -> dict[str, str]:
    """Versions of everything that judges a model file at ``checkpoint``: mlgate, each model-file
    gate (and the distribution providing it), and the listed engine distributions."""
    from mlgate import __version__
    from mlgate.gate import load_gate

    out = {"mlgate": __version__}
    for gid in policy.gates_for(checkpoint):
        if gid in NON_SCAN_SECTIONS:
            continue
        gate = load_gate(gid)
        out[f"gate:{gid}"] = str(gate.version)
        top = type(gate).__module__.split(".")[0]
        if top != "mlgate":
            out[f"dist:{top}"] = _dist_version(top)
    for name in engines:
        out[name] = _dist_version(name)
    return out


def _dist_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def digest_of(obj: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical(obj)).hexdigest()


def scan_policy_digest(policy: Policy, checkpoint: str, today: _dt.date | None = None) -> str:
    """The digest of what in the policy can change a model-file verdict at ``checkpoint``:
    defaults, that checkpoint's rules, the allowlist, the exceptions still in force (an expiry
    changes it) and the settings of the gates run on files. Editing ``gates.rescan``, the S3
    audit or the data suites does not trigger a rescan of every model."""
    today = today or _dt.date.today()
    doc = policy.doc.model_dump(mode="json")
    return digest_of({
        "checkpoint": checkpoint,
        "defaults": doc["defaults"],
        "rules": doc["checkpoints"].get(checkpoint),
        "allowlist": doc["allowlist"],
        "exceptions": [e for e in doc["exceptions"] if _dt.date.fromisoformat(e["expires"]) >= today],
        "gates": {k: v for k, v in doc["gates"].items() if k not in NON_SCAN_SECTIONS},
    })


def scan_key(manifest_sha256: str, scanners: dict[str, str], policy_digest: str, checkpoint: str) -> ScanKey:
    return ScanKey(manifest_sha256=manifest_sha256, scanners=digest_of(scanners), policy=policy_digest,
                   checkpoint=checkpoint)
