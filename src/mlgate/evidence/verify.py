"""Verifying the evidence of a registered model version: pure checks (no MLflow, no network)
whose outcomes are findings of the one result model, and the declared differences between the
callers (:data:`PROFILES`).

The caller supplies what it has: the version's name, number, exact source and tags, the trusted
keys, the revoked attestation ids (the version's own list plus the global one), and, once it has
the bytes, their manifest digest. :func:`verify_evidence` returns the verified claims (or None)
and one finding per problem. The ``model-version`` gate (:mod:`mlgate.gates.model_version`) adds
fetching the bytes and the OpenSSF model signature around it; the registry guard, which runs
inside the MLflow server and hashes the bytes itself, calls it directly with :data:`GUARD`.

Finding ids (all ``MLG-EVIDENCE-*``, blocking):

============================  ====================================================================
``UNSIGNED``                  no signed statement on the version
``VERDICT``                   the version's verdict (tag or signed) is not ``pass``
``QUARANTINED``               the version is quarantined
``FORGED-TAG``                the tags claim more than the signature (a passing ``mlgate.verdict``
                              without a passing statement, a manifest tag that is not the signed one)
``SIGNATURE``                 the statement is not validly signed by a trusted key
``REVOKED``                   the statement's attestation id was revoked (on any version or model)
``SOURCE``                    the statement names another source or model, or no source at all
``MANIFEST``                  the stored bytes are not the signed bytes
``MODEL-SIGNATURE``           the OpenSSF model signature is missing or does not verify
``MISSING-ARTIFACT``          the version's files (or some of them) are gone
``PROVENANCE``                a protected alias does not accept statements of this provenance
``CHECKPOINT`` / ``GATES`` /  a protected alias needs another checkpoint, gates that did not run or
``POLICY-DIGEST``             pass, or a policy digest it accepts
``UNAVAILABLE``               the bytes could not be fetched (an error, never a pass)
============================  ====================================================================
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field

from mlgate.evidence import tags as T
from mlgate.evidence.keys import VerificationError
from mlgate.evidence.statement import PIPELINE, RELEASE, VerdictClaims, envelope_text_digest, verify_statement
from mlgate.model import Finding, FindingKind, Location, Severity

UNSIGNED = "MLG-EVIDENCE-UNSIGNED"
VERDICT = "MLG-EVIDENCE-VERDICT"
QUARANTINED = "MLG-EVIDENCE-QUARANTINED"
FORGED_TAG = "MLG-EVIDENCE-FORGED-TAG"
SIGNATURE = "MLG-EVIDENCE-SIGNATURE"
REVOKED = "MLG-EVIDENCE-REVOKED"
SOURCE = "MLG-EVIDENCE-SOURCE"
MANIFEST = "MLG-EVIDENCE-MANIFEST"
MODEL_SIGNATURE = "MLG-EVIDENCE-MODEL-SIGNATURE"
MISSING_ARTIFACT = "MLG-EVIDENCE-MISSING-ARTIFACT"
PROVENANCE = "MLG-EVIDENCE-PROVENANCE"
CHECKPOINT = "MLG-EVIDENCE-CHECKPOINT"
GATES = "MLG-EVIDENCE-GATES"
POLICY_DIGEST = "MLG-EVIDENCE-POLICY-DIGEST"
UNAVAILABLE = "MLG-EVIDENCE-UNAVAILABLE"

_TITLES = {
    UNSIGNED: "No signed verdict statement",
    VERDICT: "Verdict is not pass",
    QUARANTINED: "Version is quarantined",
    FORGED_TAG: "Tags claim more than the signed statement",
    SIGNATURE: "Verdict statement is not signed by a trusted key",
    REVOKED: "Verdict statement was revoked",
    SOURCE: "Statement is for another source",
    MANIFEST: "Stored bytes are not the signed bytes",
    MODEL_SIGNATURE: "Model signature missing or invalid",
    MISSING_ARTIFACT: "Version files are missing",
    PROVENANCE: "Provenance not accepted for a protected alias",
    CHECKPOINT: "Checkpoint not accepted for a protected alias",
    GATES: "Required gates did not pass",
    POLICY_DIGEST: "Policy digest not accepted for a protected alias",
    UNAVAILABLE: "Version bytes could not be fetched",
}
RULE_IDS = tuple(_TITLES)

BytesMode = Literal["location-hash", "download", "listing-or-download"]
RescanMode = Literal["never", "if-unverified", "always", "if-scan-key-changed"]


@dataclass(frozen=True)
class VerificationProfile:
    """What one caller verifies. The differences between callers are this data, nothing else."""

    name: str
    revocation: bool  # refuse revoked attestation ids
    model_signature: bool  # verify the OpenSSF model signature
    verdict_tag: bool  # the version's mlgate.verdict tag must say pass
    bytes: BytesMode  # how the caller obtains the bytes it hashes
    rescan: RescanMode  # when the caller rescans the bytes under the current policy afterwards
    why: str = ""


GUARD = VerificationProfile("guard", revocation=True, model_signature=False, verdict_tag=True,
                            bytes="location-hash", rescan="never",
                            why="inline in the MLflow server request: hash at the location, no scan, "
                                "the model signature is checked by the asynchronous paths")
GUARD_NEW = VerificationProfile("guard-new", revocation=True, model_signature=False, verdict_tag=False,
                                bytes="location-hash", rescan="never",
                                why="inline, for evidence that arrives with the request (a new version, the "
                                    "envelope or the verdict tag being written): the verdict tag is not set yet")
WEBHOOK = VerificationProfile("webhook", revocation=True, model_signature=True, verdict_tag=True,
                              bytes="download", rescan="if-unverified",
                              why="a version tagged pass is verified in full; others are scanned and signed")
DEPLOY = VerificationProfile("deploy", revocation=True, model_signature=True, verdict_tag=True,
                             bytes="download", rescan="always")
RESCAN = VerificationProfile("rescan", revocation=True, model_signature=True, verdict_tag=True,
                             bytes="listing-or-download", rescan="if-scan-key-changed")
RELEASE_PROFILE = VerificationProfile("release", revocation=False, model_signature=True, verdict_tag=False,
                                      bytes="download", rescan="always",
                                      why="the revoked original statement still says which bytes were approved")
PROFILES: Mapping[str, VerificationProfile] = {p.name: p for p in (GUARD, GUARD_NEW, WEBHOOK, DEPLOY, RESCAN, RELEASE_PROFILE)}


class PromotionPolicy(BaseModel):
    """What a protected alias accepts. Default: statements of the gated pipeline or of a release,
    signed at pre-publish or pre-deploy, with the model scan passed, under any policy digest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provenances: tuple[str, ...] = (PIPELINE, RELEASE)
    checkpoints: tuple[str, ...] = Field(default=("pre-publish", "pre-deploy"),
                                         description="the statement must be signed at one of these")
    gates: tuple[str, ...] = Field(default=("model-scan",), description="each must have run and passed")
    policy_digests: tuple[str, ...] = Field(default=(), description="accepted policy digests; empty: any")


class EvidencePolicy(BaseModel):
    """The ``gates.model-version`` section of a policy (also read by the registry guard)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protected_aliases: tuple[str, ...] = T.DEFAULT_PROTECTED_ALIASES
    promotion: PromotionPolicy = PromotionPolicy()
    aliases: dict[str, PromotionPolicy] = Field(default_factory=dict, description="per-alias overrides")

    def is_protected(self, alias: str) -> bool:
        a = alias.strip().casefold()
        return a in {p.casefold() for p in self.protected_aliases} or a in {k.casefold() for k in self.aliases}

    def promotion_for(self, alias: str) -> PromotionPolicy:
        a = alias.strip().casefold()
        return next((v for k, v in self.aliases.items() if k.casefold() == a), self.promotion)


@dataclass(frozen=True)
class VersionEvidence:
    name: str
    version: str
    source: str
    tags: Mapping[str, str]

    @property
    def subject(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass
class Verification:
    claims: VerdictClaims | None
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def reason(self) -> str:
        return "; ".join(f.message for f in self.findings)


def finding(rule: str, message: str, subject: str, *, kind: FindingKind = FindingKind.ISSUE,
            **details: Any) -> Finding:
    return Finding(id=rule, title=_TITLES[rule], severity=Severity.CRITICAL if kind is FindingKind.ISSUE
                   else Severity.HIGH, kind=kind, message=message, location=Location(path=subject),
                   engine="mlgate", details=details,
                   remediation="Register the model through the gated pipeline (or let the registry hook sign it); "
                               "never set mlgate.* tags by hand.")


def revoked_ids(version_tags: Mapping[str, str], global_ids: Collection[str] = ()) -> set[str]:
    return {*T.parse_revoked(version_tags.get(T.REVOKED)), *(g.lower() for g in global_ids)}


def verify_evidence(
    ev: VersionEvidence,
    profile: VerificationProfile,
    keys: Sequence[ec.EllipticCurvePublicKey],
    *,
    revoked: Collection[str] = (),
    manifest_sha256: str | None = None,
    promotion: PromotionPolicy | None = None,
) -> Verification:
    """Everything about ``ev`` that can be decided from its tags and (when given) the manifest of
    its stored bytes. ``revoked``: the globally revoked attestation ids (the version's own
    ``mlgate.revoked_attestations`` are always added)."""
    subject = ev.subject
    out = Verification(claims=None)

    def add(rule: str, message: str, **details: Any) -> None:
        out.findings.append(finding(rule, f"{subject}: {message}", subject, **details))

    tag = ev.tags.get(T.VERDICT)
    envelope = ev.tags.get(T.ENVELOPE)
    if profile.verdict_tag and tag == T.QUARANTINED:
        add(QUARANTINED, f"quarantined: {ev.tags.get(T.QUARANTINE_REASON, '')}".rstrip(": "))
        return out
    if not envelope:
        if T.is_passing(tag):
            add(FORGED_TAG, f"{T.VERDICT} is {tag!r} but the version carries no signed statement ({T.ENVELOPE})")
        else:
            add(UNSIGNED, f"no signed verdict statement ({T.ENVELOPE}); {T.VERDICT} is {tag!r}")
        return out
    try:
        claims = verify_statement(envelope, keys)
    except VerificationError as e:
        add(SIGNATURE, f"the verdict statement does not verify: {e}", passing_tag=T.is_passing(tag))
        return out
    out.claims = claims
    out.checked.append("statement-signature")
    if claims.verdict != "pass":
        add(FORGED_TAG if T.is_passing(tag) else VERDICT, f"the signed verdict is {claims.verdict!r}, not 'pass'")
    elif profile.verdict_tag and not T.is_passing(tag):
        add(VERDICT, f"{T.VERDICT} is {tag!r}, not 'pass'")
    if profile.revocation:
        ids = {claims.attestation_id}
        legacy = envelope_text_digest(envelope)
        if legacy:
            ids.add(legacy)
        hit = ids & ({r.lower() for r in revoked} | set(T.parse_revoked(ev.tags.get(T.REVOKED))))
        if hit:
            add(REVOKED, f"the verdict statement (attestation {claims.attestation_id[:16]}...) was revoked by a "
                         "quarantine; it is refused on every version and model", attestation_id=claims.attestation_id)
        out.checked.append("revocation")
    if claims.source is None:
        add(SOURCE, "the signed statement names no source")
    elif claims.source != ev.source:
        add(SOURCE, f"the signed source {claims.source!r} is not the version's source {ev.source!r}")
    if not claims.legacy and claims.name != ev.name:
        add(SOURCE, f"the statement was signed for model {claims.name!r}, not {ev.name!r}")
    if claims.manifest_sha256 is None:
        add(SIGNATURE, "the signed statement names no manifest digest")
    else:
        tagged = ev.tags.get(T.MANIFEST)
        if tagged is not None and tagged != claims.manifest_sha256:
            add(FORGED_TAG, f"the {T.MANIFEST} tag ({tagged[:16]}...) is not the signed manifest "
                            f"({claims.manifest_sha256[:16]}...)")
        if manifest_sha256 is not None:
            out.checked.append("manifest")
            if manifest_sha256 != claims.manifest_sha256:
                add(MANIFEST, f"the stored bytes (manifest {manifest_sha256[:16]}...) are not the signed bytes "
                              f"(manifest {claims.manifest_sha256[:16]}...)", manifest_sha256=manifest_sha256,
                    signed_manifest_sha256=claims.manifest_sha256)
    if promotion is not None:
        out.findings.extend(check_promotion(claims, promotion, subject))
        out.checked.append("promotion")
    return out


def check_promotion(claims: VerdictClaims, policy: PromotionPolicy, subject: str) -> list[Finding]:
    """Whether a protected alias accepts the statement (provenance, checkpoint, gates, policy)."""
    out = []
    if claims.provenance not in policy.provenances:
        out.append(finding(PROVENANCE, f"{subject}: signed with provenance {claims.provenance!r}; a protected alias "
                                       f"accepts {list(policy.provenances)}", subject, provenance=claims.provenance))
    if policy.checkpoints and not set(claims.checkpoints) & set(policy.checkpoints):
        out.append(finding(CHECKPOINT, f"{subject}: signed at {list(claims.checkpoints)}; a protected alias needs one "
                                       f"of {list(policy.checkpoints)}", subject))
    missing = sorted(set(policy.gates) - claims.passed_gates())
    if missing:
        out.append(finding(GATES, f"{subject}: the gates {missing} did not run or pass before signing", subject))
    if policy.policy_digests:
        bad = sorted(set(claims.policy_digests) - set(policy.policy_digests))
        if bad or not claims.policy_digests:
            out.append(finding(POLICY_DIGEST, f"{subject}: signed under policy digest(s) "
                                              f"{list(claims.policy_digests)}, not an accepted one", subject))
    return out
