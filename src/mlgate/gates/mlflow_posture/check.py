"""The unit of the MLflow posture audit: one check = one folder ``checks/<id>/`` holding ``<id>.py``
(a :class:`Check` subclass named ``<id>``) and ``<id>.metadata.json`` (validated when the class is
defined: id == folder == module == class). A check is a pure function of the
:class:`~mlgate.gates.mlflow_posture.inventory.ServerInventory`; it never sends a request.

``requires`` names the inventory fields the check reads; the runner turns a field that could not
be collected into an ``error`` or ``unsupported`` finding for that check, so no check ever judges
a half-collected server. The machinery (loading, discovery, the runner's rules, results as
findings) is :mod:`mlgate.checks`, shared with the S3 audit; this module holds what is the
posture audit's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from mlgate import checks as framework
from mlgate.checks import CheckLoadError, StrictModel
from mlgate.gates.mlflow_posture.inventory import FIELDS, ServerInventory
from mlgate.model import Severity

if TYPE_CHECKING:  # pragma: no cover
    from mlgate.gates.mlflow_posture.advisories import AdvisoryTable
    from mlgate.gates.mlflow_posture.config import MlflowPostureConfig

__all__ = ["Check", "CheckContext", "CheckLoadError", "CheckMetadata", "CheckResult", "Remediation"]


class Remediation(StrictModel):
    text: str = Field(min_length=10)
    setting: str = Field(min_length=3, description="The exact server flag, environment variable or setting")


class CheckMetadata(framework.CheckMetadata):
    id_prefix: ClassVar[str] = "mlflow_"

    scope: Literal["outside", "server"]
    remediation: Remediation
    advisories: tuple[str, ...] = Field(default=(), description="Advisory ids this check guards against")

    @property
    def remediation_text(self) -> str:
        return f"{self.remediation.text}\nSetting: {self.remediation.setting}"


Status = Literal["pass", "fail", "unsupported", "info", "loopback", "loopback-anonymous"]


@dataclass(frozen=True)
class CheckResult:
    """``loopback``/``loopback-anonymous``: cannot be judged on a loopback URL; the runner reports it
    as the policy's ``loopback``/``loopback_anonymous`` outcome (info, incomplete or fail)."""

    status: Status
    message: str
    member: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # overrides the check's severity (e.g. an advisory's own)


@dataclass(frozen=True)
class CheckContext:
    config: MlflowPostureConfig
    inventory: ServerInventory
    advisories: AdvisoryTable | None


class Check(framework.Check[CheckContext, CheckResult]):
    metadata: ClassVar[CheckMetadata]
    metadata_model = CheckMetadata
    result_type = CheckResult
    requires: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _validate(cls, meta: CheckMetadata) -> None:
        unknown = set(cls.requires) - set(FIELDS)
        if unknown:
            raise CheckLoadError(f"check {cls.__name__}: requires unknown inventory fields {sorted(unknown)}")
