"""The unit of the S3 audit: one check = one folder ``checks/<id>/`` holding ``<id>.py`` (a
:class:`Check` subclass named ``<id>``) and ``<id>.metadata.json`` (validated by
:class:`CheckMetadata` when the class is defined; id == folder == module == class, or the import
fails). A check is a pure function of the inventory: :meth:`Check.execute` gets a
:class:`CheckContext` and returns :class:`CheckResult` s; it never calls AWS. The machinery
(loading, discovery, the runner's rules, results as findings) is :mod:`mlgate.checks`, shared
with the MLflow posture audit; this module holds what is the S3 audit's own.

``requires`` names the inventory fields the check reads. The runner (not the check) turns a
required field that could not be collected into an ``error`` or ``unsupported`` finding for the
check's controls, so no check ever evaluates a half-collected resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from mlgate import checks as framework
from mlgate.checks import CheckLoadError, StrictModel
from mlgate.gates.s3_audit.inventory import (
    ACCESS_POINT_FIELDS,
    ACCOUNT_FIELDS,
    BUCKET_FIELDS,
    MRAP_FIELDS,
    AccessPointInventory,
    AccountInventory,
    BucketInventory,
    MultiRegionAccessPointInventory,
    PublicAccessBlock,
)
from mlgate.gates.s3_audit.policy_eval import PolicyDocument

if TYPE_CHECKING:  # pragma: no cover
    from mlgate.gates.s3_audit.config import S3AuditConfig

ResourceType = Literal["account", "bucket", "access-point", "multi-region-access-point"]
RESOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "account": ACCOUNT_FIELDS,
    "bucket": BUCKET_FIELDS,
    "access-point": ACCESS_POINT_FIELDS,
    "multi-region-access-point": MRAP_FIELDS,
}
_CONTROL = re.compile(r"^(S3|ML)\.\d+$")

__all__ = ["Check", "CheckContext", "CheckLoadError", "CheckMetadata", "CheckResult", "Remediation"]


class Remediation(StrictModel):
    text: str = Field(min_length=10)
    cli: str = Field(min_length=5, description="The AWS CLI command that fixes it")
    terraform: str = Field(min_length=10, description="A Terraform snippet that fixes it")


class CheckMetadata(framework.CheckMetadata):
    id_prefix: ClassVar[str] = "s3_"

    resource_type: ResourceType
    controls: tuple[str, ...] = Field(min_length=1)
    remediation: Remediation

    @field_validator("controls")
    @classmethod
    def _controls(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in v if not _CONTROL.match(c)]
        if bad:
            raise ValueError(f"control ids look like S3.5 or ML.3: {bad}")
        return v

    @property
    def remediation_text(self) -> str:
        r = self.remediation
        return f"{r.text}\nCLI: {r.cli}\nTerraform:\n{r.terraform}"


Status = Literal["pass", "fail", "unsupported"]


@dataclass(frozen=True)
class CheckResult:
    status: Status
    message: str
    member: str | None = None  # where in the configuration: "policy:Statement[2]", "acl:AllUsers:WRITE"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckContext:
    """What a check sees: the settings, the account, and the one resource it judges."""

    config: S3AuditConfig
    account: AccountInventory
    bucket_: BucketInventory | None = None
    access_point_: AccessPointInventory | None = None
    mrap_: MultiRegionAccessPointInventory | None = None
    #: The resource's policy, parsed once by the runner (None: no policy).
    policy: PolicyDocument | None = None

    @property
    def bucket(self) -> BucketInventory:
        if self.bucket_ is None:  # pragma: no cover - a runner bug
            raise TypeError("not a bucket check context")
        return self.bucket_

    @property
    def access_point(self) -> AccessPointInventory:
        if self.access_point_ is None:  # pragma: no cover
            raise TypeError("not an access point check context")
        return self.access_point_

    @property
    def mrap(self) -> MultiRegionAccessPointInventory:
        if self.mrap_ is None:  # pragma: no cover
            raise TypeError("not a multi-region access point check context")
        return self.mrap_

    @property
    def own_account(self) -> str | None:
        return self.account.account_id

    @property
    def inside_accounts(self) -> frozenset[str]:
        own = {self.account.account_id} if self.account.account_id else set()
        return frozenset(own) | self.config.trusted_account_ids

    @property
    def account_pab(self) -> PublicAccessBlock | None:
        """The account's public access block if it was read (None: not set, or unknown)."""
        if "public_access_block" in self.account.errors:
            return None
        return self.account.public_access_block

    @property
    def account_pab_known(self) -> bool:
        return "public_access_block" in self.account.collected and "public_access_block" not in self.account.errors

    def effective_flag(self, own: PublicAccessBlock | None, flag: str) -> bool:
        """A public-access-block flag in force for a resource: its own setting OR the account's."""
        acct = self.account_pab
        return bool((own is not None and getattr(own, flag)) or (acct is not None and getattr(acct, flag)))


class Check(framework.Check[CheckContext, CheckResult]):
    metadata: ClassVar[CheckMetadata]
    metadata_model = CheckMetadata
    result_type = CheckResult
    #: Fields of the judged resource this check reads (see ``inventory.*_FIELDS``).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Account fields that must be known (e.g. ``account_id`` to tell outside from inside).
    requires_account: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _validate(cls, meta: CheckMetadata) -> None:
        name = cls.__name__
        unknown = set(cls.requires) - set(RESOURCE_FIELDS[meta.resource_type])
        if unknown:
            raise CheckLoadError(f"check {name}: requires unknown {meta.resource_type} fields {sorted(unknown)}")
        bad_acct = set(cls.requires_account) - set(ACCOUNT_FIELDS)
        if bad_acct:
            raise CheckLoadError(f"check {name}: requires unknown account fields {sorted(bad_acct)}")
