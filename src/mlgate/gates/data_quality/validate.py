"""Run an expectation suite on a dataset with Great Expectations (ephemeral context, pandas
datasource, progress bars off) and turn the results into per-expectation evidence.

One :class:`GxSession` serves one gate run: one context, one pandas datasource, the suites of
the run, and optionally a data-docs site in a folder. Unexpected values are bounded
(``max_unexpected_values``, each cut to ``max_value_chars``) and, for sensitive columns, removed
together with observed values, both from mlgate's evidence and from the GX result before data
docs are rendered.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.gates.data_quality._gx import gx_version, import_gx, new_context
from mlgate.gates.data_quality.config import DataQualityConfig
from mlgate.gates.data_quality.suite import ExpectationSpec, SuiteSpec, build_gx_expectations

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)

REDACTED = "<redacted: sensitive column>"
_VALUE_KEYS = ("partial_unexpected_list", "partial_unexpected_counts", "unexpected_list", "unexpected_rows",
               "unexpected_index_query", "details")
_MAX_ITEMS = 50


def table_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas, freeing Arrow buffers column by column (``self_destruct``). The caller must
    hold no other reference to ``table``."""
    from mlgate.gates.data_quality.sources import release_memory

    df = table.to_pandas(self_destruct=True, split_blocks=True)
    release_memory()
    return df


def jsonable(v: Any, max_chars: int = 120, depth: int = 0) -> Any:
    """A JSON-safe, bounded copy of a value from a GX result (numpy scalars, NaN, timestamps...)."""
    if depth > 6:
        return "..."
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(v, str):
        return v if len(v) <= max_chars else v[: max_chars - 3] + "..."
    if isinstance(v, bytes):
        return jsonable(repr(v), max_chars)
    tname = type(v).__name__
    if tname in ("NAType", "NaTType"):
        return None
    if isinstance(v, dict):
        items = list(v.items())[:_MAX_ITEMS]
        return {str(k): jsonable(x, max_chars, depth + 1) for k, x in items}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(x, max_chars, depth + 1) for x in list(v)[:_MAX_ITEMS]]
    if hasattr(v, "tolist") and hasattr(v, "shape"):
        if getattr(v, "shape", ()) == ():
            return jsonable(v.tolist(), max_chars, depth + 1)
        return [jsonable(x, max_chars, depth + 1) for x in list(v)[:_MAX_ITEMS]]
    if hasattr(v, "item") and callable(v.item):
        try:
            return jsonable(v.item(), max_chars, depth + 1)
        except (ValueError, TypeError):
            pass
    if hasattr(v, "isoformat") and callable(v.isoformat):
        return str(v.isoformat())
    return jsonable(str(v), max_chars)


def _exception_messages(info: Any) -> list[str]:
    """GX puts exceptions either flat ({raised_exception, exception_message}) or keyed by metric."""
    if not isinstance(info, dict):
        return []
    if "raised_exception" in info:
        if info.get("raised_exception"):
            return [str(info.get("exception_message") or "exception")]
        return []
    out: list[str] = []
    for sub in info.values():
        out.extend(_exception_messages(sub))
    return list(dict.fromkeys(out))


@dataclass
class ExpectationOutcome:
    spec: ExpectationSpec
    success: bool
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_values: list[Any] | None = None
    unexpected_rows: list[Any] | None = None
    redacted: bool = False
    exception: str | None = None
    missing_columns: list[str] = field(default_factory=list)

    @property
    def errored(self) -> bool:
        """GX could not evaluate it for another reason than a missing column (an engine error)."""
        return self.exception is not None and not self.missing_columns

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.spec.index,
            "type": self.spec.type,
            "kwargs": jsonable(self.spec.kwargs),
            "success": self.success,
        }
        if self.spec.columns:
            d["columns"] = list(self.spec.columns)
        for key in ("observed_value", "element_count", "unexpected_count", "unexpected_percent",
                    "unexpected_values", "unexpected_rows"):
            val = getattr(self, key)
            if val is not None:
                d[key] = val
        if self.redacted:
            d["redacted"] = True
        if self.exception:
            d["exception"] = self.exception
        if self.missing_columns:
            d["missing_columns"] = self.missing_columns
        return d

    def summary(self) -> str:
        """One line for a finding message."""
        label = self.spec.label()
        missing = ", ".join(repr(c) for c in self.missing_columns)
        if self.exception and self.missing_columns:
            return f"{label} failed: column {missing} not in the dataset"
        if self.exception:
            return f"{label} could not be evaluated: {self.exception}"
        parts = [f"{label} failed"]
        if self.missing_columns:
            parts.append(f"column {missing} not in the dataset")
        if self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.3g}%)" if isinstance(self.unexpected_percent, (int, float)) else ""
            total = f" of {self.element_count}" if self.element_count is not None else ""
            parts.append(f"{self.unexpected_count}{total} values unexpected{pct}")
        if self.observed_value is not None and self.observed_value != REDACTED:
            obs = repr(self.observed_value)
            parts.append(f"observed {obs if len(obs) <= 200 else obs[:197] + '...'}")
        if self.unexpected_values:
            vals = repr(self.unexpected_values)
            parts.append(f"e.g. {vals if len(vals) <= 300 else vals[:297] + '...'}")
        if self.redacted:
            parts.append("values redacted (sensitive column)")
        return "; ".join(parts)


@dataclass
class SuiteOutcome:
    suite: SuiteSpec
    expectations: list[ExpectationOutcome]
    statistics: dict[str, Any]
    data_docs: str | None = None

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.expectations if not o.success]


def _safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_")[:120] or "dataset"


class GxSession:
    """One GX context for one gate run."""

    def __init__(self, cfg: DataQualityConfig, data_docs: str | Path | None = None) -> None:
        import_gx()
        self.cfg = cfg
        self.ctx = new_context()
        ds = self.ctx.data_sources.add_pandas("mlgate")
        self.batch_definition = ds.add_dataframe_asset("dataset").add_batch_definition_whole_dataframe("whole")
        self._suites: dict[str, Any] = {}  # suite path -> GX suite
        self.data_docs: Path | None = None
        if data_docs is not None:
            self.data_docs = Path(data_docs).resolve()
            self.data_docs.mkdir(parents=True, exist_ok=True)
            self.ctx.add_data_docs_site("mlgate", {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(self.data_docs)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            })

    @property
    def version(self) -> str:
        return gx_version()

    def add_suite(self, spec: SuiteSpec) -> None:
        """Validate the suite against GX's registry (PolicyError naming file and expectation)."""
        if spec.path in self._suites:
            return
        from great_expectations.core.expectation_suite import ExpectationSuite

        exps = build_gx_expectations(spec)
        names = {s.name for s in self._suites.values()}
        name = spec.name if spec.name not in names else f"{spec.name}-{spec.sha256[:8]}"
        self._suites[spec.path] = self.ctx.suites.add(ExpectationSuite(name=name, expectations=exps))

    def validate(self, df: pd.DataFrame, spec: SuiteSpec, dataset: str) -> SuiteOutcome:
        self.add_suite(spec)
        gx_suite = self._suites[spec.path]
        ids = [e.id for e in gx_suite.expectations]
        if len(ids) != len(spec.expectations) or len(set(ids)) != len(ids):
            raise RuntimeError("Great Expectations changed the suite's expectations (ids do not map 1:1)")
        index_of = {eid: i for i, eid in enumerate(ids)}
        n_values = self.cfg.max_unexpected_values
        result_format = {"result_format": "SUMMARY", "partial_unexpected_count": n_values}
        with warnings.catch_warnings():  # GX internals warn on stderr (e.g. duplicate column lists)
            warnings.simplefilter("ignore")
            batch = self.batch_definition.get_batch(batch_parameters={"dataframe": df})
            res = batch.validate(gx_suite, result_format=result_format)
        columns = {str(c) for c in df.columns}
        outcomes: dict[int, ExpectationOutcome] = {}
        for r in res.results:
            idx = index_of.get(r.expectation_config.id)
            if idx is None:
                continue
            spec_e = spec.expectations[idx]
            outcomes[idx] = self._outcome(spec_e, r, columns)
        missing = [e for e in spec.expectations if e.index not in outcomes]
        for e in missing:  # never pass from silence
            outcomes[e.index] = ExpectationOutcome(spec=e, success=False,
                                                   exception="Great Expectations returned no result for it")
        stats = {k: jsonable(v) for k, v in dict(res.statistics or {}).items()}
        docs = None
        if self.data_docs is not None:
            docs = self._render_docs(res, gx_suite.name, dataset)
        return SuiteOutcome(suite=spec, expectations=[outcomes[i] for i in range(len(spec.expectations))],
                            statistics=stats, data_docs=docs)

    def _outcome(self, spec: ExpectationSpec, r: Any, columns: set[str]) -> ExpectationOutcome:
        cfg = self.cfg
        result: dict[str, Any] = dict(r.result or {})
        exc = _exception_messages(r.exception_info)
        # Table-level expectations see column names, not values: nothing to redact there.
        sensitive = not spec.table_level and any(cfg.is_sensitive(c) for c in spec.columns)
        out = ExpectationOutcome(spec=spec, success=bool(r.success))
        out.missing_columns = [c for c in spec.columns if c not in columns]
        if exc:
            msg = exc[0].strip().splitlines()[0] if exc[0].strip() else "exception"
            if "No provider found" in msg:
                msg += " (Great Expectations implements this expectation only for SQL/Spark, not for pandas)"
            out.exception = msg[:500]
            out.success = False
        out.element_count = _int_or_none(result.get("element_count"))
        out.unexpected_count = _int_or_none(result.get("unexpected_count"))
        pct = result.get("unexpected_percent")
        out.unexpected_percent = float(pct) if isinstance(pct, (int, float)) and not isinstance(pct, bool) else None
        if sensitive:
            out.redacted = True
            if "observed_value" in result:
                out.observed_value = REDACTED
            # Remove values from the GX result too: data docs render from it.
            for key in _VALUE_KEYS:
                if key in r.result:
                    if key.endswith("_list") or key.endswith("_counts"):
                        r.result[key] = []
                    else:
                        del r.result[key]
            if "observed_value" in r.result:
                r.result["observed_value"] = None
        else:
            if "observed_value" in result:
                out.observed_value = jsonable(result.get("observed_value"), cfg.max_value_chars)
            if n := cfg.max_unexpected_values:
                vals = result.get("partial_unexpected_list")
                if isinstance(vals, list) and vals:
                    out.unexpected_values = [jsonable(v, cfg.max_value_chars) for v in vals[:n]]
        rows = result.get("partial_unexpected_index_list")
        if isinstance(rows, list) and rows and cfg.max_unexpected_values:
            out.unexpected_rows = [jsonable(v, 40) for v in rows[: cfg.max_unexpected_values]]
        return out

    def _render_docs(self, res: Any, suite_name: str, dataset: str) -> str:
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        suite_id = ExpectationSuiteIdentifier(name=suite_name)
        vid = ValidationResultIdentifier(expectation_suite_identifier=suite_id,
                                         run_id=RunIdentifier(run_name="mlgate"),
                                         batch_identifier=_safe_name(dataset))
        self.ctx.validation_results_store.set(vid, res)
        self.ctx.build_data_docs(site_names=["mlgate"], resource_identifiers=[vid, suite_id])
        assert self.data_docs is not None
        return str(self.data_docs / "index.html")


def _int_or_none(v: Any) -> int | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None
