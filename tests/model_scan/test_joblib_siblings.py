"""joblib < 0.10 array wrappers make ``joblib.load`` open a file the pickle names
(numpy_pickle_compat: NDArrayWrapper -> np.load(allow_pickle=True), ZNDArrayWrapper ->
read_zfile). The gate analyses that file as part of the pickle when it is a plain name beside it,
blocks a name that leaves the folder, and never passes a file it could not check."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlgate.api import scan
from mlgate.model import Report, Verdict
from mlgate.policy import Policy

EVIL = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."  # never loaded


def _str(s: str) -> bytes:
    b = s.encode()
    return b"X" + len(b).to_bytes(4, "little") + b


def wrapper_pickle(filename: str, *, module: str = "joblib.numpy_pickle", via: str = "newobj") -> bytes:
    """A joblib 0.9-style pickle: NDArrayWrapper instance + BUILD {filename, subclass, allow_mmap}."""
    glob = f"c{module}\nNDArrayWrapper\n".encode()
    state = b"}(" + _str("filename") + _str(filename) + _str("subclass") + b"cnumpy\nndarray\n" + \
        _str("allow_mmap") + b"\x88u"
    if via == "newobj":
        make = glob + b")\x81"
    else:  # REDUCE: NDArrayWrapper(filename, numpy.ndarray) runs __init__ with the name
        make = glob + b"(" + _str(filename) + b"cnumpy\nndarray\ntR"
        state = b"}"
    return b"\x80\x02" + make + state + b"b."


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def run(tmp_path: Path, policy: Policy, pkl: bytes, siblings: dict[str, bytes] | None = None,
        target: str = "model.pkl") -> Report:
    d = tmp_path / "model"
    d.mkdir(exist_ok=True)
    (d / "model.pkl").write_bytes(pkl)
    for name, data in (siblings or {}).items():
        (d / name).write_bytes(data)
    return scan(d / target if target else d, policy=policy)


def rules(r: Report) -> set[str]:
    return {f.id for s in r.subjects for f in s.findings}


@pytest.mark.parametrize("via", ["newobj", "reduce"])
def test_clean_sibling_passes_and_is_named(tmp_path: Path, default_policy: Policy, via: str) -> None:
    r = run(tmp_path, default_policy, wrapper_pickle("model.pkl_01.npy", via=via),
            {"model.pkl_01.npy": npy_bytes(np.arange(6.0))})
    assert r.verdict is Verdict.PASS, r.reason
    assert r.subjects[0].details["reads_siblings"] == ["model.pkl_01.npy"]


@pytest.mark.parametrize("module", ["joblib.numpy_pickle", "joblib.numpy_pickle_compat"])
def test_payload_in_the_sibling_fails_the_pickle(tmp_path: Path, default_policy: Policy, module: str) -> None:
    r = run(tmp_path, default_policy, wrapper_pickle("arr.npy", module=module), {"arr.npy": EVIL})
    assert r.verdict is Verdict.FAIL
    bad = next(s for s in r.subjects if s.subject == "model.pkl")
    assert bad.verdict is Verdict.FAIL  # blocked on the pickle itself, not only on the sibling's own row


def test_object_array_sibling_with_payload_fails(tmp_path: Path, default_policy: Policy) -> None:
    header = npy_bytes(np.zeros(1))  # version 1.0 header, then swapped for an object dtype
    hdr = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    hdr = hdr + b" " * (64 - 10 - len(hdr) - 1) + b"\n"
    obj_npy = header[:8] + len(hdr).to_bytes(2, "little") + hdr + EVIL
    r = run(tmp_path, default_policy, wrapper_pickle("arr.npy"), {"arr.npy": obj_npy}, target="model.pkl")
    assert r.verdict is Verdict.FAIL


@pytest.mark.parametrize("name", ["../outside.npy", "/etc/passwd", "sub/arr.npy", "..", ""])
def test_name_that_leaves_the_folder_blocks(tmp_path: Path, default_policy: Policy, name: str) -> None:
    r = run(tmp_path, default_policy, wrapper_pickle(name, module="joblib.numpy_pickle_compat"))
    assert r.verdict is Verdict.FAIL
    assert "MLG-PKL-JOBLIB-FILE-PATH" in rules(r)


def test_missing_sibling_is_incomplete(tmp_path: Path, default_policy: Policy) -> None:
    r = run(tmp_path, default_policy, wrapper_pickle("gone.npy"))
    assert r.verdict is Verdict.INCOMPLETE
    assert "MLG-PKL-JOBLIB-FILE-UNCHECKED" in rules(r)


def test_symlinked_sibling_is_not_followed(tmp_path: Path, default_policy: Policy) -> None:
    (tmp_path / "elsewhere.npy").write_bytes(EVIL)
    d = tmp_path / "model"
    d.mkdir()
    os.symlink(tmp_path / "elsewhere.npy", d / "arr.npy")
    r = run(tmp_path, default_policy, wrapper_pickle("arr.npy"))
    assert r.verdict is not Verdict.PASS
    assert "MLG-PKL-JOBLIB-FILE-UNCHECKED" in rules(r)


def test_inside_an_archive_the_sibling_cannot_be_checked(tmp_path: Path, default_policy: Policy) -> None:
    z = tmp_path / "bundle.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("model.pkl", wrapper_pickle("arr.npy"))
        zf.writestr("arr.npy", npy_bytes(np.arange(3.0)))
    r = scan(z, policy=default_policy)
    assert r.verdict is not Verdict.PASS
    assert "MLG-PKL-JOBLIB-FILE-UNCHECKED" in rules(r)


def test_filename_that_is_not_a_literal_is_undecidable(tmp_path: Path, default_policy: Policy) -> None:
    pkl = pickle.dumps(1, protocol=2)[:2] + b"cjoblib.numpy_pickle\nNDArrayWrapper\n)\x81}(" + _str("filename") + \
        b"cbuiltins\nstr\n)Ru" + b"b."
    r = run(tmp_path, default_policy, pkl)
    assert r.verdict is not Verdict.PASS
