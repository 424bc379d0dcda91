"""The "last clean result" of a version: what makes a rescan incremental.

The signed state itself (:class:`RescanState`, :func:`sign_state`, :func:`load_state`) lives in
the evidence kernel (:mod:`mlgate.evidence.state`); this module adds what depends on the policy
and the installed gates:

* the **scan key** of the last clean scan: the manifest, the scanner versions and the
  scan-relevant policy digest at a checkpoint (:func:`scan_key`). Unchanged key: no rescan.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mlgate.evidence.envelope import canonical
from mlgate.evidence.state import (
    MAX_TAG,
    PAYLOAD_TYPE,
    STATE_TAG,
    STATE_TYPE,
    RescanState,
    ScanKey,
    load_state,
    sign_state,
)
from mlgate.model import utc_today
from mlgate.policy import Policy

__all__ = ["MAX_TAG", "NON_SCAN_SECTIONS", "PAYLOAD_TYPE", "STATE_TAG", "STATE_TYPE", "RescanState", "ScanKey",
           "digest_of", "load_state", "scan_key", "scan_policy_digest", "scanner_versions", "sign_state"]

# gates.<id> sections that cannot change a model-file verdict (they are not run on model files)
NON_SCAN_SECTIONS = frozenset({"rescan", "s3-audit", "data-quality", "model-version"})


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
    today = today or utc_today()
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
