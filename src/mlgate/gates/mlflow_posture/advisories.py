"""The shipped, dated table of MLflow server advisories (``policies/mlflow-advisories.yaml``).

Validated strictly: every row has an id, a date, at least one affected range whose ``fixed``
release is given, and at least one source URL. A version newer than ``reviewed_through`` is
*unknown to the table* (advisories published after the review are missing), never assumed safe.

Versions are compared with a small PEP 440 subset (release, ``a``/``b``/``rc`` pre-releases,
``.postN``, ``.devN``), enough for MLflow's release numbers; anything else does not parse and is
reported as an unknown version.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import total_ordering
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlgate.errors import PolicyError
from mlgate.model import Severity

MAX_TABLE_BYTES = 1024 * 1024
_VERSION = re.compile(
    r"^v?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre>a|b|rc|alpha|beta|c)[-_.]?(?P<pre_n>\d*))?"
    r"(?:[-_.]?post[-_.]?(?P<post>\d+))?"
    r"(?:[-_.]?dev[-_.]?(?P<dev>\d*))?$",
    re.IGNORECASE,
)
_PRE = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2}


class VersionParseError(ValueError):
    pass


@total_ordering
class Version:
    """An orderable release number. ``3.0.0rc0 < 3.0.0 < 3.0.0.post1``; ``.dev`` sorts first."""

    def __init__(self, text: str) -> None:
        m = _VERSION.match(text.strip())
        if not m:
            raise VersionParseError(f"not a release number: {text!r}")
        self.text = text.strip()
        rel = [int(p) for p in m["release"].split(".")]
        while len(rel) > 1 and rel[-1] == 0:
            rel.pop()
        self.release = tuple(rel)
        dev = m["dev"]
        pre = m["pre"]
        # A pre-release sorts below the release; a dev release below everything of its kind.
        if pre is not None:
            self.pre: tuple[int, int] = (_PRE[pre.lower()], int(m["pre_n"] or 0))
        elif dev is not None and m["post"] is None:
            self.pre = (-1, 0)
        else:
            self.pre = (3, 0)
        self.post = int(m["post"]) if m["post"] is not None else -1
        self.dev = int(dev or 0) if dev is not None else 1 << 62

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.release, self.pre, self.post, self.dev)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.key == other.key

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_version(v: str) -> str:
    if v != "0":
        Version(v)
    return v


class Range(_Strict):
    introduced: str = Field(description="First affected release (inclusive); '0' = every earlier release.")
    fixed: str = Field(description="First fixed release (exclusive upper bound).")

    @field_validator("introduced", "fixed")
    @classmethod
    def _v(cls, v: str) -> str:
        return _check_version(str(v))

    @model_validator(mode="after")
    def _order(self) -> Range:
        if self.introduced != "0" and not Version(self.introduced) < Version(self.fixed):
            raise ValueError(f"introduced {self.introduced} is not below fixed {self.fixed}")
        return self

    def contains(self, v: Version) -> bool:
        lo_ok = self.introduced == "0" or not v < Version(self.introduced)
        return lo_ok and v < Version(self.fixed)


class Advisory(_Strict):
    id: str = Field(pattern=r"^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3})$")
    aliases: tuple[str, ...] = ()
    published: _dt.date
    severity: Severity
    title: str = Field(min_length=10)
    topic: str = Field(min_length=2)
    affected: tuple[Range, ...] = Field(min_length=1)
    note: str = ""
    sources: tuple[str, ...] = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def _urls(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [u for u in v if not u.startswith("https://")]
        if bad:
            raise ValueError(f"sources must be https URLs: {bad}")
        return v

    def affects(self, v: Version) -> Range | None:
        return next((r for r in self.affected if r.contains(v)), None)

    @property
    def first_fixed(self) -> str:
        return max((r.fixed for r in self.affected), key=Version)


class AdvisoryTable(_Strict):
    apiVersion: Literal["mlgate/v1"]
    kind: Literal["MlflowAdvisories"]
    reviewed: _dt.date
    reviewed_through: str
    advisories: tuple[Advisory, ...] = Field(min_length=1)

    @field_validator("reviewed_through")
    @classmethod
    def _rt(cls, v: str) -> str:
        Version(str(v))
        return str(v)

    @model_validator(mode="after")
    def _unique(self) -> AdvisoryTable:
        ids = [a.id for a in self.advisories]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate advisory ids: {dupes}")
        return self

    def known(self, v: Version) -> bool:
        """Whether the table was reviewed for this version (a newer one may have unlisted advisories)."""
        return not Version(self.reviewed_through) < v

    def matching(self, v: Version) -> list[tuple[Advisory, Range]]:
        out = []
        for a in self.advisories:
            r = a.affects(v)
            if r is not None:
                out.append((a, r))
        return out


def load_table(path: Path) -> AdvisoryTable:
    """Load and validate the table; a missing or malformed table is a :class:`PolicyError`."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise PolicyError(str(path), None, "advisory table not found") from None
    if st.st_size > MAX_TABLE_BYTES:
        raise PolicyError(str(path), None, f"advisory table larger than {MAX_TABLE_BYTES} bytes")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise PolicyError(str(path), None, f"not valid YAML: {e}") from None
    try:
        return AdvisoryTable.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or None
        more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise PolicyError(str(path), loc, first["msg"] + more) from None
