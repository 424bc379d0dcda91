"""Archives and compression layers, read without trusting their metadata.

Zip files are parsed here, not with :mod:`zipfile`: duplicate names, local/central header name
mismatches, odd flag bits, bad CRC-32, overlapping members and prepended data are *findings*, and
every member is analysed whatever its name. Tar members are windows of the tar file (no copy);
compressed streams are decompressed into bounded spools with ratio and size limits.
"""

from __future__ import annotations

import bz2
import errno
import itertools
import lzma
import os
import posixpath
import stat
import struct
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlgate.gates.model_scan.blob import CHUNK, Blob, SpillError, SpooledBlob, spill_error
from mlgate.gates.model_scan.context import BudgetExceeded, ScanContext
from mlgate.gates.model_scan.rules import rule
from mlgate.model import FindingKind, Severity

Analyze = Callable[..., None]

R_TRAVERSAL = rule(
    "MLG-ARC-TRAVERSAL",
    "Archive member path escapes the extraction folder",
    Severity.HIGH,
    "Member names with '..', absolute paths or drive letters write outside the target folder when extracted.",
    ("https://cwe.mitre.org/data/definitions/22.html",),
)
R_LINK = rule(
    "MLG-ARC-LINK",
    "Archive member is a symbolic or hard link",
    Severity.HIGH,
    "Links in model archives can point outside the extraction folder; ship regular files only.",
)
R_SPECIAL_MEMBER = rule(
    "MLG-ARC-SPECIAL",
    "Archive member is a device, FIFO or other special file",
    Severity.HIGH,
    "Model archives must contain regular files only.",
)
R_BOMB = rule(
    "MLG-ARC-BOMB",
    "Decompression bomb (size or ratio over the limit)",
    Severity.HIGH,
    "The member expands far beyond its stored size; do not extract it.",
    ("https://www.bamsoftware.com/hacks/zipbomb/",),
)
R_ZIP_DUP = rule(
    "MLG-ZIP-DUPLICATE",
    "Zip archive lists the same member name more than once",
    Severity.HIGH,
    "Loaders and scanners may read different copies; both were analysed. Rebuild the archive.",
)
R_ZIP_MISMATCH = rule(
    "MLG-ZIP-NAME-MISMATCH",
    "Zip local header and central directory disagree",
    Severity.HIGH,
    "A member whose local header names a different file (or method) than the central directory is a scanner "
    "bypass (CVE-2025-1944). Rebuild the archive.",
    ("https://nvd.nist.gov/vuln/detail/CVE-2025-1944",),
)
R_ZIP_FLAGS = rule(
    "MLG-ZIP-FLAGS",
    "Zip member has unusual flag bits",
    Severity.MEDIUM,
    "Odd general-purpose flag bits make some readers fail while loaders succeed (CVE-2025-1945).",
    ("https://nvd.nist.gov/vuln/detail/CVE-2025-1945",),
)
R_ZIP_CRC = rule(
    "MLG-ZIP-CRC",
    "Zip member CRC-32 does not match its content",
    Severity.MEDIUM,
    "Scanners that verify CRCs error out while torch.load does not (CVE-2025-10156). The content was analysed.",
    ("https://nvd.nist.gov/vuln/detail/CVE-2025-10156",),
)
R_ZIP_OVERLAP = rule(
    "MLG-ZIP-OVERLAP",
    "Zip members overlap or lie outside the archive",
    Severity.HIGH,
    "Overlapping members are a zip-bomb and parser-confusion technique.",
)
R_ZIP_PREPENDED = rule(
    "MLG-ZIP-PREPENDED",
    "Data before the first zip member (polyglot file)",
    Severity.MEDIUM,
    "A file that is both something else and a zip is read differently by different loaders.",
)
R_ARC_MALFORMED = rule(
    "MLG-ARC-MALFORMED",
    "Archive structure is malformed",
    Severity.HIGH,
    "The archive could not be parsed consistently; do not load it.",
)
R_ARC_ENCRYPTED = rule(
    "MLG-ARC-ENCRYPTED",
    "Encrypted archive member cannot be analysed",
    Severity.MEDIUM,
    "Provide the model unencrypted for scanning.",
    kind=FindingKind.UNSUPPORTED,
)
R_ARC_METHOD = rule(
    "MLG-ARC-METHOD",
    "Compression method not supported by the scanner",
    Severity.MEDIUM,
    "Re-pack the archive with stored or deflate compression.",
    kind=FindingKind.UNSUPPORTED,
)
R_COMPRESSED_BAD = rule(
    "MLG-COMP-MALFORMED",
    "Compressed stream is corrupt",
    Severity.HIGH,
    "A loader may still execute what it decompressed before the corruption; do not load.",
)

BOMB_FLOOR = 16 * 1024 * 1024  # ratios below this absolute size are not bombs


def safe_member_name(name: str) -> str | None:
    """Why ``name`` is unsafe to extract, or None."""
    if not name:
        return "empty name"
    n = name.replace("\\", "/")
    if n.startswith("/"):
        return "absolute path"
    if len(n) > 1 and n[1] == ":":
        return "drive-letter path"
    if any(p == ".." for p in n.split("/")):
        return "'..' component"
    if "\x00" in n:
        return "NUL in name"
    return None


def _check_ratio(ctx: ScanContext, produced: int, consumed: int, what: str) -> None:
    lim = ctx.config.limits
    if produced > lim.max_extracted_bytes or (produced > BOMB_FLOOR and produced > lim.max_ratio * max(consumed, 1)):
        raise _Bomb(f"{what}: {produced} bytes from {consumed} compressed bytes")


class _Bomb(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Compression layers
# ---------------------------------------------------------------------------------------------


def _decompressor(kind: str) -> Any:
    if kind == "gzip":
        return zlib.decompressobj(31)
    if kind == "zlib":
        return zlib.decompressobj(15)
    if kind == "deflate-raw":
        return zlib.decompressobj(-15)
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    if kind in ("xz", "lzma"):
        return lzma.LZMADecompressor(format=lzma.FORMAT_AUTO)
    if kind == "zstd":
        from backports import zstd

        return zstd.ZstdDecompressor()
    if kind == "lz4":  # joblib.dump(compress="lz4"): LZ4 frames (same streaming API as bz2/lzma)
        import lz4.frame

        return lz4.frame.LZ4FrameDecompressor()
    raise ValueError(kind)


def _unused(d: Any) -> bytes:
    return bytes(getattr(d, "unused_data", b"") or b"")  # lz4 reports None before the end


def drain_decompress(
    src: Blob, kind: str, ctx: ScanContext, name: str, start: int = 0, length: int | None = None
) -> SpooledBlob:
    """Decompress ``src[start:start+length]`` into a spool under the size and ratio limits, following
    multi-member streams. Raises _Bomb, BudgetExceeded, or ValueError for a corrupt stream."""
    length = src.size - start if length is None else length
    spool = SpooledBlob(name)
    try:
        with src.open() as f:
            f.seek(start)
            remaining = length
            consumed = 0
            d = _decompressor(kind)
            while True:
                ctx.check_time()
                if remaining > 0:
                    chunk = f.read(min(CHUNK, remaining))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                    consumed += len(chunk)
                else:
                    chunk = b""
                feed = chunk
                while True:
                    room = max(0, ctx.config.limits.max_extracted_bytes - spool.size) + 1
                    out = d.decompress(feed, min(room, 4 * CHUNK))
                    feed = bytes(d.unconsumed_tail) if hasattr(d, "unconsumed_tail") else b""
                    if out:
                        spool.write(out)
                        ctx.charge_extracted(len(out))
                        _check_ratio(ctx, spool.size, consumed, name)
                    if d.eof:
                        extra = _unused(d) + feed
                        if extra.strip(b"\x00") and kind in ("gzip", "bz2", "xz", "lzma", "zstd", "lz4"):
                            d = _decompressor(kind)
                            feed = extra
                            continue
                        remaining = 0
                        break
                    more = (hasattr(d, "unconsumed_tail") and feed) or getattr(d, "needs_input", True) is False
                    if not out and not more:
                        break
                if d.eof or (remaining <= 0 and not chunk):
                    break
            if not d.eof:
                raise ValueError("compressed stream ends early")
    except (BudgetExceeded, _Bomb, SpillError):
        spool.close()
        raise
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as e:
        spool.close()
        raise ValueError(str(e) or type(e).__name__) from None
    except Exception as e:
        spool.close()
        if type(e).__name__ == "ZstdError":
            raise ValueError(str(e)) from None
        raise
    return spool


def analyze_compressed(blob: Blob, ctx: ScanContext, kind: str, analyze: Analyze) -> None:
    label = f"{kind}-decompressed"
    try:
        spool = drain_decompress(blob, kind, ctx, label)
    except _Bomb as e:
        ctx.issue(R_BOMB, str(e))
        return
    except ValueError as e:
        ctx.issue(R_COMPRESSED_BAD, f"{kind} stream: {e}")
        return
    with spool:
        ctx.covered(kind, f"{spool.size} bytes decompressed")
        with ctx.member(f"<{kind}>"):
            analyze(spool.blob(), ctx)


# joblib < 0.10 "Z-file": b"ZF" + the uncompressed length in hex, left-justified to 19 characters
# (len(hex(2**64))), one optional space (joblib <= 0.8.4), then a zlib stream (numpy_pickle_compat).
_ZFILE_PREFIX = b"ZF"
_ZFILE_LEN_FIELD = 19


def joblib_zfile_header(head: bytes) -> tuple[int, int] | None:
    """``(declared length, offset of the zlib stream)`` when joblib would read ``head`` as a Z-file,
    parsing the length as joblib does (``int(field, 16)``); None otherwise."""
    if not head.startswith(_ZFILE_PREFIX) or len(head) < 2 + _ZFILE_LEN_FIELD:
        return None
    field = head[2 : 2 + _ZFILE_LEN_FIELD]
    try:
        length = int(field, 16)
    except ValueError:
        return None
    start = 2 + _ZFILE_LEN_FIELD
    if head[start : start + 1] == b" ":
        start += 1
    return length, start


def analyze_joblib_zfile(blob: Blob, ctx: ScanContext, head: bytes, analyze: Analyze) -> None:
    parsed = joblib_zfile_header(head)
    assert parsed is not None  # sniffed as a Z-file
    length, start = parsed
    try:
        spool = drain_decompress(blob, "zlib", ctx, "joblib-zfile-decompressed", start=start)
    except _Bomb as e:
        ctx.issue(R_BOMB, str(e))
        return
    except ValueError as e:
        ctx.issue(R_COMPRESSED_BAD, f"joblib Z-file: zlib stream: {e}")
        return
    with spool:
        if spool.size != length:  # joblib asserts this (skipped under python -O): analyse anyway
            ctx.issue(R_COMPRESSED_BAD, f"joblib Z-file declares {length} bytes, the stream holds {spool.size}")
        ctx.covered("joblib-zfile", f"{spool.size} bytes decompressed")
        with ctx.member("<joblib-zfile>"):
            analyze(spool.blob(), ctx)


# ---------------------------------------------------------------------------------------------
# Zip
# ---------------------------------------------------------------------------------------------


@dataclass
class ZipEntry:
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    header_offset: int
    external_attr: int
    create_system: int
    data_start: int = -1


_EOCD = b"PK\x05\x06"
_EOCD64_LOC = b"PK\x06\x07"
_CD = b"PK\x01\x02"
_LH = b"PK\x03\x04"
_KNOWN_FLAGS = 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0800


def eocd_views(blob: Blob) -> tuple[int | None, int | None]:
    """Where ``zipfile`` and miniz (torch.load's zip reader) find the end-of-central-directory
    record: ``(zipfile's, miniz's)``. zipfile takes an end record flush with the end of the file
    (comment length 0), else the *last* signature in the final 64 KiB, whatever its comment length
    says (a record with fewer than 22 bytes after it makes zipfile fail: None). miniz takes the
    last signature with at least 22 bytes after it. Neither checks that the comment fits."""
    n = min(blob.size, 22 + 65535)
    if n < 22:
        return None, None
    tail = blob.tail(n)
    zf: int | None = None
    if tail[-22:-18] == _EOCD and tail[-2:] == b"\x00\x00":
        zf = blob.size - 22
    else:
        pos = tail.rfind(_EOCD)
        if pos >= 0 and pos + 22 <= len(tail):
            zf = blob.size - n + pos
    mz: int | None = None
    pos = tail.rfind(_EOCD, 0, len(tail) - 22 + 4)
    if pos >= 0:
        mz = blob.size - n + pos
    return zf, mz


def find_eocd(blob: Blob) -> int | None:
    zf, mz = eocd_views(blob)
    return mz if mz is not None else zf


def _read_at(f: Any, off: int, n: int) -> bytes:
    f.seek(off)
    return bytes(f.read(n))


def parse_zip(blob: Blob, ctx: ScanContext) -> tuple[list[ZipEntry], int] | None:
    """Central directory entries (with local-header checks) and the prepended-data shift, as
    zipfile and torch's reader see them; when they pick different end records, the members of
    both are returned (and the disagreement is a finding)."""
    zf, mz = eocd_views(blob)
    if zf is None and mz is None:
        ctx.issue(R_ARC_MALFORMED, "zip: no end-of-central-directory record")
        return None
    offsets = [o for o in dict.fromkeys((mz, zf)) if o is not None]
    if len(offsets) > 1:
        ctx.issue(
            R_ARC_MALFORMED,
            f"zip: zipfile and torch's reader use different end records (offsets {zf} and {mz})",
        )
    result: tuple[list[ZipEntry], int] | None = None
    for eocd in offsets:
        got = _parse_zip_at(blob, ctx, eocd)
        if got is None:
            continue
        if result is None:
            result = got
            continue
        # the second view adds the records the first did not list (duplicates within one
        # directory are kept: they are findings of their own)
        seen = {(e.raw_name, e.header_offset) for e in result[0]}
        result[0].extend(e for e in got[0] if (e.raw_name, e.header_offset) not in seen)
    return result


def _parse_zip_at(blob: Blob, ctx: ScanContext, eocd: int) -> tuple[list[ZipEntry], int] | None:
    with blob.open() as f:
        rec = _read_at(f, eocd, 22)
        (_, disk, cd_disk, n_disk, n_total, cd_size, cd_off, _clen) = struct.unpack("<4sHHHHIIH", rec)
        cd_end = eocd
        loc = _read_at(f, eocd - 20, 20) if eocd >= 20 else b""
        zip64 = False
        if loc.startswith(_EOCD64_LOC):
            # zip64: zipfile reads the record just before its locator; miniz follows the locator.
            (_, loc_disk, loc_off, loc_disks) = struct.unpack("<4sIQI", loc)
            rec64 = _read_at(f, eocd - 20 - 56, 56) if eocd >= 76 else b""
            if rec64.startswith(b"PK\x06\x06"):
                zip64 = True
                (disk, cd_disk, n_disk, n_total, cd_size, cd_off) = struct.unpack("<IIQQQQ", rec64[16:56])
                cd_end = eocd - 20 - 56
                if loc_off != cd_end:
                    # the relative offset is valid only without prepended data; a shift is reported later
                    ctx.issue(
                        R_ARC_MALFORMED,
                        f"zip64: the locator points at {loc_off}, the record sits at {cd_end}",
                        severity=Severity.MEDIUM,
                    )
            else:
                ctx.issue(R_ARC_MALFORMED, "zip64: end-of-central-directory record missing")
                return None
            if loc_disk != 0 or loc_disks > 1:
                ctx.issue(R_ARC_MALFORMED, "zip: multi-disk archives are not supported")
                return None
        elif n_total == 0xFFFF or cd_size == 0xFFFFFFFF or cd_off == 0xFFFFFFFF:
            ctx.issue(R_ARC_MALFORMED, "zip64 sizes without a zip64 locator")
            return None
        if disk != 0 or cd_disk != 0 or n_disk != n_total:
            ctx.issue(R_ARC_MALFORMED, "zip: multi-disk archives are not supported")
            return None
        shift = cd_end - cd_size - cd_off
        if shift < 0 or cd_end - cd_size < 0:
            ctx.issue(R_ARC_MALFORMED, "zip: central directory offset/size inconsistent")
            return None
        f.seek(cd_off + shift)
        cd = f.read(cd_size)
        if len(cd) != cd_size:
            ctx.issue(R_ARC_MALFORMED, "zip: central directory truncated")
            return None
        entries: list[ZipEntry] = []
        p = 0
        # zipfile reads records until the directory's *size* is used up, whatever the declared
        # count; miniz reads the declared count. Every record either of them reads is analysed.
        while p < len(cd):
            if len(entries) >= ctx.config.limits.max_members:
                ctx.limit(f"zip lists more than {ctx.config.limits.max_members} members")
                return None
            if len(entries) % 4096 == 0:
                ctx.check_time()
            if cd[p : p + 4] != _CD or p + 46 > len(cd):
                if len(entries) >= n_total and not cd[p:].strip(b"\x00"):
                    break
                ctx.issue(R_ARC_MALFORMED, f"zip: bad central directory entry at {cd_off + shift + p}")
                if len(entries) < n_total:
                    return None
                break
            (
                _,
                made_by,
                _need,
                flags,
                method,
                _t,
                _d,
                crc,
                csize,
                usize,
                nlen,
                elen,
                clen,
                _ds,
                _ia,
                ext_attr,
                hoff,
            ) = struct.unpack("<4sHHHHHHIIIHHHHHII", cd[p : p + 46])
            raw_name = cd[p + 46 : p + 46 + nlen]
            extra = cd[p + 46 + nlen : p + 46 + nlen + elen]
            p += 46 + nlen + elen + clen
            if p > len(cd):
                ctx.issue(R_ARC_MALFORMED, "zip: central directory entry runs past its end")
                if len(entries) < n_total:
                    return None
                break
            usize, csize, hoff = _zip64_extra(extra, usize, csize, hoff)
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
            entries.append(
                ZipEntry(name, raw_name, flags, method, crc, csize, usize, hoff + shift, ext_attr, made_by >> 8)
            )
        if len(entries) != n_total:
            ctx.issue(
                R_ARC_MALFORMED,
                f"zip: the central directory holds {len(entries)} records, the end record declares {n_total}"
                " (zipfile reads them all; every one was analysed)",
            )
        _ = zip64
        # Local headers: location, agreement with the central directory.
        for i, e in enumerate(entries):
            if i % 4096 == 0:
                ctx.check_time()
            lh = _read_at(f, e.header_offset, 30)
            if len(lh) < 30 or not lh.startswith(_LH):
                ctx.issue(R_ARC_MALFORMED, f"zip: member {e.name!r} has no local header at {e.header_offset}")
                continue
            (_, _need, lflags, lmethod, _t, _d, _lcrc, _lc, _lu, lnlen, lelen) = struct.unpack("<4sHHHHHIIIHH", lh)
            lname = _read_at(f, e.header_offset + 30, lnlen)
            if lname != e.raw_name:
                with ctx.member(e.name):
                    ctx.issue(
                        R_ZIP_MISMATCH,
                        f"local header names {lname[:200]!r}, central directory {e.raw_name[:200]!r}",
                        details={"local": lname.decode("utf-8", "replace")},
                    )
            if lmethod != e.method or (lflags & ~0x0008) != (e.flags & ~0x0008):
                with ctx.member(e.name):
                    ctx.issue(
                        R_ZIP_MISMATCH,
                        f"local header method/flags {lmethod}/{lflags:#x} differ from the "
                        f"central directory {e.method}/{e.flags:#x}",
                    )
            e.data_start = e.header_offset + 30 + lnlen + lelen
    if shift > 0:
        ctx.issue(R_ZIP_PREPENDED, f"{shift} bytes before the first zip member")
    return entries, shift


def _zip64_extra(extra: bytes, usize: int, csize: int, hoff: int) -> tuple[int, int, int]:
    p = 0
    while p + 4 <= len(extra):
        tag, ln = struct.unpack("<HH", extra[p : p + 4])
        body = extra[p + 4 : p + 4 + ln]
        if tag == 0x0001:
            q = 0
            if usize == 0xFFFFFFFF and q + 8 <= len(body):
                usize = struct.unpack("<Q", body[q : q + 8])[0]
                q += 8
            if csize == 0xFFFFFFFF and q + 8 <= len(body):
                csize = struct.unpack("<Q", body[q : q + 8])[0]
                q += 8
            if hoff == 0xFFFFFFFF and q + 8 <= len(body):
                hoff = struct.unpack("<Q", body[q : q + 8])[0]
        p += 4 + ln
    return usize, csize, hoff


def _is_link(e: ZipEntry) -> bool:
    mode = e.external_attr >> 16
    return e.create_system == 3 and stat.S_ISLNK(mode)


def _is_special(e: ZipEntry) -> bool:
    mode = e.external_attr >> 16
    if e.create_system != 3 or mode == 0:
        return False
    fmt = stat.S_IFMT(mode)
    return fmt not in (0, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK)


TORCH_STORAGE = "torch-storage"


def zip_member_blob(blob: Blob, e: ZipEntry, ctx: ScanContext) -> tuple[Blob, SpooledBlob | None] | None:
    """The member's bytes as a blob (a window for stored members, a spool for compressed ones)."""
    if e.method == 0:
        if e.csize != e.usize:
            ctx.issue(R_ARC_MALFORMED, f"stored member sizes differ ({e.csize} vs {e.usize})")
        return blob.window(e.name, e.data_start, e.csize), None
    kinds = {8: "deflate-raw", 12: "bz2", 14: "lzma-zip", 93: "zstd"}
    kind = kinds.get(e.method)
    if kind is None:
        ctx.unsupported(R_ARC_METHOD, f"compression method {e.method}")
        return None
    if kind == "lzma-zip":
        ctx.unsupported(R_ARC_METHOD, "zip LZMA (method 14) members are not supported")
        return None
    try:
        spool = drain_decompress(blob, kind, ctx, e.name, e.data_start, e.csize)
    except _Bomb as ex:
        ctx.issue(R_BOMB, str(ex))
        return None
    except ValueError as ex:
        ctx.issue(R_COMPRESSED_BAD, f"member does not decompress: {ex}")
        return None
    if spool.size != e.usize:
        ctx.issue(R_ARC_MALFORMED, f"member decompressed to {spool.size} bytes, the directory says {e.usize}")
    return spool.blob(), spool


def _crc_of(b: Blob) -> int:
    crc = 0
    with b.open() as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return crc
            crc = zlib.crc32(chunk, crc)


CRC_CHECK_MAX = 256 * 1024 * 1024


def analyze_zip(
    blob: Blob,
    ctx: ScanContext,
    analyze: Analyze,
    on_layout: Callable[[Blob, list[ZipEntry], ScanContext], set[str]] | None = None,
) -> None:
    parsed = parse_zip(blob, ctx)
    if parsed is None:
        return
    entries, _shift = parsed
    lim = ctx.config.limits
    seen: dict[str, int] = {}
    for e in entries:
        seen[e.name] = seen.get(e.name, 0) + 1
    for name, count in seen.items():
        if count > 1:
            with ctx.member(name):
                ctx.issue(R_ZIP_DUP, f"{count} members named {name!r}; all were analysed")
    # Overlaps and bounds (data ranges of members must be disjoint and inside the archive).
    ranges = sorted((e.data_start, e.data_start + e.csize, e.name) for e in entries if e.data_start >= 0)
    for (_s1, e1, n1), (s2, _e2, n2) in itertools.pairwise(ranges):
        if s2 < e1:
            ctx.issue(R_ZIP_OVERLAP, f"members {n1!r} and {n2!r} overlap")
            break
    declared = sum(e.usize for e in entries)
    if declared > lim.max_extracted_bytes:
        ctx.issue(R_BOMB, f"members declare {declared} bytes uncompressed (limit {lim.max_extracted_bytes})")
        return
    roles = on_layout(blob, entries, ctx) if on_layout else set()
    ctx.covered("zip", f"{len(entries)} members")
    for e in entries:
        ctx.check_time()
        with ctx.member(e.name):
            if e.data_start < 0:
                continue
            if e.data_start + e.csize > blob.size:
                ctx.issue(
                    R_ZIP_OVERLAP,
                    f"member data runs past the end of the archive ({e.data_start + e.csize} > {blob.size})",
                )
                continue
            why = safe_member_name(e.name)
            if why:
                ctx.issue(R_TRAVERSAL, f"member name {e.name!r}: {why}")
            if _is_link(e):
                ctx.issue(R_LINK, "symbolic link member")
                continue
            if _is_special(e):
                ctx.issue(R_SPECIAL_MEMBER, f"special file member (mode {e.external_attr >> 16:#o})")
                continue
            if e.name.endswith("/") and e.usize == 0:
                continue  # directory entry
            if e.flags & 0x0001:
                # Some loaders ignore the flag and read a stored member as plain bytes (the
                # CVE-2025-1945 class): analyse stored bytes anyway; deflated ones cannot be.
                ctx.issue(R_ZIP_FLAGS, f"member is marked encrypted (flags {e.flags:#06x})")
                if e.method != 0:
                    ctx.unsupported(R_ARC_ENCRYPTED, "encrypted compressed member")
                    continue
            if e.flags & ~_KNOWN_FLAGS:
                ctx.issue(R_ZIP_FLAGS, f"general-purpose flags {e.flags:#06x}")
            if e.usize > lim.max_ratio * max(e.csize, 1) and e.usize > BOMB_FLOOR:
                ctx.issue(R_BOMB, f"declares {e.usize} bytes from {e.csize} (ratio over {lim.max_ratio})")
                continue
            got = zip_member_blob(blob, e, ctx)
            if got is None:
                continue
            member, spool = got
            try:
                role = TORCH_STORAGE if e.name in roles else None
                # Raw tensor storages are not CRC-checked (one read pass over the weights); every
                # other member is, since scanners and loaders disagree on bad CRCs (CVE-2025-10156).
                if role is None and (member.size <= CRC_CHECK_MAX or spool is not None):
                    crc = _crc_of(member)
                    if crc != e.crc:
                        ctx.issue(R_ZIP_CRC, f"CRC-32 {crc:#010x}, directory says {e.crc:#010x}")
                analyze(member, ctx, role=role)
            finally:
                if spool is not None:
                    spool.close()


# ---------------------------------------------------------------------------------------------
# Tar
# ---------------------------------------------------------------------------------------------


def analyze_tar(blob: Blob, ctx: ScanContext, analyze: Analyze) -> None:
    lim = ctx.config.limits
    count = 0
    with blob.open() as f:
        try:
            tf = tarfile.open(fileobj=f, mode="r:")  # noqa: SIM115 - closed below
        except (tarfile.TarError, OSError) as e:
            ctx.issue(R_ARC_MALFORMED, f"tar: {e}")
            return
        try:
            members: list[tarfile.TarInfo] = []
            while True:
                try:
                    ti = tf.next()
                except (tarfile.TarError, OSError, ValueError) as e:
                    ctx.issue(R_ARC_MALFORMED, f"tar: {e}")
                    break
                if ti is None:
                    break
                count += 1
                if count > lim.max_members:
                    ctx.limit(f"tar has more than {lim.max_members} members")
                    break
                members.append(ti)
        finally:
            tf.close()
    ctx.covered("tar", f"{count} members")
    total = 0
    for ti in members:
        ctx.check_time()
        with ctx.member(ti.name):
            why = safe_member_name(ti.name)
            if why:
                ctx.issue(R_TRAVERSAL, f"member name {ti.name!r}: {why}")
            if ti.issym() or ti.islnk():
                ctx.issue(R_LINK, f"{'symbolic' if ti.issym() else 'hard'} link to {ti.linkname!r}")
                continue
            if ti.isdir():
                continue
            if not ti.isreg():
                ctx.issue(R_SPECIAL_MEMBER, f"tar member type {ti.type!r}")
                continue
            total += ti.size
            if ti.offset_data + ti.size > blob.size:
                ctx.issue(R_ARC_MALFORMED, "member data runs past the end of the archive")
                continue
            analyze(blob.window(ti.name, ti.offset_data, ti.size), ctx)


# ---------------------------------------------------------------------------------------------
# 7z (py7zr), extracted into a private temporary folder under the extraction budget
# ---------------------------------------------------------------------------------------------


def analyze_7z(blob: Blob, ctx: ScanContext, analyze: Analyze) -> None:
    import tempfile

    try:
        import py7zr
    except ImportError:  # pragma: no cover - a core dependency
        ctx.unsupported(R_ARC_METHOD, "py7zr is not installed; 7z archives cannot be analysed")
        return
    lim = ctx.config.limits
    with blob.open() as f:
        try:
            with py7zr.SevenZipFile(f, mode="r") as z:
                infos = z.list()
                if len(infos) > lim.max_members:
                    ctx.limit(f"7z has {len(infos)} members")
                    return
                if z.needs_password():
                    ctx.unsupported(R_ARC_ENCRYPTED, "encrypted 7z archive")
                    return
                declared = sum(int(i.uncompressed or 0) for i in infos)
                packed = max(blob.size, 1)
                if declared > lim.max_extracted_bytes or (declared > BOMB_FLOOR and declared > lim.max_ratio * packed):
                    ctx.issue(R_BOMB, f"7z declares {declared} bytes from {blob.size}")
                    return
                bad = False
                for i in infos:
                    why = safe_member_name(i.filename)
                    if why:
                        with ctx.member(i.filename):
                            ctx.issue(R_TRAVERSAL, f"member name {i.filename!r}: {why}")
                        bad = True
                    if getattr(i, "is_symlink", False):
                        with ctx.member(i.filename):
                            ctx.issue(R_LINK, "symbolic link member")
                        bad = True
                if bad:
                    return
                ctx.charge_extracted(declared)
                with tempfile.TemporaryDirectory(prefix="mlgate-7z-") as tmp:
                    z.extractall(path=tmp)  # noqa: S202 - names and links were checked above; private temp dir
                    ctx.covered("7z", f"{len(infos)} members")
                    from mlgate.gates.model_scan.blob import file_blob

                    for root, dirs, files in os.walk(tmp, followlinks=False):
                        dirs.sort()
                        for fn in sorted(files):
                            p = os.path.join(root, fn)
                            rel = posixpath.relpath(p.replace(os.sep, "/"), tmp.replace(os.sep, "/"))
                            with ctx.member(rel):
                                if os.path.islink(p) or not os.path.isfile(p):
                                    ctx.issue(R_LINK, "link or special file in 7z")
                                    continue
                                analyze(file_blob(p, rel), ctx)
        except (BudgetExceeded, SpillError):
            raise
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise spill_error(e) from None
            ctx.issue(R_ARC_MALFORMED, f"7z: {type(e).__name__}: {e}")
        except Exception as e:  # py7zr raises many types on hostile input
            ctx.issue(R_ARC_MALFORMED, f"7z: {type(e).__name__}: {e}")
