"""ONNX analysis. Benign models are written by the real ``onnx`` package (``onnx.helper`` +
``onnx.save_model``, pinned in constraints.txt) at test time; malicious variants follow the published
advisories (CVE-2022-25882 / CVE-2024-27318 external-data traversal) and techniques (custom-op domains,
Python ops). Nothing is loaded with ``onnx.load`` or a runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlgate.api import scan
from mlgate.gates.model_scan.blob import bytes_blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats.onnx import analyze_onnx, bad_location
from mlgate.gates.model_scan.formats.registry import sniff_model_format
from mlgate.model import Severity, Verdict
from mlgate.policy import Policy

from ._util import blocking, formats, ids, only

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def mlp(*, custom_domain: str | None = None, op: str = "Relu", with_if: bool = True, big: int = 4) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.arange(big * 4, dtype=np.float32).reshape(big, 4), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node(op, ["h"], ["y0"], domain=custom_domain or "")]
    if with_if:
        then_g = helper.make_graph([helper.make_node("Identity", ["y0"], ["t"])], "then", [],
                                   [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
        else_g = helper.make_graph([helper.make_node("Neg", ["y0"], ["e"])], "else", [],
                                   [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
        nodes.append(helper.make_node("Constant", [], ["c"], value=helper.make_tensor("cv", TensorProto.BOOL, [], [True])))
        nodes.append(helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g))
    else:
        nodes.append(helper.make_node("Identity", ["y0"], ["y"]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, big])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[w])
    opsets = [helper.make_opsetid("", 17)]
    if custom_domain:
        opsets.append(helper.make_opsetid(custom_domain, 1))
    return helper.make_model(g, opset_imports=opsets, producer_name="mlgate-tests")


def analyze(model: onnx.ModelProto, ctx: ScanContext) -> None:
    analyze_onnx(bytes_blob("model.onnx", model.SerializeToString()), ctx)


def test_benign_model_with_nested_graph(ctx: ScanContext) -> None:
    analyze(mlp(), ctx)
    assert ctx.findings == []
    assert "onnx" in formats(ctx)
    assert ctx.details["onnx"]["graphs"] == 3  # main + then + else
    assert ctx.details["onnx"]["nodes"] == 6


def test_benign_external_data_written_by_onnx_passes_the_gate(tmp_path: Path, default_policy: Policy) -> None:
    d = tmp_path / "m"
    d.mkdir()
    onnx.save_model(mlp(big=64), str(d / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=0)
    assert (d / "model.onnx.data").exists()
    r = scan(d, policy=default_policy)
    onnx_subject = next(s for s in r.subjects if s.subject.endswith("model.onnx"))
    assert onnx_subject.verdict is Verdict.PASS, onnx_subject.findings
    assert not onnx_subject.findings
    # The external data file has no header: it passes as raw tensor bytes because the model beside it
    # names it (test_sidecars.py: an unreferenced headerless file stays not-pass).
    data_subject = next(s for s in r.subjects if s.subject.endswith(".data"))
    assert data_subject.verdict is Verdict.PASS, data_subject.findings
    assert data_subject.details["weights_of"] == "model.onnx"


@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "sub/../../x.bin", "/dev/zero",
                                      "..\\..\\windows\\win.ini", "C:\\Windows\\system.ini", "/proc/self/environ"])
def test_cve_2022_25882_external_data_traversal(location: str, ctx: ScanContext) -> None:
    """onnx.load follows external_data locations outside the model folder.
    https://nvd.nist.gov/vuln/detail/CVE-2022-25882 (and the bypass of its fix, CVE-2024-27318)."""
    m = mlp()
    t = m.graph.initializer[0]
    t.ClearField("float_data")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "64")):
        e = t.external_data.add()
        e.key, e.value = k, v
    analyze(m, ctx)
    f = only(ctx, "MLG-ONNX-EXTERNAL-PATH")
    assert f, ids(ctx)
    assert f[0].severity is Severity.CRITICAL
    assert any("CVE-2024-27318" in ref for ref in f[0].references)


def test_bad_location_cases() -> None:
    assert bad_location("weights/model.bin") is None
    assert bad_location("./model.onnx.data") is None
    for bad in ("", "..", "a/../../b", "/abs", "~/x", "\\\\.\\PhysicalDrive0", "nul", "COM1"):
        assert bad_location(bad) is not None, bad


def test_custom_domain_blocks(ctx: ScanContext) -> None:
    analyze(mlp(custom_domain="com.evil.ops", op="Backdoor"), ctx)
    f = only(ctx, "MLG-ONNX-CUSTOM-OP")
    assert f, ids(ctx)
    assert f[0].details["domain"] == "com.evil.ops"
    assert blocking(ctx)


def test_python_op_is_critical(ctx: ScanContext) -> None:
    analyze(mlp(custom_domain="ai.onnx.contrib", op="PyOp"), ctx)
    assert only(ctx, "MLG-ONNX-PYTHON-OP")[0].severity is Severity.CRITICAL


def test_custom_op_inside_nested_graph_is_found(ctx: ScanContext) -> None:
    m = mlp()
    if_node = m.graph.node[-1]
    body = if_node.attribute[0].g
    body.node.append(helper.make_node("Steal", ["y0"], ["z"], domain="evil"))
    analyze(m, ctx)
    assert only(ctx, "MLG-ONNX-CUSTOM-OP"), ids(ctx)


def test_local_function_domain_is_allowed(ctx: ScanContext) -> None:
    fn = helper.make_function("local.fns", "MyRelu", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
                              [helper.make_opsetid("", 17)])
    m = mlp(custom_domain="local.fns", op="MyRelu")
    m.functions.append(fn)
    analyze(m, ctx)
    assert ctx.findings == []


def test_oversized_tensor_dims(ctx: ScanContext) -> None:
    m = mlp()
    t = m.graph.initializer[0]
    del t.dims[:]
    t.dims.extend([1 << 30, 1 << 30, 1 << 10])
    analyze(m, ctx)
    assert only(ctx, "MLG-ONNX-TENSOR"), ids(ctx)


def test_truncated_model_is_malformed(ctx: ScanContext) -> None:
    raw = mlp().SerializeToString()
    analyze_onnx(bytes_blob("m.onnx", raw[:-7]), ctx)
    assert ids(ctx) == ["MLG-ONNX-MALFORMED"]


def test_small_utf8_onnx_is_not_text(tmp_path: Path, default_policy: Policy) -> None:
    """Issue 10: small ONNX files whose bytes are valid UTF-8 were sniffed as text and passed."""
    m = mlp(custom_domain="evil", op="X", with_if=False, big=1)
    m.graph.ClearField("initializer")
    raw = m.SerializeToString()
    raw.decode("utf-8")  # the premise: the whole file is valid UTF-8
    # graph first, ir_version last: a field order protobuf accepts and the quick sniff does not expect
    reordered = bytes(raw[raw.index(b"\x3a"):]) + bytes(raw[: raw.index(b"\x3a")])
    for data in (raw, reordered):
        assert sniff_model_format(bytes_blob("x", data), data[:4096]) == "onnx"
        p = tmp_path / "model.onnx"
        p.write_bytes(data)
        r = scan(p, policy=default_policy)
        assert r.verdict is Verdict.FAIL
        assert any(f.id == "MLG-ONNX-CUSTOM-OP" for s in r.subjects for f in s.findings)


# --------------------------------------------------------------------------------------------
# Differential: the onnx package's own protobuf parser (generated classes only, no checker, no runtime)
# --------------------------------------------------------------------------------------------

def reference_view(data: bytes) -> tuple[int, set[str], set[str]] | None:
    """(nodes, domains, external locations) as onnx's protobuf parser reads the bytes, or None."""
    m = onnx.ModelProto()
    try:
        m.ParseFromString(data)
    except Exception:
        return None
    nodes = 0
    domains: set[str] = set()
    locations: set[str] = set()

    def graph(g: onnx.GraphProto) -> None:
        nonlocal nodes
        for t in g.initializer:
            locations.update(e.value for e in t.external_data if e.key == "location")
        for n in g.node:
            nodes += 1
            domains.add(n.domain)
            for a in n.attribute:
                if a.HasField("g"):
                    graph(a.g)
                for sub in a.graphs:
                    graph(sub)

    graph(m.graph)
    return nodes, domains, locations


def test_differential_against_onnx_protobuf_parser(make_ctx: object) -> None:
    import random

    rng = random.Random(1234)
    m = mlp(custom_domain="x.y", op="Z")
    t = m.graph.initializer[0]
    e = t.external_data.add()
    e.key, e.value = "location", "w.bin"
    base = m.SerializeToString()
    agree = rejected_by_us = 0
    for i in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.5:
                data[pos] = rng.randrange(256)
            elif op < 0.75:
                del data[pos : pos + rng.randint(1, 8)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        ref = reference_view(bytes(data))
        if ref is None:
            continue
        ctx = make_ctx()  # type: ignore[operator]
        analyze_onnx(bytes_blob("m.onnx", bytes(data)), ctx)
        if "MLG-ONNX-MALFORMED" in ids(ctx):
            rejected_by_us += 1  # fail closed: high, blocks
            continue
        nodes, domains, locations = ref
        info = ctx.details["onnx"]
        assert info["nodes"] == nodes, (i, info["nodes"], nodes)
        assert set(info["external_data"]) == locations, i
        custom = {f.details["domain"] for f in only(ctx, "MLG-ONNX-CUSTOM-OP")}
        assert custom == {d for d in domains if d not in ("", "ai.onnx")}, i
        agree += 1
    assert agree > 25, (agree, rejected_by_us)  # the mutations leave enough loadable models to compare
    assert rejected_by_us < agree, (agree, rejected_by_us)


def test_unknown_fields_do_not_hide_an_onnx_model(tmp_path: Path, default_policy: Policy) -> None:
    """ParseFromString skips unknown fields; a UTF-8 model with one is still ONNX, whatever its name."""
    m = mlp(custom_domain="evil", op="X", with_if=False, big=1)
    m.graph.ClearField("initializer")
    raw = m.SerializeToString()
    data = raw + b"\xfa\x07\x03abc"  # field 127, length-delimited: unknown to ModelProto
    ref = onnx.ModelProto()
    ref.ParseFromString(data)
    assert ref.graph.node[1].domain == "evil"
    p = tmp_path / "weights.bin"
    p.write_bytes(data)
    r = scan(p, policy=default_policy)
    assert any(f.id == "MLG-ONNX-CUSTOM-OP" for s in r.subjects for f in s.findings)


def test_text_in_an_onnx_file_never_passes(tmp_path: Path, default_policy: Policy) -> None:
    p = tmp_path / "model.onnx"
    p.write_text("just some text that is not a protobuf\n")
    r = scan(p, policy=default_policy)
    assert r.verdict is not Verdict.PASS
