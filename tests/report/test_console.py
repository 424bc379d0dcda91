"""Console messages of `mlgate scan`: a multi-folder scan says which folder each row comes from,
and the one-line summary names the most severe finding, not the first file alphabetically."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.report.report_helpers import EVIL

from mlgate.api import scan
from mlgate.cli import main
from mlgate.report import render
from mlgate.samples import write_clean_model


@pytest.fixture
def two_folders(tmp_path: Path) -> tuple[Path, Path]:
    one = write_clean_model(tmp_path / "one")
    (one / "a_helper.py").write_text("import json\n\nVALUE = json.dumps({})\n")  # custom code: high
    two = write_clean_model(tmp_path / "two")
    (two / "z_model.pkl").write_bytes(EVIL)  # posix.system: critical
    return one, two


def test_summary_names_the_most_severe_finding(two_folders: tuple[Path, Path], default_policy_path: Path) -> None:
    one, two = two_folders
    r = scan([one, two], policy=default_policy_path)
    assert r.reason.startswith("2 file(s) fail; most severe: ")
    assert f"{two}: z_model.pkl: critical MLG-PKL-DANGEROUS-GLOBAL" in r.reason
    assert "a_helper.py" not in r.reason
    # In one folder too: z_model.pkl is named although a_helper.py sorts first.
    (one / "z_model.pkl").write_bytes(EVIL)
    r1 = scan([one], policy=default_policy_path)
    assert "most severe: z_model.pkl: critical" in r1.reason


def test_multi_folder_rows_say_which_folder(
    two_folders: tuple[Path, Path], default_policy_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = two_folders
    assert main(["scan", "-p", str(default_policy_path), str(one), str(two)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    head_one = next(i for i, line in enumerate(lines) if line.startswith(f"{one}  manifest sha256:"))
    head_two = next(i for i, line in enumerate(lines) if line.startswith(f"{two}  manifest sha256:"))
    row_helper = next(i for i, line in enumerate(lines) if "a_helper.py" in line and "fail" in line)
    row_pickle = next(i for i, line in enumerate(lines) if "z_model.pkl" in line and "fail" in line)
    assert head_one < row_helper < head_two < row_pickle
    # Both folders have a config.json: each appears once under its own folder.
    assert sum(" config.json " in line for line in lines[head_one:head_two]) == 1
    assert sum(" config.json " in line for line in lines[head_two:]) == 1


def test_single_folder_keeps_one_table_and_markup_is_not_interpreted(
    tmp_path: Path, default_policy_path: Path
) -> None:
    d = write_clean_model(tmp_path / "m")
    (d / "[bold red]x[reverse].pkl").write_bytes(EVIL)
    text = render([scan([d], policy=default_policy_path)], "console")
    assert "[bold red]x[reverse].pkl" in text
    assert f"{d}  manifest" not in text
