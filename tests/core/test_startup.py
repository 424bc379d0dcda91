"""The pre-commit start-up (issue 15), guarded by structure, never by time: what ``mlgate --help``
and ``mlgate scan`` of one small pickle import, and that the fast YAML loader changes nothing.
The figures themselves come from ``bench/bench_startup.py`` (docs/ci.md)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import mlgate.policy as policy_mod
from mlgate.policy import AllowEntry, load_policy

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"

# Never on the path of --help or of a local scan: each costs 0.1-2 s to import.
NEVER = ("mlflow", "prefect", "boto3", "botocore", "great_expectations", "pandas", "requests")
PROBE = (
    "import sys\n"
    "from mlgate.cli import main\n"
    "try:\n"
    "    rc = main(sys.argv[1:])\n"
    "finally:\n"
    "    print('IMPORTED=' + ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def imported(args: list[str], cwd: Path) -> tuple[int, set[str]]:
    env = {**os.environ, "MLGATE_POLICY": str(POLICIES / "default.yaml")}
    p = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=120)
    line = next(ln for ln in p.stderr.splitlines() if ln.startswith("IMPORTED="))
    return p.returncode, set(line.split("=", 1)[1].split())


def top_level(mods: set[str]) -> set[str]:
    return {m.split(".")[0] for m in mods}


@pytest.fixture
def one_pickle(tmp_path: Path) -> Path:
    (tmp_path / "one.pkl").write_bytes(pickle.dumps({"weights": [0.5] * 8}, protocol=4))
    return tmp_path


def test_help_imports_no_framework_and_no_result_model(tmp_path: Path) -> None:
    rc, mods = imported(["--help"], tmp_path)
    assert rc == 0
    heavy = top_level(mods) & {*NEVER, "pydantic", "yaml", "numpy", "h5py", "modelscan", "rich"}
    assert not heavy, f"mlgate --help imported {sorted(heavy)}"
    assert "mlgate.model" not in mods
    assert "urllib.request" not in mods


def test_scan_of_one_pickle_imports_no_framework(one_pickle: Path) -> None:
    rc, mods = imported(["scan", "one.pkl"], one_pickle)
    assert rc == 0
    assert not top_level(mods) & set(NEVER), sorted(top_level(mods) & set(NEVER))
    assert "urllib.request" not in mods


def test_scan_without_modelscan_imports_neither_numpy_nor_modelscan(one_pickle: Path) -> None:
    """With the second engine off (policy), nothing of modelscan's stack is imported: modelscan is
    loaded only when the policy enables it and a file reaches it."""
    pol = one_pickle / "policies"
    import shutil

    shutil.copytree(POLICIES, pol)
    text = (pol / "default.yaml").read_text()
    line = "  model-scan: {include: gates/model-scan.yaml}"
    assert line in text
    (pol / "default.yaml").write_text(text.replace(line, line[:-1] + ", modelscan: {enabled: false}}"))
    rc, mods = imported(["scan", "--policy", str(pol / "default.yaml"), "one.pkl"], one_pickle)
    assert rc == 0
    assert not top_level(mods) & {*NEVER, "numpy", "h5py"}, sorted(top_level(mods) & {*NEVER, "numpy", "h5py"})
    assert "modelscan.modelscan" not in mods


def shipped_yaml() -> list[Path]:
    return sorted(p for p in POLICIES.rglob("*.yaml"))


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")
@pytest.mark.parametrize("path", shipped_yaml(), ids=lambda p: str(p.relative_to(POLICIES)))
def test_libyaml_and_pure_python_loaders_agree(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.load(text, Loader=yaml.SafeLoader)


def shipped_policies() -> list[Path]:
    return [p for p in sorted(POLICIES.glob("*.yaml")) if "kind: Policy" in p.read_text()]


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")
@pytest.mark.parametrize("path", shipped_policies(), ids=lambda p: p.name)
def test_every_shipped_policy_is_the_same_with_either_loader(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert policy_mod._SAFE_LOADER is yaml.CSafeLoader
    fast = load_policy(path)
    monkeypatch.setattr(policy_mod, "_SAFE_LOADER", yaml.SafeLoader)
    slow = load_policy(path)
    assert fast.digest == slow.digest
    assert fast.doc == slow.doc
    assert fast.sources == slow.sources
    assert len(fast.allow_entries) > 100


def test_shipped_policies_found() -> None:
    assert {p.name for p in shipped_policies()} >= {"default.yaml", "local-stack.yaml"}


@pytest.mark.parametrize("module", ["os", "a.b_c.D9", "torch.**", "_x.**"])
def test_allow_entry_accepts_module_names(module: str) -> None:
    assert AllowEntry(module=module, name="*", reason="ok!").module == module


@pytest.mark.parametrize("module", ["", "**", ".**", "a..b", "1a", "a.**.**", "a.**.b", "a-b", "a.", "os\n", "a b"])
def test_allow_entry_rejects_module_patterns(module: str) -> None:
    with pytest.raises(ValueError, match="not a module name"):
        AllowEntry(module=module, name="*", reason="ok!")


@pytest.mark.parametrize("name", ["", "a..b", "1a", "a.*", "**", "x\n", ".a"])
def test_allow_entry_rejects_attribute_names(name: str) -> None:
    with pytest.raises(ValueError, match="not an attribute name"):
        AllowEntry(module="os", name=name, reason="ok!")


def test_included_allowlist_error_still_names_file_and_entry(tmp_path: Path) -> None:
    (tmp_path / "allow.yaml").write_text("globals:\n  - {module: os, name: path, reason: fine}\n"
                                         "  - {module: '1bad', name: x, reason: nope}\n")
    (tmp_path / "p.yaml").write_text(
        "apiVersion: mlgate/v1\nname: t\ncheckpoints:\n  pre-publish: {gates: [model-scan]}\n"
        "allowlist:\n  include: [allow.yaml]\n")
    with pytest.raises(policy_mod.PolicyError, match=r"allow\.yaml: globals\[1\]\.module"):
        load_policy(tmp_path / "p.yaml")
