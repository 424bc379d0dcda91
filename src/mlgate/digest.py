"""Digests that bind verdicts to bytes.

* ``sha256_file``: one sequential read of the file.
* ``manifest_of``: the digest of a set of files, defined so that it can be recomputed with
  standard tools: the sha256 of the lines ``"<sha256>  <relative/posix/path>\\n"`` sorted by path
  (the output format of ``sha256sum``), e.g.
  ``cd ROOT && find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

CHUNK = 4 * 1024 * 1024


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(hex sha256, size) of a regular file, reading it once without following a final symlink."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb", buffering=0) as f:
        h = hashlib.sha256()
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        size = 0
        while True:
            n = f.readinto(view)
            if not n:
                break
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


def manifest_of(files: Mapping[str, str]) -> str:
    lines = "".join(f"{files[p]}  {p}\n" for p in sorted(files, key=lambda s: s.encode()))
    return hashlib.sha256(lines.encode()).hexdigest()


class TreeError(ValueError):
    """A folder to hash holds something that is not a regular file (a symlink, a device)."""


def hash_tree(path: str | os.PathLike[str]) -> dict[str, str]:
    """``relative/posix/path -> sha256`` of every regular file under ``path`` (or of the file
    itself); symlinks and special files raise :class:`TreeError` instead of being followed."""
    import stat
    from pathlib import Path

    root = Path(path)
    if root.is_file() and not root.is_symlink():
        return {root.name: sha256_file(root)[0]}
    out: dict[str, str] = {}
    for base, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for fn in sorted(files):
            p = Path(base) / fn
            if p.is_symlink() or not stat.S_ISREG(p.lstat().st_mode):
                raise TreeError(f"{p}: not a regular file")
            out[p.relative_to(root).as_posix()] = sha256_file(p)[0]
    return out
