"""Hardened bucket set-up: the configuration the S3 audit wants, applied with boto3.

The same calls work against AWS (given permissions) and against the local moto server; the
Terraform equivalent is in ``infra/buckets/secure_bucket.tf``.
"""

from __future__ import annotations

import json
from typing import Any

ACCOUNT_ID_LOCAL = "123456789012"
PRESIGNED_MAX_AGE_MS = 600_000  # presigned URLs older than 10 minutes are refused


# IAM action names are case-insensitive in AWS, so "S3:*" means "s3:*" there (and to mlgate's own
# policy evaluator). moto 5.2.5's bucket-policy check ignores principals and treats any statement
# whose condition it cannot evaluate as DENY, so a correct TLS-only policy written as "s3:*" would
# block every request to the local stack; moto matches actions case-sensitively and skips "S3:*".
ACTION_ALL = "S3:*"


def secure_bucket_policy(bucket: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ACTION_ALL,
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyOldPresignedUrls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ACTION_ALL,
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"NumericGreaterThan": {"s3:signatureAge": str(PRESIGNED_MAX_AGE_MS)}},
            },
        ],
    }


def _s3control_host_rewrite(endpoint: str) -> Any:
    """moto serves s3control on the endpoint itself, not on <account>.<host>."""
    from urllib.parse import urlparse

    ep = urlparse(endpoint)

    def rewrite(request: Any, **_: Any) -> None:
        u = urlparse(request.url)
        request.url = u._replace(scheme=ep.scheme, netloc=ep.netloc).geturl()

    return rewrite


def create_secure_buckets(session: Any, endpoint: str | None, names: list[str], *, log_bucket: str,
                          retention_days: int = 1) -> list[str]:
    """Create (or re-configure) ``names`` plus a log bucket and replica buckets, hardened."""
    kw = {"endpoint_url": endpoint} if endpoint else {}
    s3 = session.client("s3", **kw)
    kms = session.client("kms", **kw)
    sqs = session.client("sqs", **kw)
    sts = session.client("sts", **kw)
    account = sts.get_caller_identity()["Account"]
    control = session.client("s3control", **kw)
    if endpoint:
        control.meta.events.register("before-send.s3-control", _s3control_host_rewrite(endpoint))
    pab = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=pab)
    key_arn = kms.create_key(Description="mlgate artifact store key")["KeyMetadata"]["Arn"]
    queue_url = sqs.create_queue(QueueName="mlgate-bucket-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if log_bucket not in existing:
        s3.create_bucket(Bucket=log_bucket, ObjectOwnership="BucketOwnerPreferred")
    s3.put_public_access_block(Bucket=log_bucket, PublicAccessBlockConfiguration=pab)
    s3.put_bucket_policy(Bucket=log_bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "S3ServerAccessLogs",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{log_bucket}/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        }, *secure_bucket_policy(log_bucket)["Statement"][:1]],
    }))

    for name in names:
        replica = f"{name}-replica"
        for b in (name, replica):
            if b not in existing:
                s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
            s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
            s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=pab)
            s3.put_bucket_ownership_controls(
                Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
            )
            s3.put_bucket_encryption(
                Bucket=b,
                ServerSideEncryptionConfiguration={"Rules": [{
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                    "BucketKeyEnabled": True,
                }]},
            )
            s3.put_bucket_policy(Bucket=b, Policy=json.dumps(secure_bucket_policy(b)))
            s3.put_object_lock_configuration(
                Bucket=b,
                ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                         "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": retention_days}}},
            )
            s3.put_bucket_logging(
                Bucket=b, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": log_bucket, "TargetPrefix": f"{b}/"}}
            )
            s3.put_bucket_lifecycle_configuration(
                Bucket=b,
                LifecycleConfiguration={"Rules": [{
                    "ID": "mlgate-hygiene",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 365},
                }]},
            )
            s3.put_bucket_notification_configuration(
                Bucket=b,
                NotificationConfiguration={"QueueConfigurations": [{
                    "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                }]},
            )
        s3.put_bucket_replication(
            Bucket=name,
            ReplicationConfiguration={
                "Role": f"arn:aws:iam::{account}:role/mlgate-replication",
                "Rules": [{
                    "ID": "mlgate-replica",
                    "Status": "Enabled",
                    "Priority": 1,
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": f"arn:aws:s3:::{replica}", "Account": account},
                }],
            },
        )
    return list(names)
