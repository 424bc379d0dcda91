"""The verdict cache: a re-run analyses only what changed, never believes a tampered entry, and
never reuses a verdict across policies, checkpoints or scanner code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlgate.api import scan
from mlgate.model import Verdict
from mlgate.samples import write_clean_model, write_poisoned_model


def _cached(report) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    return {s.subject: s.details.get("verdict_cache") for s in report.subjects}


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("MLGATE_SCAN_CACHE", str(d))
    return d


def test_second_run_hits_and_gives_the_same_verdicts(tmp_path: Path, cache_dir: Path, default_policy_path: Path) -> None:
    model = write_poisoned_model(tmp_path / "m")
    first = scan([model], policy=default_policy_path)
    second = scan([model], policy=default_policy_path)
    assert set(_cached(first).values()) == {None}
    hits = {k for k, v in _cached(second).items() if v == "hit"}
    assert hits, "nothing was served from the cache"
    assert second.verdict is first.verdict is Verdict.FAIL
    view = lambda r: sorted((s.subject, s.verdict, tuple(sorted(f.id for f in s.findings))) for s in r.subjects)  # noqa: E731
    assert view(second) == view(first)
    assert [m.manifest_sha256 for m in second.manifests] == [m.manifest_sha256 for m in first.manifests]


def test_changed_bytes_are_analysed_again(tmp_path: Path, cache_dir: Path, default_policy_path: Path) -> None:
    model = write_clean_model(tmp_path / "m")
    assert scan([model], policy=default_policy_path).verdict is Verdict.PASS
    (model / "pytorch_model.bin").write_bytes(b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.")
    again = scan([model], policy=default_policy_path)
    assert again.verdict is Verdict.FAIL
    assert _cached(again)["pytorch_model.bin"] is None


def test_other_checkpoint_or_policy_does_not_reuse(tmp_path: Path, cache_dir: Path, default_policy_path: Path) -> None:
    model = write_clean_model(tmp_path / "m")
    scan([model], policy=default_policy_path, checkpoint="pre-train")
    other = scan([model], policy=default_policy_path, checkpoint="pre-deploy")
    assert set(_cached(other).values()) == {None}


def test_tampered_entry_is_ignored(tmp_path: Path, cache_dir: Path, default_policy_path: Path) -> None:
    model = write_poisoned_model(tmp_path / "m")
    first = scan([model], policy=default_policy_path)
    flagged = {s.subject for s in first.subjects if s.findings}
    assert flagged
    entries = [p for p in cache_dir.rglob("*.json")]
    assert entries
    rewritten = 0
    for p in entries:  # an attacker rewrites every entry to "no findings"
        mac, _, body = p.read_bytes().partition(b"\n")
        forged = body.replace(b'"findings": [{', b'"findings": [], "x": [{')
        rewritten += forged != body
        p.write_bytes(mac + b"\n" + forged)
    assert rewritten  # entries with findings were cached and then forged
    again = scan([model], policy=default_policy_path)
    assert again.verdict is Verdict.FAIL
    assert all(_cached(again)[name] is None for name in flagged)  # the rewritten entries were not believed


def test_a_folder_others_can_write_is_refused(tmp_path: Path, cache_dir: Path, default_policy_path: Path) -> None:
    cache_dir.mkdir()
    os.chmod(cache_dir, 0o777)
    model = write_clean_model(tmp_path / "m")
    report = scan([model], policy=default_policy_path)
    assert any("verdict cache not used" in n for n in report.notes)
    assert not any(cache_dir.iterdir())


def test_errors_and_unanalysed_files_are_not_cached(tmp_path: Path, cache_dir: Path, default_policy_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "blob.bin").write_bytes(os.urandom(256))  # unsupported: incomplete
    scan([tmp_path / "m"], policy=default_policy_path)
    again = scan([tmp_path / "m"], policy=default_policy_path)
    assert again.verdict is Verdict.INCOMPLETE
    assert _cached(again)["blob.bin"] is None
