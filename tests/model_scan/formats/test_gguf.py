"""GGUF: benign files written with the gguf package's GGUFWriter, malicious chat templates, and
malformed headers built byte by byte. Nothing is loaded with llama.cpp or gguf's reader."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from mlgate.gates.model_scan.blob import Blob, bytes_blob, file_blob
from mlgate.gates.model_scan.formats.gguf import analyze_gguf, looks_like_gguf
from mlgate.model import FindingKind, Severity

from . import _templates as T
from ._util import formats, ids, only
from .test_safetensors import _GuardedStream

# -- writers ------------------------------------------------------------------------------------


def write_gguf(path: Path, chat_template: str | None = T.LLAMA3, *, extra: dict[str, str] | None = None,
               endianess: gguf.GGUFEndian = gguf.GGUFEndian.LITTLE) -> Path:
    w = gguf.GGUFWriter(str(path), "llama", endianess=endianess)
    w.add_name("tiny-test")
    w.add_context_length(128)
    w.add_token_list(["<s>", "</s>", "hello", "world"])
    w.add_token_scores([0.0, 0.0, -1.0, -2.0])
    w.add_array("test.nested", [[1, 2], [3]])
    if chat_template is not None:
        w.add_chat_template(chat_template)
    for k, v in (extra or {}).items():
        w.add_string(k, v)
    w.add_tensor("token_embd.weight", np.zeros((4, 64), dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones((64,), dtype=np.float16))
    # Q8_0: 32 elements per 34-byte block; the writer takes the byte shape.
    w.add_tensor("blk.0.attn_q.weight", np.zeros((2, 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


E = "<"


def gs(s: str | bytes, n: int | None = None) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(E + "Q", len(b) if n is None else n) + b


def kv_str(key: str, value: str | bytes, n: int | None = None) -> bytes:
    return gs(key) + struct.pack(E + "I", 8) + gs(value, n)


def kv_u32(key: str, value: int) -> bytes:
    return gs(key) + struct.pack(E + "I", 4) + struct.pack(E + "I", value)


def tinfo(name: str, dims: list[int], ggml_type: int = 0, offset: int = 0) -> bytes:
    return (gs(name) + struct.pack(E + "I", len(dims)) + b"".join(struct.pack(E + "Q", d) for d in dims)
            + struct.pack(E + "I", ggml_type) + struct.pack(E + "Q", offset))


def raw_gguf(kvs: list[bytes], tensors: list[bytes], *, version: int = 3, n_kv: int | None = None,
             n_t: int | None = None, data: bytes = b"", align: int = 32, pad: bool = True) -> bytes:
    head = (b"GGUF" + struct.pack(E + "I", version)
            + struct.pack(E + "Q", len(tensors) if n_t is None else n_t)
            + struct.pack(E + "Q", len(kvs) if n_kv is None else n_kv) + b"".join(kvs) + b"".join(tensors))
    if pad:
        head += b"\0" * (-len(head) % align)
    return head + data


# -- benign -------------------------------------------------------------------------------------


def test_benign_gguf_written_by_gguf_package(tmp_path: Path, ctx: Any) -> None:
    p = write_gguf(tmp_path / "m.gguf")
    head = p.read_bytes()[:64]
    assert looks_like_gguf(head, p.stat().st_size)
    analyze_gguf(file_blob(str(p), "m.gguf"), ctx)
    assert ctx.findings == [], [f.message for f in ctx.findings]
    assert formats(ctx) == ["chat-template", "gguf"]
    cov = next(c for c in ctx.coverage if c.format == "gguf")
    assert cov.detail.startswith("v3, ")
    assert "3 tensors" in cov.detail
    assert "1 chat template" in cov.detail


def test_big_endian_gguf(tmp_path: Path, ctx: Any) -> None:
    p = write_gguf(tmp_path / "be.gguf", endianess=gguf.GGUFEndian.BIG)
    analyze_gguf(file_blob(str(p), "be.gguf"), ctx)
    assert ctx.findings == [], [f.message for f in ctx.findings]
    assert next(c.detail for c in ctx.coverage if c.format == "gguf").startswith("big-endian v3")


@pytest.mark.parametrize("name", sorted(T.BENIGN))
def test_real_templates_in_gguf_pass(name: str, tmp_path: Path, ctx: Any) -> None:
    p = write_gguf(tmp_path / "m.gguf", T.BENIGN[name])
    analyze_gguf(file_blob(str(p), "m.gguf"), ctx)
    assert ctx.findings == []


def test_gguf_without_template(tmp_path: Path, ctx: Any) -> None:
    p = write_gguf(tmp_path / "m.gguf", None)
    analyze_gguf(file_blob(str(p), "m.gguf"), ctx)
    assert ctx.findings == []
    assert formats(ctx) == ["gguf"]


# -- malicious templates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [T.SSTI_SUBCLASSES, T.SSTI_NAMESPACE, T.SSTI_ATTR_CONCAT, T.CVE_2024_34359, T.PAYLOAD_IN_BENIGN],
    ids=["subclasses", "namespace-globals", "attr-concat", "cve-2024-34359", "appended-to-benign"],
)
def test_malicious_chat_template_is_critical(template: str, tmp_path: Path, ctx: Any) -> None:
    p = write_gguf(tmp_path / "evil.gguf", template)
    analyze_gguf(file_blob(str(p), "evil.gguf"), ctx)
    crit = only(ctx, "MLG-TPL-PYTHON-INTERNALS")
    assert crit
    assert all(f.severity is Severity.CRITICAL for f in crit)
    assert crit[0].location.member == "tokenizer.chat_template"


def test_named_template_variant_is_checked(tmp_path: Path, ctx: Any) -> None:
    p = write_gguf(tmp_path / "evil.gguf", T.CHATML, extra={"tokenizer.chat_template.tool_use": T.SSTI_NAMESPACE})
    analyze_gguf(file_blob(str(p), "evil.gguf"), ctx)
    crit = only(ctx, "MLG-TPL-PYTHON-INTERNALS")
    assert crit
    assert {f.location.member for f in crit} == {"tokenizer.chat_template.tool_use"}


def test_template_before_a_broken_tail_is_still_checked(tmp_path: Path, ctx: Any) -> None:
    data = write_gguf(tmp_path / "evil.gguf", T.SSTI_SUBCLASSES).read_bytes()
    cut = data.index(b"token_embd.weight") + 4  # inside the first tensor info
    analyze_gguf(bytes_blob("evil.gguf", data[:cut]), ctx)
    assert "MLG-TPL-PYTHON-INTERNALS" in ids(ctx)
    assert "MLG-GGUF-MALFORMED" in ids(ctx)


def test_template_of_wrong_type(ctx: Any) -> None:
    kv = gs("tokenizer.chat_template") + struct.pack("<I", 4) + struct.pack("<I", 7)
    analyze_gguf(bytes_blob("t.gguf", raw_gguf([kv], [])), ctx)
    assert ids(ctx) == ["MLG-GGUF-MALFORMED"]


# -- malformed headers --------------------------------------------------------------------------


def test_hand_built_valid_file_passes(ctx: Any) -> None:
    data = raw_gguf([kv_str("general.architecture", "llama"), kv_u32("general.alignment", 32)],
                    [tinfo("a", [8]), tinfo("b", [32], 8, 32)], data=b"\0" * (32 + 34))
    analyze_gguf(bytes_blob("ok.gguf", data), ctx)
    assert ctx.findings == [], [f.message for f in ctx.findings]


MALFORMED = {
    "bad-magic": (b"GGUX" + raw_gguf([], [])[4:], "MLG-GGUF-MALFORMED"),
    "truncated-counts": (raw_gguf([], [])[:12], "MLG-GGUF-MALFORMED"),
    "huge-kv-count": (raw_gguf([], [], n_kv=2**62), "MLG-GGUF-MALFORMED"),
    "huge-tensor-count": (raw_gguf([], [], n_t=2**40), "MLG-GGUF-MALFORMED"),
    "string-longer-than-file": (raw_gguf([kv_str("general.name", "x", n=2**60)], []), "MLG-GGUF-MALFORMED"),
    "key-longer-than-file": (raw_gguf([gs("k", n=10**9)], []), "MLG-GGUF-MALFORMED"),
    "unknown-value-type": (raw_gguf([gs("k") + struct.pack("<I", 99) + b"\0" * 8], []), "MLG-GGUF-MALFORMED"),
    "array-count-too-big": (raw_gguf([gs("k") + struct.pack("<IIQ", 9, 6, 2**61)], []), "MLG-GGUF-MALFORMED"),
    "string-array-count-too-big": (raw_gguf([gs("k") + struct.pack("<IIQ", 9, 8, 2**40)], []),
                                   "MLG-GGUF-MALFORMED"),
    "unknown-array-type": (raw_gguf([gs("k") + struct.pack("<IIQ", 9, 42, 1) + b"\0" * 8], []),
                           "MLG-GGUF-MALFORMED"),
    "arrays-nested-too-deep": (raw_gguf([gs("k") + struct.pack("<IIQ", 9, 9, 1) + struct.pack("<IQ", 9, 1)
                                         + struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 9, 1)
                                         + struct.pack("<IQ", 4, 0)], []), "MLG-GGUF-MALFORMED"),
    "too-many-dims": (raw_gguf([], [tinfo("t", [1] * 9)], data=b"\0" * 32), "MLG-GGUF-MALFORMED"),
    "bad-alignment": (raw_gguf([kv_u32("general.alignment", 24)], [tinfo("t", [8])], data=b"\0" * 32),
                      "MLG-GGUF-MALFORMED"),
    "alignment-wrong-type": (raw_gguf([kv_str("general.alignment", "32")], [tinfo("t", [8])], data=b"\0" * 32),
                             "MLG-GGUF-MALFORMED"),
    "offset-out-of-file": (raw_gguf([], [tinfo("t", [8], 0, 2**40)], data=b"\0" * 32), "MLG-GGUF-TENSOR"),
    "tensor-past-end": (raw_gguf([], [tinfo("t", [1024])], data=b"\0" * 32), "MLG-GGUF-TENSOR"),
    "misaligned-offset": (raw_gguf([], [tinfo("t", [1], 0, 4)], data=b"\0" * 64), "MLG-GGUF-TENSOR"),
    "unknown-ggml-type": (raw_gguf([], [tinfo("t", [8], 4)], data=b"\0" * 32), "MLG-GGUF-TENSOR"),
    "block-size-mismatch": (raw_gguf([], [tinfo("t", [8], 2)], data=b"\0" * 32), "MLG-GGUF-TENSOR"),
    "dims-overflow": (raw_gguf([], [tinfo("t", [2**40, 2**40])], data=b"\0" * 32), "MLG-GGUF-TENSOR"),
    "name-too-long": (raw_gguf([], [tinfo("t" * 65, [8])], data=b"\0" * 32), "MLG-GGUF-TENSOR"),
    "overlapping-tensors": (raw_gguf([], [tinfo("a", [16]), tinfo("b", [16], 0, 32)], data=b"\0" * 128),
                            "MLG-GGUF-TENSOR"),
    "data-start-past-eof": (raw_gguf([], [tinfo("t", [0])], pad=False), "MLG-GGUF-TENSOR"),
    "duplicate-key": (raw_gguf([kv_str("tokenizer.chat_template", "{{ x }}"),
                                kv_str("tokenizer.chat_template", "{{ y }}")], []), "MLG-GGUF-DUPLICATE-KEY"),
    "duplicate-tensor": (raw_gguf([], [tinfo("t", [8]), tinfo("t", [8], 0, 32)], data=b"\0" * 64),
                         "MLG-GGUF-DUPLICATE-KEY"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_gguf(name: str, ctx: Any) -> None:
    data, rule_id = MALFORMED[name]
    analyze_gguf(bytes_blob(f"{name}.gguf", data), ctx)
    assert rule_id in ids(ctx), [f.message for f in ctx.findings]
    assert all(f.severity is Severity.HIGH for f in ctx.findings)


@pytest.mark.parametrize("cut", [5, 9, 20, 30, 100, 400, 700])
def test_every_truncation_of_a_real_file_is_malformed(cut: int, tmp_path: Path, ctx: Any) -> None:
    data = write_gguf(tmp_path / "m.gguf").read_bytes()
    analyze_gguf(bytes_blob("cut.gguf", data[:cut]), ctx)
    assert ids(ctx)
    assert set(ids(ctx)) <= {"MLG-GGUF-MALFORMED", "MLG-GGUF-TENSOR"}
    assert "gguf" not in formats(ctx)


def test_version_1_is_unsupported(ctx: Any) -> None:
    analyze_gguf(bytes_blob("v1.gguf", raw_gguf([], [], version=1)), ctx)
    assert ids(ctx) == ["MLG-GGUF-VERSION"]
    assert ctx.findings[0].kind is FindingKind.UNSUPPORTED
    assert "gguf" not in formats(ctx)


def test_header_over_limit_is_a_limit_not_a_pass(make_ctx: Any) -> None:
    ctx = make_ctx(limits={"max_header_bytes": 1024})
    analyze_gguf(bytes_blob("big.gguf", raw_gguf([kv_str("general.name", "x" * 4000)], [])), ctx)
    assert ids(ctx) == ["MLG-FILE-LIMIT"]
    assert "gguf" not in formats(ctx)


def test_tensor_data_is_never_read(tmp_path: Path, ctx: Any) -> None:
    size = 2 * 1024**3
    n = (size - 4096) // 4
    head = raw_gguf([kv_str("tokenizer.chat_template", T.CHATML)], [tinfo("w", [n])], align=4096)
    assert len(head) == 4096

    analyze_gguf(Blob(name="big.gguf", size=size, opener=lambda: _GuardedStream(head, size)), ctx)  # type: ignore[arg-type,return-value]
    assert ctx.findings == [], [f.message for f in ctx.findings]
    assert "gguf" in formats(ctx)
