"""Staging: bring every input (local folder, ``s3://`` prefix, ``models:/`` URI) into a private
local folder first, check *that* copy, and re-verify its digests right before handing it on. What
the training step or the deploy target receives is, byte for byte, what the gates checked.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlgate.digest import manifest_of, sha256_file
from mlgate.errors import GateFailed, MlgateError, TransientError


class StagingError(MlgateError):
    """An input could not be fetched (missing, unreadable, unsafe names)."""


@dataclass(frozen=True)
class StagedCopy:
    uri: str
    path: Path  # a file or a folder
    files: dict[str, str]  # relative posix path -> sha256
    manifest_sha256: str
    source_versions: dict[str, str]  # object key -> S3 version id / ETag, where known

    def reverify(self, checkpoint: str) -> None:
        """Re-hash the copy; raise GateFailed if a byte changed since it was checked."""
        now = hash_tree(self.path)
        if now != self.files:
            changed = sorted(set(now.items()) ^ set(self.files.items()))
            names = sorted({n for n, _ in changed})[:10]
            raise GateFailed(checkpoint, "staging", f"{self.uri}: files changed after they were checked: {names}")


def hash_tree(path: Path) -> dict[str, str]:
    if path.is_file():
        return {path.name: sha256_file(path)[0]}
    out: dict[str, str] = {}
    for root, dirs, files in os.walk(path, followlinks=False):
        dirs.sort()
        for fn in sorted(files):
            p = Path(root) / fn
            rel = p.relative_to(path).as_posix()
            if p.is_symlink() or not stat.S_ISREG(p.lstat().st_mode):
                raise StagingError(f"{p}: not a regular file")
            out[rel] = sha256_file(p)[0]
    return out


def _os_reason(e: OSError) -> str:
    """One line for an OS error, a full disk named as such (shutil.copytree collects its errors)."""
    text = " ".join(str(e).split())
    if getattr(e, "errno", None) == errno.ENOSPC or "No space left on device" in text:
        return "no space left on device (free space on the staging disk, then re-run)"
    if getattr(e, "errno", None) == errno.EDQUOT or "Disk quota exceeded" in text:
        return "disk quota exceeded (free space on the staging disk, then re-run)"
    return text if len(text) <= 300 else text[:297] + "..."


def _safe_rel(key: str, prefix: str) -> str:
    rel = key[len(prefix) :].lstrip("/") if prefix else key
    pp = PurePosixPath(rel)
    if not rel or pp.is_absolute() or ".." in pp.parts or "\\" in rel:
        raise StagingError(f"unsafe object key {key!r}")
    return rel


def _copy_local(src: Path, dest: Path) -> None:
    if src.is_symlink():
        raise StagingError(f"{src} is a symbolic link")
    if src.is_file():
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / src.name)
        return
    if not src.is_dir():
        raise StagingError(f"{src}: no such file or folder")

    def _ignore_links(d: str, names: list[str]) -> list[str]:
        bad = [n for n in names if os.path.islink(os.path.join(d, n))]
        if bad:
            raise StagingError(f"{d}: symbolic links are not staged: {bad}")
        return []

    shutil.copytree(src, dest, ignore=_ignore_links, dirs_exist_ok=False)


def _s3_download(uri: str, dest: Path, session: Any | None) -> dict[str, str]:
    from mlgate.integrations import aws

    u = urllib.parse.urlparse(uri)
    bucket, prefix = u.netloc, u.path.lstrip("/")
    s3 = (session or aws.session()).client("s3")
    versions: dict[str, str] = {}
    try:
        keys: list[dict[str, Any]] = []
        # s3://b/models/tiny means the object "models/tiny" or the folder "models/tiny/", never
        # "models/tiny-other/..." (a plain prefix match would pull in a neighbour).
        folder = prefix if (not prefix or prefix.endswith("/")) else prefix + "/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
            keys.extend(dict(o) for o in page.get("Contents", []))
        single = False
        if not keys and prefix and not prefix.endswith("/"):
            head = s3.head_object(Bucket=bucket, Key=prefix)
            keys, single = [{"Key": prefix, "Size": head.get("ContentLength", 0)}], True
        if not keys:
            raise StagingError(f"{uri}: no objects")
        for obj in keys:
            key = obj["Key"]
            if key.endswith("/"):
                continue
            rel = PurePosixPath(key).name if single else _safe_rel(key, folder)
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            resp = s3.get_object(Bucket=bucket, Key=key)
            with open(target, "wb") as f:
                for chunk in resp["Body"].iter_chunks(4 * 1024 * 1024):
                    f.write(chunk)
            versions[key] = str(resp.get("VersionId") or resp.get("ETag", "")).strip('"')
    except aws.AWS_ERRORS as e:
        if aws.connection_problem(e) == "unreachable":
            raise TransientError(f"{uri}: S3 endpoint unreachable: {e}") from e
        if aws.is_service_error(e):
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"):
                raise TransientError(f"{uri}: {code}") from e
            raise StagingError(f"{uri}: {code or e}") from e
        raise TransientError(f"{uri}: {e}") from e
    return versions


def _mlflow_download(uri: str, dest: Path, tracking_uri: str | None) -> Path:
    """Download into ``dest``; returns the downloaded file or folder (MLflow nests an artifact
    folder under its own name)."""
    import mlflow

    source = _resolve_model_uri(uri, tracking_uri) if uri.startswith("models:/") else uri
    try:
        got = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dest), tracking_uri=tracking_uri)
    except Exception as e:
        raise StagingError(" ".join(f"{uri}: download failed: {e}".split())) from e
    return Path(got)


def _resolve_model_uri(uri: str, tracking_uri: str | None) -> str:
    """``models:/name/version`` or ``models:/name@alias`` -> the version's source. Downloading the
    source gives exactly the registered bytes (a ``models:/`` download adds MLflow's own
    ``registered_model_meta`` file)."""
    from mlgate.integrations.mlflow import mlflow_client

    rest = uri[len("models:/") :]
    client = mlflow_client(tracking_uri)
    try:
        if "@" in rest:
            name, alias = rest.rsplit("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        else:
            name, _, version = rest.rpartition("/")
            if not name:  # models:/m-<id> (a logged model): let MLflow resolve it
                return uri
            mv = client.get_model_version(name, version)
    except Exception as e:
        raise StagingError(f"{uri}: cannot resolve: {e}") from e
    return str(mv.source)


def stage(uri: str, dest: Path, *, session: Any | None = None, tracking_uri: str | None = None) -> StagedCopy:
    """Fetch ``uri`` into ``dest`` (which must not exist) and hash it."""
    if dest.exists():
        raise StagingError(f"staging folder {dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    versions: dict[str, str] = {}
    try:
        if uri.startswith("s3://"):
            dest.mkdir()
            versions = _s3_download(uri, dest, session)
            path = dest
        elif uri.startswith(("models:/", "runs:/", "mlflow-artifacts:/")):
            dest.mkdir()
            path = _mlflow_download(uri, dest, tracking_uri)
        else:
            src = Path(uri)
            _copy_local(src, dest)
            path = dest / src.name if src.is_file() else dest
    except BaseException as e:
        # a partial copy is never used, and never left to fill the disk
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(e, OSError) and not isinstance(e, MlgateError):  # shutil.Error is an OSError
            raise StagingError(f"staging {uri} into {dest.parent} failed: {_os_reason(e)} "
                               "(the partial copy was removed)") from e
        raise
    files = hash_tree(path)
    if not files:
        raise StagingError(f"{uri}: nothing to stage (no files)")
    return StagedCopy(uri=uri, path=path, files=files, manifest_sha256=manifest_of(files), source_versions=versions)
