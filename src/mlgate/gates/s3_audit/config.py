"""Settings of the S3 audit gate: ``gates.s3-audit`` in a policy (``policies/gates/s3-audit.yaml``).

Validated strictly (unknown keys are errors, each allowlist entry carries a reason). The
defaults are the conservative ones: every listed bucket, the whole bucket treated as an artifact
store, no trusted writers, no trusted replication destinations.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlgate.model import Severity

_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrustedPrincipal(_Strict):
    """A principal allowed to write (ML.2): an IAM ARN (``*``/``?`` wildcards allowed, e.g.
    ``arn:aws:iam::123456789012:role/pipeline-*``), an account root
    (``arn:aws:iam::123456789012:root``), a service principal or an ACL group URI."""

    principal: str = Field(min_length=1)
    reason: str = Field(min_length=8)

    @field_validator("principal")
    @classmethod
    def _not_everyone(cls, v: str) -> str:
        if v.strip() in ("*", "arn:aws:iam::*:*", "arn:aws:iam::*:root"):
            raise ValueError("an allowlist entry must not match every principal")
        return v


class ReplicationTarget(_Strict):
    """An allowed replication destination (ML.5): a 12-digit account id (matched against the
    rule's ``Destination.Account``) or a bucket ARN pattern (``arn:aws:s3:::ml-replica-*``)."""

    destination: str = Field(min_length=1)
    reason: str = Field(min_length=8)

    @field_validator("destination")
    @classmethod
    def _shape(cls, v: str) -> str:
        if not (_ACCOUNT.match(v) or v.startswith("arn:")):
            raise ValueError("must be a 12-digit account id or a bucket ARN (arn:aws:s3:::name)")
        return v


class TrustedAccount(_Strict):
    """An account (or an AWS Organization ``o-...``) treated as inside for ML.11 and S3.6."""

    account: str
    reason: str = Field(min_length=8)

    @field_validator("account")
    @classmethod
    def _shape(cls, v: str) -> str:
        if not (_ACCOUNT.match(v) or _ORG.match(v)):
            raise ValueError("must be a 12-digit account id or an organization id (o-...)")
        return v


class S3AuditConfig(_Strict):
    buckets: tuple[str, ...] = Field(
        default=(),
        description="Buckets in scope: names, s3:// URIs or fnmatch patterns (ml-*). Empty: every bucket the "
                    "credentials can list. Bucket names on the command line replace this list.",
    )
    artifact_prefixes: tuple[str, ...] = Field(
        default=(),
        description="Key prefixes that hold models and training data (models/, data/). Empty: the whole bucket.",
    )
    pipeline_principals: tuple[TrustedPrincipal, ...] = Field(
        default=(), description="The only principals that may write or delete objects (ML.2)."
    )
    require_writer_guard: bool = Field(
        default=False,
        description="ML.2 also requires a Deny of object writes to every principal not on pipeline_principals "
                    "(the only way a bucket policy limits writers granted by IAM policies).",
    )
    replication_allowlist: tuple[ReplicationTarget, ...] = Field(default=(), description="ML.5 destinations.")
    trusted_accounts: tuple[TrustedAccount, ...] = Field(
        default=(), description="Accounts or organizations treated as inside for ML.11 and S3.6."
    )
    require_object_lock: bool = Field(default=False, description="ML.3: MFA delete alone is not enough.")
    min_object_lock_days: int = Field(default=1, ge=1, description="ML.3: shortest default retention accepted.")
    min_noncurrent_days: int = Field(
        default=30, ge=1, description="ML.9: noncurrent versions of artifacts must live at least this long."
    )
    max_presigned_url_age_seconds: int = Field(
        default=3600, ge=1, le=604800, description="ML.7: the s3:signatureAge deny must cut at or below this age."
    )
    presigned_deny_actions: tuple[str, ...] = Field(
        default=("s3:GetObject", "s3:PutObject"),
        description="ML.7: actions the presigned-URL deny must cover on every artifact prefix.",
    )
    weak_ipv4_prefix: int = Field(
        default=8, ge=0, le=32,
        description="aws:SourceIp ranges wider than this IPv4 prefix (x4 for IPv6) do not restrict the caller.",
    )
    object_acl_limit: int = Field(
        default=1000, ge=0,
        description="ML.1/ML.11: at most this many object ACLs are read per bucket when ACLs are enabled; more "
                    "objects make those controls incomplete (enable BucketOwnerEnforced instead).",
    )
    account_checks: bool = Field(default=True, description="Audit the account itself (S3.1) as a subject.")
    severity: dict[str, Severity] = Field(
        default_factory=dict, description="Severity overrides by check id (s3_bucket_mfa_delete: info)."
    )
    max_workers: int = Field(default=8, ge=1, le=64, description="Buckets collected in parallel.")
    max_attempts: int = Field(default=5, ge=1, le=20, description="botocore attempts per call (standard retries).")

    @field_validator("artifact_prefixes")
    @classmethod
    def _prefixes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            if p.startswith("/") or "*" in p or "?" in p:
                raise ValueError(f"a key prefix, not a pattern or path: {p!r}")
        return v

    @field_validator("presigned_deny_actions")
    @classmethod
    def _actions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for a in v:
            if not a.lower().startswith("s3:") or "*" in a:
                raise ValueError(f"an s3 action without wildcards: {a!r}")
        return v

    @model_validator(mode="after")
    def _known_checks(self) -> S3AuditConfig:
        if self.severity:
            from mlgate.gates.s3_audit.checks import check_ids

            unknown = sorted(set(self.severity) - set(check_ids()))
            if unknown:
                raise ValueError(f"severity: unknown check id(s) {unknown}")
        return self

    @property
    def trusted_account_ids(self) -> frozenset[str]:
        return frozenset(t.account for t in self.trusted_accounts if _ACCOUNT.match(t.account))

    @property
    def trusted_org_ids(self) -> frozenset[str]:
        return frozenset(t.account for t in self.trusted_accounts if _ORG.match(t.account))
