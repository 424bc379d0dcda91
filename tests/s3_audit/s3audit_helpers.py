"""Builders shared by the S3 audit tests: policies, hand-built inventories, fault injection."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from mlgate.gates.s3_audit.check import CheckContext
from mlgate.gates.s3_audit.checks import get_check
from mlgate.gates.s3_audit.config import S3AuditConfig
from mlgate.gates.s3_audit.inventory import (
    AccountInventory,
    Acl,
    AclGrant,
    BucketInventory,
    PublicAccessBlock,
)
from mlgate.gates.s3_audit.policy_eval import parse_policy
from mlgate.model import FindingKind, Report, SubjectResult

ACCOUNT = "123456789012"
OTHER = "999988887777"
OWNER = "owner-canonical-id"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ml-pipeline"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

BASE_SETTINGS: dict[str, Any] = {
    "artifact_prefixes": ["models/", "data/"],
    "pipeline_principals": [{"principal": PIPELINE_ROLE, "reason": "the training pipeline role"}],
    "replication_allowlist": [{"destination": "arn:aws:s3:::*-replica", "reason": "DR copies in our account"}],
    "min_noncurrent_days": 30,
    "max_presigned_url_age_seconds": 600,
}


def config(**over: Any) -> S3AuditConfig:
    return S3AuditConfig.model_validate({**BASE_SETTINGS, **over})


def write_policy(
    path: Path,
    settings: dict[str, Any] | None = None,
    *,
    exceptions: Iterable[dict[str, Any]] = (),
    block_severity: str = "medium",
) -> Path:
    doc = {
        "apiVersion": "mlgate/v1",
        "kind": "Policy",
        "name": "s3-audit-test",
        "defaults": {"block_severity": block_severity, "unsupported": "block", "scanner_errors": "block"},
        "checkpoints": {"pre-train": {"gates": ["s3-audit"]}},
        "exceptions": [
            {**e, "expires": e["expires"].isoformat() if isinstance(e["expires"], dt.date) else e["expires"]}
            for e in exceptions
        ],
        "gates": {"s3-audit": settings if settings is not None else BASE_SETTINGS},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def stmt(effect: str = "Allow", principal: Any = "*", action: Any = "s3:GetObject", resource: Any = None,
         condition: dict[str, Any] | None = None, bucket: str = "bkt", **extra: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"Effect": effect, "Principal": principal, "Action": action,
                         "Resource": resource if resource is not None else f"arn:aws:s3:::{bucket}/*"}
    if condition:
        s["Condition"] = condition
    s.update(extra)
    return s


def policy_doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def secure_policy(bucket: str = "bkt") -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return policy_doc(
        {"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [arn, f"{arn}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "PresignedMax10Min", "Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": [f"{arn}/models/*", f"{arn}/data/*"],
         "Condition": {"NumericGreaterThan": {"s3:signatureAge": "600000"}}},
        {"Sid": "OnlyPipelineWrites", "Effect": "Deny", "Principal": "*",
         "Action": ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"], "Resource": f"{arn}/*",
         "Condition": {"ArnNotLike": {"aws:PrincipalArn": PIPELINE_ROLE}}},
        {"Sid": "PipelineRW", "Effect": "Allow", "Principal": {"AWS": PIPELINE_ROLE},
         "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{arn}/*"},
    )


def secure_bucket(name: str = "bkt", **over: Any) -> BucketInventory:
    """A bucket that passes every control except MFA delete unless ``mfa`` is set."""
    base: dict[str, Any] = {
        "name": name,
        "region": "us-east-1",
        "policy": secure_policy(name),
        "acl": Acl(owner_id=OWNER, grants=(AclGrant(grantee_type="CanonicalUser", grantee=OWNER,
                                                     permission="FULL_CONTROL"),)),
        "public_access_block": PublicAccessBlock.all_on(),
        "object_ownership": "BucketOwnerEnforced",
        "encryption_rules": ({"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                                       "KMSMasterKeyID": KEY_ARN}},),
        "kms_key_managers": {KEY_ARN: "CUSTOMER"},
        "versioning": {"Status": "Enabled", "MFADelete": "Enabled"},
        "logging": {"TargetBucket": "logs", "TargetPrefix": f"{name}/"},
        "lifecycle_rules": (
            {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}},
            {"ID": "history", "Status": "Enabled", "Filter": {"Prefix": "models/"},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 365}},
        ),
        "replication": {"Role": f"arn:aws:iam::{ACCOUNT}:role/repl", "Rules": [
            {"ID": "dr", "Status": "Enabled", "Destination": {"Bucket": f"arn:aws:s3:::{name}-replica"}}]},
        "notifications": {"EventBridgeConfiguration": {}},
        "object_lock": {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE",
                                                                                      "Days": 30}}},
        "website": None,
        "cors_rules": ({"AllowedOrigins": ["https://ml.example.com"], "AllowedMethods": ["GET"]},),
        "object_acl_note": "ACLs disabled",
    }
    base.update(over)
    return BucketInventory(**base)


def account(pab: PublicAccessBlock | None = None, **over: Any) -> AccountInventory:
    return AccountInventory(account_id=ACCOUNT, public_access_block=pab or PublicAccessBlock.all_on(), **over)


def run_check(check_id: str, bucket: BucketInventory | None = None, *, cfg: S3AuditConfig | None = None,
              acct: AccountInventory | None = None, **ctx: Any) -> list[tuple[str, str]]:
    """(status, message) of each result of one check on one resource."""
    b = bucket
    policy_src = ctx.pop("policy_src", None)
    if policy_src is None:
        res = b or ctx.get("access_point_") or ctx.get("mrap_")
        policy_src = getattr(res, "policy", None)
    # The account block off by default, so a bucket's own settings decide its exposure.
    c = CheckContext(config=cfg or config(), account=acct or account(PublicAccessBlock()), bucket_=b,
                     policy=parse_policy(policy_src) if policy_src else None, **ctx)
    return [(r.status, r.message) for r in get_check(check_id).execute(c)]


def statuses(results: list[tuple[str, str]]) -> set[str]:
    return {s for s, _ in results}


def subject(report: Report, name: str) -> SubjectResult:
    for s in report.subjects:
        if s.subject == name:
            return s
    raise AssertionError(f"no subject {name}: {[s.subject for s in report.subjects]}")


def failing_controls(s: SubjectResult) -> set[str]:
    """Controls with an ISSUE finding (blocking or not) on one subject."""
    return {c for f in s.findings if f.kind is FindingKind.ISSUE for c in f.controls}


def finding_kinds(s: SubjectResult) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in s.findings:
        out.setdefault(f.kind.value, set()).add(f.id)
    return out


def inject_error(session: Any, operation: str, code: str, status: int, service: str = "s3") -> None:
    """Make every call of ``operation`` through ``session`` fail with ``code`` (as AWS would
    answer), through botocore's own error path."""
    from botocore.awsrequest import AWSResponse

    def handler(**_: Any) -> tuple[Any, dict[str, Any]]:
        body = {"Error": {"Code": code, "Message": f"injected {code}"},
                "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse("https://injected.invalid", status, {}, None), body

    session.events.register(f"before-call.{service}.{operation}", handler)


def dumps(d: Any) -> str:
    return json.dumps(d)
