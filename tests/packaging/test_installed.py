"""mlgate works installed: the wheel carries the policies (the top-level ``policies/`` is the source
of truth) and, installed into a fresh venv outside the checkout, its commands run without it."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
from tests.packaging.installed import REPO, build_wheel, clean_env, install


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_ships_exactly_the_source_policies(wheel: Path) -> None:
    source = {p.relative_to(REPO / "policies").as_posix(): p.read_bytes()
              for p in (REPO / "policies").rglob("*") if p.is_file()}
    with zipfile.ZipFile(wheel) as z:
        packaged = {n.removeprefix("mlgate/_policies/"): z.read(n) for n in z.namelist()
                    if n.startswith("mlgate/_policies/")}
    assert source, "no policies found"
    assert packaged == source


def test_the_source_tree_links_the_packaged_policies_to_the_top_level_folder() -> None:
    from mlgate.policy import default_policy_path, packaged_policies_dir

    assert packaged_policies_dir().resolve() == (REPO / "policies").resolve()
    assert default_policy_path().resolve() == (REPO / "policies" / "default.yaml").resolve()


def test_no_library_code_loads_files_by_path_or_walks_up_to_a_checkout() -> None:
    offenders = []
    for p in (REPO / "src" / "mlgate").rglob("*.py"):
        text = p.read_text()
        for needle in ("spec_from_file_location", "MLGATE_HOME", "find_repo", "in here.parents", "find_flow_file"):
            if needle in text:
                offenders.append(f"{p.relative_to(REPO)}: {needle}")
    assert offenders == []


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_installed_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """The core install (no extras: what `mlgate scan` needs). The lifecycle from an installed
    wheel with every extra, against the local stack, is `bench/check_installed.py`."""
    bin_dir = install(wheel, tmp_path / "venv", extras="")
    work = tmp_path / "work"
    work.mkdir()
    env = clean_env(tmp_path / "home")

    def mlgate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_dir / "mlgate"), *args], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)

    where = subprocess.run([str(bin_dir / "python"), "-c", "import mlgate; print(mlgate.__file__)"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(tmp_path / "venv")), where.stdout
    assert mlgate("samples", str(work / "samples")).returncode == 0
    clean, poisoned = mlgate("scan", str(work / "samples" / "clean-model")), mlgate("scan", str(work / "samples" / "poisoned-model"))
    assert (clean.returncode, poisoned.returncode) == (0, 1), clean.stdout + clean.stderr + poisoned.stderr
    validate = mlgate("policy", "validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert mlgate("rescan", "--help").returncode == 0
    assert mlgate("run", "--help").returncode == 0
    assert mlgate("schedule", "--help").returncode == 0
