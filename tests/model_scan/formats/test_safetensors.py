"""safetensors header validation. Malformed samples are built byte by byte; where the reference
parser (the safetensors Rust crate, through ``safe_open``, which reads the header only) also
rejects a sample, the test says so, so the two stay in step."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save as st_save

from mlgate.gates.model_scan.blob import Blob, bytes_blob
from mlgate.gates.model_scan.formats.safetensors import analyze_safetensors, looks_like_safetensors
from mlgate.model import Severity

from ._util import formats, ids


def st_file(header: dict[str, Any] | bytes | str, data: bytes = b"", n: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else (
        header.encode() if isinstance(header, str) else json.dumps(header).encode()
    )
    return struct.pack("<Q", len(raw) if n is None else n) + raw + data


def t(dtype: str, shape: list[Any], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def reference_rejects(tmp_path: Path, data: bytes) -> bool:
    p = tmp_path / "ref.safetensors"
    p.write_bytes(data)
    try:
        with safe_open(str(p), framework="numpy") as f:
            list(f.keys())
    except Exception:
        return True
    return False


def real_file() -> bytes:
    return st_save(
        {
            "embed.weight": np.zeros((16, 8), dtype=np.float32),
            "ln.bias": np.ones((8,), dtype=np.float16),
            "ids": np.arange(5, dtype=np.int64),
            "mask": np.array([True, False]),
            "empty": np.zeros((0, 3), dtype=np.float32),
        },
        metadata={"format": "pt", "note": "benign"},
    )


def test_real_file_is_valid_and_covered(ctx: Any, tmp_path: Path) -> None:
    data = real_file()
    assert looks_like_safetensors(data[:64], len(data))
    analyze_safetensors(bytes_blob("m.safetensors", data), ctx)
    assert ctx.findings == []
    assert formats(ctx) == ["safetensors"]
    assert ctx.coverage[0].detail == "5 tensors"
    assert not reference_rejects(tmp_path, data)


def test_empty_header_and_null_metadata_are_valid(ctx: Any) -> None:
    analyze_safetensors(bytes_blob("e.safetensors", st_file({})), ctx)
    analyze_safetensors(bytes_blob("m.safetensors", st_file({"__metadata__": None})), ctx)
    assert ctx.findings == []
    assert [c.detail for c in ctx.coverage] == ["0 tensors", "0 tensors"]


def test_padded_header_and_subbyte_dtype_are_valid(ctx: Any) -> None:
    header = json.dumps({"a": t("F4", [4], 0, 2), "b": t("BF16", [2], 2, 6), "c": t("F8_E8M0", [1], 6, 7)})
    header += " " * (-len(header) % 8)  # writers pad with spaces to 8-byte alignment
    analyze_safetensors(bytes_blob("p.safetensors", st_file(header, b"\0" * 7)), ctx)
    assert ctx.findings == []
    assert formats(ctx) == ["safetensors"]


ONE = {"w": t("F32", [2, 2], 0, 16)}
MALFORMED: list[tuple[str, bytes, str, bool]] = [
    # name, file bytes, expected rule, the reference parser rejects it too
    ("oversized-header-length", st_file(ONE, b"\0" * 16, n=10_000), "MLG-ST-HEADER", True),
    ("huge-header-length", st_file(ONE, b"\0" * 16, n=2**63), "MLG-ST-HEADER", True),
    ("header-length-below-2", st_file(b"{", n=1) + b"\0" * 8, "MLG-ST-HEADER", True),
    ("not-an-object-start", st_file(b'["w"]'), "MLG-ST-HEADER", True),
    ("not-utf8", st_file(b'{"\xff\xfe": 1}'), "MLG-ST-HEADER", True),
    ("not-json", st_file(b"{not json at all}"), "MLG-ST-HEADER", True),
    ("trailing-garbage-in-header", st_file(b'{"w": {}} xx'), "MLG-ST-HEADER", True),
    ("nan-literal", st_file(b'{"__metadata__": {"a": NaN}}'), "MLG-ST-HEADER", True),
    ("duplicate-tensor-key",
     st_file(b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
             b'"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', b"\0" * 8),
     "MLG-ST-HEADER", False),
    ("duplicate-field-in-tensor",
     st_file(b'{"w": {"dtype": "F32", "dtype": "I32", "shape": [1], "data_offsets": [0, 4]}}', b"\0" * 4),
     "MLG-ST-HEADER", True),
    ("metadata-not-object", st_file({"__metadata__": ["a"], **ONE}, b"\0" * 16), "MLG-ST-METADATA", True),
    ("metadata-non-string-value", st_file({"__metadata__": {"epochs": 3}, **ONE}, b"\0" * 16),
     "MLG-ST-METADATA", True),
    ("entry-not-object", st_file({"w": [1, 2]}), "MLG-ST-TENSOR", True),
    ("missing-field", st_file({"w": {"dtype": "F32", "shape": [1]}}, b"\0" * 4), "MLG-ST-TENSOR", True),
    ("bad-dtype", st_file({"w": t("F128", [1], 0, 16)}, b"\0" * 16), "MLG-ST-TENSOR", True),
    ("dtype-not-string", st_file({"w": t(7, [1], 0, 4)}, b"\0" * 4), "MLG-ST-TENSOR", True),  # type: ignore[arg-type]
    ("negative-dim", st_file({"w": t("F32", [-1], 0, 4)}, b"\0" * 4), "MLG-ST-TENSOR", True),
    ("float-dim", st_file({"w": t("F32", [1.0], 0, 4)}, b"\0" * 4), "MLG-ST-TENSOR", True),
    ("bool-dim", st_file({"w": t("F32", [True], 0, 4)}, b"\0" * 4), "MLG-ST-TENSOR", True),
    ("shape-not-list", st_file({"w": t("F32", 4, 0, 16)}, b"\0" * 16), "MLG-ST-TENSOR", True),  # type: ignore[arg-type]
    ("offsets-three-values", st_file({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, b"\0" * 8),
     "MLG-ST-TENSOR", True),
    ("begin-after-end", st_file({"w": t("F32", [0], 8, 4)}, b"\0" * 8), "MLG-ST-TENSOR", True),
    ("offsets-out-of-range", st_file({"w": t("F32", [4], 0, 16)}, b"\0" * 8), "MLG-ST-TENSOR", True),
    ("offsets-far-out-of-range", st_file({"w": t("F32", [2**40], 0, 2**42)}, b"\0" * 8), "MLG-ST-TENSOR", True),
    ("wrong-size-for-dtype", st_file({"w": t("F16", [2, 2], 0, 16)}, b"\0" * 16), "MLG-ST-TENSOR", True),
    ("subbyte-not-byte-aligned", st_file({"w": t("F4", [3], 0, 2)}, b"\0" * 2), "MLG-ST-TENSOR", True),
    ("shape-overflow", st_file({"w": t("U8", [2**32, 2**32, 2**32], 0, 8)}, b"\0" * 8), "MLG-ST-TENSOR", True),
    ("overlap", st_file({"a": t("F32", [2], 0, 8), "b": t("F32", [2], 4, 12)}, b"\0" * 12), "MLG-ST-LAYOUT", True),
    ("same-span-twice", st_file({"a": t("F32", [2], 0, 8), "b": t("F32", [2], 0, 8)}, b"\0" * 8),
     "MLG-ST-LAYOUT", True),
    ("hole", st_file({"a": t("F32", [1], 0, 4), "b": t("F32", [1], 8, 12)}, b"\0" * 12), "MLG-ST-LAYOUT", True),
    ("hole-at-start", st_file({"a": t("F32", [1], 4, 8)}, b"\0" * 8), "MLG-ST-LAYOUT", True),
    ("uncovered-trailing-bytes", st_file(ONE, b"\0" * 16 + b"PAYLOAD!"), "MLG-ST-LAYOUT", True),
]


@pytest.mark.parametrize(("name", "data", "rule_id", "reference_too"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_headers_are_high_findings(
    name: str, data: bytes, rule_id: str, reference_too: bool, ctx: Any, tmp_path: Path
) -> None:
    analyze_safetensors(bytes_blob(f"{name}.safetensors", data), ctx)
    assert rule_id in ids(ctx), [f.message for f in ctx.findings]
    assert all(f.severity is Severity.HIGH for f in ctx.findings)
    assert "safetensors" not in formats(ctx)  # a malformed file is never reported as covered
    if reference_too:
        assert reference_rejects(tmp_path, data), f"{name}: the reference parser accepts it"


def test_duplicate_tensor_keys_are_a_parser_differential(ctx: Any, tmp_path: Path) -> None:
    """The reference parser silently keeps the last duplicate (here a valid layout), a first-wins
    parser reads another tensor: we refuse the ambiguity."""
    data = dict(MALFORMED_BY_NAME)["duplicate-tensor-key"]
    assert not reference_rejects(tmp_path, data)
    analyze_safetensors(bytes_blob("d.safetensors", data), ctx)
    assert ids(ctx) == ["MLG-ST-HEADER"]
    assert "duplicate key 'w'" in ctx.findings[0].message


MALFORMED_BY_NAME = [(m[0], m[1]) for m in MALFORMED]


def test_header_over_configured_limit(make_ctx: Any) -> None:
    header = json.dumps(ONE) + " " * 2000
    ctx = make_ctx(limits={"max_header_bytes": 1024})
    analyze_safetensors(bytes_blob("big.safetensors", st_file(header, b"\0" * 16)), ctx)
    assert ids(ctx) == ["MLG-ST-HEADER"]
    assert "exceeds the limit of 1024" in ctx.findings[0].message


def test_short_file(ctx: Any) -> None:
    analyze_safetensors(bytes_blob("s.safetensors", b"\x02\0\0"), ctx)
    assert ids(ctx) == ["MLG-ST-HEADER"]


def test_many_bad_tensors_are_capped(ctx: Any) -> None:
    header = {f"t{i}": t("F99", [1], 0, 4) for i in range(50)}
    analyze_safetensors(bytes_blob("many.safetensors", st_file(header, b"\0" * 4)), ctx)
    assert 10 < len(ctx.findings) <= 11
    assert ctx.findings[-1].details.get("truncated") is True


class _GuardedStream(io.RawIOBase):
    """A 2 GiB 'file' that serves its header and fails the test if anything reads past it."""

    def __init__(self, head: bytes, size: int) -> None:
        self.head, self.size, self.pos = head, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else (self.pos + offset if whence == 1 else self.size + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, b: Any) -> int:
        if self.pos >= len(self.head):
            raise AssertionError(f"tensor data read at offset {self.pos}")
        chunk = self.head[self.pos : self.pos + len(b)]
        b[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def test_two_gigabyte_file_costs_a_header_read(ctx: Any) -> None:
    size = 2 * 1024**3
    n_elem = (size - 8 - 512) // 4
    header = json.dumps({"w": t("F32", [n_elem], 0, n_elem * 4)}).encode()
    header += b" " * (512 - len(header))
    head = struct.pack("<Q", len(header)) + header
    assert len(head) + n_elem * 4 == size

    def opener() -> BinaryIO:
        return _GuardedStream(head, size)  # type: ignore[return-value]

    analyze_safetensors(Blob(name="big.safetensors", size=size, opener=opener), ctx)
    assert ctx.findings == []
    assert formats(ctx) == ["safetensors"]


@pytest.mark.parametrize(
    "head",
    [b"\x80\x04\x95" + b"\0" * 20, b"PK\x03\x04" + b"\0" * 20, b"GGUF\x03\0\0\0" + b"\0" * 20, b"\x10\0\0\0\0\0\0\0x"],
)
def test_sniff_rejects_other_formats(head: bytes) -> None:
    assert not looks_like_safetensors(head, 1000)


def test_sniff_accepts_malformed_lengths_so_they_get_analysed() -> None:
    data = st_file(ONE, b"\0" * 16, n=2**63)
    assert looks_like_safetensors(data[:64], len(data))
