"""Shared, pure analyses that several checks build on: who is outside the account, what is
public after the public-access blocks, which ACL grants matter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlgate.gates.s3_audit.check import CheckContext
from mlgate.gates.s3_audit.inventory import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    Acl,
    AclGrant,
    PublicAccessBlock,
)
from mlgate.gates.s3_audit.policy_eval import (
    Grant,
    PolicyDocument,
    ResourceScope,
    Who,
    WhoKind,
    glob_match,
    grants,
)

READ_PERMISSIONS = ("READ", "READ_ACP", "FULL_CONTROL")
WRITE_PERMISSIONS = ("WRITE", "WRITE_ACP", "FULL_CONTROL")


def artifact_prefixes(ctx: CheckContext) -> tuple[str, ...]:
    """The key prefixes that hold artifacts; ``("",)`` (the whole bucket) when none is set."""
    return tuple(ctx.config.artifact_prefixes) or ("",)


def describe_prefixes(prefixes: Iterable[str]) -> str:
    ps = [p for p in prefixes]
    if ps == [""]:
        return "the whole bucket"
    return ", ".join(f"{p!r}" for p in ps)


def is_external(who: Who, ctx: CheckContext, owner_canonical_id: str | None = None) -> bool:
    """Is this audience member outside the account (and outside ``trusted_accounts``)?"""
    inside = ctx.inside_accounts
    k = who.kind
    if k in (WhoKind.ANYONE, WhoKind.NETWORK, WhoKind.FEDERATED, WhoKind.GROUP):
        return True
    if k is WhoKind.ACCOUNT:
        return who.value not in inside
    if k in (WhoKind.PRINCIPAL, WhoKind.SERVICE):
        return who.account is None or who.account not in inside
    if k is WhoKind.ORG:
        return who.value not in ctx.config.trusted_org_ids
    if k is WhoKind.CANONICAL:
        return owner_canonical_id is None or who.value != owner_canonical_id
    return True  # pragma: no cover - every kind is handled above


def acl_grantee(g: AclGrant) -> Who:
    if g.grantee_type == "CanonicalUser":
        return Who(WhoKind.CANONICAL, g.grantee)
    if g.grantee_type == "Group":
        if g.grantee in (ALL_USERS, AUTHENTICATED_USERS):
            return Who(WhoKind.ANYONE, g.grantee.rsplit("/", 1)[-1])
        return Who(WhoKind.GROUP, g.grantee)
    return Who(WhoKind.PRINCIPAL, g.grantee)  # e-mail grantee: another account


@dataclass(frozen=True)
class PublicExposure:
    """Public grants of one kind, split into those in force and those neutralised by a public
    access block."""

    policy: tuple[Grant, ...]
    acl: tuple[AclGrant, ...]
    neutralised_policy: tuple[Grant, ...]
    neutralised_acl: tuple[AclGrant, ...]
    account_pab_unknown: bool

    @property
    def any(self) -> bool:
        return bool(self.policy or self.acl)


def public_exposure(
    ctx: CheckContext,
    policy: PolicyDocument | None,
    scope: ResourceScope,
    own_pab: PublicAccessBlock | None,
    actions: Iterable[str],
    *,
    acl: Acl | None = None,
    permissions: Iterable[str] = (),
    prefixes: Iterable[str] = ("",),
) -> PublicExposure:
    """Policy statements and ACL grants that make ``actions`` public. ``RestrictPublicBuckets``
    (resource or account) neutralises public policies, ``IgnorePublicAcls`` public ACLs. An
    account block that could not be read neutralises nothing (fail closed)."""
    pol: list[Grant] = []
    if policy is not None:
        pol = [g for g in grants(policy, scope, actions, prefixes, ctx.config.weak_ipv4_prefix) if g.audience.public]
    perms = set(permissions)
    acls = [g for g in (acl.grants if acl else ()) if g.is_public and g.permission in perms]
    restrict = ctx.effective_flag(own_pab, "restrict_public_buckets")
    ignore = ctx.effective_flag(own_pab, "ignore_public_acls")
    return PublicExposure(
        policy=() if restrict else tuple(pol),
        acl=() if ignore else tuple(acls),
        neutralised_policy=tuple(pol) if restrict else (),
        neutralised_acl=tuple(acls) if ignore else (),
        account_pab_unknown=not ctx.account_pab_known,
    )


def allowlisted(principal: str, ctx: CheckContext) -> bool:
    return any(glob_match(t.principal, principal) for t in ctx.config.pipeline_principals)


def grant_summary(g: Grant) -> str:
    acts = ", ".join(g.actions[:4]) + (" ..." if len(g.actions) > 4 else "")
    who = ", ".join(sorted(str(w) for w in g.audience.who)) or "nobody"
    return f"{g.statement.label} allows {acts} to {who}"
