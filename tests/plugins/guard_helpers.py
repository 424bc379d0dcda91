"""Helpers of the registry-guard tests: signed envelopes over a folder's manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlgate.digest import manifest_of
from mlgate.evidence.attestation import ATTESTATION_TYPE, load_private_key, sign
from mlgate.lifecycle.staging import hash_tree


def manifest(folder: Path) -> str:
    return manifest_of(hash_tree(folder))


def envelope(private_key: Path, *, source: str, manifest_sha256: str, verdict: str = "pass",
             name: str = "m", **extra: Any) -> str:
    payload = {
        "_type": ATTESTATION_TYPE,
        "subject": {"name": name, "source": source, "manifest_sha256": manifest_sha256, "file_count": 1},
        "verdict": verdict,
        "checked_at": "2026-01-01T00:00:00+00:00",
        **extra,
    }
    return json.dumps(sign(payload, load_private_key(private_key)), separators=(",", ":"))
