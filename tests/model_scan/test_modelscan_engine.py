"""modelscan as the optional second engine: what happens when it is absent (policy knob
``gates.model-scan.modelscan.required``), and its NumPy 2 failure on .npy/.npz (a gap only when
mlgate's own engine fully covered the file). docs/ci.md#modelscan."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mlgate.api import scan
from mlgate.gates.model_scan import modelscan_engine as engine
from mlgate.gates.model_scan.config import ModelScanConfig
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.globals_policy import GlobalsPolicy
from mlgate.gates.model_scan.rules import ENGINE_ERROR
from mlgate.model import Verdict
from mlgate.policy import load_policy

REPO = Path(__file__).resolve().parents[2]
HAVE_MODELSCAN = importlib.util.find_spec("modelscan") is not None
needs_modelscan = pytest.mark.skipif(not HAVE_MODELSCAN, reason="modelscan is not installed (Python 3.13 or no extra)")
NUMPY2 = int(np.__version__.split(".")[0]) >= 2


def _policy(tmp_path: Path, **modelscan: Any) -> Path:
    """The default policy with the model-scan gate's modelscan settings replaced."""
    doc = yaml.safe_load((REPO / "policies" / "default.yaml").read_text())
    doc["allowlist"]["include"] = [str(REPO / "policies" / p) for p in doc["allowlist"]["include"]]
    settings = yaml.safe_load((REPO / "policies" / "gates" / "model-scan.yaml").read_text())
    settings["modelscan"] = {**settings["modelscan"], **modelscan}
    doc["gates"] = {"model-scan": settings}
    doc["checkpoints"] = {cp: {**v, "gates": ["model-scan"]} for cp, v in doc["checkpoints"].items()}
    p = tmp_path / "policy.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


@pytest.fixture
def without_modelscan(monkeypatch: pytest.MonkeyPatch) -> None:
    """modelscan as if not installed (the situation on Python 3.13 or without the extra)."""
    monkeypatch.setattr(engine, "modelscan_problem", lambda: "ModuleNotFoundError: No module named 'modelscan'")
    monkeypatch.setattr(engine, "modelscan_version", lambda: None)


def _npy(tmp_path: Path) -> Path:
    p = tmp_path / "a.npy"
    np.save(p, np.arange(12, dtype=np.float64).reshape(3, 4))
    return p


def test_default_policy_does_not_require_modelscan() -> None:
    assert ModelScanConfig().modelscan.required is False
    pol = load_policy(REPO / "policies" / "default.yaml")
    assert pol.gate_config("model-scan", ModelScanConfig).modelscan.required is False


def test_absent_modelscan_is_reported_and_mlgate_judges_alone(tmp_path: Path, without_modelscan: None) -> None:
    r = scan(_npy(tmp_path), policy=_policy(tmp_path))
    assert r.verdict is Verdict.PASS, r.reason
    (s,) = r.subjects
    assert {c.engine for c in s.coverage} == {"mlgate"}
    assert s.details["modelscan"]["status"] == "not installed"
    assert r.tools["modelscan"] == "unavailable"
    assert any("modelscan (second engine) is not available" in n for n in r.notes), r.notes


def test_absent_modelscan_never_passes_what_mlgate_cannot_analyse(tmp_path: Path, without_modelscan: None) -> None:
    p = tmp_path / "blob.weird"
    p.write_bytes(bytes(range(256)) * 4)
    r = scan(p, policy=_policy(tmp_path))
    assert r.verdict is Verdict.INCOMPLETE
    assert not r.subjects[0].coverage


def test_absent_modelscan_blocks_malicious_files_alone(tmp_path: Path, without_modelscan: None) -> None:
    p = tmp_path / "model.pkl"
    p.write_bytes(b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.")
    r = scan(p, policy=_policy(tmp_path))
    assert r.verdict is Verdict.FAIL


def test_required_modelscan_missing_is_an_error_on_every_file(tmp_path: Path, without_modelscan: None) -> None:
    (tmp_path / "m").mkdir()
    np.save(tmp_path / "m" / "a.npy", np.zeros(3))
    (tmp_path / "m" / "b.json").write_text("{}")
    r = scan(tmp_path / "m", policy=_policy(tmp_path, required=True))
    assert r.verdict is Verdict.ERROR
    for s in r.subjects:
        assert "MLG-MODELSCAN-UNAVAILABLE" in {f.id for f in s.findings if f.blocking}, s.subject
    assert not any("second engine" in n for n in r.notes)


def test_disabled_modelscan_is_recorded(tmp_path: Path) -> None:
    r = scan(_npy(tmp_path), policy=_policy(tmp_path, enabled=False))
    assert r.verdict is Verdict.PASS
    assert r.subjects[0].details["modelscan"]["status"] == "disabled by policy"


@needs_modelscan
def test_numpy_files_are_mlgate_covered_with_a_recorded_modelscan_gap(tmp_path: Path) -> None:
    r = scan(_npy(tmp_path), policy=_policy(tmp_path))
    assert r.verdict is Verdict.PASS, r.reason
    (s,) = r.subjects
    engines = {c.engine for c in s.coverage}
    if NUMPY2:  # modelscan 0.8.8 calls numpy.lib.format._check_version, gone in NumPy 2
        assert engines == {"mlgate"}, s.details
        assert any(engine.NUMPY2_ERROR_MARK in g for g in s.details["modelscan_gaps"]), s.details
    else:
        assert engines == {"mlgate", "modelscan"}, s.details


def _ctx(formats: list[str], covered: bool, own_error: bool = False) -> ScanContext:
    ctx = ScanContext(path="a.npy", config=ModelScanConfig(), globals_policy=GlobalsPolicy.from_policy(
        load_policy(REPO / "policies" / "default.yaml"), None))
    if covered:
        for f in formats:
            ctx.covered(f, "test")
    else:
        ctx.formats.extend(formats)
    if own_error:
        ctx.report(ENGINE_ERROR, "mlgate's own analysis failed")
    return ctx


NUMPY2_ERR = {"category": "MODEL_SCAN", "description": "module 'numpy.lib.format' has no attribute '_check_version'"}


def test_numpy2_error_is_a_gap_only_when_mlgate_covered_the_file() -> None:
    assert engine._known_gap(NUMPY2_ERR, _ctx(["npy"], covered=True)) is True
    assert engine._known_gap(NUMPY2_ERR, _ctx(["npy"], covered=False)) is False
    assert engine._known_gap(NUMPY2_ERR, _ctx(["npy"], covered=True, own_error=True)) is False
    assert engine._known_gap(NUMPY2_ERR, _ctx(["pickle"], covered=True)) is False  # not a NumPy file to mlgate
    other = {"category": "MODEL_SCAN", "description": "something else broke"}
    assert engine._known_gap(other, _ctx(["npy"], covered=True)) is False


@needs_modelscan
def test_npz_archives_are_covered_too(tmp_path: Path) -> None:
    p = tmp_path / "b.npz"
    np.savez(p, a=np.arange(3), b=np.ones((2, 2)))
    r = scan(p, policy=_policy(tmp_path))
    assert r.verdict is Verdict.PASS, r.reason
    if NUMPY2:
        assert r.subjects[0].details["modelscan_gaps"], r.subjects[0].details


@needs_modelscan
def test_object_array_with_a_malicious_pickle_still_fails_under_numpy2(tmp_path: Path) -> None:
    """The gap never hides what mlgate's engine finds: an object array whose pickle calls
    os.system is a finding, and the file fails whatever modelscan says."""
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (118 - len(header)) + b"\n"
    p = tmp_path / "evil.npy"
    p.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
                  + b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.")
    r = scan(p, policy=_policy(tmp_path))
    assert r.verdict is Verdict.FAIL, r.reason
