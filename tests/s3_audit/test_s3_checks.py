"""Every check as a pure function of a hand-built inventory: one failing and one passing case
per control at least, plus the fail-closed behaviour of the runner and the gate."""

from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.s3_audit.s3audit_helpers import (
    ACCOUNT,
    KEY_ARN,
    OTHER,
    OWNER,
    PIPELINE_ROLE,
    account,
    config,
    failing_controls,
    finding_kinds,
    policy_doc,
    run_check,
    secure_bucket,
    secure_policy,
    statuses,
    stmt,
    subject,
    write_policy,
)

from mlgate.errors import PolicyError
from mlgate.gates.s3_audit import S3AuditConfig, evaluate, evaluate_inventory
from mlgate.gates.s3_audit.check import CheckLoadError, CheckMetadata
from mlgate.gates.s3_audit.checks import check_ids, load_checks
from mlgate.gates.s3_audit.inventory import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    AccessPointInventory,
    Acl,
    AclGrant,
    AuditInventory,
    CallError,
    MrapRegion,
    MultiRegionAccessPointInventory,
    ObjectAcl,
    PublicAccessBlock,
)
from mlgate.model import FindingKind, Verdict
from mlgate.policy import load_policy

ARN = "arn:aws:s3:::bkt"
OFF = PublicAccessBlock()
OWNER_GRANT = AclGrant(grantee_type="CanonicalUser", grantee=OWNER, permission="FULL_CONTROL")


def with_statements(*extra: dict[str, Any]) -> dict[str, Any]:
    doc = secure_policy()
    doc["Statement"] = list(doc["Statement"]) + list(extra)
    return doc


def acl(*grants: tuple[str, str, str]) -> Acl:
    return Acl(owner_id=OWNER, grants=(OWNER_GRANT, *(AclGrant(grantee_type=t, grantee=g, permission=p)
                                                     for t, g, p in grants)))


# ---------------------------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------------------------

EXPECTED_CONTROLS = {
    "S3.1", "S3.2", "S3.3", "S3.5", "S3.6", "S3.7", "S3.8", "S3.9", "S3.10", "S3.11", "S3.12", "S3.13",
    "S3.14", "S3.15", "S3.17", "S3.19", "S3.20", "S3.24",
} | {f"ML.{i}" for i in range(1, 12)}


def test_every_control_has_a_check_with_full_metadata() -> None:
    checks = load_checks()
    assert {c for ch in checks for c in ch.metadata.controls} == EXPECTED_CONTROLS
    for ch in checks:
        m = ch.metadata
        folder = Path(sys.modules[type(ch).__module__].__file__ or "").parent
        assert folder.name == m.id == type(ch).__name__
        assert m.remediation.cli.startswith("aws ")
        assert "resource" in m.remediation.terraform or "data " in m.remediation.terraform
        assert m.references
        assert all(r.startswith("https://") for r in m.references)
        assert m.risk
        assert m.description


def test_docs_list_every_check() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "s3-audit.md").read_text()
    missing = [c.id for c in load_checks() if f"`{c.id}`" not in doc]
    assert not missing, f"docs/s3-audit.md does not list {missing}"


def test_metadata_model_rejects_bad_controls_and_ids() -> None:
    good = json.loads((Path(sys.modules[type(load_checks()[0]).__module__].__file__ or "").with_suffix(
        ".metadata.json")).read_text())
    CheckMetadata.model_validate(good)
    with pytest.raises(ValueError, match="control ids"):
        CheckMetadata.model_validate({**good, "controls": ["CIS-1"]})
    with pytest.raises(ValueError, match="snake_case"):
        CheckMetadata.model_validate({**good, "id": "S3-Bad"})


def test_a_check_whose_name_does_not_match_its_folder_fails_to_load(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "s3_bucket_misnamed"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "s3_bucket_misnamed.py").write_text(textwrap.dedent("""
        from mlgate.gates.s3_audit.check import Check
        class s3_bucket_other_name(Check):
            def execute(self, ctx):
                return []
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CheckLoadError, match="id == folder == module == class"):
        __import__("s3_bucket_misnamed.s3_bucket_misnamed")


# ---------------------------------------------------------------------------------------------
# One check at a time: fail and pass cases
# ---------------------------------------------------------------------------------------------

CASES: list[tuple[str, str, dict[str, Any], str]] = [
    # (case id, check id, bucket overrides, expected status)
    ("S3.2 policy", "s3_bucket_public_read", {"public_access_block": OFF,
                                              "policy": with_statements(stmt(action="s3:ListBucket", resource=ARN))},
     "fail"),
    ("S3.2 acl", "s3_bucket_public_read", {"public_access_block": OFF, "acl": acl(("Group", AUTHENTICATED_USERS, "READ"))},
     "fail"),
    ("S3.2 bucket block neutralises", "s3_bucket_public_read",
     {"policy": with_statements(stmt()), "acl": acl(("Group", ALL_USERS, "READ"))}, "pass"),
    ("S3.2 restricted by vpce", "s3_bucket_public_read",
     {"public_access_block": OFF, "policy": with_statements(
         stmt(condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}}))}, "pass"),
    ("S3.3 policy", "s3_bucket_public_write", {"public_access_block": OFF,
                                               "policy": with_statements(stmt(action="s3:Put*"))}, "fail"),
    ("S3.3 acl", "s3_bucket_public_write", {"public_access_block": OFF, "acl": acl(("Group", ALL_USERS, "WRITE"))},
     "fail"),
    ("S3.3 read only", "s3_bucket_public_write", {"public_access_block": OFF, "acl": acl(("Group", ALL_USERS, "READ"))},
     "pass"),
    ("S3.5 none", "s3_bucket_secure_transport_policy", {"policy": None}, "fail"),
    ("S3.5 put only", "s3_bucket_secure_transport_policy", {"policy": policy_doc(stmt(
        "Deny", action="s3:PutObject", resource=[ARN, f"{ARN}/*"], condition={"Bool": {"aws:SecureTransport": "false"}}))},
     "fail"),
    ("S3.5 ok", "s3_bucket_secure_transport_policy", {}, "pass"),
    ("S3.6 other account", "s3_bucket_cross_account_admin_actions", {"policy": with_statements(
        stmt(principal={"AWS": f"arn:aws:iam::{OTHER}:root"}, action="s3:PutBucketPolicy", resource=ARN))}, "fail"),
    ("S3.6 wildcard action public", "s3_bucket_cross_account_admin_actions", {"policy": with_statements(
        stmt(action="s3:*", resource=[ARN, f"{ARN}/*"]))}, "fail"),
    ("S3.6 same account", "s3_bucket_cross_account_admin_actions", {"policy": with_statements(
        stmt(principal={"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"}, action="s3:PutBucketPolicy", resource=ARN))},
     "pass"),
    ("S3.7 none", "s3_bucket_replication_enabled", {"replication": None}, "fail"),
    ("S3.7 disabled rule", "s3_bucket_replication_enabled", {"replication": {"Rules": [
        {"Status": "Disabled", "Destination": {"Bucket": "arn:aws:s3:::x"}}]}}, "fail"),
    ("S3.8 none", "s3_bucket_level_public_access_block", {"public_access_block": None}, "fail"),
    ("S3.8 partial", "s3_bucket_level_public_access_block",
     {"public_access_block": PublicAccessBlock(block_public_acls=True, ignore_public_acls=True,
                                               block_public_policy=True)}, "fail"),
    ("S3.9", "s3_bucket_server_access_logging", {"logging": None}, "fail"),
    ("S3.10 versioned no lifecycle", "s3_bucket_versioned_lifecycle", {"lifecycle_rules": None}, "fail"),
    ("S3.10 versioned disabled rules", "s3_bucket_versioned_lifecycle",
     {"lifecycle_rules": ({"ID": "x", "Status": "Disabled", "Filter": {}},)}, "fail"),
    ("S3.10 not versioned", "s3_bucket_versioned_lifecycle", {"versioning": {}, "lifecycle_rules": None}, "pass"),
    ("S3.11", "s3_bucket_event_notifications", {"notifications": {}}, "fail"),
    ("S3.11 sqs", "s3_bucket_event_notifications",
     {"notifications": {"QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:1:q"}]}}, "pass"),
    ("S3.12 object writer", "s3_bucket_acls_disabled", {"object_ownership": "ObjectWriter"}, "fail"),
    ("S3.12 unset", "s3_bucket_acls_disabled", {"object_ownership": None}, "fail"),
    ("S3.13", "s3_bucket_lifecycle_configured", {"lifecycle_rules": None}, "fail"),
    ("S3.14 suspended", "s3_bucket_versioning_enabled", {"versioning": {"Status": "Suspended"}}, "fail"),
    ("S3.15", "s3_bucket_object_lock_enabled", {"object_lock": None}, "fail"),
    ("S3.17 sse-s3", "s3_bucket_sse_kms",
     {"encryption_rules": ({"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}},)}, "fail"),
    ("S3.17 none", "s3_bucket_sse_kms", {"encryption_rules": ()}, "fail"),
    ("S3.20 off", "s3_bucket_mfa_delete", {"versioning": {"Status": "Enabled", "MFADelete": "Disabled"}}, "fail"),
    ("S3.20 on", "s3_bucket_mfa_delete", {}, "pass"),
    ("ML.1 policy prefix", "s3_bucket_artifact_public_read", {"public_access_block": OFF, "policy": with_statements(
        stmt(resource=f"{ARN}/models/*"))}, "fail"),
    ("ML.1 other prefix only", "s3_bucket_artifact_public_read", {"public_access_block": OFF, "policy": with_statements(
        stmt(resource=f"{ARN}/public/*"))}, "pass"),
    ("ML.1 object acl", "s3_bucket_artifact_public_read", {
        "public_access_block": OFF, "object_ownership": "ObjectWriter",
        "object_acls": (ObjectAcl(key="data/train.parquet", acl=acl(("Group", ALL_USERS, "READ"))),)}, "fail"),
    ("ML.1 object acl outside prefixes", "s3_bucket_artifact_public_read", {
        "public_access_block": OFF,
        "object_acls": (ObjectAcl(key="site/index.html", acl=acl(("Group", ALL_USERS, "READ"))),)}, "pass"),
    ("ML.2 other writer", "s3_bucket_untrusted_writers", {"policy": policy_doc(
        stmt(principal={"AWS": f"arn:aws:iam::{OTHER}:role/vendor"}, action="s3:PutObject"))}, "fail"),
    ("ML.2 account root writer", "s3_bucket_untrusted_writers", {"policy": policy_doc(
        stmt(principal={"AWS": ACCOUNT}, action="s3:DeleteObject"))}, "fail"),
    ("ML.2 acl write", "s3_bucket_untrusted_writers", {"policy": None, "acl": acl(("CanonicalUser", "someone", "WRITE"))},
     "fail"),
    ("ML.2 pipeline only", "s3_bucket_untrusted_writers", {"policy": policy_doc(
        stmt(principal={"AWS": PIPELINE_ROLE}, action=["s3:PutObject", "s3:DeleteObject"]))}, "pass"),
    ("ML.2 guard limits writers", "s3_bucket_untrusted_writers", {"policy": with_statements(
        stmt(principal={"AWS": ACCOUNT}, action="s3:PutObject")), "acl": acl(("CanonicalUser", "x", "WRITE"))},
     "pass"),
    ("ML.2 guard does not cover bucket policy writes", "s3_bucket_untrusted_writers", {"policy": with_statements(
        stmt(principal={"AWS": f"arn:aws:iam::{OTHER}:root"}, action="s3:PutBucketPolicy", resource=ARN))}, "fail"),
    ("ML.2 guard does not cover ACL changes", "s3_bucket_untrusted_writers",
     {"acl": acl(("CanonicalUser", "x", "WRITE_ACP"))}, "fail"),
    ("ML.2 guard admits another role", "s3_bucket_untrusted_writers", {"policy": policy_doc(
        {"Effect": "Deny", "Principal": "*", "Action": ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
         "Resource": f"{ARN}/*", "Condition": {"ArnNotLike": {"aws:PrincipalArn": [
             PIPELINE_ROLE, f"arn:aws:iam::{ACCOUNT}:role/intern"]}}})}, "fail"),
    ("ML.3 no lock no mfa", "s3_bucket_tamper_evidence", {"object_lock": None, "versioning": {"Status": "Enabled"}},
     "fail"),
    ("ML.3 lock without retention", "s3_bucket_tamper_evidence",
     {"object_lock": {"ObjectLockEnabled": "Enabled"}, "versioning": {"Status": "Enabled"}}, "fail"),
    ("ML.3 mfa only", "s3_bucket_tamper_evidence", {"object_lock": None}, "pass"),
    ("ML.3 lock in years", "s3_bucket_tamper_evidence", {"versioning": {"Status": "Enabled"}, "object_lock": {
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 1, "Days": 0}}}},
     "pass"),
    ("ML.3 not versioned", "s3_bucket_tamper_evidence", {"versioning": {}}, "fail"),
    ("ML.4 referer", "s3_bucket_weak_public_conditions", {"policy": with_statements(
        stmt(condition={"StringLike": {"aws:Referer": "https://ml.example.com/*"}}))}, "fail"),
    ("ML.4 useragent", "s3_bucket_weak_public_conditions", {"policy": with_statements(
        stmt(condition={"StringEquals": {"aws:UserAgent": "trainer"}}))}, "fail"),
    ("ML.4 any ip", "s3_bucket_weak_public_conditions", {"policy": with_statements(
        stmt(condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}))}, "fail"),
    ("ML.4 org", "s3_bucket_weak_public_conditions", {"policy": with_statements(
        stmt(condition={"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}))}, "pass"),
    ("ML.5 other account", "s3_bucket_replication_allowlist", {"replication": {"Rules": [
        {"ID": "x", "Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::exfil", "Account": OTHER}}]}}, "fail"),
    ("ML.5 allowlisted", "s3_bucket_replication_allowlist", {}, "pass"),
    ("ML.7 none", "s3_bucket_presigned_url_limits", {"policy": None}, "fail"),
    ("ML.7 put only", "s3_bucket_presigned_url_limits", {"policy": policy_doc(stmt(
        "Deny", action="s3:PutObject", resource=f"{ARN}/*",
        condition={"NumericGreaterThan": {"s3:signatureAge": "600000"}}))}, "fail"),
    ("ML.7 tls deny on put", "s3_bucket_presigned_url_limits", {"policy": policy_doc(stmt(
        "Deny", action="s3:PutObject", resource=f"{ARN}/*", condition={"Bool": {"aws:SecureTransport": "false"}}))},
     "fail"),
    ("ML.7 too long", "s3_bucket_presigned_url_limits", {"policy": policy_doc(stmt(
        "Deny", action="s3:*", resource=f"{ARN}/*", condition={"NumericGreaterThan": {"s3:signatureAge": "86400000"}}))},
     "fail"),
    ("ML.7 one prefix missing", "s3_bucket_presigned_url_limits", {"policy": policy_doc(stmt(
        "Deny", action="s3:*", resource=f"{ARN}/models/*",
        condition={"NumericGreaterThan": {"s3:signatureAge": "60000"}}))}, "fail"),
    ("ML.7 authtype", "s3_bucket_presigned_url_limits", {"policy": policy_doc(stmt(
        "Deny", action="s3:*", resource=f"{ARN}/*", condition={"StringEquals": {"s3:authType": "REST-QUERY-STRING"}}))},
     "pass"),
    ("ML.7 narrowed by vpce", "s3_bucket_presigned_url_limits", {"policy": policy_doc(stmt(
        "Deny", action="s3:*", resource=f"{ARN}/*", condition={"StringNotEquals": {"s3:authType": "REST-HEADER"},
                                                                "StringEquals": {"aws:SourceVpce": "vpce-1"}}))},
     "fail"),
    ("ML.8 aws managed alias", "s3_bucket_sse_kms_customer_key", {"encryption_rules": (
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/aws/s3"}},)},
     "fail"),
    ("ML.8 no key", "s3_bucket_sse_kms_customer_key", {"encryption_rules": (
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}},)}, "fail"),
    ("ML.8 aws managed key id", "s3_bucket_sse_kms_customer_key", {"kms_key_managers": {KEY_ARN: "AWS"}}, "fail"),
    ("ML.8 unknown manager", "s3_bucket_sse_kms_customer_key", {"kms_key_managers": {}}, "unsupported"),
    ("ML.9 expires models", "s3_bucket_artifact_lifecycle", {"lifecycle_rules": (
        {"ID": "all", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 90}},)}, "fail"),
    ("ML.9 noncurrent too early", "s3_bucket_artifact_lifecycle", {"lifecycle_rules": (
        {"ID": "d", "Status": "Enabled", "Filter": {"And": {"Prefix": "data/raw/", "Tags": []}},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 3}},)}, "fail"),
    ("ML.9 legacy prefix", "s3_bucket_artifact_lifecycle", {"lifecycle_rules": (
        {"ID": "m", "Status": "Enabled", "Prefix": "models", "Expiration": {"Date": "2030-01-01"}},)}, "fail"),
    ("ML.9 delete markers only", "s3_bucket_artifact_lifecycle", {"lifecycle_rules": (
        {"ID": "m", "Status": "Enabled", "Filter": {}, "Expiration": {"ExpiredObjectDeleteMarker": True}},)}, "pass"),
    ("ML.10 website", "s3_bucket_website_cors", {"website": {"IndexDocument": {"Suffix": "index.html"}}}, "fail"),
    ("ML.10 cors", "s3_bucket_website_cors", {"cors_rules": ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT"]},)},
     "fail"),
    ("ML.10 cors read", "s3_bucket_website_cors", {"cors_rules": ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},)},
     "pass"),
    ("ML.11 other account reader", "s3_bucket_external_principals", {"policy": with_statements(
        stmt(principal={"AWS": f"arn:aws:iam::{OTHER}:role/analytics"}))}, "fail"),
    ("ML.11 service unbound", "s3_bucket_external_principals", {"policy": with_statements(
        stmt(principal={"Service": "logging.s3.amazonaws.com"}, action="s3:PutObject"))}, "fail"),
    ("ML.11 service bound", "s3_bucket_external_principals", {"policy": with_statements(
        stmt(principal={"Service": "logging.s3.amazonaws.com"}, action="s3:PutObject",
             condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}}))}, "pass"),
    ("ML.11 org", "s3_bucket_external_principals", {"policy": with_statements(
        stmt(condition={"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}))}, "fail"),
    ("ML.11 object acl to another account", "s3_bucket_external_principals", {
        "object_ownership": "ObjectWriter",
        "object_acls": (ObjectAcl(key="models/m.pt", acl=acl(("CanonicalUser", "other-canonical", "READ"))),)},
     "fail"),
    ("ML.11 public object acl neutralised", "s3_bucket_external_principals", {
        "object_ownership": "ObjectWriter",
        "object_acls": (ObjectAcl(key="models/m.pt", acl=acl(("Group", ALL_USERS, "READ"))),)}, "pass"),
    ("ML.11 acl grantee", "s3_bucket_external_principals", {"acl": acl(("CanonicalUser", "other-canonical", "READ"))},
     "fail"),
]


@pytest.mark.parametrize(("check_id", "over", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_case(check_id: str, over: dict[str, Any], expected: str) -> None:
    res = run_check(check_id, secure_bucket(**over))
    assert statuses(res) == {expected}, res


def test_the_secure_baseline_passes_every_bucket_check() -> None:
    for ch in load_checks():
        if ch.metadata.resource_type == "bucket":
            assert statuses(run_check(ch.id, secure_bucket())) == {"pass"}, ch.id


def test_account_block_neutralises_public_policy_but_unknown_account_does_not() -> None:
    b = secure_bucket(public_access_block=OFF, policy=with_statements(stmt()))
    acct_on = account(PublicAccessBlock(restrict_public_buckets=True))
    assert statuses(run_check("s3_bucket_public_read", b, acct=acct_on)) == {"pass"}
    unknown = account(None).model_copy(update={"public_access_block": None, "errors": {
        "public_access_block": CallError(api="GetPublicAccessBlock", code="AccessDenied", category="denied")}})
    assert statuses(run_check("s3_bucket_public_read", b, acct=unknown)) == {"fail"}


def test_trusted_accounts_and_require_object_lock_settings() -> None:
    b = secure_bucket(policy=with_statements(stmt(principal={"AWS": f"arn:aws:iam::{OTHER}:root"})))
    assert statuses(run_check("s3_bucket_external_principals", b)) == {"fail"}
    trusted = config(trusted_accounts=[{"account": OTHER, "reason": "our data-science account"}])
    assert statuses(run_check("s3_bucket_external_principals", b, cfg=trusted)) == {"pass"}
    mfa_only = secure_bucket(object_lock=None)
    assert statuses(run_check("s3_bucket_tamper_evidence", mfa_only, cfg=config(require_object_lock=True))) == {"fail"}


def test_writer_guard_can_be_required() -> None:
    no_guard = secure_bucket(policy=policy_doc(stmt(principal={"AWS": PIPELINE_ROLE}, action="s3:PutObject")))
    assert statuses(run_check("s3_bucket_untrusted_writers", no_guard)) == {"pass"}
    assert statuses(run_check("s3_bucket_untrusted_writers", no_guard, cfg=config(require_writer_guard=True))) == {
        "fail"}


def test_access_point_and_mrap_checks() -> None:
    ap_arn = f"arn:aws:s3:us-east-1:{ACCOUNT}:accesspoint/open"
    public = policy_doc(stmt(resource=f"{ap_arn}/object/*"))
    open_ap = AccessPointInventory(name="open", arn=ap_arn, bucket="bkt", account_id=ACCOUNT,
                                   network_origin="Internet", public_access_block=OFF, policy=public)
    res = run_check("s3_access_point_exposure", access_point_=open_ap, acct=account(OFF))
    assert [s for s, _ in res] == ["fail", "fail"]  # internet origin + public policy
    assert statuses(run_check("s3_access_point_public_access_block", access_point_=open_ap)) == {"fail"}
    vpc_ap = open_ap.model_copy(update={"network_origin": "VPC", "vpc_id": "vpc-1",
                                        "public_access_block": PublicAccessBlock.all_on()})
    assert statuses(run_check("s3_access_point_exposure", access_point_=vpc_ap, acct=account(OFF))) == {"pass"}
    assert statuses(run_check("s3_access_point_public_access_block", access_point_=vpc_ap)) == {"pass"}

    m_arn = f"arn:aws:s3::{ACCOUNT}:accesspoint/mr1.mrap"
    mrap = MultiRegionAccessPointInventory(name="mr1", alias="mr1.mrap", arn=m_arn, account_id=ACCOUNT,
                                           regions=(MrapRegion(bucket="bkt", region="us-east-1"),),
                                           public_access_block=OFF, policy=policy_doc(stmt(resource="*")))
    assert statuses(run_check("s3_mrap_exposure", mrap_=mrap, acct=account(OFF))) == {"fail"}
    assert statuses(run_check("s3_mrap_public_access_block", mrap_=mrap)) == {"fail"}
    ok = mrap.model_copy(update={"public_access_block": PublicAccessBlock.all_on(), "policy": None})
    assert statuses(run_check("s3_mrap_exposure", mrap_=ok, acct=account(OFF))) == {"pass"}
    assert statuses(run_check("s3_mrap_public_access_block", mrap_=ok)) == {"pass"}


def test_account_check() -> None:
    from mlgate.gates.s3_audit.check import CheckContext
    from mlgate.gates.s3_audit.checks import get_check

    chk = get_check("s3_account_level_public_access_block")
    for pab, want in [(None, "fail"), (PublicAccessBlock(block_public_acls=True), "fail"),
                      (PublicAccessBlock.all_on(), "pass")]:
        acct = account().model_copy(update={"public_access_block": pab})
        assert {r.status for r in chk.execute(CheckContext(config=config(), account=acct))} == {want}


# ---------------------------------------------------------------------------------------------
# Runner and gate: fail closed, coverage, waivers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    return write_policy(tmp_path / "policy.yaml")


def inventory(*buckets: Any, **over: Any) -> AuditInventory:
    return AuditInventory(account=over.pop("acct", account()), buckets=tuple(buckets), **over)


def test_secure_inventory_passes_with_coverage(policy_file: Path) -> None:
    report = evaluate(inventory(secure_bucket()), policy=policy_file)
    assert report.verdict is Verdict.PASS, report.reason
    b = subject(report, "bkt")
    assert b.coverage
    assert b.coverage[0].format == "s3-bucket"
    assert not b.findings
    assert set(b.details["checks"].values()) == {"pass"}
    assert len(b.details["checks"]) == sum(c.metadata.resource_type == "bucket" for c in load_checks())


def test_denied_field_makes_its_controls_error_and_the_bucket_error(policy_file: Path) -> None:
    denied = CallError(api="GetBucketPolicy", code="AccessDenied", category="denied", http_status=403)
    b = secure_bucket(policy=None, collected=secure_bucket().collected - {"policy"}, errors={"policy": denied})
    report = evaluate(inventory(b), policy=policy_file)
    s = subject(report, "bkt")
    assert s.verdict is Verdict.ERROR
    assert not s.coverage
    errored = {f.id for f in s.findings if f.kind is FindingKind.ERROR}
    assert errored == {c.id for c in load_checks() if "policy" in c.requires and c.metadata.resource_type == "bucket"}
    assert {c for f in s.findings for c in f.controls} >= {"S3.2", "S3.3", "S3.5", "S3.6", "ML.1", "ML.2", "ML.4",
                                                           "ML.7", "ML.11"}
    assert all("AccessDenied" in f.message for f in s.findings)


def test_unsupported_and_uncollected_fields_make_it_incomplete(policy_file: Path) -> None:
    ni = CallError(api="GetBucketReplication", code="NotImplemented", category="unsupported", http_status=501)
    b = secure_bucket(collected=secure_bucket().collected - {"replication", "website"}, errors={"replication": ni})
    s = subject(evaluate(inventory(b), policy=policy_file), "bkt")
    assert s.verdict is Verdict.INCOMPLETE
    assert finding_kinds(s) == {"unsupported": {"s3_bucket_replication_enabled", "s3_bucket_replication_allowlist",
                                                "s3_bucket_artifact_public_read", "s3_bucket_website_cors"}}


def test_unparseable_policy_is_unsupported_not_pass(policy_file: Path) -> None:
    b = secure_bucket(policy={"Statement": [{"Effect": "Allow"}]})
    s = subject(evaluate(inventory(b), policy=policy_file), "bkt")
    assert s.verdict is Verdict.INCOMPLETE
    assert "s3_bucket_public_read" in finding_kinds(s)["unsupported"]


def test_errors_no_check_reads_surface_as_inventory_findings(policy_file: Path) -> None:
    b = secure_bucket(errors={"location": CallError(api="GetBucketLocation", code="AccessDenied", category="denied")})
    s = subject(evaluate(inventory(b), policy=policy_file), "bkt")
    assert s.verdict is Verdict.ERROR
    assert finding_kinds(s) == {"error": {"s3_inventory"}}


def test_missing_bucket_is_an_error(policy_file: Path) -> None:
    from mlgate.gates.s3_audit.inventory import BucketInventory

    gone = BucketInventory(name="gone", exists=False, collected=frozenset(), errors={
        "location": CallError(api="GetBucketLocation", code="NoSuchBucket", category="not_found")})
    report = evaluate(inventory(gone), policy=policy_file)
    assert subject(report, "gone").verdict is Verdict.ERROR
    assert report.verdict is Verdict.ERROR


def test_nothing_to_audit_is_incomplete_never_pass(policy_file: Path) -> None:
    report = evaluate(inventory(), policy=policy_file)
    assert subject(report, ACCOUNT).verdict is Verdict.PASS
    assert report.verdict is Verdict.INCOMPLETE
    assert [f.message for f in report.findings] == ["no bucket to audit: none named, and none the credentials can list"]


def test_unknown_account_id_errors_the_controls_that_need_it(policy_file: Path) -> None:
    acct = account().model_copy(update={"account_id": None, "errors": {
        "account_id": CallError(api="GetCallerIdentity", code="ExpiredToken", category="denied")}})
    report = evaluate(inventory(secure_bucket(), acct=acct), policy=policy_file)
    s = subject(report, "bkt")
    assert finding_kinds(s) == {"error": {"s3_bucket_cross_account_admin_actions", "s3_bucket_external_principals"}}
    assert subject(report, "unknown-account").verdict is Verdict.ERROR


def test_check_crash_is_an_error(policy_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgate.gates.s3_audit.checks import get_check

    def boom(self: Any, ctx: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(type(get_check("s3_bucket_sse_kms")), "execute", boom)
    s = subject(evaluate(inventory(secure_bucket()), policy=policy_file), "bkt")
    assert s.verdict is Verdict.ERROR
    assert "check crashed" in s.findings[0].message


def test_exceptions_waive_until_they_expire(tmp_path: Path) -> None:
    bad = secure_bucket(versioning={"Status": "Enabled"})  # MFA delete off: S3.20, low
    today = dt.date.today()
    strict = write_policy(tmp_path / "strict.yaml", block_severity="low")
    assert failing_controls(subject(evaluate(inventory(bad), policy=strict), "bkt")) == {"S3.20"}
    assert evaluate(inventory(bad), policy=strict).verdict is Verdict.FAIL

    exc = {"id": "EXC-1", "rule": "s3_bucket_mfa_delete", "subject": "bk*", "reason": "root MFA device pending",
           "owner": "platform@example.com", "expires": today + dt.timedelta(days=30)}
    waived = evaluate(inventory(bad), policy=write_policy(tmp_path / "w.yaml", exceptions=[exc], block_severity="low"))
    assert waived.verdict is Verdict.PASS
    assert waived.summary.waived == 1
    (f,) = subject(waived, "bkt").findings
    assert f.waived is not None
    assert f.waived.exception_id == "EXC-1"
    assert not f.blocking

    expired = {**exc, "expires": today - dt.timedelta(days=1)}
    rep = evaluate(inventory(bad), policy=write_policy(tmp_path / "e.yaml", exceptions=[expired], block_severity="low"))
    assert rep.verdict is Verdict.FAIL
    assert any("EXC-1" in n and "expired" in n for n in rep.notes)

    other_bucket = {**exc, "subject": "prod-*"}
    rep = evaluate(inventory(bad), policy=write_policy(tmp_path / "o.yaml", exceptions=[other_bucket],
                                                       block_severity="low"))
    assert rep.verdict is Verdict.FAIL


def test_severity_overrides_and_setting_validation(tmp_path: Path) -> None:
    bad = secure_bucket(versioning={"Status": "Enabled"})
    pol = write_policy(tmp_path / "p.yaml", {"severity": {"s3_bucket_mfa_delete": "high"}})
    assert evaluate(inventory(bad), policy=pol).verdict is Verdict.FAIL
    with pytest.raises(PolicyError, match="unknown check id"):
        evaluate(inventory(bad), policy=write_policy(tmp_path / "x.yaml", {"severity": {"s3_nope": "low"}}))
    with pytest.raises(PolicyError, match="every principal"):
        evaluate(inventory(bad), policy=write_policy(tmp_path / "y.yaml", {
            "pipeline_principals": [{"principal": "*", "reason": "everyone may write"}]}))
    with pytest.raises(PolicyError, match=r"gates\.s3-audit\.pipeline_principals"):
        evaluate(inventory(bad), policy=write_policy(tmp_path / "z.yaml", {
            "pipeline_principals": [{"principal": PIPELINE_ROLE}]}))
    with pytest.raises(PolicyError, match="Extra inputs"):
        evaluate(inventory(bad), policy=write_policy(tmp_path / "q.yaml", {"bukets": ["x"]}))


def test_shipped_policy_settings_validate() -> None:
    repo = Path(__file__).resolve().parents[2]
    S3AuditConfig.model_validate(load_policy(repo / "policies" / "default.yaml").doc.gates.get("s3-audit", {}))


def test_access_points_and_mraps_become_subjects(policy_file: Path) -> None:
    ap = AccessPointInventory(name="ap", arn=f"arn:aws:s3:us-east-1:{ACCOUNT}:accesspoint/ap", bucket="bkt",
                              account_id=ACCOUNT, network_origin="VPC", vpc_id="vpc-1",
                              public_access_block=PublicAccessBlock.all_on())
    mrap = MultiRegionAccessPointInventory(name="mr", alias="mr.mrap", arn=f"arn:aws:s3::{ACCOUNT}:accesspoint/mr.mrap",
                                           account_id=ACCOUNT, regions=(MrapRegion(bucket="bkt"),),
                                           public_access_block=OFF)
    report = evaluate(inventory(secure_bucket(), access_points=(ap,), multi_region_access_points=(mrap,)),
                      policy=policy_file)
    assert subject(report, ap.arn).verdict is Verdict.PASS
    assert subject(report, ap.arn).kind == "access-point"
    m = subject(report, mrap.arn)
    assert m.verdict is Verdict.FAIL
    assert failing_controls(m) == {"S3.24"}
    assert {s.kind for s in report.subjects} == {"account", "bucket", "access-point", "multi-region-access-point"}


def test_evaluation_is_pure() -> None:
    inv = inventory(secure_bucket(policy=with_statements(stmt())))
    a = evaluate_inventory(inv, config())
    b = evaluate_inventory(inv, config())
    assert [(s.subject, s.findings) for s in a.subjects] == [(s.subject, s.findings) for s in b.subjects]
    assert check_ids()  # loaded once, cached
