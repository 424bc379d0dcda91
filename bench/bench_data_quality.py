"""Benchmark: the data-quality gate vs plain Great Expectations on the same data and suite.

    .venv/bin/python bench/bench_data_quality.py [--rows 1000000] [--repeat 3] [--formats csv,parquet]

Generates ROWS x 10 columns in a temporary folder and one 8-expectation suite, then, for each
format, runs in fresh subprocesses (so each peak RSS belongs to one run):

* ``plain-gx``   pandas.read_csv / read_parquet + an ephemeral GX context + ``batch.validate``
                 (the suite loaded from the same file by GX itself);
* ``mlgate-api`` ``mlgate.gates.data_quality.check_data`` (hashing reader + fingerprint + GX +
                 evidence + report);
* ``mlgate-cli`` ``mlgate check-data DATA --suite S -f json -o OUT`` as a user runs it.

``work`` is the time from data path to result with the libraries already imported (the same
boundary for plain GX and the API); ``wall`` is the whole process including imports. The ratio
the issue asks for (target <= 1.3x, fingerprint included) is api-work / gx-work; cli-wall /
gx-wall is printed too. Peak RSS comes from ``wait4`` on each child. The medians of REPEAT runs
are printed with the machine description.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import machine  # bench/ is on sys.path when a bench script runs

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

SUITE = {
    "name": "bench",
    "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1000}},
        {"type": "expect_table_columns_to_match_ordered_list",
         "kwargs": {"column_list": ["id", "a", "b", "c", "d", "e", "f", "g", "h", "i"]}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "c", "min_value": 0, "max_value": 100}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "f", "value_set": ["x", "y", "z"]}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "g", "value_set": ["red", "green", "blue", "black"]}},
        {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "e", "min_value": 4.5, "max_value": 5.5}},
    ],
}

POLICY = """apiVersion: mlgate/v1
kind: Policy
name: bench
defaults: {block_severity: medium}
checkpoints:
  pre-train: {gates: [data-quality]}
gates:
  data-quality: {}
"""

PLAIN_GX = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import great_expectations as gx
import pandas as pd
from great_expectations.core.expectation_suite import ExpectationSuite
from great_expectations.data_context.types.base import ProgressBarsConfig
data, suite_path, fmt = sys.argv[1:4]
t0 = time.perf_counter()
df = pd.read_csv(data) if fmt == "csv" else pd.read_parquet(data)
t1 = time.perf_counter()
ctx = gx.get_context(mode="ephemeral")
ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
bd = ctx.data_sources.add_pandas("p").add_dataframe_asset("d").add_batch_definition_whole_dataframe("w")
suite = ctx.suites.add(ExpectationSuite(**json.load(open(suite_path))))
res = bd.get_batch(batch_parameters={"dataframe": df}).validate(
    suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
t2 = time.perf_counter()
print(json.dumps({"work": t2 - t0, "read": t1 - t0, "validate": t2 - t1, "success": bool(res.success),
                  "evaluated": res.statistics["evaluated_expectations"]}))
"""

MLGATE_API = r"""
import json, sys, time
from mlgate.gates.data_quality import check_data
from mlgate.gates.data_quality._gx import import_gx
import pandas, pyarrow, pyarrow.csv, pyarrow.parquet  # same import boundary as plain GX
import_gx()
data, suite_path, policy = sys.argv[1:4]
t0 = time.perf_counter()
report = check_data(data, suite_path, policy=policy)
t1 = time.perf_counter()
s = report.subjects[0]
print(json.dumps({"work": t1 - t0, "success": report.verdict.value == "pass", "verdict": report.verdict.value,
                  "evaluated": len(s.details.get("expectations", [])), "fingerprint": s.details.get("fingerprint"),
                  "rows": s.details.get("rows")}))
"""

BASELINE = r"""
import json
from mlgate.gates.data_quality import check_data
from mlgate.gates.data_quality._gx import import_gx
import pandas, pyarrow, pyarrow.csv, pyarrow.parquet
import_gx()
print(json.dumps({}))
"""


def generate(folder: Path, rows: int) -> dict[str, Path]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "id": np.arange(rows), "a": rng.normal(size=rows), "b": rng.normal(size=rows),
        "c": rng.uniform(0, 100, rows), "d": rng.integers(0, 1000, rows), "e": rng.normal(5, 2, rows),
        "f": rng.choice(["x", "y", "z"], rows), "g": rng.choice(["red", "green", "blue", "black"], rows),
        "h": rng.uniform(size=rows), "i": rng.integers(0, 10, rows),
    })
    out = {"csv": folder / "data.csv", "parquet": folder / "data.parquet"}
    df.to_csv(out["csv"], index=False)
    df.to_parquet(out["parquet"], index=False)
    return out


_RSS_WRAPPER = r"""
import os, resource, subprocess, sys, time, json
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = p.communicate()
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # one child: its own peak
sys.stdout.write(json.dumps({"wall": wall, "rss": rss, "code": p.returncode, "out": out.decode(),
                             "err": err.decode()[-2000:]}))
"""


def measure(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``argv`` under a wrapper process whose only child it is, so RUSAGE_CHILDREN.ru_maxrss is
    exactly that child's peak RSS."""
    p = subprocess.run([PY, "-c", _RSS_WRAPPER, *argv], capture_output=True, env=env, check=True,
                       cwd=tempfile.gettempdir())
    res: dict[str, Any] = json.loads(p.stdout)
    if res["code"] not in (0, 1):
        raise SystemExit(f"child failed ({res['code']}): {' '.join(argv)}\n{res['err']}")
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="csv,parquet")
    args = ap.parse_args()
    env = dict(os.environ, GX_ANALYTICS_ENABLED="false", DO_NOT_TRACK="true", PYTHONWARNINGS="ignore")
    mlgate = str(Path(PY).parent / "mlgate")

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        files = generate(folder, args.rows)
        print(f"generated {args.rows} rows x 10 columns in {time.perf_counter() - t0:.1f} s: "
              + ", ".join(f"{k} {v.stat().st_size / 1e6:.1f} MB" for k, v in files.items()))
        suite = folder / "suite.json"
        suite.write_text(json.dumps(SUITE))
        policy = folder / "policy.yaml"
        policy.write_text(POLICY)
        base = measure([PY, "-c", BASELINE], env)
        print(f"baseline (imports only: mlgate + GX + pandas + pyarrow): wall {base['wall']:.2f} s, "
              f"peak RSS {base['rss'] / 2**20:.0f} MiB")
        print()
        header = f"{'format':8} {'mode':11} {'work s':>8} {'wall s':>8} {'peak RSS MiB':>13} {'RSS-base MiB':>13}  notes"
        print(header)
        print("-" * len(header))
        summary: list[str] = []
        for fmt in args.formats.split(","):
            data = files[fmt]
            runs: dict[str, list[dict[str, Any]]] = {"plain-gx": [], "mlgate-api": [], "mlgate-cli": []}
            for _ in range(args.repeat):
                r = measure([PY, "-c", PLAIN_GX, str(data), str(suite), fmt], env)
                r.update(json.loads(r["out"]))
                runs["plain-gx"].append(r)
                r = measure([PY, "-c", MLGATE_API, str(data), str(suite), str(policy)], env)
                r.update(json.loads(r["out"]))
                runs["mlgate-api"].append(r)
                out = folder / "report.json"
                r = measure([mlgate, "check-data", str(data), "--suite", str(suite), "--policy", str(policy),
                             "-f", "json", "-o", str(out)], env)
                rep = json.loads(out.read_text())
                r["success"] = rep["verdict"] == "pass"
                r["fingerprint"] = rep["subjects"][0]["details"].get("fingerprint")
                runs["mlgate-cli"].append(r)
            med: dict[str, dict[str, float]] = {}
            for mode, rs in runs.items():
                m = {k: statistics.median(x[k] for x in rs) for k in ("wall", "rss")}
                if "work" in rs[0]:
                    m["work"] = statistics.median(x["work"] for x in rs)
                med[mode] = m
                note = ""
                if mode == "plain-gx":
                    note = (f"read {statistics.median(x['read'] for x in rs):.2f} s + validate "
                            f"{statistics.median(x['validate'] for x in rs):.2f} s; success={rs[0]['success']}")
                else:
                    note = f"success={rs[0]['success']} fingerprint={str(rs[0].get('fingerprint'))[:23]}..."
                work = f"{m['work']:8.2f}" if "work" in m else f"{'-':>8}"
                print(f"{fmt:8} {mode:11} {work} {m['wall']:8.2f} {m['rss'] / 2**20:13.0f} "
                      f"{(m['rss'] - base['rss']) / 2**20:13.0f}  {note}")
                if rs[0]["success"] is not True:
                    raise SystemExit(f"{fmt}/{mode}: the clean data did not pass")
            ratio_work = med["mlgate-api"]["work"] / med["plain-gx"]["work"]
            ratio_wall = med["mlgate-cli"]["wall"] / med["plain-gx"]["wall"]
            ratio_rss = med["mlgate-api"]["rss"] / med["plain-gx"]["rss"]
            summary.append(f"{fmt}: mlgate/plain-GX work {ratio_work:.2f}x (target <= 1.3x: "
                           f"{'met' if ratio_work <= 1.3 else 'NOT met'}), CLI wall/plain-GX wall {ratio_wall:.2f}x, "
                           f"peak RSS {ratio_rss:.2f}x; data {data.stat().st_size / 1e6:.0f} MB on disk")
        print()
        for line in summary:
            print(line)
        print(f"median of {args.repeat} runs each; each run in a fresh process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
