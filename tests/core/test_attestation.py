from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mlgate.evidence.attestation import (
    ATTESTATION_TYPE,
    VerificationError,
    generate_keypair,
    load_private_key,
    load_public_key,
    sign,
    verify,
)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return generate_keypair(tmp_path / "k")


def payload() -> dict[str, object]:
    return {"_type": ATTESTATION_TYPE, "verdict": "pass", "subject": {"manifest_sha256": "ab" * 32}}


def test_round_trip(keys: tuple[Path, Path]) -> None:
    priv, pub = keys
    assert oct(priv.stat().st_mode & 0o777) == "0o600"
    env = sign(payload(), load_private_key(priv))
    assert verify(json.dumps(env), load_public_key(pub)) == payload()


def test_tampered_payload_is_refused(keys: tuple[Path, Path]) -> None:
    priv, pub = keys
    env = sign(payload(), load_private_key(priv))
    forged = copy.deepcopy(env)
    body = json.loads(__import__("base64").b64decode(forged["payload"]))
    body["verdict"] = "pass-but-forged"
    forged["payload"] = __import__("base64").b64encode(json.dumps(body).encode()).decode()
    with pytest.raises(VerificationError, match="does not verify"):
        verify(forged, load_public_key(pub))


def test_other_key_is_refused(keys: tuple[Path, Path], tmp_path: Path) -> None:
    priv, _ = keys
    _, other_pub = generate_keypair(tmp_path / "other")
    env = sign(payload(), load_private_key(priv))
    with pytest.raises(VerificationError, match="no signature by the configured key"):
        verify(env, load_public_key(other_pub))


@pytest.mark.parametrize("junk", ["", "{}", "[1]", '{"payloadType": "x"}', b"\xff\xfe"])
def test_garbage_is_refused(keys: tuple[Path, Path], junk: str | bytes) -> None:
    with pytest.raises(VerificationError, match=r"."):
        verify(junk, load_public_key(keys[1]))
