"""Works installed: build the wheel, install it into a fresh venv outside the checkout, start the
local stack from there and run the gated lifecycle with ``mlgate run`` (the installed package only:
no checkout on sys.path, no MLGATE_HOME, the working folder outside the repository).

    .venv/bin/python bench/check_installed.py [--keep]

Prints each step with its time and exit code, and the machine; exits 1 if any step misbehaved.
Too slow for the suite (a ~1 GB venv and a full lifecycle); tests/packaging covers the fast part.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.packaging.installed import build_wheel, clean_env, install  # noqa: E402

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
    args = ap.parse_args()
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
        bin_dir = step("fresh venv + pip install wheel[all] -c constraints.txt", lambda: install(wheel, root / "venv"))
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
