"""The registry tag contract shared by the webhook flow, the quarantine tools and the server-side
registry guard (``plugins/mlflow-registry-guard``).

Tags are searchable but never trusted on their own: a passing ``mlgate.verdict`` only counts with
an ``mlgate.attestation_envelope`` that verifies against the configured public key, names the
version's exact ``source`` and covers the manifest of the bytes currently stored there.

Order of writes (the guard enforces it): ``mlgate.attestation_envelope`` first, the descriptive
tags next, ``mlgate.verdict`` last. Quarantine writes ``mlgate.verdict=quarantined`` before it
removes aliases, and appends the digest of the version's envelope to ``mlgate.revoked_attestations``
so that the same envelope can never make the version pass again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

VERDICT = "mlgate.verdict"
ENVELOPE = "mlgate.attestation_envelope"
MANIFEST = "mlgate.manifest_sha256"
QUARANTINE_REASON = "mlgate.quarantine_reason"
QUARANTINED_AT = "mlgate.quarantined_at"
QUARANTINED_ALIASES = "mlgate.quarantined_aliases"
REVOKED = "mlgate.revoked_attestations"
RELEASED_AT = "mlgate.released_at"
EVIDENCE_RUN = "mlgate.evidence_run_id"

QUARANTINED = "quarantined"
# Values a consumer could read as "passed". Compared after strip() + casefold().
PASSING_VALUES = frozenset({"pass"})

DEFAULT_PROTECTED_ALIASES = ("production",)


def is_passing(value: str | None) -> bool:
    return value is not None and value.strip().casefold() in PASSING_VALUES


def parse_revoked(value: str | None) -> list[str]:
    """``mlgate.revoked_attestations``: a comma-separated list of sha256 hex digests."""
    if not value:
        return []
    return [v.strip().lower() for v in value.split(",") if v.strip()]


def format_revoked(digests: Iterable[str]) -> str:
    seen: list[str] = []
    for d in digests:
        d = d.strip().lower()
        if d and d not in seen:
            seen.append(d)
    return ",".join(seen)


def parse_aliases(value: str | None) -> list[str]:
    if not value:
        return []
    try:
        data = json.loads(value)
    except ValueError:
        return [a.strip() for a in value.split(",") if a.strip()]
    return [str(a) for a in data] if isinstance(data, list) else []


def parse_protected_aliases(value: str | None) -> frozenset[str]:
    """``MLGATE_PROTECTED_ALIASES``: unset means the default (``production``); matching is
    case-insensitive (``Production`` is protected too)."""
    if value is None:
        return frozenset(DEFAULT_PROTECTED_ALIASES)
    return frozenset(a.strip().casefold() for a in value.split(",") if a.strip())


def ordered_evidence_tags(tags: Mapping[str, str]) -> list[tuple[str, str]]:
    """The order to write evidence tags one by one: envelope first, verdict last."""
    first = [(ENVELOPE, tags[ENVELOPE])] if ENVELOPE in tags else []
    last = [(VERDICT, tags[VERDICT])] if VERDICT in tags else []
    middle = sorted((k, v) for k, v in tags.items() if k not in (ENVELOPE, VERDICT))
    return first + middle + last
