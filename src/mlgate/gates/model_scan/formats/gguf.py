"""GGUF (llama.cpp) files: a strict, bounded header parser of our own, and the chat templates in
the metadata.

Layout (v2/v3; v1 used 32-bit counts and is reported unsupported)::

    "GGUF" | u32 version | u64 tensor_count | u64 kv_count
    kv_count x (string key | u32 value_type | value)
    tensor_count x (string name | u32 n_dims | n_dims x u64 dim | u32 ggml_type | u64 offset)
    padding to general.alignment (default 32) | tensor data

Strings are ``u64 length + UTF-8 bytes``; arrays are ``u32 element type + u64 count + elements``.
Big-endian files (same magic, byte-swapped numbers) are recognised by their version field.

Every length and count is checked against the bytes that remain in the file *before* anything is
read or allocated (an attacker-chosen ``u64`` must not make us allocate), and the whole header
against ``limits.max_header_bytes``. ``tokenizer.chat_template`` and ``tokenizer.chat_template.*``
go through :func:`check_jinja_template` (CVE-2024-34359). Tensor infos are validated lightly:
name, rank, known type, block alignment of the first dimension, offsets aligned and inside the
file, no overlaps. Tensor data is never read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats.templates import check_jinja_template
from mlgate.gates.model_scan.rules import rule
from mlgate.model import FindingKind, Severity

REFS = (
    "https://github.com/ggml-org/ggml/blob/master/docs/gguf.md",
    "https://nvd.nist.gov/vuln/detail/CVE-2024-34359",
)
R_MALFORMED = rule(
    "MLG-GGUF-MALFORMED",
    "GGUF header is malformed",
    Severity.HIGH,
    "Do not load the file: out-of-range lengths and counts in GGUF headers have been used to corrupt memory in "
    "GGUF parsers. Obtain a clean copy or re-convert the model.",
    (*REFS, "https://www.databricks.com/blog/ggml-gguf-file-format-vulnerabilities"),
)
R_DUPLICATE = rule(
    "MLG-GGUF-DUPLICATE-KEY",
    "GGUF metadata key or tensor name appears twice",
    Severity.HIGH,
    "Readers disagree on which value wins, so a reviewed chat template or tensor can be shadowed. Re-convert "
    "the model.",
    REFS,
)
R_TENSOR = rule(
    "MLG-GGUF-TENSOR",
    "GGUF tensor info is invalid (type, shape, alignment or offset)",
    Severity.HIGH,
    "Do not load the file: tensor offsets outside the file or overlapping tensors make loaders read out of "
    "bounds or alias weights. Re-convert the model.",
    REFS,
)
R_VERSION = rule(
    "MLG-GGUF-VERSION",
    "GGUF version not supported by the analyser",
    Severity.MEDIUM,
    "Re-convert the model with a current llama.cpp (GGUF v3).",
    REFS,
    kind=FindingKind.UNSUPPORTED,
)

MAGIC = b"GGUF"
# value type -> (struct code, size); STRING=8 and ARRAY=9 are variable.
SCALARS: dict[int, tuple[str, int]] = {
    0: ("B", 1), 1: ("b", 1), 2: ("H", 2), 3: ("h", 2), 4: ("I", 4), 5: ("i", 4), 6: ("f", 4), 7: ("?", 1),
    10: ("Q", 8), 11: ("q", 8), 12: ("d", 8),
}
T_STRING, T_ARRAY = 8, 9
TYPE_NAMES = {0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool",
              8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64"}
# ggml_type -> (name, block size in elements, bytes per block); from ggml.h / gguf-py GGML_QUANT_SIZES.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}
MAX_DIMS = 8
MAX_TENSOR_NAME = 64  # GGML_MAX_NAME: llama.cpp refuses longer names
MAX_ARRAY_NESTING = 3
DEFAULT_ALIGNMENT = 32
INT64_MAX = 2**63 - 1
MIN_KV_BYTES = 8 + 4 + 1  # empty key, type, 1-byte value
MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # empty name, n_dims, type, offset
TEMPLATE_KEY = "tokenizer.chat_template"
KEEP_KEYS = frozenset({"general.alignment", "general.architecture", "general.name"})


def looks_like_gguf(head: bytes, size: int) -> bool:
    return size >= 4 and head[:4] == MAGIC


class _Malformed(Exception):
    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class _OverLimit(Exception):
    pass


class _Reader:
    """Bounded sequential reads: every length is checked against the remaining bytes and the
    header budget before it is read."""

    def __init__(self, f: BinaryIO, size: int, limit: int, ctx: ScanContext) -> None:
        self.f = f
        self.size = size
        self.limit = limit
        self.ctx = ctx
        self.pos = 0
        self.endian = "<"
        self.ticks = 0

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def need(self, n: int, what: str) -> None:
        if n > self.remaining:
            raise _Malformed(f"{what}: needs {n} bytes but only {self.remaining} remain", self.pos)
        if self.pos + n > self.limit:
            raise _OverLimit(f"GGUF header larger than limits.max_header_bytes ({self.limit} bytes) at {what}")

    def read(self, n: int, what: str) -> bytes:
        self.need(n, what)
        data = self.f.read(n)
        if len(data) != n:
            raise _Malformed(f"{what}: short read", self.pos)
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        self.f.seek(n, 1)
        self.pos += n

    def scalar(self, code: str, size: int, what: str) -> Any:
        return struct.unpack(self.endian + code, self.read(size, what))[0]

    def u32(self, what: str) -> int:
        return int(self.scalar("I", 4, what))

    def u64(self, what: str) -> int:
        return int(self.scalar("Q", 8, what))

    def string_len(self, what: str) -> int:
        n = self.u64(f"{what} length")
        self.need(n, what)
        return n

    def string(self, what: str) -> str:
        n = self.string_len(what)
        return self.read(n, what).decode("utf-8", errors="replace")

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks % 4096 == 0:
            self.ctx.check_time()


@dataclass
class _Header:
    version: int = 0
    endian: str = "<"
    tensor_count: int = 0
    kv_count: int = 0
    kv: dict[str, Any] = field(default_factory=dict)
    kv_types: dict[str, int] = field(default_factory=dict)
    templates: list[tuple[str, int, Any]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    tensors: list[tuple[str, list[int], int, int]] = field(default_factory=list)
    infos_end: int = 0


def _value(r: _Reader, vtype: int, what: str, keep: bool, depth: int = 0) -> Any:
    r.tick()
    if vtype in SCALARS:
        code, size = SCALARS[vtype]
        return r.scalar(code, size, what)
    if vtype == T_STRING:
        if keep:
            return r.string(what)
        r.skip(r.string_len(what), what)
        return None
    if vtype == T_ARRAY:
        if depth >= MAX_ARRAY_NESTING:
            raise _Malformed(f"{what}: arrays nested deeper than {MAX_ARRAY_NESTING}", r.pos)
        etype = r.u32(f"{what} element type")
        count = r.u64(f"{what} element count")
        if etype in SCALARS:
            esize = SCALARS[etype][1]
            r.skip(count * esize, f"{what} ({count} x {TYPE_NAMES[etype]})")
            return None
        if etype == T_STRING:
            r.need(count * 8, f"{what} ({count} strings)")
            for i in range(count):
                r.tick()
                r.skip(r.string_len(f"{what}[{i}]"), f"{what}[{i}]")
            return None
        if etype == T_ARRAY:
            r.need(count * 12, f"{what} ({count} arrays)")
            for i in range(count):
                _value(r, T_ARRAY, f"{what}[{i}]", False, depth + 1)
            return None
        raise _Malformed(f"{what}: unknown array element type {etype}", r.pos - 12)
    raise _Malformed(f"{what}: unknown value type {vtype}", r.pos - 4)


def _parse(r: _Reader, h: _Header) -> None:
    magic = r.read(4, "magic")
    if magic != MAGIC:
        raise _Malformed(f"bad magic {magic!r}", 0)
    raw_version = r.read(4, "version")
    (le,) = struct.unpack("<I", raw_version)
    (be,) = struct.unpack(">I", raw_version)
    if le in (2, 3):
        h.version, h.endian = le, "<"
    elif be in (2, 3):
        h.version, h.endian = be, ">"
    else:
        h.version = le if le < be else be
        return
    r.endian = h.endian
    h.tensor_count = r.u64("tensor_count")
    h.kv_count = r.u64("kv_count")
    if h.kv_count * MIN_KV_BYTES > r.remaining:
        raise _Malformed(f"kv_count {h.kv_count} cannot fit in the {r.remaining} remaining bytes", 16)
    if h.tensor_count * MIN_TENSOR_INFO_BYTES > r.remaining:
        raise _Malformed(f"tensor_count {h.tensor_count} cannot fit in the {r.remaining} remaining bytes", 8)
    for i in range(h.kv_count):
        key = r.string(f"metadata key #{i}")
        vtype = r.u32(f"type of {key!r}")
        is_template = key == TEMPLATE_KEY or key.startswith(TEMPLATE_KEY + ".")
        keep = is_template or key in KEEP_KEYS
        value = _value(r, vtype, f"value of {key!r}", keep)
        if key in h.kv_types:
            h.duplicates.append(key)
        h.kv_types[key] = vtype
        if keep:
            h.kv[key] = value
        if is_template:
            h.templates.append((key, vtype, value))
    names: set[str] = set()
    for i in range(h.tensor_count):
        r.tick()
        name_len = r.string_len(f"tensor #{i} name")
        name = r.read(name_len, f"tensor #{i} name").decode("utf-8", errors="replace")
        n_dims = r.u32(f"tensor {name!r} n_dims")
        if n_dims > MAX_DIMS:
            raise _Malformed(f"tensor {name!r}: n_dims {n_dims} > {MAX_DIMS}", r.pos - 4)
        dims = [r.u64(f"tensor {name!r} dim {d}") for d in range(n_dims)]
        ggml_type = r.u32(f"tensor {name!r} type")
        offset = r.u64(f"tensor {name!r} offset")
        if name in names:
            h.duplicates.append(f"tensor:{name}")
        names.add(name)
        h.tensors.append((name, dims, ggml_type, offset))
    h.infos_end = r.pos


def _check_tensors(h: _Header, size: int, ctx: ScanContext, reported: list[int]) -> None:
    alignment = h.kv.get("general.alignment", DEFAULT_ALIGNMENT)
    if "general.alignment" in h.kv_types and (
        h.kv_types["general.alignment"] != 4 or not isinstance(alignment, int) or alignment <= 0
        or alignment & (alignment - 1)
    ):
        ctx.issue(R_MALFORMED, f"general.alignment must be a non-zero power-of-two uint32 (got {alignment!r})")
        return
    data_start = (h.infos_end + alignment - 1) // alignment * alignment
    if h.tensors and data_start > size:
        ctx.issue(R_TENSOR, f"tensor data would start at {data_start}, past the end of the {size}-byte file")
        return
    spans: list[tuple[int, int, str]] = []
    for name, dims, ggml_type, offset in h.tensors:
        if reported[0] >= 20:
            ctx.issue(R_TENSOR, "more invalid tensor infos not listed", details={"truncated": True})
            return
        problem = _tensor_problem(name, dims, ggml_type, offset, alignment, data_start, size)
        if isinstance(problem, str):
            reported[0] += 1
            ctx.issue(R_TENSOR, f"tensor {name[:100]!r}: {problem}",
                      details={"tensor": name[:100], "dims": dims, "type": ggml_type, "offset": offset})
            continue
        spans.append((offset, offset + problem, name))
    spans.sort()
    end, prev = 0, ""
    for begin, stop, name in spans:
        if begin < end:
            ctx.issue(R_TENSOR, f"tensor {name[:100]!r} at data offset {begin} overlaps tensor {prev[:100]!r} "
                      f"(ends at {end})", details={"tensor": name[:100], "other": prev[:100]})
            return
        end, prev = max(end, stop), name


def _tensor_problem(name: str, dims: list[int], ggml_type: int, offset: int, alignment: int,
                    data_start: int, size: int) -> str | int:
    if len(name.encode("utf-8", errors="replace")) > MAX_TENSOR_NAME:
        return f"name longer than {MAX_TENSOR_NAME} bytes"
    if ggml_type not in GGML_TYPES:
        return f"unknown ggml type {ggml_type}"
    tname, block, block_bytes = GGML_TYPES[ggml_type]
    nelem = 1
    for d in dims:
        nelem *= d
        if nelem > INT64_MAX:
            return f"shape {dims} overflows"
    if dims and dims[0] % block:
        return f"first dimension {dims[0]} is not a multiple of the {tname} block size {block}"
    nbytes = nelem // block * block_bytes
    if nbytes > INT64_MAX:
        return f"size of shape {dims} overflows"
    if offset % alignment:
        return f"offset {offset} is not a multiple of the alignment {alignment}"
    if data_start + offset + nbytes > size:
        return (f"{nbytes} bytes at data offset {offset} end at {data_start + offset + nbytes}, past the end of the "
                f"{size}-byte file")
    return nbytes


def analyze_gguf(blob: Blob, ctx: ScanContext) -> None:
    """Parse a GGUF header (strictly bounded), check its chat templates, validate tensor infos.
    Records coverage ``gguf`` when the header parsed completely."""
    h = _Header()
    limit = ctx.config.limits.max_header_bytes
    complete = False
    with blob.open() as f:
        r = _Reader(f, blob.size, limit, ctx)
        try:
            _parse(r, h)
            complete = True
        except _Malformed as e:
            ctx.issue(R_MALFORMED, str(e), offset=e.offset,
                      details={"version": h.version, "tensor_count": h.tensor_count, "kv_count": h.kv_count})
        except _OverLimit as e:
            ctx.limit(str(e))
    # Templates parsed before any error are still checked: a payload may precede a broken tail.
    for key, vtype, value in h.templates:
        if vtype != T_STRING:
            ctx.issue(R_MALFORMED, f"{key} holds a {TYPE_NAMES.get(vtype, vtype)}, not a string",
                      details={"key": key})
            continue
        with ctx.member(key):
            check_jinja_template(value, ctx, key)
    if not complete:
        return
    if h.version not in (2, 3):
        ctx.unsupported(R_VERSION, f"GGUF version {h.version} (only v2 and v3 are analysed)",
                        details={"version": h.version})
        return
    for dup in h.duplicates[:20]:
        what = f"tensor name {dup[7:]!r}" if dup.startswith("tensor:") else f"metadata key {dup!r}"
        ctx.issue(R_DUPLICATE, f"{what} appears more than once", details={"key": dup})
    reported = [0]
    _check_tensors(h, blob.size, ctx, reported)
    endian = "big-endian " if h.endian == ">" else ""
    ctx.covered("gguf", f"{endian}v{h.version}, {h.kv_count} metadata keys, {h.tensor_count} tensors, "
                f"{len(h.templates)} chat template(s)")
