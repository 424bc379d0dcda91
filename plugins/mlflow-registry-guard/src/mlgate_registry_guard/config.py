"""The guard's settings, read from the MLflow server's environment.

===================================  ========================================================
``MLGATE_REGISTRY_PUBLIC_KEY``       PEM public key path(s), ``os.pathsep``-separated during a
                                     key rotation. Missing or unreadable: every protected
                                     operation is refused (fail closed) and the log says why.
``MLGATE_PROTECTED_ALIASES``         Comma list, case-insensitive; default ``production``. An
                                     empty value protects no alias (logged as a warning).
``MLGATE_REQUIRE_VERIFIED_SOURCE``   ``true``: a version can only be created with a valid
                                     envelope for its exact source in the same call. Default
                                     ``false``.
``MLGATE_GUARD_MAX_FILES``           Most files the guard downloads to check one version
                                     (default 10000); more is a refusal.
``MLGATE_GUARD_MAX_BYTES``           Most bytes (default 50 GiB); more is a refusal.
``MLGATE_GUARD_ALLOW_LOCAL_SOURCES`` ``true`` lets the guard read ``file:`` / plain-path sources
                                     (off by default: a server should not read its own disk
                                     on a client's behalf).
``MLGATE_POLICY``                    Optional mlgate policy; its ``gates.model-version`` section
                                     says what a protected alias accepts (provenances,
                                     checkpoints, gates, policy digests). Unset: the defaults
                                     (``pipeline`` and ``release`` statements only). A policy
                                     that does not load stops the server from starting.
===================================  ========================================================

Booleans are parsed strictly (``true/false/1/0/yes/no/on/off``); anything else is a start-up
error, never a silent default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlgate.evidence.tags import parse_protected_aliases
from mlgate.evidence.verify import EvidencePolicy, PromotionPolicy

ENV_PUBLIC_KEY = "MLGATE_REGISTRY_PUBLIC_KEY"
ENV_PROTECTED_ALIASES = "MLGATE_PROTECTED_ALIASES"
ENV_REQUIRE_VERIFIED_SOURCE = "MLGATE_REQUIRE_VERIFIED_SOURCE"
ENV_MAX_FILES = "MLGATE_GUARD_MAX_FILES"
ENV_MAX_BYTES = "MLGATE_GUARD_MAX_BYTES"
ENV_ALLOW_LOCAL = "MLGATE_GUARD_ALLOW_LOCAL_SOURCES"
ENV_POLICY = "MLGATE_POLICY"

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class GuardConfigError(ValueError):
    """A guard setting is malformed (the server must not start with a guessed value)."""


def parse_bool(name: str, value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise GuardConfigError(f"{name}={value!r}: expected true or false")


def parse_int(name: str, value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        n = int(value.strip())
    except ValueError:
        raise GuardConfigError(f"{name}={value!r}: expected a positive integer") from None
    if n <= 0:
        raise GuardConfigError(f"{name}={value!r}: expected a positive integer")
    return n


@dataclass(frozen=True)
class GuardConfig:
    public_key: str | None
    protected_aliases: frozenset[str]
    require_verified_source: bool = False
    max_files: int = 10_000
    max_bytes: int = 50 * 1024**3
    allow_local_sources: bool = False
    evidence: EvidencePolicy = field(default_factory=EvidencePolicy)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GuardConfig:
        e = os.environ if env is None else env
        return cls(
            public_key=(e.get(ENV_PUBLIC_KEY) or "").strip() or None,
            protected_aliases=parse_protected_aliases(e.get(ENV_PROTECTED_ALIASES)),
            require_verified_source=parse_bool(ENV_REQUIRE_VERIFIED_SOURCE, e.get(ENV_REQUIRE_VERIFIED_SOURCE), False),
            max_files=parse_int(ENV_MAX_FILES, e.get(ENV_MAX_FILES), 10_000),
            max_bytes=parse_int(ENV_MAX_BYTES, e.get(ENV_MAX_BYTES), 50 * 1024**3),
            allow_local_sources=parse_bool(ENV_ALLOW_LOCAL, e.get(ENV_ALLOW_LOCAL), False),
            evidence=load_evidence_policy(e.get(ENV_POLICY)),
        )

    def promotion_for(self, alias: str) -> PromotionPolicy:
        return self.evidence.promotion_for(alias)

    def is_protected(self, alias: str) -> bool:
        return alias.strip().casefold() in self.protected_aliases


def load_evidence_policy(path: str | None) -> EvidencePolicy:
    """The ``gates.model-version`` section of the policy at ``path`` (defaults when unset)."""
    if not path or not path.strip():
        return EvidencePolicy()
    from mlgate.policy import load_policy

    try:
        return load_policy(path.strip()).gate_config("model-version", EvidencePolicy)
    except Exception as e:
        raise GuardConfigError(f"{ENV_POLICY}={path!r}: {e}") from None
