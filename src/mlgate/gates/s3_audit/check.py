"""The unit of the S3 audit: one check = one folder ``checks/<id>/`` holding ``<id>.py`` (a
:class:`Check` subclass named ``<id>``) and ``<id>.metadata.json`` (validated by
:class:`CheckMetadata` when the class is defined; id == folder == module == class, or the import
fails). A check is a pure function of the inventory: :meth:`Check.execute` gets a
:class:`CheckContext` and returns :class:`CheckResult` s; it never calls AWS.

``requires`` names the inventory fields the check reads. The runner (not the check) turns a
required field that could not be collected into an ``error`` or ``unsupported`` finding for the
check's controls, so no check ever evaluates a half-collected resource.
"""

from __future__ import annotations

import inspect
import re
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
from mlgate.model import Severity

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
_ID = re.compile(r"^s3_[a-z0-9_]+$")


class CheckLoadError(Exception):
    """A check folder is malformed (name mismatch, invalid metadata)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Remediation(_Strict):
    text: str = Field(min_length=10)
    cli: str = Field(min_length=5, description="The AWS CLI command that fixes it")
    terraform: str = Field(min_length=10, description="A Terraform snippet that fixes it")


class CheckMetadata(_Strict):
    id: str
    title: str = Field(min_length=5)
    resource_type: ResourceType
    controls: tuple[str, ...] = Field(min_length=1)
    severity: Severity
    description: str = Field(min_length=10)
    risk: str = Field(min_length=10)
    remediation: Remediation
    references: tuple[str, ...] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"check ids are snake_case and start with s3_: {v!r}")
        return v

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


def _load_metadata(cls: type[Check]) -> CheckMetadata:
    mod = sys.modules.get(cls.__module__)
    file = getattr(mod, "__file__", None)
    if not file:
        raise CheckLoadError(f"{cls.__module__}: a check must live in a module file")
    path = Path(file)
    name = cls.__name__
    if path.stem != name or path.parent.name != name:
        raise CheckLoadError(
            f"check {name}: id == folder == module == class is required (folder {path.parent.name}, "
            f"module {path.stem})"
        )
    meta_path = path.with_name(f"{name}.metadata.json")
    try:
        meta = CheckMetadata.model_validate_json(meta_path.read_bytes())
    except FileNotFoundError:
        raise CheckLoadError(f"check {name}: {meta_path.name} is missing") from None
    except ValidationError as e:
        raise CheckLoadError(f"check {name}: invalid {meta_path.name}: {e}") from None
    if meta.id != name:
        raise CheckLoadError(f"check {name}: metadata id is {meta.id!r}")
    unknown = set(cls.requires) - set(RESOURCE_FIELDS[meta.resource_type])
    if unknown:
        raise CheckLoadError(f"check {name}: requires unknown {meta.resource_type} fields {sorted(unknown)}")
    bad_acct = set(cls.requires_account) - set(ACCOUNT_FIELDS)
    if bad_acct:
        raise CheckLoadError(f"check {name}: requires unknown account fields {sorted(bad_acct)}")
    return meta


class Check(ABC):
    metadata: ClassVar[CheckMetadata]
    #: Fields of the judged resource this check reads (see ``inventory.*_FIELDS``).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Account fields that must be known (e.g. ``account_id`` to tell outside from inside).
    requires_account: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls):
            cls.metadata = _load_metadata(cls)

    @property
    def id(self) -> str:
        return self.metadata.id

    @abstractmethod
    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        """Judge one resource. Return at least one result (a pass is a result too)."""

    # helpers for subclasses
    @staticmethod
    def passed(message: str, **details: Any) -> list[CheckResult]:
        return [CheckResult("pass", message, details=dict(details))]

    @staticmethod
    def failed(message: str, member: str | None = None, **details: Any) -> CheckResult:
        return CheckResult("fail", message, member, dict(details))
