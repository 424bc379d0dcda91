"""One check framework for the audit gates (the S3 audit, the MLflow posture audit).

A check is one folder ``checks/<id>/`` holding ``<id>.py`` (a :class:`Check` subclass named
``<id>``) and ``<id>.metadata.json``, validated when the class is defined: id == folder == module
== class, or the import fails. A check is a pure function of its gate's inventory: it gets a
context and returns results; it never calls out.

What every audit gate shares lives here:

* the common part of the metadata schema (:class:`CheckMetadata`) and its loader
  (:func:`load_metadata`);
* the base class (:class:`Check`): metadata loaded at definition, ``requires`` validated against
  the gate's inventory fields, the ``passed``/``failed`` helpers, and :meth:`Check.run`, which
  never lets a check pass by returning nothing;
* discovery (:func:`discover`): every sub-package of a gate's ``checks`` package; a malformed
  folder fails the load, so a security gate never silently runs without one of its checks;
* the runner's rules (:func:`blockers`, :func:`blocked_message`, :func:`crash_result`): a field
  the check reads that could not be collected blocks the check (``error``, or ``unsupported``
  when every blocker is), so no check ever judges a half-collected resource; a check that
  raises is an ``error``, never a pass;
* a result as a finding of the one result model (:func:`to_finding`).

Each gate keeps what is its own: the metadata's gate-specific fields (S3 controls and resource
types, MLflow scopes and advisories), its context, its result statuses and how they map to
finding kinds.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlgate.model import Finding, FindingKind, Location, Severity

CtxT = TypeVar("CtxT")
ResT = TypeVar("ResT", bound="CheckResultLike")
ErrT = TypeVar("ErrT", bound="CollectionError")


class CheckLoadError(Exception):
    """A check folder is malformed (name mismatch, invalid metadata)."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckMetadata(StrictModel):
    """The fields every check's metadata has. A gate subclasses it with its own fields, its own
    ``remediation`` model and its id prefix (``s3_``, ``mlflow_``)."""

    #: Check ids are snake_case and start with this (set by the gate's subclass).
    id_prefix: ClassVar[str] = ""

    id: str
    title: str = Field(min_length=5)
    severity: Severity
    description: str = Field(min_length=10)
    risk: str = Field(min_length=10)
    references: tuple[str, ...] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not re.match(rf"^{re.escape(cls.id_prefix)}[a-z0-9_]+$", v):
            raise ValueError(f"check ids are snake_case and start with {cls.id_prefix}: {v!r}")
        return v

    @property
    def remediation_text(self) -> str:  # pragma: no cover - every gate's metadata defines it
        raise NotImplementedError


class CheckResultLike(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def member(self) -> str | None: ...

    @property
    def details(self) -> dict[str, Any]: ...


class CollectionError(Protocol):
    """What a gate's collector records when it could not read a field (its ``str`` says why)."""

    @property
    def category(self) -> str: ...


def load_metadata(cls: type, model: type[CheckMetadata]) -> CheckMetadata:
    """Read and validate ``<id>.metadata.json`` beside the module defining ``cls``; id == folder ==
    module == class == metadata id."""
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
        meta = model.model_validate_json(meta_path.read_bytes())
    except FileNotFoundError:
        raise CheckLoadError(f"check {name}: {meta_path.name} is missing") from None
    except ValidationError as e:
        raise CheckLoadError(f"check {name}: invalid {meta_path.name}: {e}") from None
    if meta.id != name:
        raise CheckLoadError(f"check {name}: metadata id is {meta.id!r}")
    return meta


class Check(ABC, Generic[CtxT, ResT]):
    """The base of a gate's check class. The gate's subclass sets ``metadata_model`` and
    ``result_type`` and may validate ``requires`` (:meth:`_validate`)."""

    metadata: ClassVar[Any]
    metadata_model: ClassVar[type[CheckMetadata]]
    result_type: ClassVar[Callable[..., Any]]
    #: Fields of the inventory the check reads; one that was not collected blocks the check.
    requires: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls):
            meta = load_metadata(cls, cls.metadata_model)
            cls._validate(meta)
            cls.metadata = meta

    @classmethod
    def _validate(cls, meta: Any) -> None:
        """Raise :class:`CheckLoadError` if the check's declaration does not fit its gate."""

    @property
    def id(self) -> str:
        return str(self.metadata.id)

    @abstractmethod
    def execute(self, ctx: CtxT) -> list[ResT]:
        """Judge. Return at least one result (a pass is a result too)."""

    def run(self, ctx: CtxT) -> list[ResT]:
        """:meth:`execute`; a check that returns nothing is ``unsupported``, never a silent pass.
        Exceptions propagate: the runner reports them with :func:`crash_result`."""
        return self.execute(ctx) or [self.result_type("unsupported", "the check returned no result")]

    # helpers for subclasses
    @classmethod
    def passed(cls, message: str, **details: Any) -> list[ResT]:
        return [cls.result_type("pass", message, details=dict(details))]

    @classmethod
    def failed(cls, message: str, member: str | None = None, **details: Any) -> ResT:
        result: ResT = cls.result_type("fail", message, member, dict(details))
        return result


def discover(package: str, base: type) -> list[Any]:
    """An instance of every check of a ``checks`` package (one sub-package per check, named by
    its id; ``_``-prefixed ones are skipped), each a subclass of the gate's ``base`` (an abstract
    class, hence the loose type). A folder without its class fails the load."""
    pkg = importlib.import_module(package)
    checks: list[Any] = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{package}.{info.name}.{info.name}")
        cls = getattr(mod, info.name, None)
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise CheckLoadError(f"{info.name}: the module must define a Check subclass named {info.name}")
        checks.append(cls())
    ids = [c.id for c in checks]
    if len(ids) != len(set(ids)):  # pragma: no cover - folder names are unique
        raise CheckLoadError(f"duplicate check ids: {ids}")
    return checks


def blockers(requires: Iterable[str], errors: Mapping[str, ErrT], collected: Iterable[str],
             not_collected: Callable[[str], ErrT]) -> list[tuple[str, ErrT]]:
    """The required fields the collector failed on (its error), then those it never answered."""
    req = tuple(requires)
    got = frozenset(collected)
    out = [(f, errors[f]) for f in req if f in errors]
    out += [(f, not_collected(f)) for f in req if f not in errors and f not in got]
    return out


def blocked_message(found: list[tuple[str, Any]]) -> tuple[bool, str]:
    """(every blocker is ``unsupported``, "could not be determined|evaluated: field: why; ...")."""
    unsupported = all(e.category == "unsupported" for _, e in found)
    why = "; ".join(f"{f}: {e}" for f, e in found)
    return unsupported, f"could not be {'determined' if unsupported else 'evaluated'}: {why}"


def crash_result(result_type: Callable[..., ResT], e: BaseException) -> ResT:
    """A check that raised: reported as an error finding (a check bug must not pass anything)."""
    return result_type("fail", f"check crashed: {type(e).__name__}: {e}")


def to_finding(
    meta: CheckMetadata,
    r: CheckResultLike,
    *,
    kind: FindingKind,
    severity: Severity,
    subject: str,
    engine: str,
    controls: tuple[str, ...],
    references: tuple[str, ...] | None = None,
    details: Mapping[str, Any] | None = None,
) -> Finding:
    """A check's result as a :class:`~mlgate.model.Finding`: the check's id, title and
    remediation, the result's message and member."""
    return Finding(
        id=meta.id,
        title=meta.title,
        severity=severity,
        kind=kind,
        message=r.message,
        location=Location(path=subject, member=r.member),
        engine=engine,
        remediation=meta.remediation_text,
        references=meta.references if references is None else references,
        controls=controls,
        details=dict(details or {}),
    )
