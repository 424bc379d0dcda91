"""The differential properties of ``tests/model_scan/test_differential_*.py`` at depth.

Runs N examples of each family (opcode-grammar streams, random bytes, mutated real pickles,
mutated joblib files, mutated zips) against the real loaders with inert stand-ins and prints, per
family: examples, how many a real loader accepted, how many resolved a global, how many mlgate
accepted beyond the loaders (the safe side), and every disagreement (there must be none).

    .venv/bin/python bench/differential_deep.py [--examples 20000] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from _machine import machine  # bench/ is on sys.path when a bench script runs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tests.model_scan import _differential as d  # noqa: E402
from tests.model_scan import test_differential_pickle as tp  # noqa: E402
from tests.model_scan import test_differential_zip as tz  # noqa: E402


class Tally:
    def __init__(self) -> None:
        self.n = self.accepted = self.with_globals = self.mlgate_more = 0
        self.problems: list[tuple[bytes, list[str]]] = []


def run_family(name: str, strategy: st.SearchStrategy[bytes], kind: str, n: int, s: int) -> Tally:
    t = Tally()

    @seed(s)
    @settings(max_examples=n, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def prop(data: bytes) -> None:
        t.n += 1
        if kind == "zip":
            p = d.compare_zip(data)
        else:
            ref = d.reference_joblib(data) if kind == "joblib" else d.reference_pickle(data)
            res = d.mlgate_pickle(data)
            t.accepted += ref.accepted
            t.with_globals += bool(ref.globals)
            t.mlgate_more += bool(res.stopped and not ref.accepted)
            p = d.compare(ref, res)
        if p and len(t.problems) < 20:
            t.problems.append((data[:200], p))

    start = time.perf_counter()
    prop()
    dt = time.perf_counter() - start
    print(f"{name:28} {t.n:>8} {t.accepted:>9} {t.with_globals:>9} {t.mlgate_more:>12} {len(t.problems):>9} {dt:>8.1f}")
    for data, p in t.problems:
        print(f"    DISAGREEMENT {data!r}: {p}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    random.seed(args.seed)
    n = args.examples
    mut = st.lists(tz.mutation, min_size=1, max_size=4)
    real = tp.real_pickles()
    jl = tp.real_joblib_files()
    fams = [
        ("opcode-grammar streams", tp.streams, "pickle", n),
        ("random bytes", st.binary(max_size=128), "pickle", n // 2),
        ("mutated real pickles",
         st.tuples(st.sampled_from(real), mut).map(lambda t: d.mutate(t[0], t[1])), "pickle", n),
        ("mutated joblib files",
         st.tuples(st.sampled_from(jl), mut).map(lambda t: d.mutate(t[0], t[1])), "joblib", n // 4),
        ("mutated zips",
         st.tuples(st.sampled_from(tz.SAMPLES), mut).map(lambda t: d.mutate(t[0], t[1])), "zip", n // 4),
    ]
    print(f"machine: {machine()}")
    print(f"{'family':28} {'examples':>8} {'accepted':>9} {'globals':>9} {'mlgate-more':>12} {'disagree':>9} {'secs':>8}")
    total = 0
    for name, strat, kind, k in fams:
        total += len(run_family(name, strat, kind, k, args.seed).problems)
    print(f"\ndisagreements: {total}")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
