"""Helpers of the registry-guard tests: signed statements over a folder's manifest."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.digest import hash_tree, manifest_of
from mlgate.evidence.envelope import LocalKeySigner, canonical
from mlgate.evidence.keys import key_id, load_private_key
from mlgate.evidence.statement import (
    LEGACY_PAYLOAD_TYPE,
    LEGACY_TYPE,
    PIPELINE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    sign_statement,
)


def manifest(folder: Path) -> str:
    return manifest_of(hash_tree(folder))


def envelope(private_key: Path, *, source: str | None, manifest_sha256: str, verdict: str = "pass",
             name: str = "m", provenance: str = PIPELINE, checkpoint: str = "pre-publish",
             gates: tuple[str, ...] = ("model-scan",), policy_digest: str = "sha256:" + "ab" * 32,
             attestation_id: str | None = None, **extra: Any) -> str:
    """A verdict statement (the current format) signed with ``private_key``. Unlike the library's
    builder it can say anything (no source, any provenance), to test what verifiers refuse."""
    import uuid

    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": manifest_sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "attestation_id": attestation_id or uuid.uuid4().hex,
            "provenance": provenance,
            "verdict": verdict,
            "checkpoint": checkpoint,
            "checkpoints": [checkpoint],
            "gates": [{"gate": g, "checkpoint": checkpoint, "verdict": verdict} for g in gates],
            "policy_digests": [policy_digest],
            "tools": {"mlgate": "test"},
            "source": source,
            "file_count": 1,
            "checked_at": "2026-01-01T00:00:00+00:00",
            **extra,
        },
    }
    return sign_statement(statement, LocalKeySigner(load_private_key(private_key)))


def legacy_envelope(private_key: Path, *, source: str | None, manifest_sha256: str, verdict: str = "pass",
                    name: str = "m", **extra: Any) -> str:
    """The first release's format (``mlgate.verdict/v1``: the body signed directly, no PAE)."""
    key = load_private_key(private_key)
    payload = {
        "_type": LEGACY_TYPE,
        "subject": {"name": name, "source": source, "manifest_sha256": manifest_sha256, "file_count": 1},
        "verdict": verdict,
        "checked_at": "2026-01-01T00:00:00+00:00",
        **extra,
    }
    body = canonical(payload)
    sig = key.sign(body, ec.ECDSA(hashes.SHA256()))
    env = {"payloadType": LEGACY_PAYLOAD_TYPE, "payload": base64.b64encode(body).decode(),
           "signatures": [{"keyid": key_id(key.public_key()), "sig": base64.b64encode(sig).decode()}]}
    return json.dumps(env, separators=(",", ":"))
