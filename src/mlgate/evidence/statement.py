"""The signed verdict statement: an in-toto Statement v1 in a DSSE envelope.

::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<model name>", "digest": {"sha256": "<manifest sha256>"}}],
     "predicateType": "https://mlgate.dev/attestations/verdict/v2",
     "predicate": {"attestation_id": "<random, unique>", "provenance": "pipeline|registry-hook|release",
                   "verdict": "pass", "checkpoint": "pre-publish", "checkpoints": [...],
                   "gates": [{"gate": "model-scan", "checkpoint": "pre-publish", "verdict": "pass"}, ...],
                   "policy_digests": ["sha256:..."], "tools": {...}, "source": "<exact version source>",
                   "file_count": 3, "checked_at": "...", "run_id": "..."}}

The subject digest is mlgate's manifest digest (:func:`mlgate.digest.manifest_of`) of the files,
the per-file digests are in the manifest artifact beside the statement. ``attestation_id`` is what
a quarantine revokes: it is inside the signed body, so no change to the envelope can escape a
revocation.

Provenance says who produced the statement: ``pipeline`` (the publishing step of the gated
lifecycle), ``registry-hook`` (the webhook worker, for versions registered by hand) or
``release`` (``mlgate release`` after a quarantine). The policy decides which ones a protected
alias accepts (:class:`mlgate.evidence.verify.PromotionPolicy`).

The first format (``mlgate.verdict/v1``, signed without PAE) is read for one release: its id is
the sha256 of its signed body and its provenance is ``unknown``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.evidence.envelope import EnvelopeSigner, canonical, sign_envelope, to_text, verify_envelope
from mlgate.evidence.keys import VerificationError
from mlgate.model import Report, Verdict, utcnow

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://mlgate.dev/attestations/verdict/v2"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
LEGACY_PAYLOAD_TYPE = "application/vnd.mlgate.verdict.v1+json"
LEGACY_TYPE = "mlgate.verdict/v1"

PIPELINE = "pipeline"
REGISTRY_HOOK = "registry-hook"
RELEASE = "release"
UNKNOWN = "unknown"
PROVENANCES = (PIPELINE, REGISTRY_HOOK, RELEASE)
MAX_TAG = 5000


@dataclass(frozen=True)
class VerdictClaims:
    """What a verified statement says (the same view for the current and the legacy format)."""

    attestation_id: str
    name: str
    manifest_sha256: str | None
    verdict: str
    source: str | None
    provenance: str
    checkpoint: str
    checkpoints: tuple[str, ...] = ()
    gates: tuple[tuple[str, str, str], ...] = ()  # (gate, checkpoint, verdict)
    policy_digests: tuple[str, ...] = ()
    tools: Mapping[str, str] = field(default_factory=dict)
    checked_at: str = ""
    run_id: str | None = None
    file_count: int | None = None
    keyid: str = ""
    legacy: bool = False

    def passed_gates(self) -> set[str]:
        return {g for g, _cp, v in self.gates if v == Verdict.PASS.value}


def build_statement(
    *,
    model_name: str,
    manifest_sha256: str,
    file_count: int,
    reports: Sequence[Report],
    source: str,
    provenance: str,
    run_id: str | None = None,
    attestation_id: str | None = None,
) -> dict[str, Any]:
    if provenance not in PROVENANCES:
        raise ValueError(f"provenance must be one of {PROVENANCES}, not {provenance!r}")
    if not source:
        raise ValueError("a verdict statement must name the version's source")
    verdict = Verdict.worst([r.verdict for r in reports]) if reports else Verdict.INCOMPLETE
    tools: dict[str, str] = {}
    for r in reports:
        tools.update(r.tools)
    checkpoints = sorted({r.checkpoint or "-" for r in reports})
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": manifest_sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "attestation_id": attestation_id or uuid.uuid4().hex,
            "provenance": provenance,
            "verdict": verdict.value,
            "checkpoint": checkpoints[0] if len(checkpoints) == 1 else ",".join(checkpoints),
            "checkpoints": checkpoints,
            "gates": [{"gate": r.gate, "checkpoint": r.checkpoint, "verdict": r.verdict.value} for r in reports],
            "policy_digests": sorted({r.policy.digest for r in reports}),
            "tools": tools,
            "source": source,
            "file_count": file_count,
            "checked_at": utcnow().isoformat(),
            "run_id": run_id,
        },
    }


def sign_statement(statement: Mapping[str, Any], signer: EnvelopeSigner) -> str:
    """The envelope tag text (DSSE, PAE over the canonical statement)."""
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != PREDICATE_TYPE:
        raise ValueError("not an mlgate verdict statement")
    text = to_text(sign_envelope(canonical(statement), PAYLOAD_TYPE, signer))
    if len(text) > MAX_TAG:
        raise ValueError(f"the signed statement is {len(text)} characters, more than a tag holds ({MAX_TAG})")
    return text


def verify_statement(envelope: Mapping[str, Any] | str | bytes,
                     keys: Sequence[ec.EllipticCurvePublicKey]) -> VerdictClaims:
    """The claims of an envelope signed by one of ``keys``; VerificationError otherwise."""
    v = verify_envelope(envelope, PAYLOAD_TYPE, keys, legacy_payload_type=LEGACY_PAYLOAD_TYPE)
    try:
        doc = json.loads(v.body)
    except ValueError:
        raise VerificationError("the signed payload is not JSON") from None
    if not isinstance(doc, dict):
        raise VerificationError("the signed payload is not a JSON object")
    try:
        claims = _legacy_claims(doc, v.body) if v.legacy else _claims(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerificationError(f"the signed statement is malformed: {type(e).__name__}: {e}") from None
    return _with(claims, keyid=v.keyid, legacy=v.legacy)


def _with(c: VerdictClaims, **kw: Any) -> VerdictClaims:
    from dataclasses import replace

    return replace(c, **kw)


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _claims(doc: dict[str, Any]) -> VerdictClaims:
    if doc.get("_type") != STATEMENT_TYPE or doc.get("predicateType") != PREDICATE_TYPE:
        raise VerificationError("the signed payload is not an mlgate verdict statement")
    subjects = doc["subject"]
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise VerificationError("the signed statement must have exactly one subject")
    subj = subjects[0]
    digest = subj.get("digest", {}).get("sha256")
    p = doc["predicate"]
    if not isinstance(p, dict):
        raise VerificationError("the signed statement has no predicate")
    att_id = p.get("attestation_id")
    if not isinstance(att_id, str) or not att_id:
        raise VerificationError("the signed statement has no attestation id")
    gates = tuple((str(g["gate"]), str(g.get("checkpoint") or "-"), str(g["verdict"])) for g in p.get("gates") or [])
    return VerdictClaims(
        attestation_id=att_id.lower(),
        name=str(subj.get("name", "")),
        manifest_sha256=digest if isinstance(digest, str) and len(digest) == 64 else None,
        verdict=str(p.get("verdict")),
        source=_str_or_none(p.get("source")),
        provenance=str(p.get("provenance") or UNKNOWN),
        checkpoint=str(p.get("checkpoint") or "-"),
        checkpoints=tuple(str(c) for c in p.get("checkpoints") or []),
        gates=gates,
        policy_digests=tuple(str(d) for d in p.get("policy_digests") or []),
        tools={str(k): str(v) for k, v in (p.get("tools") or {}).items()},
        checked_at=str(p.get("checked_at") or ""),
        run_id=_str_or_none(p.get("run_id")),
        file_count=p.get("file_count") if isinstance(p.get("file_count"), int) else None,
    )


def _legacy_claims(doc: dict[str, Any], body: bytes) -> VerdictClaims:
    if doc.get("_type") != LEGACY_TYPE:
        raise VerificationError("the signed payload is not an mlgate verdict attestation")
    subj = doc["subject"]
    if not isinstance(subj, dict):
        raise VerificationError("the signed attestation has no subject")
    digest = subj.get("manifest_sha256")
    gates = tuple((str(g["gate"]), str(g.get("checkpoint") or "-"), str(g["verdict"])) for g in doc.get("gates") or [])
    cps = tuple(str(c) for c in doc.get("checkpoints") or [])
    return VerdictClaims(
        attestation_id=hashlib.sha256(body).hexdigest(),
        name=str(subj.get("name", "")),
        manifest_sha256=digest if isinstance(digest, str) and len(digest) == 64 else None,
        verdict=str(doc.get("verdict")),
        source=_str_or_none(subj.get("source")),
        provenance=UNKNOWN,
        checkpoint=",".join(cps) or "-",
        checkpoints=cps,
        gates=gates,
        policy_digests=tuple(str(d) for d in doc.get("policy_digests") or []),
        tools={str(k): str(v) for k, v in (doc.get("tools") or {}).items()},
        checked_at=str(doc.get("checked_at") or ""),
        run_id=_str_or_none(doc.get("run_id")),
        file_count=subj.get("file_count") if isinstance(subj.get("file_count"), int) else None,
    )


def envelope_text_digest(envelope: str) -> str | None:
    """sha256 of an envelope's canonical JSON: how the first release keyed revocations (still
    honoured when read); None when it is not a JSON object."""
    try:
        env = json.loads(envelope)
    except ValueError:
        return None
    return hashlib.sha256(canonical(env)).hexdigest() if isinstance(env, dict) else None


def attestation_id_of(envelope: str | None) -> str | None:
    """The attestation id inside an envelope *without* verifying it (for revocation bookkeeping
    only: a quarantine revokes whatever id the version presents)."""
    if not envelope:
        return None
    try:
        import base64

        env = json.loads(envelope)
        body = base64.b64decode(env["payload"], validate=True)
        doc = json.loads(body)
        if env.get("payloadType") == LEGACY_PAYLOAD_TYPE:
            return hashlib.sha256(body).hexdigest()
        att = doc["predicate"]["attestation_id"]
        return att.lower() if isinstance(att, str) and att else None
    except Exception:
        return None
