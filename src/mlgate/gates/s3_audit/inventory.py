"""What the S3 audit collected, and the collector that collects it.

The inventory is plain pydantic data: every check is a pure function of it, so most tests build
inventories by hand and never touch AWS. The collector is the only code that calls AWS; it takes
an injected :class:`boto3.Session` (never a module-level client), calls every read API once per
resource, and **records** each failed call in ``errors`` instead of raising. A field is only
trusted if it is in ``collected``: a field that is neither collected nor in ``errors`` is treated
as unknown by the checks (fail closed), so a collector bug cannot turn into a pass.

Field semantics: a collected field whose value is ``None``/empty means "not configured" (AWS
answered ``NoSuchBucketPolicy``, ``NoSuchLifecycleConfiguration``, ...).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from mlgate.gates.s3_audit.policy_eval import ResourceScope
from mlgate.integrations import aws

if TYPE_CHECKING:  # pragma: no cover
    import boto3

    from mlgate.gates.s3_audit.config import S3AuditConfig

log = logging.getLogger(__name__)

ErrorCategory = Literal["denied", "throttled", "not_found", "unsupported", "failed"]

BUCKET_FIELDS = (
    "location", "policy", "acl", "public_access_block", "ownership", "encryption", "kms", "versioning",
    "logging", "lifecycle", "replication", "notifications", "object_lock", "website", "cors", "object_acls",
)
ACCOUNT_FIELDS = ("account_id", "public_access_block", "access_points", "multi_region_access_points")
ACCESS_POINT_FIELDS = ("access_point", "policy")
MRAP_FIELDS = ("multi_region_access_point", "policy")
#: The control plane of multi-region access points lives in us-west-2.
MRAP_CONTROL_REGION = "us-west-2"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallError(_Frozen):
    """One AWS call that did not answer. ``unsupported`` (the endpoint does not implement it, a
    limit was hit) makes a control incomplete; everything else makes it an error."""

    api: str
    code: str
    message: str = ""
    category: ErrorCategory = "failed"
    http_status: int | None = None

    def __str__(self) -> str:
        msg = f": {self.message}" if self.message else ""
        return f"{self.api} {self.code}{msg}"


def _flag(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() == "true"
    return bool(v)


class PublicAccessBlock(_Frozen):
    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    @staticmethod
    def from_api(d: Mapping[str, Any]) -> PublicAccessBlock:
        return PublicAccessBlock(
            block_public_acls=_flag(d.get("BlockPublicAcls")),
            ignore_public_acls=_flag(d.get("IgnorePublicAcls")),
            block_public_policy=_flag(d.get("BlockPublicPolicy")),
            restrict_public_buckets=_flag(d.get("RestrictPublicBuckets")),
        )

    @staticmethod
    def all_on() -> PublicAccessBlock:
        return PublicAccessBlock(
            block_public_acls=True, ignore_public_acls=True, block_public_policy=True, restrict_public_buckets=True
        )

    @property
    def disabled(self) -> list[str]:
        names = {
            "BlockPublicAcls": self.block_public_acls,
            "IgnorePublicAcls": self.ignore_public_acls,
            "BlockPublicPolicy": self.block_public_policy,
            "RestrictPublicBuckets": self.restrict_public_buckets,
        }
        return [k for k, v in names.items() if not v]

    @property
    def all_enabled(self) -> bool:
        return not self.disabled


ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


class AclGrant(_Frozen):
    grantee_type: str  # CanonicalUser | Group | AmazonCustomerByEmail
    grantee: str  # canonical id, group URI or e-mail
    permission: str  # READ | WRITE | READ_ACP | WRITE_ACP | FULL_CONTROL

    @property
    def is_public(self) -> bool:
        return self.grantee_type == "Group" and self.grantee in (ALL_USERS, AUTHENTICATED_USERS)

    @staticmethod
    def from_api(g: Mapping[str, Any]) -> AclGrant:
        gr = g.get("Grantee", {})
        ident = gr.get("ID") or gr.get("URI") or gr.get("EmailAddress") or ""
        return AclGrant(grantee_type=str(gr.get("Type", "")), grantee=str(ident), permission=str(g.get("Permission", "")))


class Acl(_Frozen):
    owner_id: str | None = None
    grants: tuple[AclGrant, ...] = ()

    @staticmethod
    def from_api(d: Mapping[str, Any]) -> Acl:
        return Acl(
            owner_id=(d.get("Owner") or {}).get("ID"),
            grants=tuple(AclGrant.from_api(g) for g in d.get("Grants", [])),
        )

    def foreign_grants(self) -> list[AclGrant]:
        """Grants to anyone but the owner."""
        return [g for g in self.grants if not (g.grantee_type == "CanonicalUser" and g.grantee == self.owner_id)]


class ObjectAcl(_Frozen):
    key: str
    acl: Acl


class BucketInventory(_Frozen):
    name: str
    partition: str = "aws"
    region: str | None = None
    exists: bool = True
    policy: dict[str, Any] | None = None
    acl: Acl | None = None
    public_access_block: PublicAccessBlock | None = None
    object_ownership: str | None = None
    encryption_rules: tuple[dict[str, Any], ...] = ()
    kms_key_managers: dict[str, str] = Field(default_factory=dict, description="key id -> AWS | CUSTOMER")
    versioning: dict[str, str] = Field(default_factory=dict, description="Status, MFADelete as AWS returns them")
    logging: dict[str, Any] | None = None
    lifecycle_rules: tuple[dict[str, Any], ...] | None = None
    replication: dict[str, Any] | None = None
    notifications: dict[str, Any] = Field(default_factory=dict)
    object_lock: dict[str, Any] | None = None
    website: dict[str, Any] | None = None
    cors_rules: tuple[dict[str, Any], ...] = ()
    object_acls: tuple[ObjectAcl, ...] = Field(default=(), description="objects whose ACL grants to non-owners")
    object_acls_checked: int = 0
    object_acl_note: str = ""
    collected: frozenset[str] = frozenset(BUCKET_FIELDS)
    errors: dict[str, CallError] = Field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.name}"

    @property
    def scope(self) -> ResourceScope:
        return ResourceScope.bucket(self.name, self.partition)

    @property
    def complete(self) -> bool:
        return not self.errors and set(BUCKET_FIELDS) <= self.collected


class AccessPointInventory(_Frozen):
    name: str
    arn: str
    bucket: str
    account_id: str | None = None
    region: str | None = None
    network_origin: str | None = None  # Internet | VPC
    vpc_id: str | None = None
    public_access_block: PublicAccessBlock | None = None
    policy: dict[str, Any] | None = None
    collected: frozenset[str] = frozenset(ACCESS_POINT_FIELDS)
    errors: dict[str, CallError] = Field(default_factory=dict)

    @property
    def scope(self) -> ResourceScope:
        return ResourceScope.access_point(self.arn)

    @property
    def complete(self) -> bool:
        return not self.errors and set(ACCESS_POINT_FIELDS) <= self.collected


class MrapRegion(_Frozen):
    bucket: str
    region: str | None = None


class MultiRegionAccessPointInventory(_Frozen):
    name: str
    alias: str
    arn: str
    account_id: str | None = None
    regions: tuple[MrapRegion, ...] = ()
    public_access_block: PublicAccessBlock | None = None
    policy: dict[str, Any] | None = None
    collected: frozenset[str] = frozenset(MRAP_FIELDS)
    errors: dict[str, CallError] = Field(default_factory=dict)

    @property
    def scope(self) -> ResourceScope:
        return ResourceScope.access_point(self.arn)

    @property
    def complete(self) -> bool:
        return not self.errors and set(MRAP_FIELDS) <= self.collected


class AccountInventory(_Frozen):
    account_id: str | None = None
    partition: str = "aws"
    public_access_block: PublicAccessBlock | None = None
    collected: frozenset[str] = frozenset(ACCOUNT_FIELDS)
    errors: dict[str, CallError] = Field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.account_id or "unknown-account"

    @property
    def complete(self) -> bool:
        return not self.errors and set(ACCOUNT_FIELDS) <= self.collected


class BucketTarget(_Frozen):
    name: str
    root: str = ""  # the argument or policy entry it came from ("*" = every listed bucket)


class AuditInventory(_Frozen):
    """Everything one audit run collected."""

    account: AccountInventory
    buckets: tuple[BucketInventory, ...] = ()
    access_points: tuple[AccessPointInventory, ...] = ()
    multi_region_access_points: tuple[MultiRegionAccessPointInventory, ...] = ()
    roots: dict[str, str] = Field(default_factory=dict, description="bucket -> the target it came from")
    run_errors: tuple[CallError, ...] = Field(default=(), description="failures not tied to one resource")
    unmatched_patterns: tuple[str, ...] = ()
    api_calls: int = 0


# ---------------------------------------------------------------------------------------------
# Error classification
# ---------------------------------------------------------------------------------------------

_DENIED = frozenset({
    "AccessDenied", "AccessDeniedException", "AllAccessDisabled", "UnauthorizedOperation", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "InvalidToken", "InvalidClientTokenId",
    "AuthorizationError", "UnrecognizedClientException", "AccountProblem",
})
_THROTTLED = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "SlowDown", "RequestLimitExceeded",
    "TooManyRequestsException", "RequestThrottled", "RequestThrottledException", "ProvisionedThroughputExceededException",
    "ServiceUnavailable", "BandwidthLimitExceeded", "EC2ThrottledException", "PriorRequestNotComplete",
})
_UNSUPPORTED = frozenset({"NotImplemented", "NotImplementedException", "UnsupportedOperation", "InvalidAction",
                          "UnknownOperationException", "MethodNotAllowed", "XNotImplemented"})


def classify_error(api: str, exc: BaseException) -> CallError:
    """Turn any exception of one AWS call into a :class:`CallError`."""
    if aws.is_service_error(exc):
        err = exc.response.get("Error", {}) or {}
        code = str(err.get("Code") or "")
        msg = str(err.get("Message") or "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        category: ErrorCategory
        if code in _DENIED or (status == 403 and code not in _THROTTLED):
            category = "denied"
        elif code in _THROTTLED or status in (429, 503):
            category = "throttled"
        elif code in _UNSUPPORTED or status == 501:
            category = "unsupported"
        elif code in ("NoSuchBucket", "NoSuchKey", "NotFound", "NoSuchAccessPoint", "NoSuchMultiRegionAccessPoint"):
            category = "not_found"
        else:
            category = "failed"
        return CallError(api=api, code=code or f"HTTP{status}", message=msg, category=category, http_status=status)
    if aws.credentials_problem(exc) is not None:
        return CallError(api=api, code=type(exc).__name__, message=str(exc), category="denied")
    # a connection failure, a time-out, anything else: failed
    return CallError(api=api, code=type(exc).__name__, message=str(exc), category="failed")


# Error codes that mean "this configuration is not set" (a valid answer, not a failure).
ABSENT = {
    "GetBucketPolicy": {"NoSuchBucketPolicy"},
    "GetPublicAccessBlock": {"NoSuchPublicAccessBlockConfiguration"},
    "GetBucketOwnershipControls": {"OwnershipControlsNotFoundError"},
    "GetBucketEncryption": {"ServerSideEncryptionConfigurationNotFoundError"},
    "GetBucketLifecycleConfiguration": {"NoSuchLifecycleConfiguration"},
    "GetBucketReplication": {"ReplicationConfigurationNotFoundError"},
    "GetObjectLockConfiguration": {"ObjectLockConfigurationNotFoundError"},
    "GetBucketWebsite": {"NoSuchWebsiteConfiguration"},
    "GetBucketCors": {"NoSuchCORSConfiguration"},
    "GetAccessPointPolicy": {"NoSuchAccessPointPolicy"},
    "GetMultiRegionAccessPointPolicy": {"NoSuchMultiRegionAccessPointPolicy"},
}


class _Absent:
    pass


_ABSENT = _Absent()


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------


def _is_aws_host(url: str | None) -> bool:
    host = (urlsplit(url).hostname or "") if url else ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))


class ClientFactory:
    """Thread-safe, cached boto3 clients from one injected session. A boto3 ``Session`` is not
    thread-safe, so client creation is serialised; the clients themselves are."""

    def __init__(self, session: boto3.Session, *, max_workers: int = 8, max_attempts: int = 5,
                 default_region: str | None = None) -> None:
        self.session = session
        self.default_region = default_region or session.region_name or "us-east-1"
        self._config = aws.config(
            retry_mode="standard",
            max_attempts=max_attempts,
            max_pool_connections=max(10, max_workers * 2),
            connect_timeout=10,
            read_timeout=30,
            user_agent_extra="mlgate-s3-audit",
        )
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._calls = 0
        self._count_lock = threading.Lock()

    @property
    def api_calls(self) -> int:
        return self._calls

    def _count(self, **_: Any) -> None:
        with self._count_lock:
            self._calls += 1

    def client(self, service: str, region: str | None = None) -> Any:
        region = region or self.default_region
        key = (service, region)
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                c = self.session.client(service, region_name=region, config=self._config)  # type: ignore[call-overload]
                c.meta.events.register("before-call", self._count)
                if service == "s3control" and not _is_aws_host(c.meta.endpoint_url):
                    c.meta.events.register("before-send.s3-control", _local_s3control_host(c.meta.endpoint_url))
                self._clients[key] = c
            return c


def _local_s3control_host(endpoint: str) -> Callable[..., None]:
    """s3control prefixes the host with ``<account>.``; against a local endpoint (moto,
    LocalStack, MinIO) that name does not resolve. Send the request to the endpoint itself."""
    netloc = urlsplit(endpoint).netloc

    def rewrite(request: Any, **_: Any) -> None:
        u = urlsplit(request.url)
        if u.netloc != netloc:
            request.url = urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))

    return rewrite


# ---------------------------------------------------------------------------------------------
# Collector
# ---------------------------------------------------------------------------------------------


@dataclass
class _Fields:
    """Mutable scratch space while one resource is collected."""

    values: dict[str, Any]
    collected: set[str]
    errors: dict[str, CallError]

    def fetch(self, field: str, api: str, fn: Callable[[], Any]) -> Any:
        """Call ``fn``; on success mark ``field`` collected and return the response; on an
        "absent" error code return ``_ABSENT`` (also collected); otherwise record the error."""
        try:
            resp = fn()
        except Exception as e:
            ce = classify_error(api, e)
            if ce.code in ABSENT.get(api, ()):
                self.collected.add(field)
                return _ABSENT
            self.errors.setdefault(field, ce)
            return None
        self.collected.add(field)
        return resp

    @staticmethod
    def new() -> _Fields:
        return _Fields({}, set(), {})


def kms_manager_from_id(key: str) -> str | None:
    """Who manages a KMS key, when its id alone says it: ``alias/aws/...`` is AWS-managed by
    definition (AWS reserves the prefix), any other alias is customer-managed. Key ids and key
    ARNs need ``kms:DescribeKey`` (None)."""
    alias = key.split(":", 5)[-1] if key.startswith("arn:") else key
    if alias.startswith("alias/"):
        return "AWS" if alias.startswith("alias/aws/") else "CUSTOMER"
    return None


def _region_of(location: Any) -> str:
    loc = (location or {}).get("LocationConstraint") if isinstance(location, Mapping) else None
    if not loc:
        return "us-east-1"
    if loc == "EU":
        return "eu-west-1"
    return str(loc)


def _is_pattern(s: str) -> bool:
    return any(c in s for c in "*?[")


def normalise_target(t: str) -> str:
    t = t.strip()
    if t.startswith("s3://"):
        t = t[5:]
    return t.split("/", 1)[0] if not _is_pattern(t) else t.rstrip("/")


class Collector:
    """Collects an :class:`AuditInventory` through one injected boto3 session."""

    def __init__(self, session: boto3.Session, config: S3AuditConfig, *,
                 progress: Callable[[int, str], None] | None = None) -> None:
        self.config = config
        self.factory = ClientFactory(session, max_workers=config.max_workers, max_attempts=config.max_attempts)
        self.progress = progress or (lambda _n, _d: None)

    # -- entry point ---------------------------------------------------------------------------
    def collect(self, targets: Sequence[str]) -> AuditInventory:
        account = self._account_identity()
        wanted = [normalise_target(t) for t in targets if t.strip()]
        names, roots, unmatched, run_errors = self._resolve(wanted)
        self.progress(0, f"auditing {len(names)} bucket(s)")
        with ThreadPoolExecutor(max_workers=self.config.max_workers, thread_name_prefix="mlgate-s3") as pool:
            buckets = list(pool.map(lambda n: self._bucket(n, account), names))
            aps, mraps, account = self._access_points(pool, buckets, account)
        return AuditInventory(
            account=account,
            buckets=tuple(buckets),
            access_points=tuple(aps),
            multi_region_access_points=tuple(mraps),
            roots=roots,
            run_errors=tuple(run_errors),
            unmatched_patterns=tuple(unmatched),
            api_calls=self.factory.api_calls,
        )

    # -- account -------------------------------------------------------------------------------
    def _account_identity(self) -> AccountInventory:
        f = _Fields.new()
        sts = self.factory.client("sts")
        ident = f.fetch("account_id", "GetCallerIdentity", sts.get_caller_identity)
        account_id: str | None = None
        partition = "aws"
        if isinstance(ident, Mapping):
            account_id = str(ident.get("Account"))
            arn = str(ident.get("Arn", ""))
            if arn.startswith("arn:"):
                partition = arn.split(":")[1] or "aws"
        pab: PublicAccessBlock | None = None
        if account_id is not None:
            ctl = self.factory.client("s3control")
            resp = f.fetch("public_access_block", "GetPublicAccessBlock",
                           lambda: ctl.get_public_access_block(AccountId=account_id))
            if isinstance(resp, Mapping):
                pab = PublicAccessBlock.from_api(resp.get("PublicAccessBlockConfiguration", {}))
        else:
            f.errors.setdefault("public_access_block", CallError(
                api="GetPublicAccessBlock", code="NoAccountId", category="failed",
                message="the account id is unknown (GetCallerIdentity failed)"))
        return AccountInventory(account_id=account_id, partition=partition, public_access_block=pab,
                                collected=frozenset(f.collected), errors=dict(f.errors))

    # -- bucket names --------------------------------------------------------------------------
    def _resolve(self, wanted: list[str]) -> tuple[list[str], dict[str, str], list[str], list[CallError]]:
        wanted = wanted or [normalise_target(b) for b in self.config.buckets]
        exact = [w for w in wanted if not _is_pattern(w)]
        patterns = [w for w in wanted if _is_pattern(w)]
        roots: dict[str, str] = {n: n for n in exact}
        names = list(dict.fromkeys(exact))
        if wanted and not patterns:
            return names, roots, [], []
        listed: list[str] = []
        s3 = self.factory.client("s3")
        try:
            if s3.can_paginate("list_buckets"):
                for page in s3.get_paginator("list_buckets").paginate():
                    listed.extend(b["Name"] for b in page.get("Buckets", []))
            else:  # pragma: no cover - older botocore
                listed.extend(b["Name"] for b in s3.list_buckets().get("Buckets", []))
        except Exception as e:
            return names, roots, [], [classify_error("ListBuckets", e)]
        import fnmatch

        unmatched: list[str] = []
        if not wanted:
            patterns = ["*"]
        for p in patterns:
            hits = [n for n in listed if fnmatch.fnmatchcase(n, p)]
            if not hits and wanted:
                unmatched.append(p)
            for n in hits:
                if n not in roots:
                    roots[n] = p
                    names.append(n)
        return names, roots, unmatched, []

    # -- one bucket ----------------------------------------------------------------------------
    def _bucket(self, name: str, account: AccountInventory) -> BucketInventory:
        try:
            return self._bucket_inner(name, account)
        finally:
            self.progress(1, name)

    def _bucket_inner(self, name: str, account: AccountInventory) -> BucketInventory:
        f = _Fields.new()
        s3 = self.factory.client("s3")
        loc = f.fetch("location", "GetBucketLocation", lambda: s3.get_bucket_location(Bucket=name))
        err = f.errors.get("location")
        if err is not None and err.code == "NoSuchBucket":
            return BucketInventory(name=name, partition=account.partition, exists=False,
                                   collected=frozenset(), errors={"location": err})
        region = _region_of(loc) if loc is not None else None
        if region is not None:
            s3 = self.factory.client("s3", region)
        v = f.values

        resp = f.fetch("policy", "GetBucketPolicy", lambda: s3.get_bucket_policy(Bucket=name))
        if isinstance(resp, Mapping):
            v["policy"] = self._decode_policy(f, "GetBucketPolicy", resp.get("Policy"))
        resp = f.fetch("acl", "GetBucketAcl", lambda: s3.get_bucket_acl(Bucket=name))
        if isinstance(resp, Mapping):
            v["acl"] = Acl.from_api(resp)
        resp = f.fetch("public_access_block", "GetPublicAccessBlock", lambda: s3.get_public_access_block(Bucket=name))
        if isinstance(resp, Mapping):
            v["public_access_block"] = PublicAccessBlock.from_api(resp.get("PublicAccessBlockConfiguration", {}))
        resp = f.fetch("ownership", "GetBucketOwnershipControls",
                       lambda: s3.get_bucket_ownership_controls(Bucket=name))
        if isinstance(resp, Mapping):
            rules = resp.get("OwnershipControls", {}).get("Rules", [])
            v["object_ownership"] = rules[0].get("ObjectOwnership") if rules else None
        resp = f.fetch("encryption", "GetBucketEncryption", lambda: s3.get_bucket_encryption(Bucket=name))
        if isinstance(resp, Mapping):
            v["encryption_rules"] = tuple(resp.get("ServerSideEncryptionConfiguration", {}).get("Rules", []))
        resp = f.fetch("versioning", "GetBucketVersioning", lambda: s3.get_bucket_versioning(Bucket=name))
        if isinstance(resp, Mapping):
            v["versioning"] = {k: str(resp[k]) for k in ("Status", "MFADelete") if k in resp}
        resp = f.fetch("logging", "GetBucketLogging", lambda: s3.get_bucket_logging(Bucket=name))
        if isinstance(resp, Mapping):
            v["logging"] = resp.get("LoggingEnabled")
        resp = f.fetch("lifecycle", "GetBucketLifecycleConfiguration",
                       lambda: s3.get_bucket_lifecycle_configuration(Bucket=name))
        if isinstance(resp, Mapping):
            v["lifecycle_rules"] = tuple(resp.get("Rules", []))
        resp = f.fetch("replication", "GetBucketReplication", lambda: s3.get_bucket_replication(Bucket=name))
        if isinstance(resp, Mapping):
            v["replication"] = resp.get("ReplicationConfiguration")
        resp = f.fetch("notifications", "GetBucketNotificationConfiguration",
                       lambda: s3.get_bucket_notification_configuration(Bucket=name))
        if isinstance(resp, Mapping):
            v["notifications"] = {k: val for k, val in resp.items() if k != "ResponseMetadata"}
        resp = f.fetch("object_lock", "GetObjectLockConfiguration",
                       lambda: s3.get_object_lock_configuration(Bucket=name))
        if isinstance(resp, Mapping):
            v["object_lock"] = resp.get("ObjectLockConfiguration")
        resp = f.fetch("website", "GetBucketWebsite", lambda: s3.get_bucket_website(Bucket=name))
        if isinstance(resp, Mapping):
            v["website"] = {k: val for k, val in resp.items() if k != "ResponseMetadata"}
        resp = f.fetch("cors", "GetBucketCors", lambda: s3.get_bucket_cors(Bucket=name))
        if isinstance(resp, Mapping):
            v["cors_rules"] = tuple(resp.get("CORSRules", []))

        self._kms(f, region)
        self._object_acls(f, s3, name, account)
        gone = [e for e in f.errors.values() if e.code == "NoSuchBucket"]
        return BucketInventory(
            name=name, partition=account.partition, region=region, exists=not gone,
            collected=frozenset(f.collected), errors=dict(f.errors), **v,
        )

    def _kms(self, f: _Fields, region: str | None) -> None:
        """Who manages the bucket's default KMS key (ML.8). An alias under ``alias/aws/`` is
        AWS-managed by definition; other aliases are customer-managed; a key id or ARN needs
        ``kms:DescribeKey``."""
        if "encryption" not in f.collected:
            return  # the encryption error already covers it
        managers: dict[str, str] = {}
        for rule in f.values.get("encryption_rules", ()):
            d = rule.get("ApplyServerSideEncryptionByDefault", {})
            key = d.get("KMSMasterKeyID")
            if not key or not str(d.get("SSEAlgorithm", "")).startswith("aws:kms"):
                continue
            key = str(key)
            known = kms_manager_from_id(key)
            if known is not None:
                managers[key] = known
                continue
            key_region = key.split(":")[3] if key.startswith("arn:") else region
            kms = self.factory.client("kms", key_region or region)
            resp = f.fetch("kms", "DescribeKey", lambda k=key, c=kms: c.describe_key(KeyId=k))  # type: ignore[misc]
            if isinstance(resp, Mapping):
                managers[key] = str(resp.get("KeyMetadata", {}).get("KeyManager", ""))
        if "kms" not in f.errors:
            f.collected.add("kms")
        f.values["kms_key_managers"] = managers

    def _object_acls(self, f: _Fields, s3: Any, name: str, account: AccountInventory) -> None:
        """Object ACLs under the artifact prefixes (ML.1 public grants, ML.11 grants to other
        accounts). Skipped only when ACLs are disabled (BucketOwnerEnforced): ``IgnorePublicAcls``
        neutralises public grants but not grants to other accounts. Bounded by
        ``object_acl_limit``; beyond it those controls are incomplete, never passed."""
        v = f.values
        if "ownership" in f.collected and v.get("object_ownership") == "BucketOwnerEnforced":
            v["object_acl_note"] = "ACLs disabled (BucketOwnerEnforced): object ACLs grant nothing"
            f.collected.add("object_acls")
            return
        limit = self.config.object_acl_limit
        prefixes = list(self.config.artifact_prefixes) or [""]
        found: list[ObjectAcl] = []
        checked = 0
        for prefix in prefixes:
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"Bucket": name, "Prefix": prefix, "MaxKeys": min(1000, limit - checked + 1)}
                if token:
                    kwargs["ContinuationToken"] = token
                page = f.fetch("object_acls", "ListObjectsV2", lambda kw=kwargs: s3.list_objects_v2(**kw))  # type: ignore[misc]
                if not isinstance(page, Mapping):
                    return
                for obj in page.get("Contents", []):
                    if checked >= limit:
                        f.collected.discard("object_acls")
                        f.errors["object_acls"] = CallError(
                            api="GetObjectAcl", code="LimitExceeded", category="unsupported",
                            message=f"more than {limit} objects under the artifact prefixes; object ACLs checked "
                                    f"for {checked} only (enable BucketOwnerEnforced to make them irrelevant)")
                        v["object_acls"], v["object_acls_checked"] = tuple(found), checked
                        return
                    key = obj["Key"]
                    resp = f.fetch("object_acls", "GetObjectAcl",
                                   lambda k=key: s3.get_object_acl(Bucket=name, Key=k))  # type: ignore[misc]
                    if not isinstance(resp, Mapping):
                        return
                    checked += 1
                    acl = Acl.from_api(resp)
                    if acl.foreign_grants():
                        found.append(ObjectAcl(key=key, acl=acl))
                token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
                if not token:
                    break
        v["object_acls"], v["object_acls_checked"] = tuple(found), checked
        v["object_acl_note"] = f"{checked} object ACL(s) checked"
        if "object_acls" not in f.errors:
            f.collected.add("object_acls")

    # -- access points and multi-region access points -----------------------------------------
    def _access_points(
        self, pool: ThreadPoolExecutor, buckets: Iterable[BucketInventory], account: AccountInventory
    ) -> tuple[list[AccessPointInventory], list[MultiRegionAccessPointInventory], AccountInventory]:
        in_scope = {b.name: b for b in buckets if b.exists}
        acct = account.account_id
        errors = dict(account.errors)
        collected = set(account.collected)
        if acct is None:
            msg = "the account id is unknown (GetCallerIdentity failed)"
            errors.setdefault("access_points", CallError(api="ListAccessPoints", code="NoAccountId", message=msg))
            errors.setdefault("multi_region_access_points",
                              CallError(api="ListMultiRegionAccessPoints", code="NoAccountId", message=msg))
            return [], [], account.model_copy(update={"errors": errors})

        # Access points live in the bucket's region: list each region once.
        listed: dict[str, dict[str, Any]] = {}
        regions = sorted({b.region or self.factory.default_region for b in in_scope.values()})
        ap_ok = True
        for region in regions:
            ctl = self.factory.client("s3control", region)
            token: str | None = None
            while True:
                kw: dict[str, Any] = {"AccountId": acct}
                if token:
                    kw["NextToken"] = token
                try:
                    page = ctl.list_access_points(**kw)
                except Exception as e:
                    ce = classify_error("ListAccessPoints", e)
                    errors.setdefault("access_points", ce.model_copy(update={"message": f"{region}: {ce.message}"}))
                    ap_ok = False
                    break
                for ap in page.get("AccessPointList", []):
                    if ap.get("Bucket") in in_scope:
                        arn = ap.get("AccessPointArn") or f"arn:{account.partition}:s3:{region}:{acct}:accesspoint/{ap['Name']}"
                        listed.setdefault(arn, {**ap, "_region": region})
                token = page.get("NextToken")
                if not token:
                    break
        if ap_ok:
            collected.add("access_points")

        mrap_listed: list[dict[str, Any]] = []
        ctl = self.factory.client("s3control", MRAP_CONTROL_REGION)
        token = None
        mrap_ok = True
        while account.partition == "aws":  # multi-region access points exist only in the aws partition
            kw = {"AccountId": acct}
            if token:
                kw["NextToken"] = token
            try:
                page = ctl.list_multi_region_access_points(**kw)
            except Exception as e:
                errors.setdefault("multi_region_access_points", classify_error("ListMultiRegionAccessPoints", e))
                mrap_ok = False
                break
            for m in page.get("AccessPoints", []):
                if any(r.get("Bucket") in in_scope for r in m.get("Regions", [])):
                    mrap_listed.append(m)
            token = page.get("NextToken")
            if not token:
                break
        if mrap_ok:
            collected.add("multi_region_access_points")

        aps = list(pool.map(lambda item: self._access_point(item[0], item[1], acct, account.partition),
                            sorted(listed.items())))
        mraps = list(pool.map(lambda m: self._mrap(m, acct, account.partition), mrap_listed))
        return aps, mraps, account.model_copy(update={"errors": errors, "collected": frozenset(collected)})

    def _access_point(self, arn: str, listed: Mapping[str, Any], acct: str, partition: str) -> AccessPointInventory:
        f = _Fields.new()
        name = str(listed["Name"])
        region = str(listed.get("_region") or self.factory.default_region)
        ctl = self.factory.client("s3control", region)
        resp = f.fetch("access_point", "GetAccessPoint", lambda: ctl.get_access_point(AccountId=acct, Name=name))
        origin = listed.get("NetworkOrigin")
        vpc = (listed.get("VpcConfiguration") or {}).get("VpcId")
        pab: PublicAccessBlock | None = None
        if isinstance(resp, Mapping):
            origin = resp.get("NetworkOrigin", origin)
            vpc = (resp.get("VpcConfiguration") or {}).get("VpcId", vpc)
            if resp.get("PublicAccessBlockConfiguration") is not None:
                pab = PublicAccessBlock.from_api(resp["PublicAccessBlockConfiguration"])
        policy: dict[str, Any] | None = None
        resp = f.fetch("policy", "GetAccessPointPolicy", lambda: ctl.get_access_point_policy(AccountId=acct, Name=name))
        if isinstance(resp, Mapping):
            policy = self._decode_policy(f, "GetAccessPointPolicy", resp.get("Policy"))
        return AccessPointInventory(
            name=name, arn=arn, bucket=str(listed.get("Bucket", "")), account_id=acct, region=region,
            network_origin=origin, vpc_id=vpc, public_access_block=pab, policy=policy,
            collected=frozenset(f.collected), errors=dict(f.errors),
        )

    def _mrap(self, listed: Mapping[str, Any], acct: str, partition: str) -> MultiRegionAccessPointInventory:
        f = _Fields.new()
        name = str(listed["Name"])
        alias = str(listed.get("Alias", name))
        f.collected.add("multi_region_access_point")
        pab = PublicAccessBlock.from_api(listed["PublicAccessBlock"]) if listed.get("PublicAccessBlock") else None
        ctl = self.factory.client("s3control", MRAP_CONTROL_REGION)
        policy: dict[str, Any] | None = None
        resp = f.fetch("policy", "GetMultiRegionAccessPointPolicy",
                       lambda: ctl.get_multi_region_access_point_policy(AccountId=acct, Name=name))
        if isinstance(resp, Mapping):
            established = (resp.get("Policy") or {}).get("Established") or {}
            policy = self._decode_policy(f, "GetMultiRegionAccessPointPolicy", established.get("Policy"))
        return MultiRegionAccessPointInventory(
            name=name, alias=alias, arn=f"arn:{partition}:s3::{acct}:accesspoint/{alias}", account_id=acct,
            regions=tuple(MrapRegion(bucket=str(r.get("Bucket", "")), region=r.get("Region"))
                          for r in listed.get("Regions", [])),
            public_access_block=pab, policy=policy, collected=frozenset(f.collected), errors=dict(f.errors),
        )

    @staticmethod
    def _decode_policy(f: _Fields, api: str, text: Any) -> dict[str, Any] | None:
        if not text:
            return None
        try:
            data = json.loads(str(text))
        except json.JSONDecodeError as e:
            data = e
        if not isinstance(data, dict):
            f.collected.discard("policy")
            f.errors["policy"] = CallError(api=api, code="InvalidPolicyJSON", category="unsupported",
                                           message=f"the policy is not a JSON object: {data}"[:300])
            return None
        return data


def collect_inventory(
    session: boto3.Session,
    targets: Sequence[str],
    config: S3AuditConfig,
    progress: Callable[[int, str], None] | None = None,
) -> AuditInventory:
    """Collect everything the S3 checks need, once, through ``session``."""
    return Collector(session, config, progress=progress).collect(targets)
