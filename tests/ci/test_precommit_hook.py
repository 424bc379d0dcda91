"""The ``mlgate-scan`` pre-commit hook (.pre-commit-hooks.yaml) through ``pre-commit try-repo``
in a temporary git repository: pre-commit builds the hook's environment from this repository
(pip installs mlgate's core from the package registry; the pip cache makes it quick, nothing
else is fetched), then a poisoned pickle blocks the commit while the clean file beside it
passes, and files that cannot carry a model are not handed to the hook. try-repo builds a
fresh environment on every call, so the test makes one call."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
EVIL = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."  # never executed: only scanned

pytestmark = pytest.mark.slow


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout.strip()


def _snapshot_of_this_repo(dest: Path) -> str:
    """A one-commit copy of this checkout as it is now (tracked and new, not ignored files), so
    that try-repo tests the working tree and caches the hook environment under one ref."""
    files = _git(REPO, "ls-files", "-co", "--exclude-standard", "-z").split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "snapshot")
    return _git(dest, "rev-parse", "HEAD")


def test_hook_definition_is_valid() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "mlgate-scan"
    assert hook["entry"] == "mlgate scan"
    import re

    rx = re.compile(hook["files"], re.X)
    for name in ("model.pkl", "w/pytorch_model.bin", "a.safetensors", "x.npz", "m.keras", "t/tokenizer_config.json",
                 "mlruns/1/MLmodel", "m.gguf", "m.onnx", "chat.jinja", "ckpt.PT"):
        assert rx.search(name), name
    for name in ("README.md", "src/train.py", "data.csv", "config.json", "notes.txt"):
        assert not rx.search(name), name


@pytest.mark.timeout(1800)  # pip builds the hook's environment (minutes on a loaded 2-core machine)
@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="pre-commit is not installed in this venv (dev extra)")
def test_try_repo_passes_clean_and_blocks_poisoned_files(tmp_path: Path) -> None:
    src = tmp_path / "mlgate-src"
    src.mkdir()
    ref = _snapshot_of_this_repo(src)

    proj = tmp_path / "project"
    proj.mkdir()
    _git(proj, "init", "-q")
    np.save(proj / "weights.npy", np.arange(6, dtype=np.float32))
    (proj / "README.md").write_text("# a project\n")
    (proj / "evil.pkl").write_bytes(EVIL)
    _git(proj, "add", "-A")

    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "MLGATE_POLICY": str(REPO / "policies" / "default.yaml"),
        "PIP_CONSTRAINT": str(REPO / "constraints.txt"),  # the versions the pip cache holds
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    env.pop("VIRTUAL_ENV", None)

    # one try-repo run (each builds a fresh hook environment): the poisoned pickle blocks the
    # commit, the clean file passes, README.md is not handed to the hook
    run = subprocess.run([str(PRE_COMMIT), "try-repo", str(src), "mlgate-scan", "--ref", ref, "--verbose",
                          "--files", "weights.npy", "README.md", "evil.pkl"],
                         cwd=proj, capture_output=True, text=True, env=env, timeout=1500)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "mlgate scan (model files)" in out
    assert "Failed" in out
    hook_output = out.split("mlgate scan (model files)", 1)[1]
    rows: dict[str, str] = {}  # subject -> verdict, from the console table's rows
    for ln in hook_output.splitlines():
        cells = [c.strip() for c in ln.replace("│", "|").split("|")]
        cells = [c for c in cells if c]
        if len(cells) >= 2 and cells[0] in ("pass", "fail", "error", "incomplete"):
            rows[cells[1]] = cells[0]
    assert rows.get("evil.pkl") == "fail", hook_output
    assert rows.get("weights.npy") == "pass", hook_output
    assert "README.md" not in rows, hook_output
    assert "MLG-PKL" in hook_output
