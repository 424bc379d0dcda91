"""The unit of the MLflow posture audit: one check = one folder ``checks/<id>/`` holding ``<id>.py``
(a :class:`Check` subclass named ``<id>``) and ``<id>.metadata.json`` (validated when the class is
defined: id == folder == module == class). A check is a pure function of the
:class:`~mlgate.gates.mlflow_posture.inventory.ServerInventory`; it never sends a request.

``requires`` names the inventory fields the check reads; the runner turns a field that could not
be collected into an ``error`` or ``unsupported`` finding for that check, so no check ever judges
a half-collected server.
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

from mlgate.gates.mlflow_posture.inventory import FIELDS, ServerInventory
from mlgate.model import Severity

if TYPE_CHECKING:  # pragma: no cover
    from mlgate.gates.mlflow_posture.advisories import AdvisoryTable
    from mlgate.gates.mlflow_posture.config import MlflowPostureConfig

_ID = re.compile(r"^mlflow_[a-z0-9_]+$")


class CheckLoadError(Exception):
    """A check folder is malformed (name mismatch, invalid metadata)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Remediation(_Strict):
    text: str = Field(min_length=10)
    setting: str = Field(min_length=3, description="The exact server flag, environment variable or setting")


class CheckMetadata(_Strict):
    id: str
    title: str = Field(min_length=5)
    scope: Literal["outside", "server"]
    severity: Severity
    description: str = Field(min_length=10)
    risk: str = Field(min_length=10)
    remediation: Remediation
    references: tuple[str, ...] = Field(min_length=1)
    advisories: tuple[str, ...] = Field(default=(), description="Advisory ids this check guards against")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"check ids are snake_case and start with mlflow_: {v!r}")
        return v

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


def _load_metadata(cls: type[Check]) -> CheckMetadata:
    mod = sys.modules.get(cls.__module__)
    file = getattr(mod, "__file__", None)
    if not file:
        raise CheckLoadError(f"{cls.__module__}: a check must live in a module file")
    path = Path(file)
    name = cls.__name__
    if path.stem != name or path.parent.name != name:
        raise CheckLoadError(f"check {name}: id == folder == module == class is required "
                             f"(folder {path.parent.name}, module {path.stem})")
    meta_path = path.with_name(f"{name}.metadata.json")
    try:
        meta = CheckMetadata.model_validate_json(meta_path.read_bytes())
    except FileNotFoundError:
        raise CheckLoadError(f"check {name}: {meta_path.name} is missing") from None
    except ValidationError as e:
        raise CheckLoadError(f"check {name}: invalid {meta_path.name}: {e}") from None
    if meta.id != name:
        raise CheckLoadError(f"check {name}: metadata id is {meta.id!r}")
    unknown = set(cls.requires) - set(FIELDS)
    if unknown:
        raise CheckLoadError(f"check {name}: requires unknown inventory fields {sorted(unknown)}")
    return meta


class Check(ABC):
    metadata: ClassVar[CheckMetadata]
    requires: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls):
            cls.metadata = _load_metadata(cls)

    @property
    def id(self) -> str:
        return self.metadata.id

    @abstractmethod
    def execute(self, ctx: CheckContext) -> list[CheckResult]:
        """Judge the server. Return at least one result (a pass is a result too)."""

    @staticmethod
    def passed(message: str, **details: Any) -> list[CheckResult]:
        return [CheckResult("pass", message, details=dict(details))]

    @staticmethod
    def failed(message: str, member: str | None = None, **details: Any) -> CheckResult:
        return CheckResult("fail", message, member, dict(details))
