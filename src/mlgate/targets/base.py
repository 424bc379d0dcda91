"""What every remote source provides: a listing (what the store says is there) and a fetch of one
listed object into a local file, verified against the listing before anything judges it.

A source never decides a verdict: problems are :class:`TargetProblem` (listing failed, access
denied, a staged copy that does not match what was listed), which the remote gate turns into
error findings. Nothing here loads a model.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlgate.errors import MlgateError


class TargetProblem(MlgateError):
    """A remote target could not be listed or an object could not be staged and verified."""

    def __init__(self, message: str, *, rule: str = "MLG-TARGET-FETCH", empty: bool = False) -> None:
        self.rule = rule
        self.empty = empty
        super().__init__(message)


@dataclass(frozen=True)
class RemoteObject:
    """One listed object. ``expect`` holds what the staged copy is verified against:
    ``size`` always; where the store gives them ``sha256`` (HF LFS), ``git_blob_sha1`` (HF),
    ``sha256_b64`` (an S3 full-object SHA-256 checksum), ``etag``/``version_id`` (S3)."""

    rel: str  # relative posix path under the target (the subject name, as for a local folder)
    key: str  # what the source needs to fetch it (object key, artifact path, repo file name)
    size: int | None
    expect: dict[str, str] = field(default_factory=dict)


@dataclass
class Listing:
    uri: str
    kind: str  # directory | file
    objects: list[RemoteObject] = field(default_factory=list)
    problems: list[TargetProblem] = field(default_factory=list)  # per-key problems (unsafe names)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. signature_ref, resolved source, commit


@dataclass
class Fetched:
    """What the fetch saw, recorded in the subject's details."""

    size: int
    details: dict[str, str] = field(default_factory=dict)


def safe_rel(key: str, prefix: str) -> str:
    """The relative path of ``key`` under ``prefix``; unsafe names are refused, never fixed up."""
    rel = key[len(prefix) :].lstrip("/") if prefix else key
    pp = PurePosixPath(rel)
    if not rel or pp.is_absolute() or ".." in pp.parts or "\\" in rel or "\x00" in rel or "//" in rel:
        raise TargetProblem(f"unsafe object name {key!r} (absolute, '..', backslash or empty part)",
                            rule="MLG-TARGET-UNSAFE-NAME")
    return str(pp)


class Source(ABC):
    scheme: str

    @abstractmethod
    def list(self, uri: str) -> Listing:
        """List every object under ``uri``; raise :class:`TargetProblem` on any error."""

    @abstractmethod
    def fetch(self, listing: Listing, obj: RemoteObject, dest: Path) -> Fetched:
        """Write ``obj``'s bytes to ``dest`` (streamed, never past the listed size) and return what
        was seen; raise :class:`TargetProblem` on any error."""


class BoundedWriter:
    """Streams chunks to a file, hashing as it goes, refusing to write past ``limit`` bytes."""

    def __init__(self, dest: Path, limit: int | None, what: str) -> None:
        self.dest = dest
        self.limit = limit
        self.what = what
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.sha1_git: Any = None
        self._f = open(dest, "xb")  # noqa: SIM115 - closed in close()

    def want_git_blob_sha1(self, size: int) -> None:
        self.sha1_git = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise TargetProblem(f"{self.what}: more bytes than the {self.limit} listed", rule="MLG-TARGET-MISMATCH")
        self._f.write(chunk)
        self.sha256.update(chunk)
        if self.sha1_git is not None:
            self.sha1_git.update(chunk)

    def close(self) -> None:
        self._f.close()


def verify(obj: RemoteObject, w: BoundedWriter, what: str) -> None:
    """The staged copy against the listing: size, then every digest the store gave."""
    import base64

    if obj.size is not None and w.size != obj.size:
        raise TargetProblem(f"{what}: staged {w.size} bytes, the listing said {obj.size}", rule="MLG-TARGET-MISMATCH")
    exp = obj.expect
    if "sha256" in exp and w.sha256.hexdigest() != exp["sha256"]:
        raise TargetProblem(f"{what}: sha256 {w.sha256.hexdigest()} differs from the listed {exp['sha256']}",
                            rule="MLG-TARGET-MISMATCH")
    if "sha256_b64" in exp:
        got = base64.b64encode(w.sha256.digest()).decode()
        if got != exp["sha256_b64"]:
            raise TargetProblem(f"{what}: SHA-256 checksum {got} differs from the store's {exp['sha256_b64']}",
                                rule="MLG-TARGET-MISMATCH")
    if "git_blob_sha1" in exp and w.sha1_git is None:
        raise TargetProblem(f"{what}: a git blob id was listed but not computed", rule="MLG-TARGET-MISMATCH")
    if "git_blob_sha1" in exp and w.sha1_git.hexdigest() != exp["git_blob_sha1"]:
        raise TargetProblem(f"{what}: git blob id {w.sha1_git.hexdigest()} differs from the listed "
                            f"{exp['git_blob_sha1']}", rule="MLG-TARGET-MISMATCH")
