"""The IAM bucket-policy evaluator: statement by statement, conditions included."""

from __future__ import annotations

import pytest
from tests.s3_audit.s3audit_helpers import ACCOUNT, OTHER, PIPELINE_ROLE, policy_doc, stmt

from mlgate.gates.s3_audit.policy_eval import (
    OBJECT_READ_ACTIONS,
    PolicyParseError,
    ResourceScope,
    WhoKind,
    audience,
    glob_covers_prefix,
    glob_match,
    glob_may_match_prefix,
    grants,
    is_tls_deny,
    parse_policy,
)

SCOPE = ResourceScope.bucket("bkt")


def one(s: dict[str, object]):  # type: ignore[no-untyped-def]
    return parse_policy(policy_doc(s)).statements[0]


@pytest.mark.parametrize(
    ("pattern", "value", "ok"),
    [
        ("s3:Get*", "s3:GetObject", True),
        ("s3:get*", "s3:GetObject", False),  # case-sensitive unless asked
        ("arn:aws:s3:::b/[x]*", "arn:aws:s3:::b/[x]y", True),  # '[' is literal in IAM
        ("arn:aws:s3:::b/?", "arn:aws:s3:::b/ab", False),
    ],
)
def test_glob_match(pattern: str, value: str, ok: bool) -> None:
    assert glob_match(pattern, value) is ok


@pytest.mark.parametrize(
    ("pattern", "prefix", "may", "covers"),
    [
        ("arn:aws:s3:::bkt/*", "arn:aws:s3:::bkt/models/", True, True),
        ("arn:aws:s3:::bkt/models/*", "arn:aws:s3:::bkt/models/", True, True),
        ("arn:aws:s3:::bkt/models/*", "arn:aws:s3:::bkt/", True, False),
        ("arn:aws:s3:::bkt/data/*", "arn:aws:s3:::bkt/models/", False, False),
        ("arn:aws:s3:::bkt/*/weights.bin", "arn:aws:s3:::bkt/models/", True, False),
        ("arn:aws:s3:::bkt/models/v?/*", "arn:aws:s3:::bkt/models/", True, False),
        ("*", "arn:aws:s3:::bkt/models/", True, True),
        ("arn:aws:s3:::bkt", "arn:aws:s3:::bkt/", False, False),
        ("arn:aws:s3:::bk*", "arn:aws:s3:::bkt/models/", True, True),
    ],
)
def test_prefix_intersection_and_cover(pattern: str, prefix: str, may: bool, covers: bool) -> None:
    assert glob_may_match_prefix(pattern, prefix) is may
    assert glob_covers_prefix(pattern, prefix) is covers


def test_wildcard_principal_is_public() -> None:
    assert audience(one(stmt(principal="*"))).public
    assert audience(one(stmt(principal={"AWS": "*"}))).public
    assert audience(one(stmt(principal={"AWS": "arn:aws:iam::*:root"}))).public


@pytest.mark.parametrize(
    "condition",
    [
        {"StringLike": {"aws:Referer": ["https://example.com/*"]}},
        {"StringEquals": {"aws:UserAgent": "pipeline/1.0"}},
        {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
        {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::/0"]}},
        {"IpAddress": {"aws:SourceIp": "0.0.0.0/4"}},
        {"StringEqualsIfExists": {"aws:PrincipalAccount": ACCOUNT}},  # anonymous callers skip it
        {"StringNotEquals": {"aws:PrincipalAccount": OTHER}},
        {"StringLike": {"aws:PrincipalOrgID": "o-*"}},
        {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/ml-pipeline"}},
        {"Null": {"aws:SourceVpce": "false"}},
        {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}},
        {"Bool": {"aws:SecureTransport": "true"}},
    ],
)
def test_conditions_that_do_not_restrict_leave_it_public(condition: dict[str, object]) -> None:
    aud = audience(one(stmt(condition=condition)))
    assert aud.public, condition
    assert aud.non_restricting
    assert not aud.restrictions


@pytest.mark.parametrize(
    ("condition", "kind", "value"),
    [
        ({"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c"}}, WhoKind.NETWORK, None),
        ({"StringEquals": {"aws:SourceVpc": "vpc-111"}}, WhoKind.NETWORK, None),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, WhoKind.NETWORK, None),
        ({"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}, WhoKind.ORG, "o-abcdefghij"),
        ({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}, WhoKind.ACCOUNT, ACCOUNT),
        ({"StringEquals": {"s3:DataAccessPointAccount": ACCOUNT}}, WhoKind.ACCOUNT, ACCOUNT),
        ({"ArnEquals": {"aws:PrincipalArn": PIPELINE_ROLE}}, WhoKind.PRINCIPAL, PIPELINE_ROLE),
        ({"StringLike": {"aws:userid": "AROAEXAMPLEID:*"}}, WhoKind.NETWORK, None),
    ],
)
def test_real_restrictions_narrow_the_audience(condition: dict[str, object], kind: WhoKind, value: str | None) -> None:
    aud = audience(one(stmt(condition=condition)))
    assert not aud.public
    assert {w.kind for w in aud.who} == {kind}
    if value is not None:
        assert {w.value for w in aud.who} == {value}


def test_restriction_and_spoofable_condition_together_restrict() -> None:
    cond = {"StringLike": {"aws:Referer": "x"}, "StringEquals": {"aws:SourceVpce": "vpce-1"}}
    aud = audience(one(stmt(condition=cond)))
    assert not aud.public
    assert any("aws:referer" in c for c in aud.non_restricting)


def test_not_principal_allow_is_public_and_service_binds_to_source_account() -> None:
    s = {"Effect": "Allow", "NotPrincipal": {"AWS": PIPELINE_ROLE}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::bkt/*"}
    assert audience(one(s)).public
    svc = one(stmt(principal={"Service": "logging.s3.amazonaws.com"},
                   condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}}))
    (who,) = audience(svc).who
    assert (who.kind, who.value, who.account) == (WhoKind.SERVICE, "logging.s3.amazonaws.com", ACCOUNT)


def test_principal_arn_condition_intersects_an_account_principal() -> None:
    s = one(stmt(principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                 condition={"ArnLike": {"aws:PrincipalArn": [PIPELINE_ROLE, f"arn:aws:iam::{OTHER}:role/x"]}}))
    assert {w.value for w in audience(s).who} == {PIPELINE_ROLE}


def test_not_action_and_not_resource() -> None:
    na = parse_policy(policy_doc({"Effect": "Allow", "Principal": "*", "NotAction": "s3:DeleteBucket",
                                  "Resource": "*"}))
    assert [g.actions for g in grants(na, SCOPE, OBJECT_READ_ACTIONS)] == [OBJECT_READ_ACTIONS]
    assert not grants(na, SCOPE, ["s3:DeleteBucket"])
    nr = parse_policy(policy_doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                  "NotResource": "arn:aws:s3:::bkt/public/*"}))
    assert grants(nr, SCOPE, ["s3:GetObject"], ["models/"])  # models/ is not excluded
    assert not grants(nr, SCOPE, ["s3:GetObject"], ["public/"])  # everything under public/ is excluded


def test_object_actions_need_object_resources() -> None:
    p = parse_policy(policy_doc(stmt(action="s3:*", resource="arn:aws:s3:::bkt")))
    assert [g.actions for g in grants(p, SCOPE, ["s3:GetObject", "s3:ListBucket"])] == [("s3:ListBucket",)]


@pytest.mark.parametrize(
    ("statement", "ok"),
    [
        (stmt("Deny", action="s3:*", resource=["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"],
              condition={"Bool": {"aws:SecureTransport": "false"}}), True),
        (stmt("Deny", action="*", resource="arn:aws:s3:::bkt*",
              condition={"Bool": {"aws:SecureTransport": False}}), True),
        # only PutObject: does not count
        (stmt("Deny", action="s3:PutObject", resource=["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"],
              condition={"Bool": {"aws:SecureTransport": "false"}}), False),
        # only the objects
        (stmt("Deny", action="s3:*", resource="arn:aws:s3:::bkt/*",
              condition={"Bool": {"aws:SecureTransport": "false"}}), False),
        # a second condition narrows the deny
        (stmt("Deny", action="s3:*", resource=["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"],
              condition={"Bool": {"aws:SecureTransport": "false"},
                         "StringNotEquals": {"aws:SourceVpce": "vpce-1"}}), False),
        # not everyone
        (stmt("Deny", principal={"AWS": f"arn:aws:iam::{OTHER}:root"}, action="s3:*",
              resource=["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"],
              condition={"Bool": {"aws:SecureTransport": "false"}}), False),
        # an Allow is never a TLS deny
        (stmt("Allow", action="s3:*", resource=["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"],
              condition={"Bool": {"aws:SecureTransport": "true"}}), False),
    ],
)
def test_tls_deny(statement: dict[str, object], ok: bool) -> None:
    assert is_tls_deny(one(statement), SCOPE) is ok


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ("{not json", "not JSON"),
        ({"Statement": []}, "non-empty"),
        ({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}, "Effect"),
        ({"Statement": [{"Effect": "Allow", "Principal": "*", "Resource": "*"}]}, "Action"),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}, "Principal"),
        ({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*",
                         "Condition": {"Bogus Op": {}}}]}, "operator"),
    ],
)
def test_malformed_policies_are_refused(doc: object, match: str) -> None:
    with pytest.raises(PolicyParseError, match=match):
        parse_policy(doc)  # type: ignore[arg-type]


def test_single_statement_object_is_accepted() -> None:
    p = parse_policy({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                    "Resource": "arn:aws:s3:::bkt/*"}})
    assert len(p.statements) == 1
    assert p.statements[0].label == "Statement[0]"
