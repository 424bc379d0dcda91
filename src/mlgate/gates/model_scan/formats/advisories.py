"""Loader advisories: a model that declares the framework versions it is to be loaded with (MLflow
``MLmodel`` flavour versions, ``requirements.txt``, ``conda.yaml``) or that records the version that
wrote it (``config.json`` ``transformers_version``) is checked against ``policies/loader-advisories.yaml``,
a dated, sourced table of versions with load-time code-execution flaws.

* declared requirements (what ``mlflow models serve`` / ``mlflow.pyfunc.get_model_dependencies`` install)
  inside an affected range: ``MLG-ADVISORY-LOADER`` at medium (blocks under the default policy);
* writer versions (``transformers_version``): info -- the model does not ask for that version, but
  whoever loads it in the writer's environment is exposed.

A requirement is "inside" a range when its pinned version (``==``/``===``/``~=``, conda ``=``) is; an
unpinned or lower-bounded-only requirement says nothing and is not reported. If the table cannot be
read while a model declares versions, that is an engine error (fail closed).
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.rules import ENGINE_ERROR, rule
from mlgate.model import Severity

R_ADVISORY = rule(
    "MLG-ADVISORY-LOADER",
    "Model declares a framework version with a known load-time code-execution advisory",
    Severity.MEDIUM,
    "Load and serve the model with the fixed version named in the finding (and update the model's declared "
    "requirements); until then treat loading it as running code.",
    ("https://github.com/advisories",),
    cwe=("CWE-1395",),
)

TABLE_NAME = "loader-advisories.yaml"
VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)([a-zA-Z.\-]*\d*)?(?:\+[\w.]+)?\s*$")
RANGE_PART = re.compile(r"^\s*(<=|>=|<|>|==|!=)\s*([0-9][\w.+\-]*)\s*$")
ADVISORY_ID = re.compile(r"^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+)$")


def parse_version(v: str) -> tuple[tuple[int, ...], int] | None:
    """(release numbers, 0 for a pre-release else 1); ``2.6.0+cpu`` -> ((2, 6, 0), 1)."""
    m = VERSION.match(v)
    if not m:
        return None
    nums = tuple(int(x) for x in m.group(1).split("."))
    while len(nums) > 1 and nums[-1] == 0:
        nums = nums[:-1]
    pre = (m.group(2) or "").lower().lstrip(".-")
    is_pre = bool(pre) and not pre.startswith("post")
    return nums, 0 if is_pre else 1


def in_range(version: str, spec: str) -> bool:
    v = parse_version(version)
    if v is None:
        return False
    for part in spec.split(","):
        m = RANGE_PART.match(part)
        if not m:
            raise ValueError(f"not a version range: {spec!r}")
        op, bound_s = m.groups()
        bound = parse_version(bound_s)
        if bound is None:
            raise ValueError(f"not a version: {bound_s!r}")
        ok = {"<": v < bound, "<=": v <= bound, ">": v > bound, ">=": v >= bound, "==": v == bound,
              "!=": v != bound}[op]
        if not ok:
            return False
    return True


class Advisory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    package: str = Field(pattern=r"^[a-z0-9][a-z0-9._\-]*$")
    affected: str
    fixed: str
    id: str
    ghsa: str | None = None
    source: str = Field(pattern=r"^https://")
    published: _dt.date
    summary: str = Field(min_length=10)

    @field_validator("affected")
    @classmethod
    def _affected(cls, v: str) -> str:
        in_range("0", v)  # raises on a malformed range
        return v

    @field_validator("fixed")
    @classmethod
    def _fixed(cls, v: str) -> str:
        if v != "none" and parse_version(v) is None:
            raise ValueError(f"not a version or 'none': {v!r}")
        return v

    @field_validator("id", "ghsa")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v is not None and not ADVISORY_ID.match(v):
            raise ValueError(f"not a CVE/GHSA/PYSEC id: {v!r}")
        return v


class AdvisoryTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    apiVersion: str = Field(pattern=r"^mlgate/v1$")
    kind: str = Field(pattern=r"^LoaderAdvisories$")
    reviewed: _dt.date
    advisories: tuple[Advisory, ...] = Field(min_length=1)


class AdvisoryTableError(Exception):
    pass


def table_path() -> Path:
    """The table shipped with the policies (``mlgate/_policies``; in a checkout the same files as
    ``policies/``), never a file found by walking up from the code."""
    from mlgate.policy import packaged_policies_dir

    return packaged_policies_dir() / TABLE_NAME


def load_table(path: Path | None = None) -> AdvisoryTable:
    p = path or table_path()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        return AdvisoryTable.model_validate(data)
    except OSError as e:
        raise AdvisoryTableError(f"{p}: cannot be read: {e}") from e
    except (yaml.YAMLError, ValidationError) as e:
        raise AdvisoryTableError(f"{p}: {str(e)[:500]}") from e


@functools.lru_cache(maxsize=1)
def _cached_table() -> AdvisoryTable:
    return load_table()


# --------------------------------------------------------------------------------------------
# What a model declares
# --------------------------------------------------------------------------------------------

REQ_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)\s*(?:\[[^\]]*\])?\s*(===|==|~=)\s*([0-9][\w.+\-!]*)")
CONDA_DEP = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)\s*(?:==?)\s*([0-9][\w.+\-]*)")
# MLmodel flavour keys that name the framework version the model was logged with.
FLAVOR_VERSION_KEYS = {"pytorch_version": "torch", "keras_version": "keras", "transformers_version": "transformers",
                       "tensorflow_version": "tensorflow", "onnx_version": "onnx", "sklearn_version": "scikit-learn",
                       "xgb_version": "xgboost", "lgb_version": "lightgbm"}
ALIASES = {"pytorch": "torch", "nemo_toolkit": "nemo-toolkit", "tf-keras": "keras", "tf_keras": "keras"}


def _norm(pkg: str) -> str:
    p = pkg.strip().lower().replace("_", "-")
    return ALIASES.get(p, ALIASES.get(pkg.strip().lower(), p))


def requirements_pins(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    for i, line in enumerate(text.splitlines()[:10_000], 1):
        m = REQ_LINE.match(line.split("#", 1)[0])
        if m:
            out.append((_norm(m.group(1)), m.group(3), i))
    return out


def conda_pins(doc: Any) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    deps = doc.get("dependencies") if isinstance(doc, dict) else None
    if not isinstance(deps, list):
        return out
    for d in deps[:10_000]:
        if isinstance(d, str):
            m = CONDA_DEP.match(d.split("::")[-1])
            if m:
                out.append((_norm(m.group(1)), m.group(2), 0))
        elif isinstance(d, dict) and isinstance(d.get("pip"), list):
            out.extend(requirements_pins("\n".join(x for x in d["pip"] if isinstance(x, str))))
    return out


def mlmodel_pins(doc: Any) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    flavors = doc.get("flavors") if isinstance(doc, dict) else None
    if not isinstance(flavors, dict):
        return out
    for fl in flavors.values():
        if isinstance(fl, dict):
            for key, pkg in FLAVOR_VERSION_KEYS.items():
                v = fl.get(key)
                if isinstance(v, (str, int, float)):
                    out.append((pkg, str(v), 0))
    return out


def check_pins(document: str, pins: list[tuple[str, str, int]], ctx: ScanContext, *, declared: bool) -> None:
    """Report every pin inside an advisory's affected range. ``declared``: the model asks for this
    version (medium); otherwise it only records the writer's version (info)."""
    if not pins:
        return
    try:
        table = _cached_table()
    except AdvisoryTableError as e:
        ctx.error(ENGINE_ERROR, f"loader-advisory table unavailable: {e}")
        return
    for pkg, version, line in pins:
        for adv in table.advisories:
            if adv.package == pkg and in_range(version, adv.affected):
                ctx.issue(
                    R_ADVISORY,
                    f"{document}: {pkg} {version} is affected by {adv.id} (fixed in {adv.fixed}): {adv.summary}",
                    severity=Severity.MEDIUM if declared else Severity.INFO,
                    line=line or None,
                    details={"document": document, "package": pkg, "version": version, "advisory": adv.id,
                             "ghsa": adv.ghsa, "affected": adv.affected, "fixed": adv.fixed, "source": adv.source,
                             "published": adv.published.isoformat(), "declared": declared},
                )
    ctx.covered("loader-advisories", f"{document}: {len(pins)} pinned versions checked")
