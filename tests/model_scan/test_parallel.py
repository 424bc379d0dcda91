"""Many-file scans run on worker processes; the verdicts and digests are the same as inline."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from mlgate.gates.model_scan import ModelScanConfig, _drafts, plan_workers, walk
from mlgate.gates.model_scan.globals_policy import GlobalsPolicy
from mlgate.policy import load_policy
from mlgate.samples import write_clean_model, write_poisoned_model


def test_a_few_files_are_scanned_inline() -> None:
    cfg = ModelScanConfig(max_workers=8, process_pool_min_files=16)
    assert plan_workers(1, cfg) == ("inline", 1)
    assert plan_workers(15, cfg) == ("inline", 1)


def test_many_files_use_at_most_the_cpus_and_the_policy_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.setattr("mlgate.gates.model_scan._available_memory", lambda: 64 * 2**30)
    assert plan_workers(1000, ModelScanConfig(max_workers=8)) == ("processes", 2)
    assert plan_workers(1000, ModelScanConfig(max_workers=1)) == ("inline", 1)


def test_workers_are_bounded_by_available_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(16)))
    monkeypatch.setattr("mlgate.gates.model_scan._available_memory", lambda: 3 * 512 * 2**20)
    assert plan_workers(1000, ModelScanConfig(max_workers=16, worker_memory_bytes=512 * 2**20)) == ("processes", 3)


def test_process_pool_gives_the_same_results_as_inline(tmp_path: Path, default_policy_path: Path) -> None:
    write_clean_model(tmp_path / "clean")
    write_poisoned_model(tmp_path / "poisoned")
    for i in range(20):
        (tmp_path / "clean" / f"extra{i}.pkl").write_bytes(pickle.dumps({"w": [i, i + 1]}, protocol=4))
    policy = load_policy(default_policy_path)
    gp = GlobalsPolicy.from_policy(policy, None)
    entries = walk(str(tmp_path / "clean"), ())[0] + walk(str(tmp_path / "poisoned"), ())[0]
    inline = list(_drafts(entries, ModelScanConfig(max_workers=1), gp))
    pooled = list(_drafts(entries, ModelScanConfig(max_workers=2, process_pool_min_files=2), gp))

    def view(ds: list) -> list:
        return [(d.subject, d.sha256, sorted(f.id for f in d.findings), sorted(d.formats)) for d in ds]

    assert view(pooled) == view(inline)
    assert any(d.findings for d in pooled)  # the poisoned files were really judged in the workers
