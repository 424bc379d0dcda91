"""Build mlgate's wheel from a copy of the sources and install it into a fresh virtual environment
outside the checkout (no ``--system-site-packages``, pinned by ``constraints.txt``, from pip's
cache). Shared by ``tests/packaging`` and ``bench/check_installed.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "src", "policies")


def build_wheel(dest: Path) -> Path:
    """The wheel of a clean copy of the sources (the checkout gets no build/ or egg-info)."""
    tree = dest / "src-copy"
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, tree / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
        else:
            tree.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tree / name)
    out = dest / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(tree)], check=True, capture_output=True, timeout=600)
    [wheel] = out.glob("mlgate-*.whl")
    return wheel


def clean_env(home: Path) -> dict[str, str]:
    """The environment of a new user: nothing pointing into the checkout or at a running stack."""
    drop = ("PYTHONPATH", "MLGATE_", "VIRTUAL_ENV", "PREFECT_", "MLFLOW_", "AWS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update({"HOME": str(home), "PREFECT_HOME": str(home / ".prefect"), "DO_NOT_TRACK": "1"})
    return env


def install(wheel: Path, venv: Path, extras: str = "all", python: str | Path = sys.executable,
            cwd: Path | None = None) -> Path:
    """A fresh venv of ``python`` with the wheel (and its pinned dependencies) installed, by pip
    from the configured (local) index; returns its bin/."""
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True, timeout=300, cwd=cwd)
    bin_dir = venv / "bin"
    spec = f"{wheel}[{extras}]" if extras else str(wheel)
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-c", str(REPO / "constraints.txt"), spec], check=True, capture_output=True, timeout=1800,
                   cwd=cwd)
    return bin_dir


def newest_python(minor: str = "3.13") -> Path | None:
    """The newest pyenv-installed CPython ``minor`` (``~/.pyenv/versions/3.13.*``), or None."""
    def key(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in p.parents[1].name.split(".") if x.isdigit())

    found = [p for p in Path.home().glob(f".pyenv/versions/{minor}*/bin/python{minor}")
             if p.parents[1].name.replace(".", "").isdigit() and os.access(p, os.X_OK)]
    return max(found, key=key) if found else None
