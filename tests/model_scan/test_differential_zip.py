"""Differential tests: mlgate's zip member view against ``zipfile`` (what ``np.load(npz)`` and most
loaders use) and torch's ``PyTorchFileReader`` (miniz, what ``torch.load`` uses; it reads the
central directory and records without unpickling anything). Plus the zip bypass classes of
issue 10, named after them.

Inputs: archives written by ``zipfile`` (stored, deflated, zip64, data descriptors, duplicates,
comments), hand-made central-directory tricks, and hypothesis mutations of them.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.model_scan import _differential as d

from mlgate.api import scan
from mlgate.model import Verdict
from mlgate.policy import Policy

PAYLOAD = b"\x80\x02cos\nsystem\nX\x06\x00\x00\x00echo zq\x85R."  # never loaded


def _zip(members: list[tuple[str, bytes]], *, method: int = zipfile.ZIP_STORED, comment: bytes = b"",
         zip64: bool = False, unseekable: bool = False) -> bytes:
    buf = io.BytesIO()

    class NoSeek(io.RawIOBase):  # zipfile writes data descriptors to unseekable streams
        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            return buf.write(b)

    target = NoSeek() if unseekable else buf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names
        with zipfile.ZipFile(target, "w", compression=method) as zf:  # type: ignore[arg-type]
            for name, data in members:
                with zf.open(zipfile.ZipInfo(name), "w", force_zip64=zip64) as fh:
                    fh.write(data)
            zf.comment = comment
    return buf.getvalue()


def eocd_comment_overrun() -> bytes:
    """The real end record claims a 65,535-byte comment that is not there; an earlier, decoy end
    record (inside a stored member) fits and lists only a harmless member."""
    decoy = _zip([("weights.txt", b"harmless")])
    data = bytearray(_zip([("decoy.bin", decoy), ("data.pkl", PAYLOAD)]))
    assert data[-22:-18] == b"PK\x05\x06"
    data[-2:] = b"\xff\xff"
    return bytes(data)


def directory_records_past_count() -> bytes:
    """The end record declares 1 member; the directory holds 2 and zipfile reads both."""
    data = bytearray(_zip([("a.npy", b"harmless"), ("payload.pkl", PAYLOAD)]))
    data[-14:-10] = struct.pack("<HH", 1, 1)
    return bytes(data)


def samples() -> list[bytes]:
    return [
        _zip([("a.txt", b"x" * 100), ("b/data.pkl", PAYLOAD)]),
        _zip([("a.txt", b"x" * 100), ("b.pkl", PAYLOAD)], method=zipfile.ZIP_DEFLATED),
        _zip([("a.txt", b"abc"), ("b.pkl", PAYLOAD)], zip64=True),
        _zip([("a.txt", b"abc"), ("b.pkl", PAYLOAD)], unseekable=True, method=zipfile.ZIP_DEFLATED),
        _zip([("same", b"first"), ("same", PAYLOAD)]),
        _zip([("a", b"1")], comment=b"PK\x05\x06" + b"\x00" * 30),
        b"prefix" * 10 + _zip([("a.pkl", PAYLOAD)]),
        eocd_comment_overrun(),
        directory_records_past_count(),
    ]


SAMPLES = samples()


@pytest.mark.parametrize("data", SAMPLES, ids=range(len(SAMPLES)))
def test_zip_members_agree_with_zipfile(data: bytes) -> None:
    assert not d.compare_zip(data)


mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]), st.integers(0, 10**6),
                     st.integers(0, 255).map(lambda i: bytes([i])))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SAMPLES) - 1), st.lists(mutation, min_size=1, max_size=3))
def test_mutated_zips_agree_with_zipfile(idx: int, muts: list[tuple[str, int, bytes]]) -> None:
    data = d.mutate(SAMPLES[idx], muts)
    assert not d.compare_zip(data), data


TORCH_READER = r"""
import json, sys, torch
out = {}
for path in sys.argv[1:]:
    try:
        r = torch._C.PyTorchFileReader(path)
        recs = {}
        for name in r.get_all_records():
            try:
                recs[name] = r.get_record(name).hex() if hasattr(r.get_record(name), "hex") else None
            except Exception:
                pass
        out[path] = recs
    except Exception as e:
        out[path] = None
print(json.dumps(out))
"""


def _torchify(members: list[tuple[str, bytes]]) -> bytes:
    return _zip([(f"archive/{n}", b) for n, b in members])


def test_zip_members_agree_with_torch_reader(tmp_path: Path) -> None:
    """Every record torch's reader returns must be among the bytes mlgate analysed (miniz picks the
    end record and reads the central directory without zipfile's code)."""
    pytest.importorskip("torch")
    cases = [
        _torchify([("data.pkl", PAYLOAD), ("version", b"3\n")]),
        bytearray(_torchify([("version", b"3\n"), ("data.pkl", PAYLOAD)])),
    ]
    tricky = bytearray(cases[1])
    tricky[-2:] = b"\xff\xff"  # comment overrun: miniz ignores the comment length
    cases.append(bytes(tricky))
    paths = []
    for i, c in enumerate(cases):
        p = tmp_path / f"c{i}.pt"
        p.write_bytes(bytes(c))
        paths.append(str(p))
    proc = subprocess.run([sys.executable, "-c", TORCH_READER, *paths], capture_output=True, text=True,
                          timeout=300, check=True)
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    checked = 0
    for p in paths:
        records = seen[p]
        if not records:
            continue
        ours, _ = d.mlgate_zip_members(Path(p).read_bytes())
        contents = {c for _, c in ours}
        for name, hexdata in records.items():
            if hexdata is None:
                continue
            assert bytes.fromhex(hexdata) in contents, (p, name)
            checked += 1
    assert checked >= 2


# -- bypass classes --------------------------------------------------------------------------------


def _scan(tmp_path: Path, name: str, data: bytes, policy: Policy) -> list[tuple[str, str | None]]:
    target = tmp_path / name
    target.write_bytes(data)
    r = scan(target, policy=policy)
    assert r.verdict is Verdict.FAIL, r.verdict
    return [(f.id, f.details.get("global")) for s in r.subjects for f in s.findings if f.blocking]


def test_zip_eocd_comment_length_overrun(tmp_path: Path, default_policy: Policy) -> None:
    """zipfile and torch.load use an end record whose comment overruns the file; mlgate used to
    skip it and read a decoy end record inside a member."""
    data = eocd_comment_overrun()
    assert "data.pkl" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    found = _scan(tmp_path, "model.pt", data, default_policy)
    assert ("MLG-PKL-DANGEROUS-GLOBAL", "os.system") in found, found


def test_zip_directory_records_past_declared_count(tmp_path: Path, default_policy: Policy) -> None:
    """np.load(npz) opens members zipfile lists past the end record's declared count."""
    data = directory_records_past_count()
    assert "payload.pkl" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    found = _scan(tmp_path, "arrays.npz", data, default_policy)
    assert ("MLG-PKL-DANGEROUS-GLOBAL", "os.system") in found, found
    assert any(i == "MLG-ARC-MALFORMED" for i, _ in found), found
