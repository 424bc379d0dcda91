"""An IAM resource-policy evaluator for S3 bucket, access-point and multi-region access point
policies. Pure functions of the policy document: no AWS call, no trust in
``GetBucketPolicyStatus`` (moto reports ``IsPublic=False`` for any policy with a condition, and
AWS's own answer says nothing about *who* the audience is).

What it answers, statement by statement:

* **who** a statement reaches (:func:`audience`): the principals (``Principal`` / ``NotPrincipal``)
  narrowed by the conditions that *really* restrict the caller (``aws:PrincipalArn``,
  ``aws:PrincipalAccount``, ``aws:PrincipalOrgID``, ``aws:SourceAccount``, ``aws:SourceArn``,
  ``aws:SourceVpce``, ``aws:SourceVpc``, a narrow ``aws:SourceIp``, ``s3:DataAccessPointAccount``
  ...). Conditions that anyone can satisfy (``aws:Referer``, ``aws:UserAgent``,
  ``aws:SourceIp 0.0.0.0/0``, ``...IfExists``, negated operators, wildcard-only values) do not
  narrow anything: a wildcard principal behind them stays public;
* **which actions** it reaches (``Action`` / ``NotAction``, with ``*`` and ``?`` wildcards, case
  insensitive);
* **which resources** it reaches (``Resource`` / ``NotResource``): whether it *may* apply to some
  key under a prefix (for Allow: over-approximated, so exposure is never missed) and whether it
  *covers every* key under a prefix (for Deny: under-approximated, so a guard is never assumed).

Everything errs on the side that reports a problem: an Allow is assumed to reach what it might
reach, a Deny is only credited with what it certainly covers.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

# ---------------------------------------------------------------------------------------------
# Wildcard matching (IAM uses only '*' and '?'; '[' is a literal, unlike fnmatch)
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` any run of characters, ``?`` one character."""
    return _glob_regex(pattern, ignore_case).fullmatch(value) is not None


def _states_after(pattern: str, prefix: str) -> set[int]:
    """Positions in ``pattern`` reachable after consuming ``prefix`` (an NFA over the pattern)."""

    def closure(states: set[int]) -> set[int]:
        out = set(states)
        stack = list(states)
        while stack:
            i = stack.pop()
            if i < len(pattern) and pattern[i] == "*" and i + 1 not in out:
                out.add(i + 1)
                stack.append(i + 1)
        return out

    states = closure({0})
    for ch in prefix:
        nxt: set[int] = set()
        for i in states:
            if i >= len(pattern):
                continue
            p = pattern[i]
            if p == "*":
                nxt.add(i)
            elif p == "?" or p == ch:
                nxt.add(i + 1)
        states = closure(nxt)
        if not states:
            break
    return states


def glob_may_match_prefix(pattern: str, prefix: str) -> bool:
    """True if some string starting with ``prefix`` matches ``pattern``."""
    return bool(_states_after(pattern, prefix))


def glob_covers_prefix(pattern: str, prefix: str) -> bool:
    """True if *every* string starting with ``prefix`` matches ``pattern`` (sound, conservative)."""
    for i in _states_after(pattern, prefix):
        rest = pattern[i:]
        if rest and set(rest) == {"*"}:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Policy documents
# ---------------------------------------------------------------------------------------------


class PolicyParseError(ValueError):
    """The policy document is not a well-formed IAM policy."""


def _as_tuple(v: Any, what: str) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return tuple(v)
    raise PolicyParseError(f"{what} must be a string or a list of strings")


def _cond_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


@dataclass(frozen=True)
class Condition:
    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    base: str  # "StringLike"
    if_exists: bool
    qualifier: str | None  # "ForAnyValue" | "ForAllValues" | None
    key: str  # lower-cased condition key
    values: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.operator} {self.key}={list(self.values)}"


@dataclass(frozen=True)
class Statement:
    index: int
    sid: str | None
    effect: str  # "Allow" | "Deny"
    principal: Mapping[str, tuple[str, ...]] | None
    not_principal: Mapping[str, tuple[str, ...]] | None
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        return f"Statement[{self.index}]" + (f" ({self.sid})" if self.sid else "")

    @property
    def is_allow(self) -> bool:
        return self.effect == "Allow"

    # -- actions -----------------------------------------------------------------------------
    def matches_action(self, action: str) -> bool:
        hit = any(glob_match(p, action, ignore_case=True) for p in self.actions)
        return not hit if self.not_action else hit

    def matches_any_action(self, actions: Iterable[str]) -> list[str]:
        return [a for a in actions if self.matches_action(a)]

    # -- resources ---------------------------------------------------------------------------
    def may_apply_to(self, arn: str) -> bool:
        """Exact resource (a bucket ARN)."""
        hit = any(glob_match(p, arn) for p in self.resources)
        return not hit if self.not_resource else hit

    def may_apply_under(self, arn_prefix: str) -> bool:
        """Some resource starting with ``arn_prefix`` (over-approximation, for Allow)."""
        if self.not_resource:
            return not any(glob_covers_prefix(p, arn_prefix) for p in self.resources)
        return any(glob_may_match_prefix(p, arn_prefix) for p in self.resources)

    def covers(self, arn: str) -> bool:
        return self.may_apply_to(arn)

    def covers_all_under(self, arn_prefix: str) -> bool:
        """Every resource starting with ``arn_prefix`` (under-approximation, for Deny)."""
        if self.not_resource:
            return not any(glob_may_match_prefix(p, arn_prefix) for p in self.resources)
        return any(glob_covers_prefix(p, arn_prefix) for p in self.resources)

    # -- principals --------------------------------------------------------------------------
    @property
    def applies_to_everyone(self) -> bool:
        """Principal is ``*`` (or ``{"AWS": "*"}``) with no NotPrincipal carve-out."""
        if self.principal is None:
            return False
        return "*" in self.principal.get("AWS", ()) or "*" in self.principal.get("*", ())


_OP_RE = re.compile(r"^(?:(ForAnyValue|ForAllValues):)?([A-Za-z]+?)(IfExists)?$")


def _parse_principal(v: Any, what: str) -> dict[str, tuple[str, ...]]:
    if v == "*":
        return {"AWS": ("*",)}
    if not isinstance(v, dict) or not v:
        raise PolicyParseError(f"{what} must be '*' or a non-empty mapping")
    return {str(k): _as_tuple(val, f"{what}.{k}") for k, val in v.items()}


def _parse_conditions(v: Any, what: str) -> tuple[Condition, ...]:
    if v is None:
        return ()
    if not isinstance(v, dict):
        raise PolicyParseError(f"{what} must be a mapping")
    out: list[Condition] = []
    for op, block in v.items():
        m = _OP_RE.match(str(op))
        if not m:
            raise PolicyParseError(f"{what}: unknown condition operator {op!r}")
        if not isinstance(block, dict):
            raise PolicyParseError(f"{what}.{op} must be a mapping of keys to values")
        for key, vals in block.items():
            values = tuple(_cond_value(x) for x in vals) if isinstance(vals, list) else (_cond_value(vals),)
            out.append(
                Condition(
                    operator=str(op), base=m.group(2), if_exists=bool(m.group(3)), qualifier=m.group(1),
                    key=str(key).lower(), values=values,
                )
            )
    return tuple(out)


@dataclass(frozen=True)
class PolicyDocument:
    statements: tuple[Statement, ...]
    raw: Mapping[str, Any] = field(default_factory=dict)

    def allows(self) -> list[Statement]:
        return [s for s in self.statements if s.is_allow]

    def denies(self) -> list[Statement]:
        return [s for s in self.statements if not s.is_allow]


def parse_policy(doc: str | Mapping[str, Any]) -> PolicyDocument:
    """Parse an IAM policy (JSON text or a decoded mapping). Raises :class:`PolicyParseError`."""
    if isinstance(doc, str):
        try:
            data = json.loads(doc)
        except json.JSONDecodeError as e:
            raise PolicyParseError(f"not JSON: {e}") from None
    else:
        data = doc
    if not isinstance(data, Mapping):
        raise PolicyParseError("a policy must be a JSON object")
    stmts = data.get("Statement")
    if isinstance(stmts, Mapping):
        stmts = [stmts]
    if not isinstance(stmts, list) or not stmts:
        raise PolicyParseError("Statement must be a non-empty list")
    out: list[Statement] = []
    for i, st in enumerate(stmts):
        what = f"Statement[{i}]"
        if not isinstance(st, Mapping):
            raise PolicyParseError(f"{what} must be an object")
        effect = st.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyParseError(f"{what}.Effect must be Allow or Deny")
        if ("Action" in st) == ("NotAction" in st):
            raise PolicyParseError(f"{what} needs exactly one of Action / NotAction")
        if ("Resource" in st) == ("NotResource" in st):
            raise PolicyParseError(f"{what} needs exactly one of Resource / NotResource")
        if ("Principal" in st) == ("NotPrincipal" in st):
            raise PolicyParseError(f"{what} needs exactly one of Principal / NotPrincipal")
        not_action = "NotAction" in st
        not_resource = "NotResource" in st
        sid = st.get("Sid")
        out.append(
            Statement(
                index=i,
                sid=str(sid) if sid else None,
                effect=str(effect),
                principal=_parse_principal(st["Principal"], f"{what}.Principal") if "Principal" in st else None,
                not_principal=(
                    _parse_principal(st["NotPrincipal"], f"{what}.NotPrincipal") if "NotPrincipal" in st else None
                ),
                actions=_as_tuple(st["NotAction" if not_action else "Action"], f"{what}.Action"),
                not_action=not_action,
                resources=_as_tuple(st["NotResource" if not_resource else "Resource"], f"{what}.Resource"),
                not_resource=not_resource,
                conditions=_parse_conditions(st.get("Condition"), f"{what}.Condition"),
            )
        )
    return PolicyDocument(statements=tuple(out), raw=dict(data))


# ---------------------------------------------------------------------------------------------
# Audience: who a statement reaches
# ---------------------------------------------------------------------------------------------


class WhoKind(str, Enum):
    ANYONE = "anyone"  # the internet: anonymous or any AWS account
    NETWORK = "network"  # anyone, but only from a network location (VPC endpoint, VPC, IP range)
    ACCOUNT = "account"  # any principal of one account
    PRINCIPAL = "principal"  # one IAM principal (role, user, assumed role)
    SERVICE = "service"  # an AWS service principal (optionally on behalf of one account)
    ORG = "organization"  # any principal of an AWS Organization
    CANONICAL = "canonical-user"
    FEDERATED = "federated"
    GROUP = "acl-group"  # an ACL group (AllUsers, AuthenticatedUsers, LogDelivery)


@dataclass(frozen=True, order=True)
class Who:
    kind: WhoKind
    value: str = ""
    account: str | None = None

    def __str__(self) -> str:
        if self.kind is WhoKind.ANYONE:
            return "*" if not self.value else f"* ({self.value})"
        if self.kind is WhoKind.ACCOUNT:
            return f"arn:aws:iam::{self.value}:root"
        if self.kind is WhoKind.SERVICE and self.account:
            return f"{self.value} (for account {self.account})"
        return self.value

    @property
    def principal_string(self) -> str:
        """What an allowlist entry is matched against."""
        if self.kind is WhoKind.ACCOUNT:
            return f"arn:aws:iam::{self.value}:root"
        if self.kind in (WhoKind.ANYONE, WhoKind.NETWORK):
            return "*"
        return self.value


_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ARN_RE = re.compile(r"^arn:(?P<part>[^:]*):(?P<svc>[^:]*):(?P<region>[^:]*):(?P<acct>[^:]*):(?P<res>.*)$")


def arn_account(arn: str) -> str | None:
    m = _ARN_RE.match(arn)
    if not m:
        return None
    return m.group("acct") or None


def _aws_principal(value: str) -> Who:
    if value == "*":
        return Who(WhoKind.ANYONE)
    if _ACCOUNT_RE.match(value):
        return Who(WhoKind.ACCOUNT, value, value)
    acct = arn_account(value)
    if acct is not None and ("*" in acct or "?" in acct):
        return Who(WhoKind.ANYONE, f"any account: {value}")
    m = _ARN_RE.match(value)
    if m and m.group("res") == "root" and acct:
        return Who(WhoKind.ACCOUNT, acct, acct)
    return Who(WhoKind.PRINCIPAL, value, acct)


def principals_of(principal: Mapping[str, tuple[str, ...]]) -> set[Who]:
    out: set[Who] = set()
    for kind, values in principal.items():
        for v in values:
            if kind in ("AWS", "*"):
                out.add(_aws_principal(v))
            elif kind == "Service":
                out.add(Who(WhoKind.SERVICE, v))
            elif kind == "CanonicalUser":
                out.add(Who(WhoKind.CANONICAL, v))
            elif kind == "Federated":
                out.add(Who(WhoKind.FEDERATED, v))
            else:
                out.add(Who(WhoKind.ANYONE, f"unknown principal type {kind}: {v}"))
    return out


# Condition keys that narrow the caller when given fixed values under a positive operator.
ACCOUNT_KEYS = frozenset({"aws:principalaccount", "aws:sourceaccount", "aws:sourceowner", "s3:dataaccesspointaccount"})
ARN_KEYS = frozenset({"aws:principalarn", "aws:sourcearn", "s3:dataaccesspointarn"})
ORG_KEYS = frozenset({"aws:principalorgid", "aws:principalorgpaths"})
NETWORK_KEYS = frozenset({"aws:sourcevpce", "aws:sourcevpc", "aws:sourceip", "aws:userid", "aws:username"})
RESTRICTING_KEYS = ACCOUNT_KEYS | ARN_KEYS | ORG_KEYS | NETWORK_KEYS
#: Keys any caller controls: never a restriction.
SPOOFABLE_KEYS = frozenset({"aws:referer", "aws:useragent"})
_POSITIVE_OPS = frozenset({"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "IpAddress"})
_LIKE_OPS = frozenset({"StringLike", "ArnLike"})


def _has_wild(s: str) -> bool:
    return "*" in s or "?" in s


def _specific_value(key: str, value: str, op: str) -> bool:
    if not value or set(value) <= {"*", "?"}:
        return False
    if op not in _LIKE_OPS and not op.startswith("Arn"):
        return True  # exact comparison with a fixed value
    if key in ARN_KEYS:
        m = _ARN_RE.match(value)
        if not m:
            return False
        acct = m.group("acct")
        if acct:
            return not _has_wild(acct)
        # ARNs without an account (S3 buckets): the resource part must be fixed up to a name
        res = m.group("res")
        return bool(res) and not _has_wild(res.split("/")[0])
    if key == "aws:principalorgpaths":
        return not _has_wild(value.split("/")[0])
    if key == "aws:userid":
        head = value.split(":")[0]
        return bool(head) and not _has_wild(head)
    return not _has_wild(value)


def restricting_values(cond: Condition, weak_ipv4_prefix: int = 8) -> tuple[str, ...] | None:
    """The values a condition really restricts the caller to, or None if anyone can satisfy it."""
    if cond.key not in RESTRICTING_KEYS:
        return None
    if cond.if_exists or cond.qualifier == "ForAllValues":
        return None  # vacuously true when the key is absent (anonymous callers, other services)
    if cond.base not in _POSITIVE_OPS:
        return None  # negations and Null checks admit the rest of the world
    if cond.key == "aws:sourceip":
        if cond.base != "IpAddress":
            return None
        for v in cond.values:
            try:
                net = ipaddress.ip_network(v, strict=False)
            except ValueError:
                return None
            limit = weak_ipv4_prefix if net.version == 4 else weak_ipv4_prefix * 4
            if net.prefixlen < limit:
                return None
        return cond.values
    if cond.base == "IpAddress":
        return None
    if not all(_specific_value(cond.key, v, cond.base) for v in cond.values):
        return None
    return cond.values


@dataclass(frozen=True)
class Audience:
    """Who one statement reaches after its conditions."""

    who: frozenset[Who]
    restrictions: tuple[str, ...] = ()  # condition labels that narrowed the audience
    non_restricting: tuple[str, ...] = ()  # condition labels that did not

    @property
    def public(self) -> bool:
        return any(w.kind is WhoKind.ANYONE for w in self.who)


def _narrow(who: set[Who], cond: Condition, values: tuple[str, ...]) -> set[Who]:
    out: set[Who] = set()
    key = cond.key
    for w in who:
        broad = w.kind in (WhoKind.ANYONE, WhoKind.NETWORK)
        if key in ACCOUNT_KEYS:
            if broad or w.kind is WhoKind.ORG:
                out.update(Who(WhoKind.ACCOUNT, v, v) for v in values)
            elif w.kind is WhoKind.SERVICE:
                out.update(Who(WhoKind.SERVICE, w.value, v) for v in values)
            elif w.account is None or w.account in values:
                out.add(w)
        elif key in ARN_KEYS:
            for v in values:
                acct = arn_account(v)
                if key == "aws:principalarn":
                    cand = _aws_principal(v)
                    if broad or w.kind is WhoKind.ORG or (w.kind is WhoKind.ACCOUNT and cand.account == w.value):
                        out.add(cand)
                    elif w.kind is WhoKind.PRINCIPAL and glob_match(v, w.value):
                        out.add(w)
                elif w.kind is WhoKind.SERVICE:
                    out.add(Who(WhoKind.SERVICE, w.value, acct))
                elif broad:
                    out.add(Who(WhoKind.ACCOUNT, acct, acct) if acct else Who(WhoKind.NETWORK, f"{key}={v}"))
                else:
                    out.add(w)
        elif key in ORG_KEYS:
            if broad:
                out.update(Who(WhoKind.ORG, v.split("/")[0]) for v in values)
            else:
                out.add(w)
        else:  # network location / user id
            if w.kind is WhoKind.ANYONE:
                out.add(Who(WhoKind.NETWORK, f"{cond.key}={list(values)}"))
            else:
                out.add(w)
    return out


def audience(stmt: Statement, weak_ipv4_prefix: int = 8) -> Audience:
    if stmt.not_principal is not None:
        who: set[Who] = {Who(WhoKind.ANYONE, "NotPrincipal")}
    else:
        who = principals_of(stmt.principal or {})
    restrictions: list[str] = []
    others: list[str] = []
    for cond in stmt.conditions:
        vals = restricting_values(cond, weak_ipv4_prefix)
        if vals is None:
            others.append(cond.label)
            continue
        restrictions.append(cond.label)
        who = _narrow(who, cond, vals)
    return Audience(frozenset(who), tuple(restrictions), tuple(others))


# ---------------------------------------------------------------------------------------------
# Actions and resources of S3
# ---------------------------------------------------------------------------------------------

READ_ACTIONS = (
    "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions",
    "s3:GetObjectAcl", "s3:GetBucketAcl", "s3:GetBucketPolicy",
)
OBJECT_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
WRITE_ACTIONS = (
    "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:PutObjectVersionAcl",
    "s3:RestoreObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:BypassGovernanceRetention",
    "s3:PutBucketAcl", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:DeleteBucket",
    "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning", "s3:PutReplicationConfiguration",
    "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketObjectLockConfiguration",
)
#: Security Hub S3.6: the admin actions that must not be granted to other accounts.
ADMIN_ACTIONS = (
    "s3:DeleteBucketPolicy", "s3:PutBucketAcl", "s3:PutBucketPolicy", "s3:PutEncryptionConfiguration",
    "s3:PutObjectAcl",
)
#: Object write/delete: what can swap or destroy a model.
OBJECT_WRITE_ACTIONS = (
    "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:PutObjectVersionAcl",
    "s3:RestoreObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:BypassGovernanceRetention",
)

_OBJECT_LEVEL_EXTRA = frozenset({"s3:restoreobject", "s3:abortmultipartupload", "s3:listmultipartuploadparts",
                                 "s3:bypassgovernanceretention"})


def is_object_action(action: str) -> bool:
    a = action.lower()
    return a in _OBJECT_LEVEL_EXTRA or ("object" in a and "bucketobjectlock" not in a)


@dataclass(frozen=True)
class ResourceScope:
    """The resource a policy is attached to. For a bucket ``base`` is ``arn:aws:s3:::name`` and
    objects are ``base/key``; for an access point objects are ``base/object/key``."""

    base: str
    object_separator: str = "/"

    @staticmethod
    def bucket(name: str, partition: str = "aws") -> ResourceScope:
        return ResourceScope(f"arn:{partition}:s3:::{name}", "/")

    @staticmethod
    def access_point(arn: str) -> ResourceScope:
        return ResourceScope(arn, "/object/")

    def object_prefix(self, key_prefix: str = "") -> str:
        return self.base + self.object_separator + key_prefix

    def may_grant(self, stmt: Statement, action: str, key_prefix: str = "") -> bool:
        """Over-approximation: the statement may apply to ``action`` on this resource (for object
        actions: on some key under ``key_prefix``)."""
        if not stmt.matches_action(action):
            return False
        if is_object_action(action):
            return stmt.may_apply_under(self.object_prefix(key_prefix))
        return stmt.may_apply_to(self.base)

    def covers(self, stmt: Statement, action: str, key_prefix: str = "") -> bool:
        """Under-approximation: the statement certainly applies to ``action`` on every key under
        ``key_prefix`` (object actions) or on the bucket itself."""
        if not stmt.matches_action(action):
            return False
        if is_object_action(action):
            return stmt.covers_all_under(self.object_prefix(key_prefix))
        return stmt.covers(self.base)


@dataclass(frozen=True)
class Grant:
    """One statement granting one or more actions to an audience."""

    statement: Statement
    audience: Audience
    actions: tuple[str, ...]

    @property
    def member(self) -> str:
        return f"policy:{self.statement.label}"


def grants(
    policy: PolicyDocument,
    scope: ResourceScope,
    actions: Iterable[str],
    key_prefixes: Iterable[str] = ("",),
    weak_ipv4_prefix: int = 8,
) -> list[Grant]:
    """Allow statements that may grant any of ``actions`` on the resource (object actions: under
    any of ``key_prefixes``), with the audience each reaches."""
    acts = tuple(actions)
    prefixes = tuple(key_prefixes) or ("",)
    out: list[Grant] = []
    for st in policy.allows():
        hit = tuple(a for a in acts if any(scope.may_grant(st, a, p) for p in prefixes))
        if hit:
            out.append(Grant(st, audience(st, weak_ipv4_prefix), hit))
    return out


def is_tls_deny(stmt: Statement, scope: ResourceScope) -> bool:
    """Security Hub S3.5: Deny, everyone, ``s3:*`` (or ``*``), bucket and every object, with the
    single condition ``aws:SecureTransport = false`` (any other condition would narrow the deny)."""
    if stmt.is_allow or not stmt.applies_to_everyone or stmt.not_action:
        return False
    if not any(p in ("*", "s3:*") for p in (a.lower() for a in stmt.actions)):
        return False
    if not (stmt.covers(scope.base) and stmt.covers_all_under(scope.object_prefix())):
        return False
    if len(stmt.conditions) != 1:
        return False
    c = stmt.conditions[0]
    return c.base == "Bool" and c.qualifier is None and c.key == "aws:securetransport" and c.values == ("false",)
