"""Benchmark: the pre-commit case, ``mlgate scan`` of one small pickle, start-up included (issue 15).

    .venv/bin/python bench/bench_startup.py [--runs 15]

Each round runs every case once as a fresh process, in the same order (interleaved, so a change
in the machine's load hits every case alike); the figures are the medians of RUNS rounds and
their ratios to ``modelscan -p one.pkl`` and to ``python -c pass`` of the same interpreter.

Cases: ``python -c pass``; ``mlgate --help``; ``mlgate scan one.pkl`` with the shipped default
policy (modelscan enabled: the pickle reaches it) and with a policy that disables modelscan
(mlgate's engine alone); ``modelscan -p one.pkl``; ``picklescan -p one.pkl`` when installed.
Children run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed), as after
``pip install``: without ``.pyc`` files every import compiles its source again, which alone cost
~0.35 s of a scan here. A probe run then lists which heavy packages each mlgate case imported (structural, not timed).
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HEAVY = ("pydantic", "yaml", "numpy", "h5py", "modelscan", "rich", "mlflow", "prefect", "boto3",
         "great_expectations", "pandas")
PROBE = (
    "import sys\n"
    "from mlgate.cli import main\n"
    "try:\n"
    "    rc = main(sys.argv[1:])\n"
    "finally:\n"
    f"    print('IMPORTED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def tool(name: str) -> str | None:
    """A command of this venv, else from PATH."""
    p = BIN / name
    return str(p) if p.exists() else shutil.which(name)


def wall(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, float]:
    """(wall seconds, exit code, CPU seconds user+system) of one child process. CPU time moves less
    than wall time when other work shares the cores."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return time.perf_counter() - t, os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--baseline-src", type=Path, default=None,
                    help="the src/ of another mlgate (git archive <commit> src | tar -x -C DIR): its --help "
                         "and scan run as extra cases in the same rounds (before/after in one run)")
    args = ap.parse_args()
    mlgate_argv = [sys.executable, "-m", "mlgate"]  # the same launcher for this tree and the baseline
    env = {**os.environ, "MLGATE_POLICY": str(REPO / "policies" / "default.yaml"), "NO_COLOR": "1"}
    # as installed: bytecode cached (pip compiles it at install; the warm-up round writes it here)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="mlgate-startup-") as d:
        tmp = Path(d)
        (tmp / "one.pkl").write_bytes(pickle.dumps({"weights": [0.5] * 64, "name": "tiny"}, protocol=4))
        # the default policy with the second engine off (gates.model-scan.modelscan.enabled: false)
        shutil.copytree(REPO / "policies", tmp / "policies")
        no_ms = tmp / "policies" / "default.yaml"
        text = no_ms.read_text()
        line = "  model-scan: {include: gates/model-scan.yaml}"
        assert line in text, "policies/default.yaml changed: update this bench"
        no_ms.write_text(text.replace(line, "  model-scan: {include: gates/model-scan.yaml, modelscan: {enabled: false}}"))
        cases: dict[str, list[str]] = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "mlgate --help": [*mlgate_argv, "--help"],
            "mlgate scan one.pkl": [*mlgate_argv, "scan", "one.pkl"],
            "mlgate scan (no modelscan)": [*mlgate_argv, "scan", "--policy", str(no_ms), "one.pkl"],
        }
        envs = {n: env for n in cases}
        if args.baseline_src:
            base_env = {**env, "PYTHONPATH": str(args.baseline_src.resolve())}
            for n in ("mlgate --help", "mlgate scan one.pkl", "mlgate scan (no modelscan)"):
                cases["baseline: " + n[len("mlgate "):]] = cases[n]
                envs["baseline: " + n[len("mlgate "):]] = base_env
        ms = tool("modelscan")
        if ms:
            cases["modelscan -p one.pkl"] = [ms, "-p", "one.pkl"]
        ps = tool("picklescan")
        if ps:
            cases["picklescan -p one.pkl"] = [ps, "-p", "one.pkl"]
        print(f"machine: {machine()}")
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        rcs: dict[str, int] = {}
        for name, argv in cases.items():  # warm-up round (page cache, .pyc), not counted
            rcs[name] = wall(argv, tmp, envs.get(name, env))[1]
        times: dict[str, list[float]] = {n: [] for n in cases}
        cpu: dict[str, list[float]] = {n: [] for n in cases}
        for _ in range(args.runs):
            for name, argv in cases.items():
                w, _, c = wall(argv, tmp, envs.get(name, env))
                times[name].append(w)
                cpu[name].append(c)
        print(f"load average at end:   {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        med = {n: statistics.median(v) for n, v in times.items()}
        cmed = {n: statistics.median(v) for n, v in cpu.items()}
        base = med.get("modelscan -p one.pkl")
        cbase = cmed.get("modelscan -p one.pkl")
        py = med["python -c pass"]
        print(f"\n{args.runs} interleaved rounds, medians per case (wall; CPU = user+system of the child):")
        print(f"{'case':30s} {'exit':>4s} {'wall s':>7s} {'min s':>6s} {'max s':>6s} {'/modelscan':>10s} "
              f"{'-python':>7s} {'CPU s':>6s} {'CPU /ms':>7s}")
        for n in cases:
            ratio = f"{med[n] / base:10.2f}" if base else f"{'-':>10s}"
            cratio = f"{cmed[n] / cbase:7.2f}" if cbase else f"{'-':>7s}"
            print(f"{n:30s} {rcs[n]:4d} {med[n]:7.3f} {min(times[n]):6.3f} {max(times[n]):6.3f} {ratio} "
                  f"{med[n] - py:7.3f} {cmed[n]:6.3f} {cratio}")
        print("\nheavy packages imported (probe run):")
        for n in [c for c in cases if c.startswith(("mlgate ", "baseline: "))]:
            p = subprocess.run([sys.executable, "-c", PROBE, *cases[n][len(mlgate_argv):]], cwd=tmp, env=envs[n],
                               capture_output=True, text=True)
            line = next((ln for ln in p.stderr.splitlines() if ln.startswith("IMPORTED=")), "IMPORTED=?")
            print(f"  {n:28s} {line.split('=', 1)[1] or '(none)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
