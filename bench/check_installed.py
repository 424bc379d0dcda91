"""Works installed: build the wheel, install it into a fresh venv outside the checkout, start the
local stack from there, run the gated lifecycle with ``mlgate run`` and scan what it registered as
``models:/name@alias`` (the installed package only: no checkout on sys.path, no MLGATE_HOME, the
working folder outside the repository). ``--python`` picks the interpreter of the fresh venv
(a pyenv minor such as 3.12 or 3.13, or a path; default: the one running this script).

    .venv/bin/python bench/check_installed.py [--python 3.13] [--keep]

Prints each step with its time and exit code, and the machine; exits 1 if any step misbehaved.
Too slow for the suite (a ~1 GB venv and a full lifecycle); tests/packaging covers the fast part.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from tests.packaging.installed import build_wheel, clean_env, install, newest_python  # noqa: E402

PREPARE = """
import sys
from pathlib import Path
from mlgate._dev.demo import prepare
from mlgate._dev.stack.local import status
info = status(Path(sys.argv[1]))
assert info is not None, "stack not running"
for name, path in prepare(Path(sys.argv[2]), info).items():
    print(name, path)
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--python", default=None, help="interpreter of the fresh venv: a pyenv minor (3.13) or a path")
    args = ap.parse_args()
    python: str | Path = sys.executable
    if args.python:
        found = newest_python(args.python) if args.python[:1].isdigit() else Path(args.python)
        if found is None:
            print(f"no Python {args.python} under ~/.pyenv/versions")
            return 2
        python = found
    from _machine import machine  # bench/ is on sys.path when a bench script runs

    print(machine())
    root = Path(tempfile.mkdtemp(prefix="mlgate-installed-"))
    ok = True
    t0 = time.monotonic()

    def step(name: str, fn):  # type: ignore[no-untyped-def]
        t = time.monotonic()
        result = fn()
        print(f"{name:55} {time.monotonic() - t:7.1f} s")
        return result

    try:
        wheel = step("build the wheel", lambda: build_wheel(root / "build"))
        bin_dir = step("fresh venv + pip install wheel[all] -c constraints.txt",
                       lambda: install(wheel, root / "venv", python=python))
        version = subprocess.run([str(bin_dir / "python"), "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        print(f"  venv Python {version}")
        work = root / "work"
        work.mkdir()
        env = clean_env(root / "home")
        stack = work / "stack"

        def run(*argv: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*argv], cwd=work, env={**env, **(extra or {})}, capture_output=True, text=True,
                                  timeout=1800)

        up = step("mlgate stack up (moto, mlflow, prefect)", lambda: run(str(bin_dir / "mlgate"), "stack", "up",
                                                                         "--workdir", str(stack)))
        if up.returncode != 0:
            print(up.stderr[-3000:])
            return 1
        stack_env = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines()
                         if line.startswith("export "))
        stack_env = {k: v.strip("'") for k, v in stack_env.items()}
        print("  " + up.stderr.strip().splitlines()[-1])
        prep = step("write the demo's pipeline configs", lambda: run(str(bin_dir / "python"), "-c", PREPARE, str(stack),
                                                                     str(work), extra=stack_env))
        if prep.returncode != 0:
            print(prep.stderr[-3000:])
            return 1
        configs = dict(line.split(" ", 1) for line in prep.stdout.splitlines())
        cases = [("mlgate run lifecycle (clean)", "lifecycle", configs["clean"], 0, "version"),
                 ("mlgate run train (poisoned base model)", "train", configs["poisoned-base-model"], 1,
                  "blocked at pre-train by model-scan")]
        for label, stp, cfg, want, needle in cases:
            r = step(label, lambda stp=stp, cfg=cfg: run(str(bin_dir / "mlgate"), "run", stp, "--config", cfg,
                                                         extra=stack_env))
            last = (r.stderr.strip().splitlines() or [""])[-1]
            good = r.returncode == want and (needle in r.stdout or needle in last)
            ok &= good
            print(f"  exit {r.returncode} (expected {want}) {'ok' if good else 'UNEXPECTED'}; last line: {last[:200]}")
            if not good:
                print(r.stdout[-2000:], r.stderr[-3000:])
        clean_cfg = yaml.safe_load(Path(configs["clean"]).read_text())
        uri = f"models:/{clean_cfg['model_name']}@{clean_cfg['deploy']['alias']}"
        r = step(f"mlgate scan {uri}", lambda: run(str(bin_dir / "mlgate"), "scan", "-f", "json", uri,
                                                   extra=stack_env))
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            doc = {}
        good = r.returncode == 0 and doc.get("verdict") == "pass" and bool(doc.get("manifests"))
        ok &= good
        print(f"  exit {r.returncode} (expected 0, verdict pass) {'ok' if good else 'UNEXPECTED'}")
        if not good:
            print(r.stdout[-2000:], r.stderr[-3000:])
        where = run(str(bin_dir / "python"), "-c", "import mlgate; print(mlgate.__file__)")
        print(f"  mlgate imported from {where.stdout.strip()}")
        ok &= where.stdout.startswith(str(root / "venv"))
        run(str(bin_dir / "mlgate"), "stack", "down", "--workdir", str(stack))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"total {time.monotonic() - t0:.1f} s: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
