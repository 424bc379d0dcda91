"""Expectation suite files: load, check, and (with Great Expectations imported) validate every
expectation type and its kwargs against GX's own registry.

A suite file is JSON or YAML in Great Expectations' suite format::

    name: iris
    expectations:
      - type: expect_table_row_count_to_be_between
        kwargs: {min_value: 100}
      - type: expect_column_values_to_not_be_null
        kwargs: {column: species}
        meta: {severity: critical}        # optional: mlgate severity of this expectation

Fail closed: a suite without a row-count lower bound (``expect_table_row_count_to_be_between``
with ``min_value >= 1`` or ``expect_table_row_count_to_equal`` with ``value >= 1``, without a
``row_condition``) is refused, because Great Expectations passes ``expect_column_values_to_not_be_null``
and friends on an empty table. Every error is a :class:`~mlgate.errors.PolicyError` naming the
suite file and the field (``expectations[3].kwargs.column``).

:func:`load_suite` is cheap (no GX import); :func:`build_gx_expectations` imports GX.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlgate.errors import PolicyError
from mlgate.model import Severity

MAX_SUITE_BYTES = 4 * 1024 * 1024
MAX_EXPECTATIONS = 10_000

_TYPE_RE = re.compile(r"^expect_[a-z0-9_]+$")
_SUITE_KEYS = {"name", "expectation_suite_name", "expectations", "meta", "notes", "id", "suite_parameters",
               "data_asset_type", "ge_cloud_id"}
_ENTRY_KEYS = {"type", "expectation_type", "kwargs", "meta", "id", "notes", "description", "severity",
               "rendered_content", "expectation_context"}
# Fields of every GX Expectation that are not the expectation's own arguments. mlgate sets the
# result format (bounded values) and catches exceptions itself; the rest belong outside kwargs.
_FORBIDDEN_KWARGS = {
    "result_format": "mlgate sets the result format itself (bounded unexpected values, sensitive columns)",
    "catch_exceptions": "mlgate always catches exceptions and reports them as errors",
    "batch_id": "the batch is the dataset being checked",
    "id": "put 'id' beside 'type', not inside kwargs",
    "meta": "put 'meta' beside 'type', not inside kwargs",
    "severity": "put 'severity' beside 'type' (or meta.severity), not inside kwargs",
    "rendered_content": "not an argument",
    "windows": "windows need stored history; not supported",
}
_GX_SEVERITIES = {"critical": Severity.CRITICAL, "warning": Severity.MEDIUM, "info": Severity.INFO}
ROW_COUNT_TYPES = ("expect_table_row_count_to_be_between", "expect_table_row_count_to_equal")


@dataclass(frozen=True)
class ExpectationSpec:
    index: int
    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    notes: Any = None
    description: str | None = None
    gx_severity: str | None = None  # critical | warning | info (GX's own field)
    severity: Severity | None = None  # mlgate severity (meta.severity or mapped gx_severity)

    @property
    def field(self) -> str:
        return f"expectations[{self.index}]"

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns this expectation reads (column, column_A/B, column_list)."""
        cols: list[str] = []
        for key in ("column", "column_A", "column_B"):
            v = self.kwargs.get(key)
            if isinstance(v, str):
                cols.append(v)
        v = self.kwargs.get("column_list")
        if isinstance(v, (list, tuple)):
            cols.extend(str(c) for c in v if isinstance(c, str))
        return tuple(dict.fromkeys(cols))

    @property
    def table_level(self) -> bool:
        return self.type.startswith("expect_table_")

    def label(self, max_chars: int = 160) -> str:
        """``expect_x(column='a', min_value=1)`` with long arguments shortened."""
        parts = []
        for k, v in self.kwargs.items():
            r = repr(v)
            if len(r) > 40:
                r = r[:37] + "..."
            parts.append(f"{k}={r}")
        s = f"{self.type}({', '.join(parts)})"
        return s if len(s) <= max_chars else s[: max_chars - 4] + "...)"


@dataclass(frozen=True)
class SuiteSpec:
    path: str
    name: str
    sha256: str
    expectations: tuple[ExpectationSpec, ...]
    min_rows: int
    meta: dict[str, Any] = field(default_factory=dict)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else f


def _find_parameter(value: Any, path: str) -> str | None:
    """Path of the first ``{"$PARAMETER": ...}`` inside ``value`` (suite parameters are not supported:
    a suite must say what it checks, not take it from the caller)."""
    if isinstance(value, dict):
        if "$PARAMETER" in value:
            return path
        for k, v in value.items():
            found = _find_parameter(v, f"{path}.{k}")
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _find_parameter(v, f"{path}[{i}]")
            if found:
                return found
    return None


def row_count_lower_bound(e: ExpectationSpec) -> int:
    """The row-count lower bound ``e`` asserts (0 if none)."""
    if e.kwargs.get("row_condition"):
        return 0  # a conditional count says nothing about the table
    if e.type == "expect_table_row_count_to_be_between":
        lo = _number(e.kwargs.get("min_value"))
        if lo is None:
            return 0
        bound = math.floor(lo) + 1 if e.kwargs.get("strict_min") else math.ceil(lo)
        return max(0, int(bound))
    if e.type == "expect_table_row_count_to_equal":
        v = _number(e.kwargs.get("value"))
        return max(0, int(v)) if v is not None and v.is_integer() else 0
    return 0


def _read(path: Path) -> tuple[Any, str]:
    p = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise PolicyError(p, None, "suite file not found") from None
    except OSError as e:
        raise PolicyError(p, None, f"suite file unreadable: {e.strerror or e}") from None
    if not path.is_file():
        raise PolicyError(p, None, "suite is not a regular file")
    if st.st_size > MAX_SUITE_BYTES:
        raise PolicyError(p, None, f"suite file larger than {MAX_SUITE_BYTES} bytes")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PolicyError(p, None, f"suite file is not UTF-8: {e}") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text), digest
        except json.JSONDecodeError as e:
            raise PolicyError(p, None, f"not valid JSON: {e}") from None
    try:
        return yaml.safe_load(text), digest
    except yaml.YAMLError as e:
        raise PolicyError(p, None, f"not valid YAML: {e}") from None


def load_suite(path: str | Path) -> SuiteSpec:
    """Load and check a suite file without importing Great Expectations."""
    path = Path(path)
    p = str(path)
    data, digest = _read(path)
    if not isinstance(data, dict):
        raise PolicyError(p, None, "a suite must be a mapping with 'name' and 'expectations'")
    unknown = sorted(set(data) - _SUITE_KEYS)
    if unknown:
        raise PolicyError(p, str(unknown[0]), f"unknown suite key (allowed: {', '.join(sorted(_SUITE_KEYS))})")
    name = data.get("name", data.get("expectation_suite_name"))
    if not isinstance(name, str) or not name.strip():
        raise PolicyError(p, "name", "a suite needs a non-empty 'name'")
    if data.get("suite_parameters"):
        raise PolicyError(p, "suite_parameters", "suite parameters are not supported: write the values into the suite")
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise PolicyError(p, "meta", "must be a mapping")
    raw_exps = data.get("expectations")
    if not isinstance(raw_exps, list) or not raw_exps:
        raise PolicyError(p, "expectations", "a suite needs a non-empty list of expectations")
    if len(raw_exps) > MAX_EXPECTATIONS:
        raise PolicyError(p, "expectations", f"more than {MAX_EXPECTATIONS} expectations")
    specs = tuple(_entry(p, i, raw) for i, raw in enumerate(raw_exps))
    min_rows = max(row_count_lower_bound(e) for e in specs)
    if min_rows < 1:
        raise PolicyError(
            p,
            "expectations",
            "no row-count lower bound: add expect_table_row_count_to_be_between with min_value >= 1 "
            "(or expect_table_row_count_to_equal with value >= 1, without row_condition). Great "
            "Expectations passes column expectations such as not_be_null on an empty table.",
        )
    return SuiteSpec(path=p, name=name.strip(), sha256=digest, expectations=specs, min_rows=min_rows, meta=meta)


def _entry(p: str, i: int, raw: Any) -> ExpectationSpec:
    where = f"expectations[{i}]"
    if not isinstance(raw, dict):
        raise PolicyError(p, where, "each expectation must be a mapping with 'type' and 'kwargs'")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise PolicyError(p, f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(_ENTRY_KEYS))})")
    etype = raw.get("type", raw.get("expectation_type"))
    if not isinstance(etype, str) or not _TYPE_RE.match(etype):
        raise PolicyError(p, f"{where}.type", f"not an expectation type: {etype!r} (expected expect_...)")
    kwargs = raw.get("kwargs") if raw.get("kwargs") is not None else {}
    if not isinstance(kwargs, dict):
        raise PolicyError(p, f"{where}.kwargs", "must be a mapping")
    for k in kwargs:
        if not isinstance(k, str):
            raise PolicyError(p, f"{where}.kwargs", f"argument names must be strings, got {k!r}")
        if k in _FORBIDDEN_KWARGS:
            raise PolicyError(p, f"{where}.kwargs.{k}", f"not allowed: {_FORBIDDEN_KWARGS[k]}")
    param = _find_parameter(kwargs, f"{where}.kwargs")
    if param:
        raise PolicyError(p, param, "suite parameters ($PARAMETER) are not supported: write the value into the suite")
    meta = raw.get("meta") or {}
    if not isinstance(meta, dict):
        raise PolicyError(p, f"{where}.meta", "must be a mapping")
    severity: Severity | None = None
    if "severity" in meta:
        try:
            severity = Severity(str(meta["severity"]).lower())
        except ValueError:
            choices = ", ".join(s.value for s in Severity)
            raise PolicyError(p, f"{where}.meta.severity", f"unknown severity {meta['severity']!r} ({choices})") from None
    gx_sev = raw.get("severity")
    if gx_sev is not None:
        if str(gx_sev).lower() not in _GX_SEVERITIES:
            raise PolicyError(p, f"{where}.severity", f"unknown severity {gx_sev!r} (critical, warning, info)")
        gx_sev = str(gx_sev).lower()
        if severity is None:
            severity = _GX_SEVERITIES[gx_sev]
    desc = raw.get("description")
    if desc is not None and not isinstance(desc, str):
        raise PolicyError(p, f"{where}.description", "must be a string")
    return ExpectationSpec(index=i, type=etype, kwargs=dict(kwargs), meta=dict(meta), notes=raw.get("notes"),
                           description=desc, gx_severity=gx_sev, severity=severity)


def build_gx_expectations(suite: SuiteSpec) -> list[Any]:
    """Instantiate every expectation through Great Expectations' registry (imports GX). Unknown
    types and bad kwargs become :class:`PolicyError` naming the suite file and the expectation."""
    from mlgate.gates.data_quality._gx import import_gx

    gx = import_gx()
    from great_expectations.exceptions.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import (
        get_expectation_impl,
        list_registered_expectation_implementations,
    )
    from pydantic import v1 as pydantic_v1

    out: list[Any] = []
    for e in suite.expectations:
        try:
            cls = get_expectation_impl(e.type)
        except ExpectationNotFoundError:
            known = list_registered_expectation_implementations()
            close = difflib.get_close_matches(e.type, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise PolicyError(
                suite.path, f"{e.field}.type",
                f"unknown expectation type {e.type!r}: not registered in Great Expectations {gx.__version__}{hint}",
            ) from None
        args: dict[str, Any] = dict(e.kwargs)
        if e.meta:
            args["meta"] = dict(e.meta)
        if e.notes is not None:
            args["notes"] = e.notes
        if e.description is not None:
            args["description"] = e.description
        if e.gx_severity is not None:
            args["severity"] = e.gx_severity
        try:
            out.append(cls(**args))
        except pydantic_v1.ValidationError as ve:
            errs = ve.errors()
            first = errs[0]
            loc = ".".join(str(x) for x in first.get("loc", ()) if x != "__root__")
            fld = f"{e.field}.kwargs.{loc}" if loc else f"{e.field}.kwargs"
            more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
            msg = str(first.get("msg", "invalid"))
            if first.get("type") == "value_error.extra":
                msg = "unknown argument for this expectation"
            raise PolicyError(suite.path, fld, f"{e.type}: {msg}{more}") from None
        except (TypeError, ValueError) as ex:
            raise PolicyError(suite.path, f"{e.field}.kwargs", f"{e.type}: {ex}") from None
    return out


def validate_suite_file(path: str | Path, *, deep: bool = True) -> SuiteSpec:
    """Check a suite file; with ``deep`` also against Great Expectations' registry (imports GX).
    For ``mlgate policy validate`` and the tests of ``policies/suites/``."""
    spec = load_suite(path)
    if deep:
        build_gx_expectations(spec)
    return spec
