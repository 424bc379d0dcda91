"""joblib < 0.10's Z-file container (``ZF`` + hex length + zlib), which ``joblib.load`` still
reads through numpy_pickle_compat: the decompressed bytes are unpickled, so the gate must see
through it. Files are built here byte for byte as joblib 0.9 wrote them; joblib's own
``read_zfile`` (decompression only, it unpickles nothing) is the reference for the framing."""

from __future__ import annotations

import io
import pickle
import zlib
from pathlib import Path

import pytest
from joblib.numpy_pickle_compat import read_zfile

from mlgate.api import scan
from mlgate.model import Verdict
from mlgate.policy import Policy

PAYLOAD = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."  # os.system('id'), never loaded


def zfile(data: bytes, *, extra_space: bool = False, declared: int | None = None, tail: bytes = b"") -> bytes:
    length = hex(len(data) if declared is None else declared).encode().ljust(19)
    return b"ZF" + length + (b" " if extra_space else b"") + zlib.compress(data) + tail


@pytest.mark.parametrize("extra_space", [False, True], ids=["joblib-0.9", "joblib-0.8.4-space"])
def test_framing_agrees_with_joblibs_reader(tmp_path: Path, default_policy: Policy, extra_space: bool) -> None:
    benign = pickle.dumps({"weights": [1.0, 2.0]}, protocol=2)
    raw = zfile(benign, extra_space=extra_space)
    assert read_zfile(io.BytesIO(raw)) == benign  # joblib reads these bytes as this pickle
    p = tmp_path / "model.pkl"
    p.write_bytes(raw)
    r = scan(p, policy=default_policy)
    assert r.verdict is Verdict.PASS, r.reason
    assert "joblib-zfile" in r.subjects[0].formats


@pytest.mark.parametrize("variant", ["plain", "space", "trailing-bytes", "length-lies"])
def test_payload_inside_a_zfile_is_found(tmp_path: Path, default_policy: Policy, variant: str) -> None:
    raw = zfile(PAYLOAD, extra_space=variant == "space", tail=b"junk" if variant == "trailing-bytes" else b"",
                declared=len(PAYLOAD) + 7 if variant == "length-lies" else None)
    if variant != "length-lies":
        assert read_zfile(io.BytesIO(raw)) == PAYLOAD  # joblib would unpickle exactly this
    p = tmp_path / "model.joblib"
    p.write_bytes(raw)
    r = scan(p, policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert any("os.system" in f.message or "posix.system" in f.message for s in r.subjects for f in s.findings)


def test_broken_zlib_stream_blocks(tmp_path: Path, default_policy: Policy) -> None:
    p = tmp_path / "model.pkl"
    p.write_bytes(zfile(PAYLOAD)[:30])
    assert scan(p, policy=default_policy).verdict is not Verdict.PASS


def test_zf_text_that_is_not_a_zfile_is_not_claimed(tmp_path: Path, default_policy: Policy) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("ZFS pool notes: nothing to see\n")
    assert scan(p, policy=default_policy).verdict is Verdict.PASS
