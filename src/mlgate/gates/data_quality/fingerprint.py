"""The dataset fingerprint: what binds a data-quality verdict to the bytes that were checked.

It is computed while the data is read (never in a second pass): one sha256 per file over exactly
the bytes that were parsed, in a defined order (files sorted by their path relative to the dataset
root), plus the row count and the schema that the parse produced. Its ``digest`` is the sha256 of a
canonical JSON document of those fields. The dataset's URI is *not* part of the digest, so a copy
of the same files (local -> S3) has the same fingerprint; the report records the URI beside it.

The training step proves it trained on the checked data by reading the data through
:func:`mlgate.gates.data_quality.load_dataset` with the fingerprint from the report: the bytes it
parses are hashed as they are read, and a mismatch raises :class:`FingerprintMismatch`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mlgate.errors import ExitCode, MlgateError

SCHEME = "mlgate.dataset-fingerprint/v1"


class FileDigest(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str  # relative to the dataset root, "/"-separated
    sha256: str
    bytes: int
    rows: int | None = None


class ColumnSchema(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: str  # Arrow type as parsed (int64, double, string, ...)


class Fingerprint(BaseModel):
    model_config = ConfigDict(frozen=True)

    scheme: Literal["mlgate.dataset-fingerprint/v1"] = "mlgate.dataset-fingerprint/v1"
    format: str
    files: tuple[FileDigest, ...]
    bytes: int
    rows: int
    columns: tuple[ColumnSchema, ...]
    digest: str  # "sha256:<hex>"

    @property
    def hexdigest(self) -> str:
        return self.digest.split(":", 1)[1]

    @staticmethod
    def compute_digest(fmt: str, files: tuple[FileDigest, ...], rows: int, columns: tuple[ColumnSchema, ...]) -> str:
        doc = {
            "scheme": SCHEME,
            "format": fmt,
            "files": [[f.path, f.sha256, f.bytes] for f in files],
            "rows": rows,
            "columns": [[c.name, c.type] for c in columns],
        }
        canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()

    @classmethod
    def build(cls, fmt: str, files: list[FileDigest], rows: int, columns: list[ColumnSchema]) -> Fingerprint:
        ordered = tuple(sorted(files, key=lambda f: f.path))
        cols = tuple(columns)
        return cls(format=fmt, files=ordered, bytes=sum(f.bytes for f in ordered), rows=rows, columns=cols,
                   digest=cls.compute_digest(fmt, ordered, rows, cols))

    def check(self) -> None:
        """Raise ValueError if ``digest`` does not match the fields (a tampered fingerprint)."""
        if self.compute_digest(self.format, self.files, self.rows, self.columns) != self.digest:
            raise ValueError("fingerprint digest does not match its fields")

    def diff(self, other: Fingerprint, limit: int = 10) -> list[str]:
        """Human-readable differences from ``other`` (the expected fingerprint)."""
        out: list[str] = []
        if self.format != other.format:
            out.append(f"format: expected {other.format}, read {self.format}")
        mine = {f.path: f for f in self.files}
        theirs = {f.path: f for f in other.files}
        for p in sorted(set(theirs) - set(mine)):
            out.append(f"file missing: {p}")
        for p in sorted(set(mine) - set(theirs)):
            out.append(f"file added: {p}")
        for p in sorted(set(mine) & set(theirs)):
            if mine[p].sha256 != theirs[p].sha256:
                out.append(f"file changed: {p} (sha256 {theirs[p].sha256[:12]}... -> {mine[p].sha256[:12]}...)")
        if self.rows != other.rows:
            out.append(f"rows: expected {other.rows}, read {self.rows}")
        if self.columns != other.columns:
            out.append(
                "schema: expected " + ", ".join(f"{c.name}:{c.type}" for c in other.columns)
                + "; read " + ", ".join(f"{c.name}:{c.type}" for c in self.columns)
            )
        if not out and self.digest != other.digest:
            out.append(f"digest: expected {other.digest}, computed {self.digest}")
        if len(out) > limit:
            out = [*out[:limit], f"... {len(out) - limit} more"]
        return out


class FingerprintMismatch(MlgateError):
    """The data read now is not the data that was checked. Never retried."""

    exit_code = ExitCode.FAIL

    def __init__(self, uri: str, expected: str, actual: str, differences: list[str]) -> None:
        self.uri = uri
        self.expected = expected
        self.actual = actual
        self.differences = differences
        detail = "; ".join(differences) or "digest differs"
        super().__init__(f"{uri}: dataset fingerprint mismatch (expected {expected}, read {actual}): {detail}")


def coerce_fingerprint(value: Fingerprint | dict[str, Any] | str) -> Fingerprint | str:
    """A Fingerprint from a model, its JSON dict, or a bare ``sha256:<hex>``/hex digest string."""
    if isinstance(value, Fingerprint):
        return value
    if isinstance(value, dict):
        fp = Fingerprint.model_validate(value)
        fp.check()
        return fp
    s = value.strip()
    return s if s.startswith("sha256:") else "sha256:" + s
