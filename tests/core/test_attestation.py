"""The evidence kernel's envelope and statement: DSSE with PAE, the in-toto verdict statement,
several trusted keys, the first release's format read for one release, key-file rules."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from tests.plugins.guard_helpers import envelope, legacy_envelope

from mlgate.evidence.attestation import verify
from mlgate.evidence.envelope import LocalKeySigner, canonical, pae, sign_envelope, verify_envelope
from mlgate.evidence.keys import (
    KeyFileError,
    VerificationError,
    check_key_file,
    generate_keypair,
    load_private_key,
    load_public_key,
)
from mlgate.evidence.model_signature import load_signer
from mlgate.evidence.statement import PAYLOAD_TYPE, attestation_id_of, verify_statement

M = "ab" * 32


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return generate_keypair(tmp_path / "k")


def test_round_trip_in_toto_statement(keys: tuple[Path, Path]) -> None:
    priv, pub = keys
    assert oct(priv.stat().st_mode & 0o777) == "0o600"
    env = envelope(priv, source="s3://b/m", manifest_sha256=M, name="fraud", attestation_id="1" * 32)
    doc = json.loads(env)
    assert doc["payloadType"] == PAYLOAD_TYPE == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(doc["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": "fraud", "digest": {"sha256": M}}]
    c = verify_statement(env, [load_public_key(pub)])
    assert (c.name, c.source, c.manifest_sha256, c.provenance, c.attestation_id, c.legacy) == (
        "fraud", "s3://b/m", M, "pipeline", "1" * 32, False)
    assert attestation_id_of(env) == "1" * 32
    assert verify(env, load_public_key(pub))["subject"]["manifest_sha256"] == M  # the first release's view


def test_pae_binds_the_payload_type(keys: tuple[Path, Path]) -> None:
    priv, pub = keys
    signer = LocalKeySigner(load_private_key(priv))
    env = sign_envelope(canonical({"a": 1}), "application/x-one", signer)
    assert pae("application/x-one", b"{}") == b"DSSEv1 17 application/x-one 2 {}"
    verify_envelope(env, "application/x-one", [load_public_key(pub)])
    env["payloadType"] = "application/x-two"  # same signature, other type: refused
    with pytest.raises(VerificationError, match="does not verify"):
        verify_envelope(env, "application/x-two", [load_public_key(pub)])


def test_tampered_payload_and_foreign_keys_are_refused(keys: tuple[Path, Path], tmp_path: Path) -> None:
    priv, pub = keys
    env = json.loads(envelope(priv, source="s", manifest_sha256=M))
    body = json.loads(base64.b64decode(env["payload"]))
    body["predicate"]["provenance"] = "pipeline-but-forged"
    env["payload"] = base64.b64encode(canonical(body)).decode()
    with pytest.raises(VerificationError, match="does not verify"):
        verify_statement(env, [load_public_key(pub)])
    _, other = generate_keypair(tmp_path / "other")
    with pytest.raises(VerificationError, match="not signed by a trusted key"):
        verify_statement(envelope(priv, source="s", manifest_sha256=M), [load_public_key(other)])


def test_several_trusted_keys_for_a_rotation(keys: tuple[Path, Path], tmp_path: Path) -> None:
    old_priv, old_pub = keys
    new_priv, new_pub = generate_keypair(tmp_path / "new")
    trusted = [load_public_key(new_pub), load_public_key(old_pub)]
    for priv in (old_priv, new_priv):
        assert verify_statement(envelope(priv, source="s", manifest_sha256=M), trusted).verdict == "pass"


def test_first_format_is_read_with_its_body_digest_as_id(keys: tuple[Path, Path]) -> None:
    priv, pub = keys
    env = legacy_envelope(priv, source="s", manifest_sha256=M)
    c = verify_statement(env, [load_public_key(pub)])
    assert (c.legacy, c.provenance, c.source, len(c.attestation_id)) == (True, "unknown", "s", 64)
    assert attestation_id_of(env) == c.attestation_id


@pytest.mark.parametrize("junk", ["", "{}", "[1]", '{"payloadType": "x"}', b"\xff\xfe",
                                  '{"payloadType": "application/vnd.in-toto+json", "payload": "%%", "signatures": []}'])
def test_garbage_is_refused(keys: tuple[Path, Path], junk: str | bytes) -> None:
    with pytest.raises(VerificationError, match=r"."):
        verify_statement(junk, [load_public_key(keys[1])])


def test_signing_key_must_be_private_to_the_publishing_user(keys: tuple[Path, Path], tmp_path: Path) -> None:
    priv, _ = keys
    assert check_key_file(priv) == priv
    load_signer(priv)
    os.chmod(priv, 0o640)
    with pytest.raises(KeyFileError, match=r"mode 0640 lets others read it; run `chmod 600"):
        load_signer(priv)
    os.chmod(priv, 0o600)
    if os.geteuid() == 0:  # only root can hand the file to another owner
        os.chown(priv, 65534, -1)
        with pytest.raises(KeyFileError, match="owned by uid 65534, not by the publishing user"):
            load_signer(priv)
        os.chown(priv, 0, -1)
    link = tmp_path / "link.pem"
    link.symlink_to(priv)
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_private_key(link)
    with pytest.raises(KeyFileError, match="no such file"):
        load_signer(tmp_path / "missing.pem")
    with pytest.raises(VerificationError, match="no signer plugin 'hsm'"):
        load_signer("plugin:hsm")
