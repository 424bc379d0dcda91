"""The one registry tag contract: every ``mlgate.*`` tag name, how values are written and read,
and the one-line summary shown as the version's description.

Tags are searchable but never trusted on their own: a passing ``mlgate.verdict`` only counts with
an ``mlgate.attestation_envelope`` (a DSSE-signed verdict statement, :mod:`.statement`) that
verifies against a trusted key, names the version's exact ``source``, covers the manifest of the
bytes stored there now, and whose attestation id is not revoked.

Order of writes (the registry guard enforces it): the envelope first, the descriptive tags next,
``mlgate.verdict`` last. A quarantine writes ``mlgate.verdict=quarantined`` first, then revokes
the *attestation id* of the version's statement, on the version (``mlgate.revoked_attestations``)
and globally (a tag ``mlgate.revoked.<id>`` on the registered model :data:`REVOCATION_MODEL`), so
that the statement is refused on every version and model that presents it again.

Tags stay short (MLflow's version page shows them in a small box); long evidence (reports,
manifest, the statement as a file) is in the run's ``mlgate/`` artifacts, and the description
carries the verdict in one line with a pointer to the report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence

from mlgate.model import Report, Verdict

# -- model version tags ---------------------------------------------------------------------------
VERDICT = "mlgate.verdict"
ENVELOPE = "mlgate.attestation_envelope"
MANIFEST = "mlgate.manifest_sha256"
POLICY_DIGEST = "mlgate.policy_digest"
SCANNERS = "mlgate.scanners"
CHECKED_AT = "mlgate.checked_at"
CHECKPOINT = "mlgate.checkpoint"
GATES = "mlgate.gates"
PROVENANCE = "mlgate.provenance"
ATTESTATION_ID = "mlgate.attestation_id"
ATTESTATION = "mlgate.attestation"  # runs:/ URI of the statement file
ATTESTATION_SHA256 = "mlgate.attestation_sha256"
SIGNATURE = "mlgate.signature"  # runs:/ URI of the OpenSSF model signature
REPORT = "mlgate.report"  # runs:/ URI of the JSON report
QUARANTINE_REASON = "mlgate.quarantine_reason"
QUARANTINED_AT = "mlgate.quarantined_at"
QUARANTINED_ALIASES = "mlgate.quarantined_aliases"
REVOKED = "mlgate.revoked_attestations"
RELEASED_AT = "mlgate.released_at"
EVIDENCE_RUN = "mlgate.evidence_run_id"
RESCAN_STATE = "mlgate.rescan_state"

# -- run tags (evidence runs) ---------------------------------------------------------------------
RUN_PIPELINE = "mlgate.pipeline"
RUN_BLOCKED = "mlgate.blocked"
RUN_SUBJECT = "mlgate.subject"
RUN_SOURCE = "mlgate.source"
RUN_REGISTRY_HOOK = "mlgate.registry_hook"
RUN_DELIVERY_ID = "mlgate.delivery_id"
RUN_ADOPTED_VERSION = "mlgate.adopted_version"  # a re-run of publish adopted this (verified) version
# -- registered model tags ------------------------------------------------------------------------
MODEL_MANAGED = "mlgate.managed"

# -- global revocations ---------------------------------------------------------------------------
REVOCATION_MODEL = "mlgate-revocations"
REVOKED_PREFIX = "mlgate.revoked."

QUARANTINED = "quarantined"
# Values a consumer could read as "passed". Compared after strip() + casefold().
PASSING_VALUES = frozenset({"pass"})

DEFAULT_PROTECTED_ALIASES = ("production",)
MAX_TAG = 5000
_HEX = re.compile(r"^[0-9a-f]{16,128}$")


def is_passing(value: str | None) -> bool:
    return value is not None and value.strip().casefold() in PASSING_VALUES


def parse_revoked(value: str | None) -> list[str]:
    """``mlgate.revoked_attestations``: a comma-separated list of attestation ids (and, from the
    first release, envelope digests)."""
    if not value:
        return []
    return [v.strip().lower() for v in value.split(",") if v.strip()]


def format_revoked(ids: Iterable[str]) -> str:
    seen: list[str] = []
    for d in ids:
        d = d.strip().lower()
        if d and d not in seen:
            seen.append(d)
    return ",".join(seen)


def revocation_tag(attestation_id: str) -> str:
    aid = attestation_id.strip().lower()
    if not _HEX.match(aid):
        raise ValueError(f"not an attestation id: {attestation_id!r}")
    return REVOKED_PREFIX + aid


def revoked_from_model_tags(tags: Mapping[str, str]) -> set[str]:
    """The globally revoked ids, from the tags of :data:`REVOCATION_MODEL`."""
    return {k[len(REVOKED_PREFIX):].lower() for k in tags if k.startswith(REVOKED_PREFIX)}


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


def evidence_tags(
    reports: Sequence[Report],
    *,
    manifest_sha256: str,
    checked_at: str,
    attestation_path: str | None = None,
    signature_path: str | None = None,
    report_path: str | None = None,
    attestation_sha256: str | None = None,
    attestation_envelope: str | None = None,
    attestation_id: str | None = None,
    provenance: str | None = None,
) -> dict[str, str]:
    """The version tags of a verdict, in write order (envelope first, verdict last)."""
    verdict = Verdict.worst([r.verdict for r in reports])
    tools: dict[str, str] = {}
    for r in reports:
        tools.update(r.tools)
    policies = sorted({r.policy.digest for r in reports})
    tags = {
        MANIFEST: manifest_sha256,
        POLICY_DIGEST: policies[0] if len(policies) == 1 else json.dumps(policies),
        SCANNERS: json.dumps(tools, sort_keys=True, separators=(",", ":")),
        CHECKED_AT: checked_at,
        CHECKPOINT: ",".join(sorted({r.checkpoint or "-" for r in reports})),
        GATES: ",".join(f"{r.gate}={r.verdict.value}" for r in reports),
    }
    for key, value in ((ATTESTATION, attestation_path), (ATTESTATION_SHA256, attestation_sha256),
                       (SIGNATURE, signature_path), (REPORT, report_path), (ATTESTATION_ID, attestation_id),
                       (PROVENANCE, provenance)):
        if value:
            tags[key] = value
    out: dict[str, str] = {}
    if attestation_envelope is not None:
        if len(attestation_envelope) > MAX_TAG:
            raise ValueError("attestation envelope too large for a tag")
        out[ENVELOPE] = attestation_envelope  # never truncated: it is signed
    out.update({k: v[:MAX_TAG] for k, v in tags.items()})
    out[VERDICT] = verdict.value
    return out


def describe(verdict: str, *, checkpoint: str = "", provenance: str = "", gates: str = "",
             policy_digest: str = "", attestation_id: str = "", report: str = "", reason: str = "") -> str:
    """The one-line summary written as the version's description (MLflow shows it at the top of
    the version page). Display only: nothing ever reads it back as evidence."""
    head = f"mlgate: {verdict.upper()}"
    parts = []
    if checkpoint:
        parts.append(f"at {checkpoint}")
    if provenance:
        parts.append(f"({provenance})")
    line = " ".join([head, *parts])
    extra = []
    if reason:
        extra.append(reason.strip().splitlines()[0][:300])
    if gates:
        extra.append(f"gates {gates}")
    if policy_digest:
        extra.append(f"policy {policy_digest.removeprefix('sha256:')[:12]}")
    if attestation_id:
        extra.append(f"attestation {attestation_id[:12]}")
    if report:
        extra.append(f"report: {report}")
    return " · ".join([line, *extra])[:MAX_TAG]
