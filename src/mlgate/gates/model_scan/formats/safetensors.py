"""safetensors: strict header validation, never a tensor byte read.

Layout: ``u64 LE N`` | ``N`` bytes of UTF-8 JSON | data buffer. The JSON maps tensor names to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the data buffer) and may
hold ``"__metadata__": {str: str}``. We apply the checks of the reference parser
(``safetensors`` ``SafeTensors::validate``) and a few more that parsers disagree on, because a
malformed header is a parser-exploit and denial-of-service vector, and because two parsers that
read the same bytes differently is a way to smuggle weights past a review:

* ``2 <= N <= min(max_header_bytes, size - 8)``; the header starts with ``{``, is UTF-8, is one
  JSON object with no duplicate keys (``object_pairs_hook``) and no NaN/Infinity literals;
* ``__metadata__`` is a ``str -> str`` mapping;
* every tensor: a known dtype, a shape of non-negative ints, ``[begin, end]`` ints with
  ``begin <= end``, ``end - begin == prod(shape) * bits(dtype) / 8`` (sub-byte dtypes must end on a
  byte boundary), no overflow;
* the buffer is exactly covered: sorted by offset, each tensor starts where the previous ended
  (no hole, no overlap), and the last end equals the data length.

Cost: one read of ``8 + N`` bytes whatever the file size.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.rules import rule
from mlgate.model import Severity

REFS = (
    "https://github.com/huggingface/safetensors#format",
    "https://github.com/trailofbits/publications/blob/master/reviews/2023-03-eleutherai-huggingface-safetensors-securityreview.pdf",
)
REMEDIATION = (
    "Do not load the file: a malformed header is a parser-exploit or denial-of-service vector, and parsers "
    "that disagree may read different weights. Re-export the weights with the safetensors library."
)
R_HEADER = rule("MLG-ST-HEADER", "safetensors header is malformed", Severity.HIGH, REMEDIATION, REFS)
R_METADATA = rule("MLG-ST-METADATA", "safetensors __metadata__ is not a str->str mapping", Severity.HIGH,
                  REMEDIATION, REFS)
R_TENSOR = rule("MLG-ST-TENSOR", "safetensors tensor entry is invalid", Severity.HIGH, REMEDIATION, REFS)
R_LAYOUT = rule("MLG-ST-LAYOUT", "safetensors data offsets overlap, leave holes, or do not cover the buffer",
                Severity.HIGH, REMEDIATION, REFS)

# dtype -> size in bits (safetensors 0.6+: 22 dtypes).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64,
    "F64": 64, "I64": 64, "U64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
U64_MAX = 2**64 - 1
MAX_RANK = 64
MAX_ISSUES_PER_KIND = 10


def looks_like_safetensors(head: bytes, size: int) -> bool:
    """Content sniff: a u64 header length followed by ``{``. Deliberately loose about the length
    (an oversized or truncated header is still a safetensors file, and a malformed one)."""
    if size < 10 or len(head) < 10:
        return False
    (n,) = struct.unpack_from("<Q", head, 0)
    if n < 2 or head[8:9] != b"{":
        return False
    nxt = head[9:10]
    return nxt in (b'"', b"}", b" ", b"\n", b"\r", b"\t")


class _DuplicateKey(ValueError):
    pass


def _pairs_no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON literal {name}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class _Issues:
    """Caps the number of findings per rule so a header with 100k bad tensors stays readable."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.counts: dict[str, int] = {}
        self.total = 0

    def add(self, r: Any, message: str, **details: Any) -> None:
        self.total += 1
        n = self.counts.get(r.id, 0)
        self.counts[r.id] = n + 1
        if n < MAX_ISSUES_PER_KIND:
            self.ctx.issue(r, message, details=details)
        elif n == MAX_ISSUES_PER_KIND:
            self.ctx.issue(r, f"more {r.id} problems not listed", details={"truncated": True})


def analyze_safetensors(blob: Blob, ctx: ScanContext) -> None:
    """Validate a safetensors header. Reports MLG-ST-* issues; on a valid file records coverage
    ``safetensors`` with the tensor count. Reads ``8 + N`` bytes only."""
    size = blob.size
    limit = ctx.config.limits.max_header_bytes
    if size < 8:
        ctx.issue(R_HEADER, f"file is {size} bytes, shorter than the 8-byte header length")
        return
    with blob.open() as f:
        raw_n = f.read(8)
        if len(raw_n) != 8:
            ctx.issue(R_HEADER, "could not read the 8-byte header length")
            return
        (n,) = struct.unpack("<Q", raw_n)
        if n < 2:
            ctx.issue(R_HEADER, f"header length {n} is below the minimum of 2 ('{{}}')", details={"header_len": n})
            return
        if n > size - 8:
            ctx.issue(R_HEADER, f"header length {n} exceeds the {size - 8} bytes after the length field",
                      details={"header_len": n, "size": size})
            return
        if n > limit:
            ctx.issue(R_HEADER, f"header length {n} exceeds the limit of {limit} bytes "
                      "(the reference parser refuses headers over 100 MB)", details={"header_len": n, "limit": limit})
            return
        raw = f.read(n)
    if len(raw) != n:
        ctx.issue(R_HEADER, f"header truncated: read {len(raw)} of {n} bytes")
        return
    if raw[:1] != b"{":
        ctx.issue(R_HEADER, f"header does not start with '{{' (starts with {raw[:8]!r})", offset=8)
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        ctx.issue(R_HEADER, f"header is not UTF-8: {e.reason} at byte {e.start}", offset=8 + e.start)
        return
    try:
        header = json.loads(text, object_pairs_hook=_pairs_no_dupes, parse_constant=_reject_constant)
    except _DuplicateKey as e:
        ctx.issue(R_HEADER, f"duplicate key {str(e)[:200]!r} in header JSON (parsers disagree on which wins)",
                  details={"key": str(e)[:200]})
        return
    except RecursionError:
        ctx.issue(R_HEADER, "header JSON is nested too deeply")
        return
    except ValueError as e:
        ctx.issue(R_HEADER, f"header is not valid JSON: {e}")
        return
    if not isinstance(header, dict):
        ctx.issue(R_HEADER, f"header JSON is a {type(header).__name__}, not an object")
        return
    _validate(header, size - 8 - n, ctx)


def _validate(header: dict[str, Any], data_len: int, ctx: ScanContext) -> None:
    issues = _Issues(ctx)
    meta = header.get("__metadata__")
    if meta is not None:  # null is what the reference parser reads as "no metadata"
        if not isinstance(meta, dict):
            issues.add(R_METADATA, f"__metadata__ is a {type(meta).__name__}, not an object")
        else:
            bad = [k for k, v in meta.items() if not isinstance(v, str)]
            if bad:
                issues.add(R_METADATA, f"__metadata__ values must be strings; {len(bad)} are not "
                           f"(first: {bad[0][:100]!r})", keys=[k[:100] for k in bad[:20]])
    spans: list[tuple[int, int, str]] = []
    for i, (name, info) in enumerate(header.items()):
        if name == "__metadata__":
            continue
        if i % 4096 == 0:
            ctx.check_time()
        span = _tensor(name, info, data_len, issues)
        if span is not None:
            spans.append(span)
    n_tensors = len(header) - (1 if "__metadata__" in header else 0)
    if issues.total == 0:
        _layout(spans, data_len, issues)
    if issues.total == 0:
        ctx.covered("safetensors", f"{n_tensors} tensors")


def _tensor(name: str, info: Any, data_len: int, issues: _Issues) -> tuple[int, int, str] | None:
    label = name[:200]
    if not isinstance(info, dict):
        issues.add(R_TENSOR, f"tensor {label!r}: entry is a {type(info).__name__}, not an object", tensor=label)
        return None
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
    if missing:
        issues.add(R_TENSOR, f"tensor {label!r}: missing {', '.join(missing)}", tensor=label)
        return None
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        issues.add(R_TENSOR, f"tensor {label!r}: unknown dtype {str(dtype)[:40]!r}", tensor=label, dtype=str(dtype)[:40])
        return None
    if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(_is_int(d) and 0 <= d <= U64_MAX for d in shape):
        issues.add(R_TENSOR, f"tensor {label!r}: shape must be a list of at most {MAX_RANK} non-negative integers "
                   f"(got {str(shape)[:80]})", tensor=label)
        return None
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) and 0 <= o <= U64_MAX for o in offsets)
    ):
        issues.add(R_TENSOR, f"tensor {label!r}: data_offsets must be [begin, end] non-negative integers "
                   f"(got {str(offsets)[:80]})", tensor=label)
        return None
    begin, end = offsets
    if begin > end:
        issues.add(R_TENSOR, f"tensor {label!r}: data_offsets begin {begin} > end {end}", tensor=label)
        return None
    if end > data_len:
        issues.add(R_TENSOR, f"tensor {label!r}: data_offsets end {end} is past the {data_len}-byte data buffer",
                   tensor=label, end=end, data_len=data_len)
        return None
    nelem = math.prod(shape)
    nbits = nelem * DTYPE_BITS[dtype]
    if nbits > U64_MAX:
        issues.add(R_TENSOR, f"tensor {label!r}: size of shape {shape} overflows", tensor=label)
        return None
    if nbits % 8:
        issues.add(R_TENSOR, f"tensor {label!r}: {nelem} x {DTYPE_BITS[dtype]}-bit {dtype} does not end on a byte "
                   "boundary", tensor=label)
        return None
    if end - begin != nbits // 8:
        issues.add(R_TENSOR, f"tensor {label!r}: {end - begin} bytes at [{begin}, {end}) but shape {shape} of "
                   f"{dtype} needs {nbits // 8}", tensor=label, expected=nbits // 8, actual=end - begin)
        return None
    return begin, end, label


def _layout(spans: list[tuple[int, int, str]], data_len: int, issues: _Issues) -> None:
    spans.sort(key=lambda s: (s[0], s[1]))
    expected = 0
    prev = ""
    for begin, end, name in spans:
        if begin > expected:
            issues.add(R_LAYOUT, f"hole of {begin - expected} bytes before tensor {name!r} (bytes [{expected}, {begin}) "
                       "belong to no tensor)", tensor=name, begin=begin, expected=expected)
        elif begin < expected:
            issues.add(R_LAYOUT, f"tensor {name!r} at [{begin}, {end}) overlaps tensor {prev!r} ending at {expected}",
                       tensor=name, other=prev, begin=begin, expected=expected)
        expected = max(expected, end)
        prev = name
    if expected != data_len:
        issues.add(R_LAYOUT, f"data buffer is {data_len} bytes but tensors cover {expected}; "
                   f"{data_len - expected} trailing bytes belong to no tensor", data_len=data_len, covered=expected)
