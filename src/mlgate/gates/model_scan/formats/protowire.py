"""A minimal, bounded protobuf wire-format reader (no generated classes, no runtime).

Used by the ONNX and TensorFlow analysers: they know the field numbers of the few messages that
matter (graphs, nodes, functions, tensors) and skip everything else by length, so a 2 GB ONNX
file is walked without reading its tensor bytes. The reader works on any seekable stream with a
1 MiB read-ahead cache; every message must end exactly where its length says (else
:class:`WireError`), and the caller bounds depth and field counts.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

CHUNK = 1 << 20
VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


class Reader:
    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f = f
        self.size = size
        self._buf = b""
        self._start = 0

    def _fill(self, pos: int, need: int) -> None:
        if self._start <= pos and pos + need <= self._start + len(self._buf):
            return
        self.f.seek(pos)
        self._buf = self.f.read(max(CHUNK, need))
        self._start = pos

    def read(self, pos: int, n: int) -> bytes:
        if n < 0 or pos + n > self.size:
            raise WireError(f"field of {n} bytes at offset {pos} runs past the end")
        if n > CHUNK:
            self.f.seek(pos)
            data = self.f.read(n)
            if len(data) != n:
                raise WireError("short read")
            return data
        self._fill(pos, n)
        off = pos - self._start
        data = self._buf[off : off + n]
        if len(data) != n:
            raise WireError("short read")
        return data

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        self._fill(pos, 10)
        off = pos - self._start
        result, shift = 0, 0
        buf = self._buf
        while True:
            if pos >= end or off >= len(buf):
                raise WireError(f"truncated varint at offset {pos}")
            b = buf[off]
            result |= (b & 0x7F) << shift
            pos += 1
            off += 1
            if not b & 0x80:
                return result, pos
            shift += 7
            if shift >= 70:
                raise WireError(f"varint longer than 10 bytes at offset {pos}")

    def fields(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """Yield (field number, wire type, value, position) for each field of the message in
        [start, end). For LEN fields value is the length and position the payload offset; for
        numeric fields value is the raw number. Groups are refused (unused by ONNX/TF)."""
        pos = start
        while pos < end:
            key, pos = self.varint(pos, end)
            fno, wt = key >> 3, key & 7
            if fno == 0:
                raise WireError(f"field number 0 at offset {pos}")
            if wt == VARINT:
                v, pos = self.varint(pos, end)
                yield fno, wt, v, pos
            elif wt == LEN:
                ln, pos = self.varint(pos, end)
                if pos + ln > end:
                    raise WireError(f"field {fno} of {ln} bytes at offset {pos} runs past its message")
                yield fno, wt, ln, pos
                pos += ln
            elif wt == I64:
                if pos + 8 > end:
                    raise WireError("truncated fixed64")
                yield fno, wt, struct.unpack("<Q", self.read(pos, 8))[0], pos
                pos += 8
            elif wt == I32:
                if pos + 4 > end:
                    raise WireError("truncated fixed32")
                yield fno, wt, struct.unpack("<I", self.read(pos, 4))[0], pos
                pos += 4
            else:
                raise WireError(f"wire type {wt} (field {fno}) at offset {pos}")
        if pos != end:
            raise WireError("message does not end at its length")

    def string(self, pos: int, n: int, limit: int = 1 << 16) -> str:
        data = self.read(pos, min(n, limit))
        return data.decode("utf-8", "replace") + ("..." if n > limit else "")

    def packed_varints(self, pos: int, n: int, limit: int = 1 << 20) -> list[int]:
        out: list[int] = []
        end = pos + n
        while pos < end and len(out) < limit:
            v, pos = self.varint(pos, end)
            out.append(v)
        return out


def looks_like_message(head: bytes, allowed: dict[int, int], first_fields: int = 3) -> bool:
    """Do the first fields of ``head`` have numbers and wire types from ``allowed``
    (field number -> wire type)? A cheap content sniff, confirmed later by a full walk."""
    pos = 0
    seen = 0
    while seen < first_fields and pos < len(head):
        key = 0
        shift = 0
        while True:
            if pos >= len(head) or shift > 63:
                return seen > 0
            b = head[pos]
            pos += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        fno, wt = key >> 3, key & 7
        if allowed.get(fno) != wt:
            return False
        if wt == VARINT:
            while pos < len(head) and head[pos] & 0x80:
                pos += 1
            pos += 1
        elif wt == LEN:
            ln, shift = 0, 0
            while pos < len(head):
                b = head[pos]
                pos += 1
                ln |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            pos += ln
        elif wt == I64:
            pos += 8
        elif wt == I32:
            pos += 4
        seen += 1
    return seen > 0


def signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def top_level_fields(f: BinaryIO, size: int, allowed: dict[int, int], max_fields: int = 1_000_000,
                     *, unknown_ok: bool = False) -> set[int] | None:
    """Walk the whole stream as one message whose fields must all be in ``allowed`` (number -> wire
    type); return the field numbers seen, or None if the bytes are not such a message. Reads keys and
    lengths only (skips payloads), so it is cheap on large files. ``unknown_ok``: fields outside
    ``allowed`` are accepted as protobuf parsers accept them (known fields must still have their
    wire type)."""
    r = Reader(f, size)
    seen: set[int] = set()
    try:
        for n, (fno, wt, _v, _pos) in enumerate(r.fields(0, size)):
            if n >= max_fields:
                return None
            want = allowed.get(fno)
            if want != wt and not (unknown_ok and want is None):
                return None
            seen.add(fno)
    except WireError:
        return None
    return seen or None
