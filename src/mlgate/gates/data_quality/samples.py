"""Iris-like training data, clean or poisoned, written on demand (no data files are shipped).

``write_iris_like(path, rows=150, poison=None)`` writes CSV, Parquet or JSON Lines (by the file
suffix) with the columns of ``policies/suites/iris.yaml``::

    id, sepal_length, sepal_width, petal_length, petal_width, species

Values are drawn per species around the real iris means (deterministic for a seed) and stay
inside the suite's ranges, so the clean data passes and each poison kind fails a named expectation:

=================  =============================================================================
poison             what it does (and the expectation that catches it)
=================  =============================================================================
``nulls``          blanks some petal_width values (expect_column_values_to_not_be_null)
``label``          out-of-set labels such as ``setosa-poisoned`` (expect_column_values_to_be_in_set)
``range``          sepal_length of 42.0 (expect_column_values_to_be_between)
``duplicate-ids``  repeats ids (expect_column_values_to_be_unique)
``missing-column`` drops petal_width (expect_table_columns_to_match_ordered_list)
``extra-column``   adds a ``note`` column (expect_table_columns_to_match_ordered_list)
``few-rows``       writes 10 rows (expect_table_row_count_to_be_between)
``shift``          scales petal_length by 1.35, inside its range (expect_column_mean_to_be_between)
``label-flip``     relabels most versicolor rows as virginica (expect_column_kl_divergence_to_be_less_than)
``header-only``    the header and no rows (an empty dataset)
``empty``          a 0-byte file (an empty dataset)
``corrupt``        a file that does not parse (ragged CSV rows / broken Parquet / broken JSON)
=================  =============================================================================
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

COLUMNS = ("id", "sepal_length", "sepal_width", "petal_length", "petal_width", "species")
SPECIES = ("setosa", "versicolor", "virginica")
POISONS = ("nulls", "label", "range", "duplicate-ids", "missing-column", "extra-column", "few-rows", "shift",
           "label-flip", "header-only", "empty", "corrupt")

# (mean, sd) per species for sepal_length, sepal_width, petal_length, petal_width (Fisher's iris).
_STATS = {
    "setosa": ((5.01, 0.35), (3.43, 0.38), (1.46, 0.17), (0.25, 0.11)),
    "versicolor": ((5.94, 0.52), (2.77, 0.31), (4.26, 0.47), (1.33, 0.20)),
    "virginica": ((6.59, 0.64), (2.97, 0.32), (5.55, 0.55), (2.03, 0.27)),
}
# Clamp ranges (the real data's min/max); the suite allows a little more.
_RANGES = ((4.3, 7.9), (2.0, 4.4), (1.0, 6.9), (0.1, 2.5))


def iris_rows(rows: int = 150, seed: int = 0, first_id: int = 1) -> list[dict[str, Any]]:
    """Clean iris-like rows, species balanced and interleaved, ids from ``first_id``."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    out: list[dict[str, Any]] = []
    for i in range(rows):
        sp = SPECIES[i % 3]
        vals = []
        for (mean, sd), (lo, hi) in zip(_STATS[sp], _RANGES, strict=True):
            vals.append(round(min(hi, max(lo, rng.gauss(mean, sd))), 1))
        out.append({"id": first_id + i, "sepal_length": vals[0], "sepal_width": vals[1], "petal_length": vals[2],
                    "petal_width": vals[3], "species": sp})
    return out


def _poison(rows: list[dict[str, Any]], poison: str, seed: int) -> tuple[list[dict[str, Any]], list[str]]:
    rng = random.Random(seed + 1)  # noqa: S311 - sample data, not secrets
    cols = list(COLUMNS)
    n = len(rows)
    picks = sorted(rng.sample(range(n), k=max(1, n // 30))) if n else []
    if poison == "nulls":
        for i in picks:
            rows[i]["petal_width"] = None
    elif poison == "label":
        for i in picks:
            rows[i]["species"] = rows[i]["species"] + "-poisoned"
    elif poison == "range":
        for i in picks:
            rows[i]["sepal_length"] = 42.0
    elif poison == "duplicate-ids":
        for i in picks:
            rows[i]["id"] = rows[(i + 1) % n]["id"]
    elif poison == "missing-column":
        cols.remove("petal_width")
    elif poison == "extra-column":
        cols.append("note")
        for r in rows:
            r["note"] = "x"
    elif poison == "shift":
        for r in rows:
            r["petal_length"] = round(min(6.9, r["petal_length"] * 1.35), 1)
    elif poison == "label-flip":
        for r in rows:
            if r["species"] == "versicolor" and rng.random() < 0.8:
                r["species"] = "virginica"
    elif poison == "header-only":
        rows = []
    else:
        raise ValueError(f"unknown poison {poison!r}; choose from {', '.join(POISONS)}")
    return rows, cols


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = path.suffix.lower()
    return {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(
        suffix, "csv")


def render_iris_like(rows: int = 150, poison: str | None = None, *, fmt: str = "csv", seed: int = 0,
                     first_id: int = 1) -> bytes:
    """The bytes :func:`write_iris_like` would write (for uploading to S3 in tests and demos)."""
    if poison is not None and poison not in POISONS:
        raise ValueError(f"unknown poison {poison!r}; choose from {', '.join(POISONS)}")
    if poison == "empty":
        return b""
    data = iris_rows(10 if poison == "few-rows" else rows, seed, first_id)
    cols = list(COLUMNS)
    if poison not in (None, "few-rows", "corrupt"):
        data, cols = _poison(data, poison, seed)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in data:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
        text = buf.getvalue()
        if poison == "corrupt":
            lines = text.splitlines(keepends=True)
            mid = max(1, len(lines) // 2)
            lines[mid] = "1,2,3,4,5,6,7,8,9\n"  # a ragged row: the CSV does not parse
            text = "".join(lines)
        return text.encode("utf-8")
    if fmt == "jsonl":
        out = "".join(json.dumps({k: r.get(k) for k in cols}) + "\n" for r in data)
        if poison == "corrupt":
            lines = out.splitlines(keepends=True)
            lines[len(lines) // 2] = '{"id": 7, "sepal_length": \n'
            out = "".join(lines)
        return out.encode("utf-8")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = {"id": pa.int64(), "sepal_length": pa.float64(), "sepal_width": pa.float64(),
                  "petal_length": pa.float64(), "petal_width": pa.float64(), "species": pa.string(),
                  "note": pa.string()}
        table = pa.table({c: pa.array([r.get(c) for r in data], type=schema[c]) for c in cols})
        sink = io.BytesIO()
        pq.write_table(table, sink)
        raw = sink.getvalue()
        if poison == "corrupt":
            # Keep the magic bytes, destroy the footer: "not a valid parquet file" when read.
            raw = raw[: len(raw) // 2] + b"\x00" * 16 + b"PAR1"
        return raw
    raise ValueError(f"unknown format {fmt!r} (csv, parquet, jsonl)")


def write_iris_like(path: str | Path, rows: int = 150, poison: str | None = None, *, fmt: str | None = None,
                    seed: int = 0, first_id: int = 1) -> Path:
    """Write iris-like data to ``path`` (format from the suffix unless ``fmt`` is given). Use a
    different ``first_id`` per file when writing the partitions of one dataset (ids are unique)."""
    p = Path(path)
    data = render_iris_like(rows, poison, fmt=_format_of(p, fmt), seed=seed, first_id=first_id)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p
