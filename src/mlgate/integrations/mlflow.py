"""The one typed MLflow registry client mlgate uses, and the one way to fetch a version's bytes.

:class:`RegistryClient` wraps :class:`mlflow.MlflowClient` (``raw`` is there for what it does not
cover). Reads come back as :class:`VersionInfo` (plain data); evidence tags are written in the
contract's order (envelope first, verdict last); the global revocation list lives on the
registered model :data:`mlgate.evidence.tags.REVOCATION_MODEL`.

:meth:`RegistryClient.fetch_version` downloads the bytes at the version's storage location (what
the registry guard hashes), not ``models:/name/version`` (MLflow adds a
``registered_model_meta`` file to those).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.digest import TreeError, hash_tree, manifest_of
from mlgate.errors import MlgateError, TransientError
from mlgate.evidence import tags as T

_TRANSIENT_TEXT = ("Connection refused", "ConnectionError", "Max retries exceeded", "timed out", "Read timed out",
                   " 502", " 503", " 504", " 429", "TEMPORARILY_UNAVAILABLE")


class FetchError(MlgateError):
    """A version's bytes could not be fetched. ``missing`` says the store answered that they
    are gone (a finding), as opposed to an outage (:class:`~mlgate.errors.TransientError`)."""

    def __init__(self, message: str, *, missing: bool) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    source: str
    run_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    created_ms: int = 0
    description: str = ""


@dataclass(frozen=True)
class FetchedCopy:
    uri: str
    path: Path
    files: dict[str, str]
    manifest_sha256: str


def is_not_found(e: BaseException) -> bool:
    return getattr(e, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def looks_transient(e: BaseException) -> bool:
    text = f"{e} {e.__cause__}"
    return any(s in text for s in _TRANSIENT_TEXT)


def _uri_of(client: Any) -> str | None:
    """The tracking URI an ``MlflowClient`` was built with (downloads must go to the same server)."""
    tc = getattr(client, "_tracking_client", None)
    uri = getattr(tc, "tracking_uri", None)
    return uri if isinstance(uri, str) and uri else None


def mlflow_client(tracking_uri: str | None = None, registry_uri: str | None = None) -> Any:
    """The one place an :class:`mlflow.MlflowClient` is built (tests and layering rely on it)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


class RegistryClient:
    def __init__(self, tracking_uri: str | None = None, *, client: Any | None = None) -> None:
        if client is None:
            client = mlflow_client(tracking_uri)
        self.raw: Any = client
        self.tracking_uri = tracking_uri or _uri_of(client)

    @classmethod
    def wrap(cls, client: Any | RegistryClient, tracking_uri: str | None = None) -> RegistryClient:
        return client if isinstance(client, RegistryClient) else cls(tracking_uri, client=client)

    # -- reads ------------------------------------------------------------------------------------
    def version(self, name: str, version: str | int) -> VersionInfo:
        mv = self.raw.get_model_version(name, str(version))
        return VersionInfo(name=str(mv.name), version=str(mv.version), source=str(mv.source or ""),
                           run_id=mv.run_id or None, tags=dict(mv.tags or {}), aliases=tuple(mv.aliases or ()),
                           created_ms=int(mv.creation_timestamp or 0), description=str(mv.description or ""))

    def download_uri(self, name: str, version: str | int) -> str:
        return str(self.raw.get_model_version_download_uri(name, str(version)))

    def revoked_ids(self) -> set[str]:
        """Every globally revoked attestation id (an unreachable registry raises; never empty
        by accident)."""
        try:
            rm = self.raw.get_registered_model(T.REVOCATION_MODEL)
        except Exception as e:
            if is_not_found(e):
                return set()
            raise
        return T.revoked_from_model_tags(dict(rm.tags or {}))

    # -- writes -----------------------------------------------------------------------------------
    def revoke(self, attestation_ids: Iterable[str], note: str) -> None:
        """Add ids to the global revocation list (creating its registered model if needed)."""
        ids = [a for a in attestation_ids if a]
        if not ids:
            return
        try:
            self.raw.get_registered_model(T.REVOCATION_MODEL)
        except Exception as e:
            if not is_not_found(e):
                raise
            with contextlib.suppress(Exception):  # a concurrent quarantine may have created it
                self.raw.create_registered_model(
                    T.REVOCATION_MODEL, description="mlgate: revoked verdict statements (one tag per attestation "
                                                    "id). Never delete these tags.")
        for aid in ids:
            self.raw.set_registered_model_tag(T.REVOCATION_MODEL, T.revocation_tag(aid), note[:T.MAX_TAG])

    def set_version_tags(self, name: str, version: str | int, tags: Mapping[str, str]) -> None:
        for k, v in T.ordered_evidence_tags(tags):
            self.raw.set_model_version_tag(name, str(version), k, v)

    def set_description(self, name: str, version: str | int, text: str) -> None:
        self.raw.update_model_version(name, str(version), description=text)

    def ensure_experiment(self, name: str) -> str:
        exp = self.raw.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        try:
            return str(self.raw.create_experiment(name))
        except Exception:
            exp = self.raw.get_experiment_by_name(name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    # -- bytes ------------------------------------------------------------------------------------
    def download(self, uri: str, dest: Path) -> Path:
        import mlflow

        dest.mkdir(parents=True, exist_ok=True)
        try:
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest),
                                                            tracking_uri=self.tracking_uri or None))
        except Exception as e:
            if looks_transient(e):
                raise TransientError(f"{uri}: {e}") from e
            raise FetchError(f"{uri}: download failed: {e}", missing=True) from None

    def fetch_version(self, name: str, version: str | int, dest: Path) -> FetchedCopy:
        uri = self.download_uri(name, version)
        local = self.download(uri, dest)
        if not local.is_dir():
            raise FetchError(f"{uri}: the version's location is not a folder", missing=True)
        try:
            files = hash_tree(local)
        except TreeError as e:
            raise FetchError(str(e), missing=False) from None
        if not files:
            raise FetchError(f"{uri}: no files", missing=True)
        return FetchedCopy(uri=uri, path=local, files=files, manifest_sha256=manifest_of(files))
