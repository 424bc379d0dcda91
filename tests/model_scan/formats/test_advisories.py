"""Loader advisories: the dated, sourced table (schema-validated) and the declarations read from MLmodel,
requirements.txt, conda.yaml and config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlgate.api import scan
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats import advisories as adv
from mlgate.gates.model_scan.formats.hf import check_json_document, check_requirements_file, check_yaml_document
from mlgate.model import Severity, Verdict
from mlgate.policy import Policy

from ._util import ids, only

TABLE = adv.load_table()
RULE = "MLG-ADVISORY-LOADER"


def below(fixed: str) -> str:
    """A version just inside '<fixed'."""
    nums = [int(x) for x in fixed.split(".")]
    i = max(j for j, n in enumerate(nums) if n > 0)
    nums[i] -= 1
    return ".".join(map(str, nums)) + (".99" if i < len(nums) - 1 else "")


def test_table_rows_are_dated_and_sourced() -> None:
    ids_ = [a.id for a in TABLE.advisories]
    assert len(ids_) == len(set(ids_))
    for a in TABLE.advisories:
        assert a.source.startswith("https://")
        assert a.published.year >= 2022


@pytest.mark.parametrize("bad", [
    {"affected": "lt 2.6"}, {"fixed": "soon"}, {"id": "CVE-25-1"}, {"source": "http://x"}, {"published": "yesterday"},
    {"extra": 1},
])
def test_table_schema_rejects_bad_rows(bad: dict[str, object], tmp_path: Path) -> None:
    doc = yaml.safe_load(adv.table_path().read_text())
    doc["advisories"][0].update(bad)
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(adv.AdvisoryTableError, match=r"t\.yaml"):
        adv.load_table(p)


@pytest.mark.parametrize("row", TABLE.advisories, ids=lambda a: a.id)
def test_each_advisory_fires_inside_its_range_and_not_at_the_fix(row: adv.Advisory, make_ctx: object) -> None:
    bad = make_ctx()  # type: ignore[operator]
    check_requirements_file("requirements.txt", f"{row.package}=={below(row.fixed)}\n", bad)
    assert row.id in [f.details["advisory"] for f in only(bad, RULE)], ids(bad)
    good = make_ctx()  # type: ignore[operator]
    check_requirements_file("requirements.txt", f"{row.package}=={row.fixed}\n", good)
    assert row.id not in [f.details["advisory"] for f in only(good, RULE)]


def test_cve_2025_32434_torch_weights_only_in_mlmodel(ctx: ScanContext) -> None:
    """torch < 2.6: torch.load(weights_only=True) is bypassable.
    https://github.com/pytorch/pytorch/security/advisories/GHSA-53q9-r3pm-6pq6"""
    mlmodel = "flavors:\n  pytorch:\n    model_data: data\n    pytorch_version: 2.5.1+cpu\n" \
              "  python_function:\n    loader_module: mlflow.pytorch\n"
    check_yaml_document("MLmodel", mlmodel, ctx)
    f = only(ctx, RULE)
    assert [x.details["advisory"] for x in f] == ["CVE-2025-32434"]
    assert f[0].severity is Severity.MEDIUM


def test_cve_2025_1550_keras_safe_mode_in_conda_yaml(ctx: ScanContext) -> None:
    """keras 3 < 3.9: safe_mode bypass through config.json module/function references.
    https://github.com/keras-team/keras/security/advisories/GHSA-48g7-3x6r-xfhp"""
    conda = "name: env\ndependencies:\n- python=3.11\n- pip:\n  - mlflow==3.1.0\n  - keras==3.8.0\n"
    check_yaml_document("conda.yaml", conda, ctx)
    assert "CVE-2025-1550" in [x.details["advisory"] for x in only(ctx, RULE)]


def test_transformers_writer_version_is_info(ctx: ScanContext) -> None:
    check_json_document("config.json", {"model_type": "gpt2", "transformers_version": "4.30.2"}, ctx)
    f = only(ctx, RULE)
    assert {x.details["advisory"] for x in f} == {"CVE-2023-7018", "CVE-2024-3568"}
    assert all(x.severity is Severity.INFO for x in f)


def test_unpinned_requirements_say_nothing(ctx: ScanContext) -> None:
    check_requirements_file("requirements.txt", "torch>=2.0\nkeras\n# torch==1.0\n", ctx)
    assert ctx.findings == []


def test_gate_blocks_mlflow_model_pinning_vulnerable_torch(tmp_path: Path, default_policy: Policy) -> None:
    d = tmp_path / "model"
    d.mkdir()
    (d / "requirements.txt").write_text("mlflow==3.17.2\ntorch==2.5.1\n")
    (d / "config.json").write_text(json.dumps({"model_type": "bert"}))
    r = scan(d, policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert any(f.id == RULE and f.blocking for s in r.subjects for f in s.findings)
