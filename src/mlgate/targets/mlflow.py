"""``models:/name/version``, ``models:/name@alias`` and ``runs:/run_id/path`` through the MLflow
client (``MLFLOW_TRACKING_URI`` or ``--tracking-uri``).

A registered version is resolved to its ``source`` (exactly the registered bytes: a ``models:/``
download would add MLflow's own ``registered_model_meta`` file), then its artifacts are listed
recursively and each file is downloaded on its own into a private temporary folder, checked
against the listed size and scanned. The store must list a size for every file: one that does
not cannot be verified and is an error.

What the registry already says about the version is used too: the version's ``mlgate.signature``
tag becomes the signature reference of the model (CycloneDX), and a ``mlgate.manifest_sha256``
tag that differs from the manifest of the bytes just fetched is a blocking finding (the stored
artifact is not what was signed).
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

from mlgate.evidence import tags as T
from mlgate.targets.base import BoundedWriter, Fetched, Listing, RemoteObject, Source, TargetProblem, safe_rel, verify

CHUNK = 4 * 1024 * 1024
_Found = list[tuple[str, int | None]]
MAX_FILES = 100_000


class MlflowSource(Source):
    scheme = "mlflow"

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self._repos: dict[str, Any] = {}

    def _tracking(self) -> str:
        import mlflow

        return self.tracking_uri or mlflow.get_tracking_uri()

    def _resolve(self, uri: str, listing: Listing) -> str:
        """The artifact URI to list: a version's source for ``models:/``, the URI itself otherwise."""
        if not uri.startswith("models:/"):
            return uri
        from mlgate.integrations.mlflow import mlflow_client

        rest = uri[len("models:/") :].rstrip("/")
        client = mlflow_client(self._tracking(), registry_uri=self._tracking())
        if "@" in rest:
            name, alias = rest.rsplit("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        else:
            name, _, version = rest.rpartition("/")
            if not name or not version.isdigit():
                raise TargetProblem(f"{uri}: expected models:/<name>/<version> or models:/<name>@<alias>",
                                    rule="MLG-TARGET-LIST")
            mv = client.get_model_version(name, version)
        tags = dict(mv.tags or {})
        listing.details.update({"registered_model": mv.name, "version": str(mv.version), "source": str(mv.source)})
        if tags.get(T.SIGNATURE):
            listing.details["signature_ref"] = (
                f"models:/{urllib.parse.quote(mv.name, safe='')}/{mv.version}#tag={T.SIGNATURE}")
        if tags.get(T.MANIFEST):
            listing.details["expected_manifest_sha256"] = tags[T.MANIFEST]
        return str(mv.source)

    def _repo(self, artifact_uri: str) -> Any:
        if artifact_uri not in self._repos:
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            tu = self._tracking()
            self._repos[artifact_uri] = get_artifact_repository(artifact_uri, tracking_uri=tu, registry_uri=tu)
        return self._repos[artifact_uri]

    def list(self, uri: str) -> Listing:
        listing = Listing(uri=uri, kind="directory")
        try:
            source = self._resolve(uri, listing)
            listing.details["artifact_uri"] = source
            repo = self._repo(source)
            found: _Found = []
            stack = [""]
            while stack:
                d = stack.pop()
                for fi in repo.list_artifacts(d or None):
                    if fi.is_dir:
                        stack.append(fi.path)
                    else:
                        found.append((fi.path, fi.file_size))
                    if len(found) > MAX_FILES:
                        raise TargetProblem(f"{uri}: more than {MAX_FILES} files", rule="MLG-TARGET-LIST")
            if not found and uri.startswith("runs:/"):
                found = self._single_file(uri, listing)
        except TargetProblem:
            raise
        except Exception as e:
            raise TargetProblem(f"{uri}: {type(e).__name__}: {_short(e)}", rule="MLG-TARGET-LIST") from e
        for path, size in sorted(found):
            try:
                rel = PurePosixPath(path).name if listing.kind == "file" else safe_rel(path, "")
            except TargetProblem as p:
                listing.problems.append(p)
                continue
            if size is None:
                listing.problems.append(TargetProblem(
                    f"{uri}: {path}: the store lists no size, so the copy cannot be verified", rule="MLG-TARGET-LIST"))
                continue
            listing.objects.append(RemoteObject(rel=rel, key=path, size=int(size)))
        if not listing.objects and not listing.problems:
            raise TargetProblem(f"{uri}: no artifacts: nothing to check", rule="MLG-TARGET-EMPTY", empty=True)
        return listing

    def _single_file(self, uri: str, listing: Listing) -> _Found:
        """``runs:/id/path/file.pkl``: list the parent folder and keep that one file."""
        parsed = urllib.parse.urlparse(uri)
        parts = parsed.path.strip("/").split("/")
        if len(parts) < 2:
            return []
        parent = f"runs:/{'/'.join(parts[:-1])}"
        for fi in self._repo(parent).list_artifacts(None):
            if not fi.is_dir and PurePosixPath(fi.path).name == parts[-1]:
                listing.kind = "file"
                listing.details["artifact_uri"] = parent
                return [(fi.path, fi.file_size)]
        return []

    def fetch(self, listing: Listing, obj: RemoteObject, dest: Path) -> Fetched:
        repo = self._repo(listing.details["artifact_uri"])
        what = f"{listing.uri}: {obj.rel}"
        dl = Path(tempfile.mkdtemp(prefix="dl-", dir=dest.parent))
        w = BoundedWriter(dest, obj.size, what)
        try:
            try:
                got = Path(repo.download_artifacts(obj.key, dst_path=str(dl)))
            except Exception as e:
                raise TargetProblem(f"{what}: download failed: {type(e).__name__}: {_short(e)}") from e
            if got.is_symlink() or not got.is_file():
                raise TargetProblem(f"{what}: the download is not a regular file", rule="MLG-TARGET-MISMATCH")
            with open(got, "rb") as f:
                while chunk := f.read(CHUNK):
                    w.write(chunk)
        finally:
            w.close()
            shutil.rmtree(dl, ignore_errors=True)
        verify(obj, w, what)
        details = {"source": f"{listing.details['artifact_uri'].rstrip('/')}/{obj.key}"}
        if "version" in listing.details:
            details["registered_version"] = f"{listing.details['registered_model']}/{listing.details['version']}"
        return Fetched(size=w.size, details=details)


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else "")[:300]
