"""The data-quality gate (Great Expectations 1.x) and its Python API.

* :func:`check_data` — judge datasets against an expectation suite; returns a
  :class:`~mlgate.model.Report` (what ``mlgate check-data`` renders).
* :func:`load_dataset` — for the training step: read a dataset the same way the gate did, hashing
  the bytes as they are parsed, and refuse it (:class:`FingerprintMismatch`) unless it is the data
  that was checked.
* :func:`fingerprint_dataset`, :func:`fingerprint_from_report` — the evidence itself.

Importing this package is cheap: Great Expectations, pandas and pyarrow are imported only when a
dataset is actually checked or read (``mlgate policy validate`` imports :class:`DataQualityConfig`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import MlgateError
from mlgate.gates.data_quality.config import DataQualityConfig, MemoryLimits
from mlgate.gates.data_quality.fingerprint import ColumnSchema, FileDigest, Fingerprint, FingerprintMismatch
from mlgate.gates.data_quality.gate import DataQualityGate, targets_of
from mlgate.gates.data_quality.suite import SuiteSpec, load_suite, validate_suite_file

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.gate import Progress
    from mlgate.model import Report
    from mlgate.policy import Policy

__all__ = [
    "DataQualityConfig",
    "DataQualityGate",
    "DatasetUnreadable",
    "Fingerprint",
    "FingerprintMismatch",
    "MemoryLimits",
    "SuiteSpec",
    "check_data",
    "fingerprint_dataset",
    "fingerprint_from_report",
    "load_dataset",
    "load_suite",
    "validate_policy_suites",
    "validate_suite_file",
]


class DatasetUnreadable(MlgateError):
    """The dataset could not be read completely (missing, corrupt, over a limit)."""


def _policy(policy: Policy | str | Path | None) -> Policy:
    from mlgate.policy import Policy as _Policy
    from mlgate.policy import default_policy_path, load_policy

    if isinstance(policy, _Policy):
        return policy
    return load_policy(policy if policy is not None else default_policy_path())


def check_data(
    datasets: Sequence[str | Path] | str | Path,
    suite: str | Path | None = None,
    *,
    policy: Policy | str | Path | None = None,
    checkpoint: str | None = None,
    data_docs: str | Path | None = None,
    input_format: str | None = None,
    boto3_session: Any = None,
    progress: Progress | None = None,
) -> Report:
    """Validate ``datasets`` (local paths or ``s3://`` URIs; files or partitioned folders) against
    ``suite`` (or the suite the policy maps each dataset to). Never raises for bad data: the report
    says fail/error/incomplete. Raises :class:`~mlgate.errors.PolicyError` for a missing or invalid
    suite or policy."""
    options: dict[str, Any] = {}
    if suite is not None:
        options["suite"] = suite
    if data_docs is not None:
        options["data_docs"] = data_docs
    if input_format is not None:
        options["input_format"] = input_format
    if boto3_session is not None:
        options["boto3_session"] = boto3_session
    return DataQualityGate().evaluate(targets_of(datasets), _policy(policy), checkpoint, progress, **options)


def _config(policy: Policy | str | Path | None, config: DataQualityConfig | None) -> DataQualityConfig:
    if config is not None:
        return config
    if policy is None:
        return DataQualityConfig()
    cfg: DataQualityConfig = _policy(policy).gate_config(DataQualityGate.id, DataQualityConfig)
    return cfg


def _read(dataset: str | Path, input_format: str | None, config: DataQualityConfig, session: Any) -> Any:
    from mlgate.gates.data_quality import sources

    uri = str(dataset)
    backend = sources.backend_for(uri, session)
    listing = backend.list(uri, config, input_format)
    loaded = sources.load(listing, backend, config)
    if loaded.problems or loaded.table is None or loaded.fingerprint is None:
        msgs = "; ".join(p.message for p in loaded.problems[:5]) or "nothing could be read"
        raise DatasetUnreadable(f"{uri}: {msgs}")
    return loaded


def fingerprint_dataset(
    dataset: str | Path,
    *,
    input_format: str | None = None,
    policy: Policy | str | Path | None = None,
    config: DataQualityConfig | None = None,
    boto3_session: Any = None,
) -> Fingerprint:
    """Read (hash and parse) a dataset exactly as the gate does and return its fingerprint."""
    loaded = _read(dataset, input_format, _config(policy, config), boto3_session)
    fp: Fingerprint = loaded.fingerprint
    return fp


def load_dataset(
    dataset: str | Path,
    *,
    expected: Fingerprint | dict[str, Any] | str | None,
    input_format: str | None = None,
    policy: Policy | str | Path | None = None,
    config: DataQualityConfig | None = None,
    boto3_session: Any = None,
) -> tuple[pd.DataFrame, Fingerprint]:
    """Read a dataset for training and prove it is the data that was checked: the bytes are hashed
    as they are parsed, and the fingerprint must equal ``expected`` (a :class:`Fingerprint`, its
    dict, or the ``sha256:...`` digest from the report). ``expected=None`` must be passed
    explicitly to read without the check. Raises :class:`FingerprintMismatch` or
    :class:`DatasetUnreadable`."""
    from mlgate.gates.data_quality.fingerprint import coerce_fingerprint
    from mlgate.gates.data_quality.validate import table_to_pandas

    want = coerce_fingerprint(expected) if expected is not None else None
    loaded = _read(dataset, input_format, _config(policy, config), boto3_session)
    fp: Fingerprint = loaded.fingerprint
    if want is not None:
        want_digest = want.digest if isinstance(want, Fingerprint) else want
        if fp.digest != want_digest:
            diffs = fp.diff(want) if isinstance(want, Fingerprint) else []
            raise FingerprintMismatch(str(dataset), want_digest, fp.digest, diffs)
    table = loaded.table
    loaded.table = None
    return table_to_pandas(table), fp


def validate_policy_suites(policy: Policy | str | Path | None = None, *, deep: bool = False) -> list[SuiteSpec]:
    """Load every suite the policy's ``gates.data-quality.datasets`` maps to (paths relative to
    the policy file). ``deep`` also validates them against Great Expectations (imports it, ~2 s).
    For ``mlgate policy validate``; raises :class:`~mlgate.errors.PolicyError` naming the file."""
    pol = _policy(policy)
    cfg = pol.gate_config(DataQualityGate.id, DataQualityConfig)
    specs: list[SuiteSpec] = []
    for pattern, suite in cfg.datasets.items():
        path = Path(suite) if Path(suite).is_absolute() else pol.path.parent / suite
        try:
            specs.append(validate_suite_file(path, deep=deep))
        except MlgateError as e:
            from mlgate.errors import PolicyError

            if isinstance(e, PolicyError) and e.file == str(path):
                raise
            raise PolicyError(str(pol.path), f"gates.{DataQualityGate.id}.datasets.{pattern}", str(e)) from e
    return specs


def fingerprint_from_report(report: Report, dataset: str | None = None) -> Fingerprint:
    """The fingerprint of ``dataset`` (or the only dataset) as recorded in a data-quality report;
    the digest is recomputed from the recorded fields and must match."""
    subjects = [s for s in report.subjects if s.kind == "dataset" and (dataset is None or s.subject == dataset)]
    if len(subjects) != 1:
        raise ValueError(f"expected one dataset subject{f' named {dataset!r}' if dataset else ''}, "
                         f"found {len(subjects)}")
    d = subjects[0].details
    if "fingerprint" not in d:
        raise ValueError(f"{subjects[0].subject}: the report has no fingerprint (the dataset was not fully read)")
    fp = Fingerprint(
        format=d["format"] or "unknown",
        files=tuple(FileDigest(**f) for f in d["files"]),
        bytes=sum(int(f["bytes"]) for f in d["files"]),
        rows=int(d["rows"]),
        columns=tuple(ColumnSchema(**c) for c in d["schema"]),
        digest=d["fingerprint"],
    )
    fp.check()
    return fp
