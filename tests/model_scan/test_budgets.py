"""Bounded work on hostile input: small hostile files of each class finish inside the budget the
policy sets, and over budget the file is ``incomplete`` with a clear MLG-FILE-LIMIT finding (or a
DoS finding for templates), never a hang, an out-of-memory kill or a pass.

No timing assertions: the budgets are set small so that the limit is what ends the analysis;
``pytest-timeout`` only guards against a regression that would hang. Figures (time, peak RSS)
are in ``bench/bench_hostile.py``.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mlgate.gates.model_scan import Entry, scan_file
from mlgate.gates.model_scan.config import Limits, ModelScanConfig
from mlgate.gates.model_scan.globals_policy import GlobalsPolicy
from mlgate.policy import Policy


def _scan(tmp_path: Path, name: str, data: bytes, policy: Policy, **limits: Any) -> list[str]:
    p = tmp_path / name
    p.write_bytes(data)
    cfg = ModelScanConfig(limits=Limits(**limits), modelscan={"enabled": False})  # type: ignore[arg-type]
    draft = scan_file(Entry(str(tmp_path), name, str(p)), cfg, GlobalsPolicy.from_policy(policy, None))
    return [f.id for f in draft.findings]


def many_data_pkl_zip(n: int) -> bytes:
    """A zip whose layout made torch-layout detection quadratic (n data.pkl x n names)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            zf.writestr(f"m{i}/data.pkl", b"N.")
            zf.writestr(f"m{i}/data/0", b"\x00" * 4)
    return buf.getvalue()


@pytest.mark.timeout(300)
def test_zip_layout_detection_is_linear_and_under_the_deadline(tmp_path: Path, default_policy: Policy) -> None:
    ids = _scan(tmp_path, "layout.pt", many_data_pkl_zip(20_000), default_policy, seconds_per_file=0.5)
    assert "MLG-FILE-LIMIT" in ids, ids


@pytest.mark.timeout(300)
def test_zip_layout_helper_scales(tmp_path: Path) -> None:
    from mlgate.gates.model_scan.analyze import _zip_layout
    from mlgate.gates.model_scan.blob import bytes_blob
    from mlgate.gates.model_scan.containers import ZipEntry
    from mlgate.gates.model_scan.context import ScanContext

    entries = []
    for i in range(100_000):
        for name in (f"m{i}/data.pkl", f"m{i}/data/0"):
            entries.append(ZipEntry(name, name.encode(), 0, 0, 0, 1, 1, 0, 0, 3))
    ctx = ScanContext("x", ModelScanConfig(), GlobalsPolicy.__new__(GlobalsPolicy))
    storage = _zip_layout(bytes_blob("x", b""), entries, ctx)
    assert len(storage) == 100_000


@pytest.mark.timeout(300)
def test_stacked_tiny_pickles_stop_at_the_stream_budget(tmp_path: Path, default_policy: Policy) -> None:
    ids = _scan(tmp_path, "stacked.pkl", b"N." * 200_000, default_policy, max_pickle_streams=1000)
    assert "MLG-FILE-LIMIT" in ids, ids


@pytest.mark.timeout(300)
def test_pickle_machine_memory_budget(tmp_path: Path, default_policy: Policy) -> None:
    """A million open containers on the stack: over the value budget, incomplete."""
    ids = _scan(tmp_path, "wide.pkl", b"\x80\x04" + b"]" * 1_000_000 + b".", default_policy, max_pickle_values=100_000)
    assert "MLG-FILE-LIMIT" in ids, ids


@pytest.mark.timeout(300)
def test_pickle_machine_time_budget(tmp_path: Path, default_policy: Policy) -> None:
    """Millions of cheap opcodes under a tiny time budget: the machine checks the deadline."""
    ids = _scan(tmp_path, "slow.pkl", b"\x80\x04" + b"N0" * 3_000_000 + b"N.", default_policy, seconds_per_file=0.2)
    assert "MLG-FILE-LIMIT" in ids, ids


@pytest.mark.timeout(300)
def test_long_unterminated_line_is_read_in_bounded_memory(tmp_path: Path, default_policy: Policy) -> None:
    ids = _scan(tmp_path, "line.bin", b"V" + b"a" * 8_000_000, default_policy)
    assert "MLG-FILE-LIMIT" not in ids


TEMPLATE_BOMBS = {
    "nested-loops": "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
    "chained-repetition": "{{ 'a' * 99999 * 99999 }}",
    "repetition-through-a-variable": "{% set x = 'a' * 99999 %}{% set y = x * 99999 %}{{ y }}",
    "namespace-doubling": (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
    ),
    "branching-recursive-macro": (
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    ),
    "join-of-a-big-range": "{% for i in range(50000) %}{{ range(50000)|join(',') }}{% endfor %}",
}


@pytest.mark.parametrize("source", TEMPLATE_BOMBS.values(), ids=TEMPLATE_BOMBS.keys())
def test_chat_template_render_bombs(tmp_path: Path, default_policy: Policy, source: str) -> None:
    ids = _scan(tmp_path, "chat_template.jinja", source.encode(), default_policy)
    assert "MLG-TPL-DOS" in ids, ids


def test_real_chat_templates_are_under_the_render_budget(tmp_path: Path, default_policy: Policy) -> None:
    from tests.model_scan.formats import _templates

    benign = [v for k, v in vars(_templates).items() if isinstance(v, str) and "{%" in v and not k.startswith("_")]
    assert benign
    for i, src in enumerate(benign):
        ids = _scan(tmp_path, f"t{i}.jinja", src.encode(), default_policy)
        assert "MLG-TPL-DOS" not in ids, (i, ids)


def test_template_size_budget(tmp_path: Path, default_policy: Policy) -> None:
    ids = _scan(tmp_path, "big.jinja", b"{# big #}\n" + b"{{ x }}" * 200_000, default_policy, max_template_chars=100_000)
    assert "MLG-FILE-LIMIT" in ids, ids
