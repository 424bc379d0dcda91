"""Small hostile files for each new parser finish quickly with a finding (never pass, never a hang)."""

from __future__ import annotations

import struct

import pytest

from mlgate.gates.model_scan.blob import bytes_blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats import onnx as onnx_fmt
from mlgate.gates.model_scan.formats.onnx import analyze_onnx
from mlgate.gates.model_scan.formats.serving import analyze_flax_msgpack
from mlgate.gates.model_scan.formats.tensorflow import analyze_tf_graph

from ._util import blocking, ids


def ld(field: int, payload: bytes) -> bytes:
    n = len(payload)
    out = bytearray([(field << 3) | 2])
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes(out) + payload


def nested_onnx(depth: int) -> bytes:
    graph = ld(1, ld(4, b"Identity"))  # GraphProto { node { op_type } }
    for _ in range(depth):
        attr = ld(1, b"then_branch") + ld(6, graph)  # AttributeProto { name, g }
        graph = ld(1, ld(4, b"If") + ld(5, attr))
    return b"\x08\x08" + ld(7, graph)


def test_graphs_nested_beyond_the_bound_are_refused(ctx: ScanContext) -> None:
    analyze_onnx(bytes_blob("m.onnx", nested_onnx(onnx_fmt.MAX_GRAPH_DEPTH + 5)), ctx)
    assert ids(ctx) == ["MLG-ONNX-MALFORMED"]


def test_node_count_bound(ctx: ScanContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_fmt, "MAX_NODES", 1000)
    graph = ld(1, ld(4, b"Relu")) * 5000
    analyze_onnx(bytes_blob("m.onnx", b"\x08\x08" + ld(7, graph)), ctx)
    assert ids(ctx) == ["MLG-FILE-LIMIT"]


@pytest.mark.parametrize("data", [
    b"\x08\x08\x3a\xff\xff\xff\xff\x0f",            # graph length far past the end
    b"\x08\x08\x3a\x02\x0b\x00",                    # start-group wire type inside the graph
    b"\x08" + b"\xff" * 20,                          # varint longer than 10 bytes
])
def test_broken_wire_format_is_malformed(data: bytes, ctx: ScanContext) -> None:
    analyze_onnx(bytes_blob("m.onnx", data), ctx)
    assert ids(ctx) == ["MLG-ONNX-MALFORMED"]
    assert blocking(ctx)


def test_tf_graph_with_broken_function_library(ctx: ScanContext) -> None:
    data = b"\x08\x01" + ld(2, ld(2, ld(2, ld(1, ld(3, b"\x12\x09ReadF")))))
    analyze_tf_graph(bytes_blob("saved_model.pb", data), ctx, "savedmodel")
    assert ids(ctx) == ["MLG-TF-MALFORMED"]


@pytest.mark.parametrize("data", [
    b"\x81\xa1a\xdd\xff\xff\xff\xff",                # array of 2^32-1 values in 8 bytes
    b"\x81\xa1a" + b"\x91" * 10_000 + b"\x00",        # nesting 10,000 deep
    b"\x81\xa1a\xc9" + struct.pack(">I", 2**31) + b"\x01",  # ext payload past the end
])
def test_msgpack_bombs(data: bytes, ctx: ScanContext) -> None:
    analyze_flax_msgpack(bytes_blob("ckpt.msgpack", data), ctx)
    assert ids(ctx) in (["MLG-SERVE-MSGPACK-MALFORMED"], ["MLG-FILE-LIMIT"]), ids(ctx)
