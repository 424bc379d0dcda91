"""The model-file gate end to end through the API and the CLI: per-file verdicts, digests,
manifests, fail-closed paths, exit codes and report formats."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from mlgate.api import scan
from mlgate.cli import main
from mlgate.digest import manifest_of
from mlgate.model import Verdict
from mlgate.samples import write_clean_model, write_poisoned_model

EVIL = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    return write_clean_model(tmp_path / "clean")


@pytest.fixture
def poisoned(tmp_path: Path) -> Path:
    return write_poisoned_model(tmp_path / "poisoned")


def test_clean_folder_passes_with_every_file_listed(clean: Path, default_policy_path: Path) -> None:
    r = scan(clean, checkpoint="pre-publish", policy=default_policy_path)
    assert r.verdict is Verdict.PASS, r.reason
    files = sorted(p.relative_to(clean).as_posix() for p in clean.rglob("*") if p.is_file())
    assert sorted(s.subject for s in r.subjects) == files
    for s in r.subjects:
        assert s.verdict is Verdict.PASS
        assert s.coverage, s.subject
        assert s.sha256 == hashlib.sha256((clean / s.subject).read_bytes()).hexdigest()


def test_manifest_digest_matches_sha256sum(clean: Path, default_policy_path: Path) -> None:
    r = scan(clean, policy=default_policy_path)
    (m,) = r.manifests
    names = sorted((p.relative_to(clean).as_posix() for p in clean.rglob("*") if p.is_file()), key=str.encode)
    out = subprocess.run(["sha256sum", *names], cwd=clean, capture_output=True, check=True, text=True).stdout
    assert m.manifest_sha256 == hashlib.sha256(out.encode()).hexdigest()
    assert m.manifest_sha256 == manifest_of(m.files)


def test_poisoned_folder_fails_and_names_the_techniques(poisoned: Path, default_policy_path: Path) -> None:
    r = scan(poisoned, checkpoint="pre-publish", policy=default_policy_path)
    assert r.verdict is Verdict.FAIL
    by = {s.subject: s for s in r.subjects}
    assert by["pytorch_model.bin"].verdict is Verdict.FAIL
    assert "MLG-PKL-DANGEROUS-GLOBAL" in {f.id for f in by["pytorch_model.bin"].findings}
    assert by["modeling_tiny.py"].verdict is Verdict.FAIL
    assert by["config.json"].verdict is Verdict.FAIL  # auto_map
    assert by["model.safetensors"].verdict is Verdict.PASS


def test_symlinks_are_findings_not_followed(tmp_path: Path, default_policy_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    outside = tmp_path / "outside.pkl"
    outside.write_bytes(EVIL)
    (root / "weights.bin").symlink_to(outside)
    (root / "dir").symlink_to(tmp_path)
    r = scan(root, policy=default_policy_path)
    by = {s.subject: s for s in r.subjects}
    assert set(by) == {"weights.bin", "dir"}
    for s in by.values():
        assert s.verdict is Verdict.FAIL
        assert [f.id for f in s.findings] == ["MLG-FILE-SPECIAL"]
    # the target of the link was never analysed (its global would show up otherwise)
    assert "posix" not in json.dumps(r.to_json_dict())


def test_fifo_is_refused(tmp_path: Path, default_policy_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    os.mkfifo(root / "pipe")
    r = scan(root, policy=default_policy_path)
    assert r.subjects[0].verdict is Verdict.FAIL


def test_missing_path_is_an_error(tmp_path: Path, default_policy_path: Path) -> None:
    r = scan(tmp_path / "missing", policy=default_policy_path)
    assert r.verdict is Verdict.ERROR


def test_empty_folder_is_incomplete_not_pass(tmp_path: Path, default_policy_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = scan(tmp_path / "empty", policy=default_policy_path)
    assert r.verdict is Verdict.INCOMPLETE


def test_unknown_binary_is_incomplete(tmp_path: Path, default_policy_path: Path) -> None:
    p = tmp_path / "blob.weird"
    p.write_bytes(bytes(range(256)) * 4)
    r = scan(p, policy=default_policy_path)
    assert r.verdict is Verdict.INCOMPLETE
    assert [f.id for f in r.subjects[0].findings] == ["MLG-FILE-UNSUPPORTED"]


@pytest.mark.skipif(importlib.util.find_spec("modelscan") is None, reason="modelscan (the optional second engine) is not installed")
def test_modelscan_errors_are_errors(tmp_path: Path, default_policy_path: Path) -> None:
    # modelscan claims .dat files as pickles; its parse error is an error, never a silent pass
    p = tmp_path / "blob.dat"
    p.write_bytes(bytes(range(256)) * 4)
    r = scan(p, policy=default_policy_path)
    assert r.verdict is Verdict.ERROR
    assert "MLG-MODELSCAN-ERROR" in {f.id for f in r.subjects[0].findings}


# test_modelscan_runs_on_numpy moved to test_modelscan_engine.py (NumPy 2: a recorded modelscan gap)


def test_content_not_extension_decides(tmp_path: Path, default_policy_path: Path) -> None:
    for name in ("weights.safetensors", "notes.txt", "noext", "model.ckpt", "image.png"):
        (tmp_path / name).write_bytes(EVIL)
    r = scan(tmp_path, policy=default_policy_path)
    assert all(s.verdict is Verdict.FAIL for s in r.subjects), [(s.subject, s.verdict) for s in r.subjects]


def test_exception_waives_a_file_but_reports_it(tmp_path: Path, poisoned: Path, default_policy_path: Path) -> None:
    pol = tmp_path / "p.yaml"
    base = default_policy_path.read_text().replace("allowlists/", f"{default_policy_path.parent}/allowlists/")
    base = base.replace("{include: gates/", f"{{include: {default_policy_path.parent}/gates/")
    base = base.replace(
        "exceptions: []",
        """exceptions:
  - id: EXC-7
    rule: MLG-HF-*
    subject: "*"
    reason: reviewed custom architecture
    owner: ml-platform@example.com
    expires: 2999-01-01""",
    )
    pol.write_text(base)
    r = scan(poisoned, policy=pol)
    by = {s.subject: s for s in r.subjects}
    assert by["modeling_tiny.py"].verdict is Verdict.PASS
    assert all(f.waived for f in by["modeling_tiny.py"].findings)
    assert by["pytorch_model.bin"].verdict is Verdict.FAIL
    assert r.summary.waived >= 1


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_exit_codes(
    clean: Path, poisoned: Path, tmp_path: Path, default_policy_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pol = str(default_policy_path)
    assert main(["scan", "-p", pol, str(clean)]) == 0
    assert main(["scan", "-p", pol, str(poisoned)]) == 1
    assert main(["scan", "-p", pol, str(tmp_path / "missing")]) == 2
    blob = tmp_path / "x.unknown"
    blob.write_bytes(b"\x01\x02\x03\xff" * 10)
    assert main(["scan", "-p", pol, str(blob)]) == 3
    assert main(["scan", "--format", "yaml", str(clean)]) == 4
    assert main(["scan"]) == 4
    assert main(["scan", "-p", str(tmp_path / "no-policy.yaml"), str(clean)]) == 2
    err = capsys.readouterr().err
    assert "no-policy.yaml: file not found" in err


def test_cli_json_on_stdout_chatter_on_stderr(
    poisoned: Path, default_policy_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "-p", str(default_policy_path), "-f", "json", str(poisoned)]) == 1
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["schema_version"] == "mlgate.report/v1"
    assert doc["verdict"] == "fail"
    assert {s["subject"] for s in doc["subjects"]} >= {"pytorch_model.bin", "config.json"}
    assert all(s["verdict"] in ("pass", "fail", "error", "incomplete") for s in doc["subjects"])
    assert "mlgate: fail" in err


def test_cli_output_file(poisoned: Path, tmp_path: Path, default_policy_path: Path) -> None:
    out = tmp_path / "reports" / "r.sarif"
    assert main(["scan", "-p", str(default_policy_path), "-f", "sarif", "-o", str(out), str(poisoned)]) == 1
    doc = json.loads(out.read_text())
    assert doc["version"] == "2.1.0"


def test_scan_never_executes_the_payload(tmp_path: Path, default_policy_path: Path) -> None:
    canary = tmp_path / "canary"
    cmd = f"touch {canary}".encode()
    payload = b"\x80\x02cposix\nsystem\nX" + len(cmd).to_bytes(4, "little") + cmd + b"\x85R."
    for name in ("a.pkl", "b.pt", "c.bin", "d"):
        (tmp_path / name).write_bytes(payload)
    r = scan(tmp_path, policy=default_policy_path)
    assert r.verdict is Verdict.FAIL
    assert not canary.exists()
