"""Finding and hashing the bytes a model version points at, from inside the MLflow server.

A version's storage location is resolved the way the server resolves it for downloads:

* ``models:/m-<id>`` -> the logged model's ``artifact_location`` (tracking store);
  ``models:/<name>/<version>`` or ``@alias`` -> that version's download URI (registry store);
* ``runs:/<run_id>/<path>`` -> the run's artifact root + path (tracking store);
* ``mlflow-artifacts:/<path>`` -> ``--artifacts-destination`` + path (the server exports it to
  its workers as ``_MLFLOW_SERVER_ARTIFACT_DESTINATION``);
* anything else (``s3://``, ``gs://``, ...) is used as is, through MLflow's artifact repository
  for that scheme and the server's own credentials.

The manifest is mlgate's (:func:`mlgate.digest.manifest_of`): sha256 over the sorted
``"<sha256>  <relative/path>"`` lines of every file under the location. Files are downloaded one
at a time into a private temporary folder and deleted once hashed.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol

from mlgate.digest import manifest_of, sha256_file

MLFLOW_ARTIFACTS_ROUTE = "/api/2.0/mlflow-artifacts/artifacts/"
_LOCAL_SCHEMES = {"", "file"}


class ArtifactFetchError(Exception):
    """The bytes of a version could not be located or fetched (the guard then refuses)."""


class TrackingLookup(Protocol):
    def logged_model_location(self, model_id: str) -> str: ...

    def run_artifact_root(self, run_id: str) -> str: ...


def in_mlflow_server() -> bool:
    from mlflow.server.constants import BACKEND_STORE_URI_ENV_VAR

    return bool(os.environ.get(BACKEND_STORE_URI_ENV_VAR))


class ServerTrackingLookup:
    """The server's own tracking store (the one its request handlers use)."""

    def _store(self) -> Any:
        from mlflow.server.handlers import _get_tracking_store

        return _get_tracking_store()

    def logged_model_location(self, model_id: str) -> str:
        return str(self._store().get_logged_model(model_id).artifact_location)

    def run_artifact_root(self, run_id: str) -> str:
        return str(self._store().get_run(run_id).info.artifact_uri)


class ClientTrackingLookup:
    """Outside a server (a client that opted into the store, or a test): a tracking client."""

    def __init__(self, tracking_uri: str | None) -> None:
        self.tracking_uri = tracking_uri

    def _client(self) -> Any:
        from mlgate.integrations.mlflow import mlflow_client

        return mlflow_client(self.tracking_uri)

    def logged_model_location(self, model_id: str) -> str:
        return str(self._client().get_logged_model(model_id).artifact_location)

    def run_artifact_root(self, run_id: str) -> str:
        return str(self._client().get_run(run_id).info.artifact_uri)


def _safe_join(root: str, rel: str) -> str:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." or "\\" in p for p in parts):
        raise ArtifactFetchError(f"unsafe artifact path {rel!r}")
    return posixpath.join(root.rstrip("/"), *parts) if parts else root


def resolve_concrete(uri: str, lookup: TrackingLookup, *, depth: int = 0) -> str:
    """Turn a ``runs:/`` or ``mlflow-artifacts:/`` location into one the server can read."""
    if depth > 4:
        raise ArtifactFetchError(f"{uri}: too many levels of indirection")
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme
    if scheme == "runs":
        from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

        try:
            run_id, path = RunsArtifactRepository.parse_runs_uri(uri)
            root = lookup.run_artifact_root(run_id)
        except Exception as e:
            raise ArtifactFetchError(f"{uri}: cannot resolve the run's artifacts: {e}") from None
        return resolve_concrete(_safe_join(root, path or ""), lookup, depth=depth + 1)
    if scheme in ("mlflow-artifacts", "http", "https"):
        from mlflow.server.constants import ARTIFACTS_DESTINATION_ENV_VAR

        dest = os.environ.get(ARTIFACTS_DESTINATION_ENV_VAR)
        if scheme == "mlflow-artifacts":
            rel = parsed.path
        elif MLFLOW_ARTIFACTS_ROUTE in parsed.path:
            rel = parsed.path.split(MLFLOW_ARTIFACTS_ROUTE, 1)[1]
        else:
            raise ArtifactFetchError(f"{uri}: the guard does not fetch arbitrary http(s) locations")
        if dest:
            return _safe_join(dest, urllib.parse.unquote(rel))
        if in_mlflow_server():
            raise ArtifactFetchError(f"{uri}: this server has no --artifacts-destination to resolve it")
        return uri  # a client: MLflow resolves mlflow-artifacts against its tracking server
    return uri


@dataclass(frozen=True)
class Manifest:
    location: str
    sha256: str
    files: int
    bytes: int


def _check_rel(rel: str) -> str:
    pp = PurePosixPath(rel)
    if not rel or pp.is_absolute() or ".." in pp.parts or "\\" in rel:
        raise ArtifactFetchError(f"unsafe artifact name {rel!r}")
    return pp.as_posix()


RepoFactory = Callable[[str], Any]


def _default_repo(uri: str) -> Any:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(uri)


def manifest_at(
    location: str,
    *,
    max_files: int,
    max_bytes: int,
    allow_local: bool,
    repo_factory: RepoFactory = _default_repo,
) -> Manifest:
    """Download every file under ``location`` (one at a time) and return mlgate's manifest."""
    scheme = urllib.parse.urlparse(location).scheme
    if (scheme in _LOCAL_SCHEMES or len(scheme) == 1) and not allow_local:  # len 1: a Windows drive
        raise ArtifactFetchError(f"{location}: local paths are not read by the guard "
                                 "(MLGATE_GUARD_ALLOW_LOCAL_SOURCES=false)")
    try:
        repo = repo_factory(location)
    except Exception as e:
        raise ArtifactFetchError(f"{location}: no artifact repository: {e}") from None
    files: dict[str, str] = {}
    total = 0
    with tempfile.TemporaryDirectory(prefix="mlgate-guard-") as tmp:
        pending: list[str | None] = [None]
        seen_dirs: set[str | None] = set()
        while pending:
            path = pending.pop()
            if path in seen_dirs:
                continue
            seen_dirs.add(path)
            try:
                entries = repo.list_artifacts(path)
            except Exception as e:
                raise ArtifactFetchError(f"{location}: cannot list {path or '/'}: {e}") from None
            for fi in entries:
                rel = _check_rel(str(fi.path))
                if fi.is_dir:
                    pending.append(rel)
                    continue
                if len(files) >= max_files:
                    raise ArtifactFetchError(f"{location}: more than {max_files} files (MLGATE_GUARD_MAX_FILES)")
                if fi.file_size is not None and total + int(fi.file_size) > max_bytes:
                    raise ArtifactFetchError(f"{location}: more than {max_bytes} bytes (MLGATE_GUARD_MAX_BYTES)")
                try:
                    local = repo.download_artifacts(rel, dst_path=tmp)
                    digest, size = sha256_file(local)
                    os.unlink(local)
                except Exception as e:
                    raise ArtifactFetchError(f"{location}: cannot fetch {rel}: {e}") from None
                total += size
                if total > max_bytes:
                    raise ArtifactFetchError(f"{location}: more than {max_bytes} bytes (MLGATE_GUARD_MAX_BYTES)")
                files[rel] = digest
    if not files:
        raise ArtifactFetchError(f"{location}: no files")
    return Manifest(location, manifest_of(files), len(files), total)
