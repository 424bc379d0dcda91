"""A verdict cache for the model-file gate, so a re-run (a pre-commit hook, a shard of a large
store that is scanned again) costs only what changed.

An entry is the analysis of one file (its findings, coverage, formats and details, before the
policy judges them), keyed by everything the analysis depends on:

* the file's sha256 and its path relative to the scanned root (findings name it);
* the policy digest and the checkpoint (the globals policy and the gate settings come from them);
* the scanner versions: modelscan's version and a digest of mlgate's own source, so an upgrade or
  a local edit of the analysers never reads an older verdict.

Only analyses that are reproducible are stored: a file with an engine error or with anything left
unanalysed (a budget, a size limit, an unsupported member) is analysed again on every run.

Trust: an entry is only as trustworthy as the folder that holds it. The cache refuses a folder
that is not owned by the current user or that others can write, and every entry carries an HMAC
under a key kept in the folder (0600), so a copied or edited entry is ignored rather than
believed. The cache is off unless the policy (``gates.model-scan.cache_dir``) or
``MLGATE_SCAN_CACHE`` names a folder; pipelines that sign verdicts should leave it off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mlgate.gate import SubjectDraft
from mlgate.model import Coverage, Finding, FindingKind

ENTRY_VERSION = 1


@cache
def code_digest() -> str:
    """sha256 over mlgate's own Python source (paths and bytes), computed once per process."""
    root = Path(__file__).resolve().parents[2]  # the mlgate package
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


class CacheRefused(Exception):
    """The folder cannot be trusted to hold verdicts."""


def _check_folder(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise CacheRefused(f"{folder} is not a directory")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise CacheRefused(f"{folder} is not owned by the current user")
    if st.st_mode & 0o022:
        raise CacheRefused(f"{folder} is writable by others (mode {stat.S_IMODE(st.st_mode):o})")


def _key_file(folder: Path) -> bytes:
    path = folder / ".hmac-key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077:
            raise CacheRefused(f"{path} must be a regular file readable by its owner only") from None
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        key = secrets.token_bytes(32)
        f.write(key)
    return key


@dataclass(frozen=True)
class VerdictCache:
    folder: Path
    salt: str  # policy digest, checkpoint, scanner versions
    key: bytes

    @classmethod
    def open(
        cls,
        folder: str | os.PathLike[str],
        *,
        policy_digest: str,
        checkpoint: str | None,
        tools: dict[str, str],
        settings: str,
    ) -> VerdictCache:
        f = Path(folder).expanduser()
        _check_folder(f)
        salt = json.dumps(
            {
                "v": ENTRY_VERSION,
                "policy": policy_digest,
                "checkpoint": checkpoint,
                "tools": tools,
                "code": code_digest(),
                "settings": settings,
            },
            sort_keys=True,
        )
        return cls(f, salt, _key_file(f))

    def _path(self, sha256: str, rel: str) -> Path:
        name = hashlib.sha256(f"{self.salt}\0{sha256}\0{rel}".encode()).hexdigest()
        return self.folder / name[:2] / f"{name}.json"

    def _mac(self, body: bytes) -> str:
        return hmac.new(self.key, body, hashlib.sha256).hexdigest()

    def get(self, sha256: str, rel: str) -> dict[str, Any] | None:
        path = self._path(sha256, rel)
        try:
            raw = path.read_bytes()
            mac, _, body = raw.partition(b"\n")
            if not hmac.compare_digest(mac.decode("ascii", "replace"), self._mac(body)):
                return None
            data: dict[str, Any] = json.loads(body)
        except (OSError, ValueError):
            return None
        if data.get("sha256") != sha256 or data.get("subject") != rel:
            return None
        return data

    def put(self, draft: SubjectDraft) -> bool:
        """Store ``draft`` if its analysis is reproducible. Returns whether it was stored."""
        if not draft.sha256 or not cacheable(draft):
            return False
        try:
            body = json.dumps(
                {
                    "sha256": draft.sha256,
                    "subject": draft.subject,
                    "size": draft.size,
                    "findings": [f.model_dump(mode="json") for f in draft.findings],
                    "coverage": [c.model_dump(mode="json") for c in draft.coverage],
                    "formats": list(draft.formats),
                    "details": draft.details,
                },
                sort_keys=True,
            ).encode()
        except (TypeError, ValueError):
            return False
        path = self._path(draft.sha256, draft.subject)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self._mac(body).encode() + b"\n" + body)
            os.replace(tmp, path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            return False
        return True


def cacheable(draft: SubjectDraft) -> bool:
    """Only analyses that would come out the same again: no engine error, nothing unanalysed, and
    nothing read from another file (joblib siblings: the key is this file's digest alone)."""
    return (bool(draft.coverage) and all(f.kind is FindingKind.ISSUE for f in draft.findings)
            and not draft.details.get("reads_siblings"))


def restore(draft: SubjectDraft, data: dict[str, Any]) -> None:
    draft.size = data.get("size")
    draft.findings = [Finding.model_validate(f) for f in data["findings"]]
    draft.coverage = [Coverage.model_validate(c) for c in data["coverage"]]
    draft.formats = list(data["formats"])
    draft.details = dict(data["details"]) | {"verdict_cache": "hit"}
