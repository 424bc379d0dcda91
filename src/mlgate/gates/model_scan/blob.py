"""Byte sources for analysis: bounded, seekable views, never whole files in memory.

A :class:`Blob` is something to analyse: a regular file, a window of a file (a stored zip member,
a byte string inside a pickle), or a spooled temporary file holding decompressed bytes. Every
analyser reads through :meth:`Blob.open`, which returns a seekable binary stream limited to the
blob's bytes.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

SPOOL_IN_MEMORY = 8 * 1024 * 1024
CHUNK = 1024 * 1024


class Window(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes at ``start`` of a seekable stream."""

    def __init__(self, base: BinaryIO, start: int, length: int) -> None:
        super().__init__()
        self._base = base
        self._start = start
        self._length = length
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        else:
            pos = self._length + offset
        self._pos = max(0, pos)
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        remaining = self._length - self._pos
        if remaining <= 0:
            return 0
        n = min(len(b), remaining)
        self._base.seek(self._start + self._pos)
        data = self._base.read(n)
        k = len(data)
        b[:k] = data
        self._pos += k
        return k


@dataclass
class Blob:
    """Something to analyse. ``name`` is the display name of this layer (a file's relative path, a
    member name); ``size`` is its byte length; ``opener`` returns a fresh seekable stream."""

    name: str
    size: int
    opener: Callable[[], BinaryIO]
    suffix_hint: str = ""  # the name's extension, a hint only: formats are detected by content

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        f = self.opener()
        try:
            yield f
        finally:
            f.close()

    def head(self, n: int = 64) -> bytes:
        with self.open() as f:
            return f.read(n)

    def tail(self, n: int) -> bytes:
        with self.open() as f:
            f.seek(max(0, self.size - n))
            return f.read(n)

    def window(self, name: str, start: int, length: int) -> Blob:
        """A sub-blob of this blob's bytes [start, start+length)."""
        parent = self
        length = max(0, min(length, self.size - start))

        def _open() -> BinaryIO:
            base = parent.opener()
            return io.BufferedReader(_ClosingWindow(base, start, length), buffer_size=CHUNK)

        return Blob(name=name, size=length, opener=_open, suffix_hint=os.path.splitext(name)[1].lower())


class _ClosingWindow(Window):
    def close(self) -> None:
        try:
            self._base.close()
        finally:
            super().close()


def file_blob(path: str, name: str) -> Blob:
    size = os.stat(path).st_size

    def _open() -> BinaryIO:
        # O_NOFOLLOW: a path swapped for a symlink after the walk is refused, not followed.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        return os.fdopen(fd, "rb", buffering=CHUNK)

    return Blob(name=name, size=size, opener=_open, suffix_hint=os.path.splitext(name)[1].lower())


class SpillError(Exception):
    """The temporary storage for decompressed or extracted data failed (a full or unwritable
    ``$TMPDIR``): an error of the machine, never a finding about the file (a rescan must not
    quarantine a model because a disk filled up)."""


def spill_error(e: OSError) -> SpillError:
    return SpillError(f"cannot spill decompressed data to the temporary folder {tempfile.gettempdir()} "
                      f"({e.strerror or e}); free space there or set TMPDIR")


class SpooledBlob:
    """A temporary, disk-backed buffer that becomes a :class:`Blob` once written. Used for
    decompressed and extracted members. Close it when done (``with`` block)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._f: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by close()
            max_size=SPOOL_IN_MEMORY, prefix="mlgate-"
        )
        self.size = 0

    def write(self, data: bytes) -> None:
        try:
            self._f.write(data)
        except OSError as e:
            raise spill_error(e) from None
        self.size += len(data)

    def blob(self) -> Blob:
        spool = self._f
        size = self.size

        def _open() -> BinaryIO:
            return io.BufferedReader(_NonClosingWindow(spool, 0, size), buffer_size=CHUNK)  # type: ignore[arg-type]

        return Blob(name=self.name, size=size, opener=_open, suffix_hint=os.path.splitext(self.name)[1].lower())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> SpooledBlob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NonClosingWindow(Window):
    def close(self) -> None:  # the spool outlives each reader
        io.RawIOBase.close(self)


def bytes_blob(name: str, data: bytes) -> Blob:
    return Blob(
        name=name, size=len(data), opener=lambda: io.BytesIO(data), suffix_hint=os.path.splitext(name)[1].lower()
    )
