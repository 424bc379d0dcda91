"""The data-quality gate: a training dataset must pass its expectation suite before training.

One subject per dataset (kind ``dataset``): its sha256 is the dataset fingerprint digest, its
details carry the rows, schema, files (path, sha256, bytes) and one result per expectation.
Findings:

========================  ===========  ==========================================================
id                        kind         when
========================  ===========  ==========================================================
``DQ-<expectation_type>`` issue        an expectation failed (or its column is missing)
``DQ-EMPTY-DATASET``      issue        the dataset has no rows (never a vacuous pass)
``DQ-SCHEMA-MISMATCH``    issue        the files of a partitioned dataset disagree on columns
``DQ-EXPECTATION-ERROR``  error        Great Expectations could not evaluate an expectation
``DQ-READ-ERROR``         error        a file is missing, unreadable or corrupt (reader's message)
``DQ-DUPLICATE-COLUMNS``  error        two columns share a name (ambiguous)
``DQ-UNSUPPORTED-FILE``   unsupported  a file in the dataset is not of the dataset's format
``DQ-MIXED-FORMATS``      unsupported  a folder holds more than one format
``DQ-SYMLINK``            unsupported  symlinks are refused
``DQ-SPECIAL-FILE``       unsupported  not a regular file
``DQ-LIMIT``              unsupported  a memory limit was reached; nothing was validated
========================  ===========  ==========================================================

Suites and the dataset -> suite mapping are policy: a missing or invalid suite is a
:class:`~mlgate.errors.PolicyError` raised before any data is read.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from mlgate.errors import PolicyError, UsageError
from mlgate.gate import Gate, GateRun, Progress, SubjectDraft
from mlgate.gates.data_quality.config import INPUT_FORMATS, DataQualityConfig
from mlgate.gates.data_quality.suite import SuiteSpec, load_suite
from mlgate.model import Coverage, Finding, FindingKind, Location, RootManifest, Severity
from mlgate.policy import Policy

log = logging.getLogger(__name__)

ENGINE = "great_expectations"
GATE_ID = "data-quality"
_REMEDIATION = (
    "Do not train on this dataset. Fix or remove the offending rows or files at the source and "
    "re-run the gate; if the expectation itself is wrong, change the suite through review."
)


def resolve_suite_path(dataset: str, suite: str | Path | None, config: DataQualityConfig, policy: Policy) -> Path:
    """The suite for ``dataset``: ``suite`` if given (relative to the working directory), else the
    policy's ``datasets`` mapping (relative to the policy file). Neither is a policy error."""
    if suite is not None:
        return Path(suite)
    aliases: list[str] = []
    if "://" not in dataset:
        with contextlib.suppress(OSError):
            aliases.append(Path(dataset).resolve().as_posix())
    mapped = config.suite_for(dataset, *aliases)
    if mapped is None:
        raise PolicyError(
            str(policy.path), f"gates.{GATE_ID}.datasets",
            f"no expectation suite for dataset {dataset!r}: pass --suite, or map the dataset to a suite file",
        )
    p = Path(mapped)
    return p if p.is_absolute() else policy.path.parent / p


class DataQualityGate(Gate[DataQualityConfig]):
    id: ClassVar[str] = GATE_ID
    config_model: ClassVar[type[DataQualityConfig]] = DataQualityConfig
    subject_noun: ClassVar[str] = "dataset"

    def _check(
        self,
        targets: list[str],
        policy: Policy,
        checkpoint: str | None,
        config: DataQualityConfig,
        progress: Progress,
        **options: Any,
    ) -> GateRun:
        suite_opt = options.pop("suite", None)
        data_docs = options.pop("data_docs", None)
        input_format = options.pop("input_format", None)
        session = options.pop("boto3_session", None)
        if options:
            raise UsageError(f"data-quality: unknown option(s): {', '.join(sorted(options))}")
        if input_format is not None and input_format not in INPUT_FORMATS:
            raise UsageError(f"data-quality: input format must be one of {', '.join(INPUT_FORMATS)}")

        # Policy first: every suite is resolved, loaded and checked before any data is read.
        plan: list[tuple[str, SuiteSpec]] = []
        specs: dict[str, SuiteSpec] = {}
        for t in targets:
            path = resolve_suite_path(t, suite_opt, config, policy)
            key = str(path)
            if key not in specs:
                specs[key] = load_suite(path)
            plan.append((t, specs[key]))

        # Great Expectations (import + context: seconds) starts only when a dataset was read and is
        # really validated: a missing file or a read error is reported without paying for it.
        gx_holder = _LazyGx(config, data_docs, list(specs.values()))
        run = GateRun(tools=_tools(_installed_version("great_expectations")))
        docs: str | None = None
        for target, spec in plan:
            draft, manifest, docs_path = self._check_one(target, spec, gx_holder, config, input_format, session)
            run.subjects.append(draft)
            if manifest is not None:
                run.manifests.append(manifest)
            docs = docs_path or docs
            progress(1, target)
        if docs:
            run.notes.append(f"Great Expectations data docs: {docs}")
        return run

    def _check_one(
        self,
        target: str,
        spec: SuiteSpec,
        gxs: Any,
        config: DataQualityConfig,
        input_format: str | None,
        session: Any,
    ) -> tuple[SubjectDraft, RootManifest | None, str | None]:
        from mlgate.gates.data_quality import sources
        from mlgate.gates.data_quality.validate import table_to_pandas

        draft = SubjectDraft(subject=target, kind="dataset", root=target)
        backend = sources.backend_for(target, session)
        listing = backend.list(target, config, input_format)
        loaded = sources.load(listing, backend, config)
        fmt = listing.format
        if fmt:
            draft.formats = [fmt]
        details: dict[str, Any] = {
            "suite": {"name": spec.name, "path": spec.path, "sha256": spec.sha256,
                      "expectations": len(spec.expectations), "min_rows": spec.min_rows},
            "format": fmt,
            "layout": listing.kind,
            "files": [f.model_dump() for f in loaded.files],
        }
        if listing.ignored:
            details["ignored"] = listing.ignored[:1000]
        for p in loaded.problems:
            draft.findings.append(_problem_finding(target, p))
        for msg in loaded.schema_issues:
            draft.findings.append(Finding(
                id="DQ-SCHEMA-MISMATCH", title="Files of the dataset disagree on columns", severity=config.severity,
                message=msg, location=Location(path=target), engine="mlgate", remediation=_REMEDIATION,
            ))
        manifest = None
        docs = None
        fp = loaded.fingerprint
        if fp is not None:
            draft.sha256 = fp.hexdigest
            draft.size = fp.bytes
            details["fingerprint"] = fp.digest
            details["fingerprint_scheme"] = fp.scheme
            details["rows"] = fp.rows
            details["schema"] = [c.model_dump() for c in fp.columns]
            manifest = RootManifest(
                root=target, kind="file" if listing.kind in ("file", "object") else "directory",
                manifest_sha256=fp.hexdigest, files={f.path: f.sha256 for f in fp.files}, total_bytes=fp.bytes,
            )
            if fp.rows == 0:
                draft.findings.append(Finding(
                    id="DQ-EMPTY-DATASET", title="Dataset has no rows", severity=config.empty_dataset_severity,
                    message=(f"{target}: 0 rows in {len(fp.files)} file(s); an empty dataset never passes "
                             "(column expectations are vacuously true on an empty table)"),
                    location=Location(path=target), engine="mlgate", remediation=_REMEDIATION,
                ))
        table = loaded.table
        loaded.table = None
        if table is not None:
            df = table_to_pandas(table)
            del table
            outcome = gxs.get().validate(df, spec, target)
            del df
            docs = outcome.data_docs
            details["expectations"] = [o.to_json() for o in outcome.expectations]
            details["statistics"] = outcome.statistics
            if docs:
                details["data_docs"] = docs
            for o in outcome.failed:
                draft.findings.append(_expectation_finding(target, o, config))
            draft.coverage.append(Coverage(
                engine=ENGINE, format=fmt or "empty",
                detail=f"suite {spec.name}: {len(spec.expectations)} expectation(s) on {fp.rows if fp else '?'} row(s)",
            ))
        draft.details = details
        return draft, manifest, docs


class _LazyGx:
    """The run's GX session, created on first use; every suite of the run is checked against GX's
    registry then, before the first dataset is validated."""

    def __init__(self, config: DataQualityConfig, data_docs: Any, specs: list[SuiteSpec]) -> None:
        self.config, self.data_docs, self.specs = config, data_docs, specs
        self._session: Any = None

    def get(self) -> Any:
        if self._session is None:
            from mlgate.gates.data_quality.validate import GxSession

            gxs = GxSession(self.config, self.data_docs)
            for spec in self.specs:
                gxs.add_suite(spec)
            self._session = gxs
        return self._session


def _installed_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _tools(gx_version: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    tools = {"great_expectations": gx_version}
    for pkg in ("pandas", "pyarrow"):
        with contextlib.suppress(PackageNotFoundError):
            tools[pkg] = version(pkg)
    return tools


def _problem_finding(target: str, p: Any) -> Finding:
    kind = FindingKind.ERROR if p.kind == "error" else FindingKind.UNSUPPORTED
    titles = {
        "DQ-READ-ERROR": "Dataset file unreadable or corrupt",
        "DQ-UNSUPPORTED-FILE": "File of an unsupported format in the dataset",
        "DQ-MIXED-FORMATS": "Dataset mixes file formats",
        "DQ-SYMLINK": "Symlink in the dataset",
        "DQ-SPECIAL-FILE": "Special file in the dataset",
        "DQ-LIMIT": "Dataset exceeds a memory limit",
        "DQ-DUPLICATE-COLUMNS": "Dataset has duplicate column names",
    }
    member = p.path if p.path and p.path != target else None
    return Finding(
        id=p.code, title=titles.get(p.code, "Dataset could not be checked"),
        severity=Severity.HIGH if kind is FindingKind.ERROR else Severity.MEDIUM, kind=kind,
        message=p.message, location=Location(path=target, member=member), engine="mlgate",
        remediation="Fix or remove the file; a dataset is judged only when every file was read and parsed.",
        details=dict(p.details),
    )


def _expectation_finding(target: str, o: Any, config: DataQualityConfig) -> Finding:
    e = o.spec
    member = ",".join(e.columns) or None
    details = {"expectation": o.to_json(), "suite_index": e.index}
    if o.errored:
        return Finding(
            id="DQ-EXPECTATION-ERROR", title=f"Expectation could not be evaluated: {e.type}",
            severity=Severity.HIGH, kind=FindingKind.ERROR, message=o.summary(),
            location=Location(path=target, member=member), engine=ENGINE,
            remediation="Check the expectation's arguments against the dataset's columns and types.",
            details=details,
        )
    return Finding(
        id=f"DQ-{e.type}", title=f"Expectation failed: {e.type}", severity=e.severity or config.severity,
        message=o.summary(), location=Location(path=target, member=member), engine=ENGINE,
        remediation=_REMEDIATION, details=details,
        references=(f"https://greatexpectations.io/expectations/{e.type}",),
    )


def targets_of(datasets: Sequence[str | Path] | str | Path) -> list[str]:
    if isinstance(datasets, (str, Path)):
        return [str(datasets)]
    return [str(d) for d in datasets]
