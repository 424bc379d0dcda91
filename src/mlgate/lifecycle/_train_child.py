"""The training process (``python -I -m mlgate.lifecycle._train_child``, started by
:func:`mlgate.lifecycle.train.run_isolated`). It reads its job from stdin, confines itself, and
only then imports and calls the team's training function. It writes the returned path to the
result pipe; everything the function prints goes to the training log."""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from pathlib import Path
from typing import Any

from mlgate.lifecycle.train import EXIT_BAD_FUNCTION, EXIT_NO_SANDBOX

# Read-only system locations a Python process with numpy/pandas/scikit-learn needs.
SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/proc", "/sys/devices/system/cpu",
               "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/etc/ld.so.cache", "/etc/localtime",
               "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
               "/etc/hosts", "/etc/resolv.conf", "/etc/mime.types", "/etc/os-release", "/etc/timezone")
SYSTEM_WRITE = ("/dev/null",)


def read_paths(job: dict[str, Any]) -> list[str]:
    """Where the training process may read: the interpreter, the installed packages, the team's
    code, the staged inputs and a few system files. Not the checkout's other folders, not the work
    folder, not the keys."""
    paths: set[str] = set(SYSTEM_READ)
    paths.update(p for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix) if p)
    paths.update(str(v) for k, v in sysconfig.get_paths().items() if v)
    paths.update(p for p in sys.path if p and os.path.isabs(p))
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    import mlgate

    paths.add(str(Path(mlgate.__file__).parent))  # editable installs map the package elsewhere
    paths.update(job["python_path"])
    paths.update(job["datasets"].values())
    paths.update(job["base_models"].values())
    return sorted(paths)


def main() -> int:
    job = json.loads(sys.stdin.read())
    result_fd = int(job["result_fd"])
    sys.path[:0] = job["python_path"]
    if job["isolation"] == "landlock":
        from mlgate.lifecycle.sandbox import SandboxUnavailable, confine

        try:
            confine(read_paths(job), [job["output_dir"], os.getcwd(), *job["scratch"], *SYSTEM_WRITE],
                    network=job["network"])
        except SandboxUnavailable as e:
            print(f"cannot confine the training process: {e}", file=sys.stderr)
            return EXIT_NO_SANDBOX
    os.dup2(2, 1)  # the function's prints go to the log, never to the result
    from mlgate.errors import PolicyError
    from mlgate.lifecycle.train import TrainInputs, import_training_function

    try:
        fn = import_training_function(job["function"], job["config_file"])
    except PolicyError as e:
        print(str(e).split(": ", 3)[-1], file=sys.stderr)
        return EXIT_BAD_FUNCTION
    inputs = TrainInputs(
        datasets={n: Path(p) for n, p in job["datasets"].items()},
        dataset_fingerprints=dict(job["dataset_fingerprints"]),
        base_models={n: Path(p) for n, p in job["base_models"].items()},
        output_dir=Path(job["output_dir"]),
        params=dict(job["params"]),
    )
    result = fn(inputs)
    with os.fdopen(result_fd, "w") as r:
        r.write(json.dumps({"artifact": str(result) if result is not None else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
