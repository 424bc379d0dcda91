"""Settings of the data-quality gate (``gates.data-quality`` in a policy).

Validated by pydantic, so a wrong key or value is a policy error naming the field. This module is
imported by ``mlgate policy validate`` for every gate, so it must stay cheap: pydantic only, never
Great Expectations, pandas or pyarrow.
"""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlgate.model import Severity

MiB = 1024**2
GiB = 1024**3

INPUT_FORMATS = ("csv", "parquet", "jsonl")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemoryLimits(_Strict):
    """The memory bound. A dataset is read one file at a time (the raw bytes of that one file in
    memory, hashed, parsed, released) into one Arrow table, converted to one pandas frame and
    validated. Peak RSS is at most about ``~300 MB (libraries) + largest raw file + 6 x decoded
    size`` (measured: CSV 3.8x, Parquet 1.8x, JSON Lines 5.1x, partitioned CSV 1.0x beyond the
    raw file; see docs/data-quality.md). With the defaults that is about 7.5 GiB at most.
    Exceeding a limit stops the read and makes the verdict ``incomplete``: nothing is validated
    on a partial dataset."""

    max_file_bytes: int = Field(
        default=1 * GiB, ge=1, description="Largest single file (raw bytes held in memory while it is hashed and parsed)."
    )
    max_input_bytes: int = Field(
        default=8 * GiB, ge=1, description="Sum of the raw sizes of all files of one dataset (checked before reading)."
    )
    max_table_bytes: int = Field(
        default=1 * GiB, ge=1,
        description=(
            "Decoded (Arrow) size of the whole dataset, checked after every file; nested and binary "
            "columns count 8x (they become Python objects in pandas)."
        ),
    )
    max_files: int = Field(default=100_000, ge=1, description="Files in one partitioned folder or prefix.")


class DataQualityConfig(_Strict):
    """``gates.data-quality`` settings."""

    datasets: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Dataset URI or fnmatch glob -> suite file, relative to the policy file that includes this "
            "section. The first matching pattern (in file order) wins; --suite on the command line overrides. "
            "A pattern names a location (s3://bucket/..., /abs/path/..., rel/path/...): one that starts "
            "with a wildcard ('*iris*') would pick a suite from a file's name and is refused."
        ),
    )
    sensitive_columns: tuple[str, ...] = Field(
        default=(),
        description=(
            "Column names or fnmatch patterns whose values never appear in reports or data docs "
            "(unexpected values and observed values are redacted; counts are kept)."
        ),
    )
    max_unexpected_values: int = Field(
        default=5, ge=0, le=100, description="Unexpected values quoted per failed expectation (0 = none)."
    )
    max_value_chars: int = Field(default=120, ge=8, le=4096, description="Each quoted value is cut to this length.")
    severity: Severity = Field(
        default=Severity.HIGH,
        description="Severity of a failed expectation unless the suite entry says otherwise (meta.severity).",
    )
    empty_dataset_severity: Severity = Field(
        default=Severity.CRITICAL, description="Severity of DQ-EMPTY-DATASET (a dataset with no rows)."
    )
    ignore: tuple[str, ...] = Field(
        default=(".*", "_*", "*.crc"),
        description=(
            "fnmatch patterns on each path component of a partitioned dataset: matching files and folders "
            "are not data (Spark/Hive markers, hidden files; the same prefixes pyarrow.dataset ignores). "
            "Ignored entries are listed in the report. Any other file that is not of the dataset's format "
            "makes the verdict incomplete."
        ),
    )
    hive_partitioning: bool = Field(
        default=True,
        description="Folders named key=value add a string column 'key' to the rows of the files below them.",
    )
    memory: MemoryLimits = MemoryLimits()

    @field_validator("datasets")
    @classmethod
    def _suites(cls, v: dict[str, str]) -> dict[str, str]:
        for pattern, suite in v.items():
            if not pattern.strip():
                raise ValueError("empty dataset pattern")
            first = pattern.split("://", 1)[1] if "://" in pattern else pattern.lstrip("/")
            first = first.split("/", 1)[0]
            if not first or any(c in first for c in "*?["):
                raise ValueError(
                    f"dataset pattern {pattern!r} guesses from file names: a pattern must name a location "
                    "(an s3://bucket/ prefix or a path whose first component has no wildcard); suites are "
                    "explicit (--suite or a mapping per location), never chosen by what a file is called"
                )
            if not str(suite).strip():
                raise ValueError(f"dataset {pattern!r}: empty suite path")
        return v

    def suite_for(self, dataset: str, *aliases: str) -> str | None:
        """The suite file mapped to ``dataset`` (or one of its aliases, e.g. its absolute path)."""
        names = (dataset, *aliases)
        for pattern, suite in self.datasets.items():
            if any(n == pattern or fnmatch.fnmatchcase(n, pattern) for n in names):
                return suite
        return None

    def is_sensitive(self, column: str) -> bool:
        return any(column == p or fnmatch.fnmatchcase(column, p) for p in self.sensitive_columns)
