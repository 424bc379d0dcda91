"""A byte-level zip writer for malformed archives that :mod:`zipfile` refuses to write: local and
central names that differ, flag bits, wrong CRC-32, duplicate names, several central entries
pointing at one local header, symlink modes, declared sizes that lie.

Each :class:`Entry` is one local header + data; ``central`` entries default to one per local
entry and may be overridden per entry.
"""

from __future__ import annotations

import stat
import struct
import zlib
from dataclasses import dataclass, field

DOS_TIME = 0
DOS_DATE = (2024 - 1980) << 9 | 1 << 5 | 1


@dataclass
class Entry:
    name: str
    data: bytes
    method: int = 0  # 0 stored, 8 deflated
    local_name: str | None = None  # defaults to ``name``
    flags: int = 0
    central_flags: int | None = None
    crc: int | None = None  # override the CRC-32 written in both headers
    external_attr: int = 0o644 << 16
    create_system: int = 3  # Unix
    declared_size: int | None = None  # override the uncompressed size in both headers
    extra: bytes = b""
    in_central: bool = True
    central_copies: int = 1  # >1: several central records point at this local header
    compressed: bytes = field(init=False, default=b"")

    def __post_init__(self) -> None:
        if self.method == 8:
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            self.compressed = c.compress(self.data) + c.flush()
        else:
            self.compressed = self.data


def symlink_attr() -> int:
    return (stat.S_IFLNK | 0o777) << 16


def build_zip(entries: list[Entry], *, comment: bytes = b"") -> bytes:
    out = bytearray()
    central = bytearray()
    count = 0
    for e in entries:
        offset = len(out)
        lname = (e.local_name if e.local_name is not None else e.name).encode()
        crc = e.crc if e.crc is not None else zlib.crc32(e.data) & 0xFFFFFFFF
        usize = e.declared_size if e.declared_size is not None else len(e.data)
        csize = len(e.compressed)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, e.flags, e.method, DOS_TIME, DOS_DATE, crc, csize,
            min(usize, 0xFFFFFFFF), len(lname), len(e.extra),
        )
        out += lname + e.extra + e.compressed
        if not e.in_central:
            continue
        cname = e.name.encode()
        cflags = e.central_flags if e.central_flags is not None else e.flags
        for _ in range(e.central_copies):
            central += struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, (e.create_system << 8) | 20, 20, cflags, e.method,
                DOS_TIME, DOS_DATE, crc, csize, min(usize, 0xFFFFFFFF), len(cname), 0, 0, 0, 0,
                e.external_attr, offset,
            )
            central += cname
            count += 1
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), cd_offset, len(comment))
    out += comment
    return bytes(out)
