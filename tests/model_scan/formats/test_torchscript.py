"""TorchScript archives and torch.export programs, written at test time by the real torch (the
pinned dev dependency torch==2.13.0: ``torch.jit.script``/``trace`` + ``save``, ``torch.export.save``).
Malicious variants edit the written archives the way published techniques do (file access in
TorchScript code, custom-op namespaces, a hostile data.pkl). Nothing is loaded with torch.jit.load,
torch.load or torch.export.load."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest

from mlgate.api import scan
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats.torchscript import judge_exported_program, judge_torchscript_source
from mlgate.model import Report, Severity, Verdict
from mlgate.policy import Policy

from ._util import ids, only

torch = pytest.importorskip("torch")

MODULE_SRC = '''
import torch


class M(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.l(x)).sum(dim=1)
'''


@pytest.fixture(scope="module")
def module_cls(tmp_path_factory: pytest.TempPathFactory) -> type:
    # torch.jit.script needs the class source on disk (inspect.getsource)
    import importlib.util

    d = tmp_path_factory.mktemp("src")
    (d / "mlg_ts_model.py").write_text(MODULE_SRC)
    spec = importlib.util.spec_from_file_location("mlg_ts_model", d / "mlg_ts_model.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.M  # type: ignore[no-any-return]


def findings(r: Report) -> list[tuple[str, str | None, str]]:
    return [(f.id, f.location.member, f.message) for s in r.subjects for f in s.findings]


def rewrite_member(src: Path, dst: Path, name_suffix: str, new: bytes) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith(name_suffix):
                data = new
            zout.writestr(info.filename, data)


def test_scripted_and_traced_archives_pass(module_cls: type, tmp_path: Path, default_policy: Policy) -> None:
    torch.jit.script(module_cls()).save(str(tmp_path / "scripted.pt"))
    torch.jit.trace(module_cls(), torch.randn(3, 4)).save(str(tmp_path / "traced.pt"))
    for name in ("scripted.pt", "traced.pt"):
        r = scan(tmp_path / name, policy=default_policy)
        assert r.verdict is Verdict.PASS, findings(r)
        assert any(c.format == "torchscript-code" for s in r.subjects for c in s.coverage)


def test_exported_program_graph_is_judged(module_cls: type, tmp_path: Path, default_policy: Policy) -> None:
    ep = torch.export.export(module_cls(), (torch.randn(3, 4),))
    torch.export.save(ep, str(tmp_path / "m.pt2"))
    r = scan(tmp_path / "m.pt2", policy=default_policy)
    # modelscan 0.8.8 refuses the nested sample_inputs/model.pt (NESTED_ZIP): a recorded gap, since mlgate
    # analysed that member and the program itself
    assert r.verdict is Verdict.PASS, findings(r)
    assert any(c.format == "torch-export" for s in r.subjects for c in s.coverage)
    assert any("nested zip" in g for s in r.subjects for g in s.details.get("modelscan_gaps", []))


def _rewrite_pt2(src: Path, dst: Path, edit: object) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info.filename))  # type: ignore[operator]
            zout.writestr(info.filename, data)


def test_exported_program_hostile_variants_block(module_cls: type, tmp_path: Path, default_policy: Policy) -> None:
    import io
    import json

    ep = torch.export.export(module_cls(), (torch.randn(3, 4),))
    torch.export.save(ep, str(tmp_path / "m.pt2"))

    def custom_op(name: str, data: bytes) -> bytes:
        if name.endswith("models/model.json"):
            doc = json.loads(data)
            text = json.dumps(doc).replace("torch.ops.aten.relu.default", "torch.ops.evil_lib.run.default")
            assert text != json.dumps(doc)
            return text.encode()
        return data

    evil_zip = io.BytesIO()
    with zipfile.ZipFile(evil_zip, "w") as z:
        z.writestr("model/data.pkl", b"cos\nsystem\n(S'id'\ntR.")  # never loaded
        z.writestr("model/version", b"3\n")

    def nested(name: str, data: bytes) -> bytes:
        return evil_zip.getvalue() if name.endswith("sample_inputs/model.pt") else data

    for edit, rule_id in ((custom_op, "MLG-TS-CUSTOM-OP"), (nested, "MLG-PKL-DANGEROUS-GLOBAL")):
        dst = tmp_path / f"evil-{rule_id}.pt2"
        _rewrite_pt2(tmp_path / "m.pt2", dst, edit)
        r = scan(dst, policy=default_policy)
        assert r.verdict is Verdict.FAIL, findings(r)
        assert any(f[0] == rule_id for f in findings(r)), findings(r)


def test_torchscript_file_access_in_code_is_critical(module_cls: type, tmp_path: Path,
                                                      default_policy: Policy) -> None:
    torch.jit.script(module_cls()).save(str(tmp_path / "ok.pt"))
    with zipfile.ZipFile(tmp_path / "ok.pt") as z:
        code_name = next(n for n in z.namelist() if n.endswith(".py") and b"torch.relu" in z.read(n))
        code = z.read(code_name).decode()
    evil = code.replace("return _0", "_1 = torch.from_file(\"/etc/shadow\", False, 100)\n    return _0")
    assert evil != code
    rewrite_member(tmp_path / "ok.pt", tmp_path / "evil.pt", code_name, evil.encode())
    r = scan(tmp_path / "evil.pt", policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert any(f[0] == "MLG-TS-DANGEROUS-CALL" for f in findings(r)), findings(r)


def test_hostile_data_pkl_in_torchscript_archive_still_blocks(module_cls: type, tmp_path: Path,
                                                                default_policy: Policy) -> None:
    torch.jit.script(module_cls()).save(str(tmp_path / "ok.pt"))
    payload = b"cos\nsystem\n(S'id'\ntR."  # protocol-0 os.system('id'), never loaded
    rewrite_member(tmp_path / "ok.pt", tmp_path / "evil.pt", "/data.pkl", payload)
    r = scan(tmp_path / "evil.pt", policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert any(f[0] == "MLG-PKL-DANGEROUS-GLOBAL" for f in findings(r)), findings(r)


def test_custom_op_namespace_and_custom_class(ctx: ScanContext) -> None:
    src = (
        "class M(Module):\n"
        "  __parameters__ = []\n"
        "  h : __torch__.torch.classes.evil.Shell\n"
        "  def forward(self: __torch__.M, x: Tensor) -> Tensor:\n"
        "    y = torch.ops.mylib.exfil(x)\n"
        "    z = ops.prim.NumToTensor(1)\n"
        "    return torch.ops.aten.relu(y)\n"
    )
    assert judge_torchscript_source("code/__torch__.py", src, ctx)
    targets = sorted(f.details["target"] for f in only(ctx, "MLG-TS-CUSTOM-OP"))
    assert targets == ["__torch__.torch.classes.evil.Shell", "torch.ops.mylib.exfil"], ids(ctx)


def test_source_with_imports_is_not_torchscript(ctx: ScanContext) -> None:
    assert not judge_torchscript_source("code/__torch__.py", "import os\nos.system('id')\n", ctx)


def test_exported_program_targets(ctx: ScanContext) -> None:
    doc = {"graph_module": {"graph": {"nodes": [
        {"target": "torch.ops.aten.linear.default", "inputs": [], "outputs": []},
        {"target": "_operator.getitem", "inputs": [], "outputs": []},
        {"target": "torch.ops.mylib.custom.default", "inputs": [], "outputs": []},
        {"target": "os.system", "inputs": [], "outputs": []},
    ]}}, "custom_objs": [{"class_fqn": "__torch__.torch.classes.evil.X"}]}
    judge_exported_program("models/model.json", doc, ctx)
    assert only(ctx, "MLG-TS-DANGEROUS-CALL")[0].severity is Severity.CRITICAL
    assert sorted(f.details["target"] for f in only(ctx, "MLG-TS-CUSTOM-OP")) == [
        "__torch__.torch.classes.evil.X", "torch.ops.mylib.custom"]


def test_pickle_named_like_torchscript_without_constants_is_plain_pickle(tmp_path: Path,
                                                                          default_policy: Policy) -> None:
    """Without constants.pkl torch.load uses the Python unpickler: __torch__ globals are unknown there."""
    p = tmp_path / "m.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("m/data.pkl", pickle.dumps(1, protocol=2).replace(b"K\x01", b"c__torch__\nM\n)\x81"))
        z.writestr("m/code/__torch__.py", "class M(Module):\n  pass\n")
        z.writestr("m/version", "3\n")
    r = scan(p, policy=default_policy)
    assert r.verdict is Verdict.FAIL
    assert any(f[0] == "MLG-PKL-UNKNOWN-GLOBAL" for f in findings(r)), findings(r)
