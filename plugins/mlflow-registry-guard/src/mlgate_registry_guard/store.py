"""The guarded registry store: MLflow's ``SqlAlchemyStore`` with mlgate checks in front of the
operations that make a model version trusted. Selected by ``mlflow server --registry-store-uri
mlgate+sqlite:///...`` (or ``mlgate+postgresql://...``); clients need nothing installed, a
refusal reaches them as HTTP 403 ``PERMISSION_DENIED``.

Refused unless the version carries a valid mlgate signature over the bytes it points at now
(see :meth:`GuardedSqlAlchemyStore.verified`):

* setting a protected alias (``MLGATE_PROTECTED_ALIASES``, default ``production``) or moving a
  version to a stage of the same name; the statement must also be one the alias accepts
  (provenance, checkpoint, gates, policy digest: ``gates.model-version`` of ``MLGATE_POLICY``;
  by default ``pipeline`` and ``release`` statements with the model scan passed);
* setting ``mlgate.verdict`` to a passing value (the envelope must already be on the version,
  or come in the same ``create_model_version`` call);
* creating a version with a passing ``mlgate.verdict`` tag, or any version at all when
  ``MLGATE_REQUIRE_VERIFIED_SOURCE=true``.

Also refused: changing or deleting ``mlgate.attestation_envelope`` on a version that holds a
protected alias, replacing it with one that does not verify while the version's verdict is
passing, deleting it while the verdict is passing, shrinking ``mlgate.revoked_attestations``, and
deleting, renaming or un-revoking the global revocation list (the registered model
``mlgate-revocations``). A statement whose attestation id is revoked there is refused on every
version of every model.

The checks are the evidence kernel's (:func:`mlgate.evidence.verify.verify_evidence`, profiles
``guard`` and ``guard-new``), the same ones the deploy, rescan, release and webhook paths run
through the ``model-version`` gate. Everything else is ``super()``: stock MLflow.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any, NoReturn

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

from mlgate.evidence import tags as T
from mlgate.evidence.keys import VerificationError, load_public_keys
from mlgate.evidence.verify import (
    GUARD,
    GUARD_NEW,
    PromotionPolicy,
    VerificationProfile,
    VersionEvidence,
    revoked_ids,
    verify_evidence,
)
from mlgate_registry_guard.artifacts import (
    ArtifactFetchError,
    ClientTrackingLookup,
    ServerTrackingLookup,
    TrackingLookup,
    in_mlflow_server,
    manifest_at,
    resolve_concrete,
)
from mlgate_registry_guard.config import ENV_PUBLIC_KEY, GuardConfig

log = logging.getLogger("mlgate.registry_guard")

PREFIX = "mlgate+"
INNER_SCHEMES = ("sqlite", "postgresql")


class EvidenceError(VerificationError):
    """The version's evidence does not hold (the message lists the findings)."""


class GuardRefusal(MlflowException):
    """A refused registry operation (error code ``PERMISSION_DENIED``, HTTP 403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=PERMISSION_DENIED)


def inner_db_uri(store_uri: str) -> str:
    """``mlgate+sqlite:///x.db`` -> ``sqlite:///x.db``; ``mlgate+postgresql://u@h/db`` ->
    ``postgresql://u@h/db``. Parsed with urllib (MLflow may hand over ``scheme:/abs`` for
    ``scheme:///abs``), never by slicing the string."""
    parts = urllib.parse.urlsplit(store_uri)
    if not parts.scheme.startswith(PREFIX):
        raise MlflowException(f"not an mlgate registry store URI: {store_uri!r}")
    inner = parts.scheme[len(PREFIX) :]
    if inner not in INNER_SCHEMES:
        raise MlflowException(f"{store_uri!r}: unsupported database scheme {inner!r} (use {', '.join(INNER_SCHEMES)})")
    # "mlgate+sqlite:/x.db" (MLflow's normal form of "mlgate+sqlite:///x.db") and the original
    # both become "sqlite:///x.db"; "mlgate+sqlite:////abs/x.db" becomes "sqlite:////abs/x.db".
    query = f"?{parts.query}" if parts.query else ""
    return f"{inner}://{parts.netloc}{parts.path}{query}"


class _Keys:
    """The configured public key(s), loaded lazily and again after a failure."""

    def __init__(self, spec: str | None) -> None:
        self.spec = spec
        self._keys: list[Any] | None = None
        self.error: str | None = None
        self.load()

    def load(self) -> list[Any] | None:
        if self._keys is not None:
            return self._keys
        if not self.spec:
            self.error = f"no public key is configured ({ENV_PUBLIC_KEY} is not set)"
            return None
        try:
            self._keys = load_public_keys(self.spec)
            self.error = None
        except Exception as e:
            self.error = f"the public key could not be loaded ({ENV_PUBLIC_KEY}): {e}"
        return self._keys


class GuardedSqlAlchemyStore(SqlAlchemyStore):  # type: ignore[misc]
    def __init__(self, store_uri: str, tracking_uri: str | None = None, *, config: GuardConfig | None = None,
                 lookup: TrackingLookup | None = None) -> None:
        from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES

        if MLFLOW_ENABLE_WORKSPACES.get():
            raise MlflowException("the mlgate registry guard does not support MLFLOW_ENABLE_WORKSPACES")
        self.guard = config or GuardConfig.from_env()
        super().__init__(inner_db_uri(store_uri))
        self.tracking_uri = tracking_uri
        self.lookup: TrackingLookup = lookup or (ServerTrackingLookup() if in_mlflow_server()
                                                 else ClientTrackingLookup(tracking_uri))
        self.keys = _Keys(self.guard.public_key)
        if self.keys.error:
            log.error("mlgate registry guard: %s; every protected operation will be refused", self.keys.error)
        if not self.guard.protected_aliases:
            log.warning("mlgate registry guard: MLGATE_PROTECTED_ALIASES is empty; no alias is protected")
        log.info("mlgate registry guard active on %s: protected aliases %s, verified source required: %s",
                 self.engine.url.render_as_string(hide_password=True), sorted(self.guard.protected_aliases),
                 self.guard.require_verified_source)

    # -- helpers --------------------------------------------------------------------------------

    def _refuse(self, action: str, name: str, version: Any, reason: str) -> NoReturn:
        log.warning("mlgate registry guard refused %s on %s v%s: %s", action, name, version, reason)
        raise GuardRefusal(f"mlgate registry guard: refused to {action} on model {name!r} version {version}: {reason}")

    def _manifest(self, location: str) -> str:
        concrete = resolve_concrete(location, self.lookup)
        return manifest_at(concrete, max_files=self.guard.max_files, max_bytes=self.guard.max_bytes,
                           allow_local=self.guard.allow_local_sources).sha256

    def _global_revoked(self) -> set[str]:
        try:
            rm = super().get_registered_model(T.REVOCATION_MODEL)
        except MlflowException as e:
            if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                return set()
            raise EvidenceError(f"the revocation list cannot be read: {e.message}") from None
        return T.revoked_from_model_tags({t.key: t.value for t in _tag_list(rm.tags)})

    def _check(self, *, name: str, version: Any, tags: dict[str, str], source: str, location: str,
               profile: VerificationProfile, promotion: PromotionPolicy | None = None) -> None:
        keys = self.keys.load()
        if keys is None:
            raise EvidenceError(self.keys.error or "no public key")
        ev = VersionEvidence(name=name, version=str(version), source=source, tags=tags)
        revoked = revoked_ids(tags, self._global_revoked())
        v = verify_evidence(ev, profile, keys, revoked=revoked, promotion=promotion)
        if v.findings:
            raise EvidenceError(v.reason())
        try:
            manifest = self._manifest(location)
        except ArtifactFetchError as e:
            raise EvidenceError(f"the version's bytes could not be checked: {e}") from None
        v = verify_evidence(ev, profile, keys, revoked=revoked, manifest_sha256=manifest)
        if v.findings:
            raise EvidenceError(v.reason())

    def verified(self, mv: Any, *, envelope: str | None = None, require_verdict_tag: bool = False,
                 promote_to: str | None = None) -> None:
        """Raise EvidenceError unless ``mv`` (or ``envelope`` in place of its own) is signed,
        passing, for its exact source and model, not revoked (on any version), matches the bytes
        stored now and, for a protected alias, is a statement that alias accepts."""
        tags = dict(mv.tags or {})
        if envelope is not None:
            tags[T.ENVELOPE] = envelope
        self._check(name=mv.name, version=mv.version, tags=tags, source=mv.source,
                    location=self.get_model_version_download_uri(mv.name, mv.version),
                    profile=GUARD if require_verdict_tag else GUARD_NEW,
                    promotion=self.guard.promotion_for(promote_to) if promote_to else None)

    def _protected_aliases_of(self, mv: Any) -> list[str]:
        return [a for a in (mv.aliases or []) if self.guard.is_protected(a)]

    def _location_for_new(self, source: str, model_id: str | None) -> str:
        from mlflow.store.artifact.utils.models import _parse_model_uri

        if urllib.parse.urlparse(source).scheme != "models":
            return source
        try:
            p = _parse_model_uri(source)
        except MlflowException as e:
            raise ArtifactFetchError(str(e)) from None
        if p.model_id:
            return self.lookup.logged_model_location(p.model_id)
        if p.name and p.version:
            return str(self.get_model_version_download_uri(p.name, p.version))
        if p.name and p.alias:
            mv = self.get_model_version_by_alias(p.name, p.alias)
            return str(self.get_model_version_download_uri(p.name, mv.version))
        raise ArtifactFetchError(f"{source}: a stage or 'latest' source is not a fixed version")

    # -- guarded operations ---------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None = None, tags: Any = None,
                             run_link: str | None = None, description: str | None = None,
                             local_model_path: str | None = None, model_id: str | None = None) -> Any:
        given = {t.key: t.value for t in tags or []}
        wants_pass = T.is_passing(given.get(T.VERDICT))
        if wants_pass or self.guard.require_verified_source:
            action = "create a version tagged mlgate.verdict=pass" if wants_pass else "create a version"
            try:
                location = self._location_for_new(source, model_id)
                self._check(name=name, version="(new)", tags=given, source=source, location=location,
                            profile=GUARD_NEW)
            except (EvidenceError, ArtifactFetchError) as e:
                self._refuse(action, name, "(new)", f"source {source!r} is not verified: {e}")
            except MlflowException as e:
                self._refuse(action, name, "(new)", f"source {source!r} could not be resolved: {e.message}")
        return super().create_model_version(name, source, run_id=run_id, tags=tags, run_link=run_link,
                                            description=description, local_model_path=local_model_path,
                                            model_id=model_id)

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        if self.guard.is_protected(alias):
            mv = self.get_model_version(name, version)
            try:
                self.verified(mv, require_verdict_tag=True, promote_to=alias)
            except EvidenceError as e:
                self._refuse(f"set the protected alias {alias!r}", name, version, str(e))
        super().set_registered_model_alias(name, alias, version)

    def transition_model_version_stage(self, name: str, version: Any, stage: str,
                                       archive_existing_versions: bool) -> Any:
        if self.guard.is_protected(stage):
            mv = self.get_model_version(name, version)
            try:
                self.verified(mv, require_verdict_tag=True, promote_to=stage)
            except EvidenceError as e:
                self._refuse(f"move the version to the protected stage {stage!r}", name, version, str(e))
        return super().transition_model_version_stage(name, version, stage, archive_existing_versions)

    def set_model_version_tag(self, name: str, version: Any, tag: Any) -> None:
        key, value = tag.key, tag.value
        if key == T.VERDICT and T.is_passing(value):
            mv = self.get_model_version(name, version)
            try:
                self.verified(mv)
            except EvidenceError as e:
                self._refuse("set mlgate.verdict to a passing value", name, version,
                             f"{e} (write {T.ENVELOPE} first, then {T.VERDICT})")
        elif key == T.ENVELOPE:
            mv = self.get_model_version(name, version)
            tags = dict(mv.tags or {})
            if value != tags.get(T.ENVELOPE):
                protected = self._protected_aliases_of(mv)
                if protected:
                    self._refuse(f"replace {T.ENVELOPE}", name, version,
                                 f"the version holds the protected alias(es) {protected}; remove them first")
                if T.is_passing(tags.get(T.VERDICT)):
                    try:
                        self.verified(mv, envelope=value)
                    except EvidenceError as e:
                        self._refuse(f"replace {T.ENVELOPE}", name, version,
                                     f"the version's verdict is passing and the new envelope does not verify: {e}")
        elif key == T.REVOKED:
            mv = self.get_model_version(name, version)
            old = set(T.parse_revoked(dict(mv.tags or {}).get(T.REVOKED)))
            missing = old - set(T.parse_revoked(value))
            if missing:
                self._refuse(f"shrink {T.REVOKED}", name, version, "revoked attestations can only be added")
        super().set_model_version_tag(name, version, tag)

    def delete_model_version_tag(self, name: str, version: Any, key: str) -> None:
        if key in (T.ENVELOPE, T.REVOKED):
            mv = self.get_model_version(name, version)
            tags = dict(mv.tags or {})
            if key == T.REVOKED and T.parse_revoked(tags.get(T.REVOKED)):
                self._refuse(f"delete {T.REVOKED}", name, version, "revoked attestations can only be added")
            if key == T.ENVELOPE and T.ENVELOPE in tags:
                protected = self._protected_aliases_of(mv)
                if protected:
                    self._refuse(f"delete {T.ENVELOPE}", name, version,
                                 f"the version holds the protected alias(es) {protected}")
                if T.is_passing(tags.get(T.VERDICT)):
                    self._refuse(f"delete {T.ENVELOPE}", name, version,
                                 f"its {T.VERDICT} is passing; change the verdict first")
        super().delete_model_version_tag(name, version, key)


    # -- the global revocation list -------------------------------------------------------------

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        if name == T.REVOCATION_MODEL and key.startswith(T.REVOKED_PREFIX):
            self._refuse(f"delete the revocation {key!r}", name, "-", "revocations can only be added")
        super().delete_registered_model_tag(name, key)

    def delete_registered_model(self, name: str) -> None:
        if name == T.REVOCATION_MODEL:
            self._refuse("delete the revocation list", name, "-", "revocations can only be added")
        super().delete_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> Any:
        if T.REVOCATION_MODEL in (name, new_name):
            self._refuse("rename the revocation list", name, "-", "revocations can only be added")
        return super().rename_registered_model(name, new_name)


def _tag_list(tags: Any) -> list[Any]:
    if isinstance(tags, dict):
        return [type("Tag", (), {"key": k, "value": v})() for k, v in tags.items()]
    return list(tags or [])


def build_store(store_uri: str, tracking_uri: str | None = None) -> GuardedSqlAlchemyStore:
    """Entry point for ``mlflow.model_registry_store`` (MLflow passes both keyword arguments)."""
    return GuardedSqlAlchemyStore(store_uri, tracking_uri)
