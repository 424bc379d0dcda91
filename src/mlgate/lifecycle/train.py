"""The contract between mlgate and a team's training function, and the process boundary around it.

The training function is named by import path in the pipeline config
(``training.function: package.module:function``) and is called as ``function(inputs)`` with a
:class:`TrainInputs`. It must write its model into ``inputs.output_dir`` (for example with
``mlflow.sklearn.save_model``) and may return a different folder inside it. It receives only local
copies of exactly the bytes the pre-train checkpoint checked (re-verified just before the call).

**Training code is untrusted** (principle 5): it never shares a process with a gate or a signing
key. :func:`run_isolated` starts it in a fresh interpreter (``python -I``) that

* gets a minimal environment (``PATH``, a private ``HOME`` and ``TMPDIR``, ``LANG``, plus only the
  variables named in ``training.env``): no credentials, no signing-key path, no ``MLGATE_*``,
  ``MLFLOW_*``, ``AWS_*`` or ``PREFECT_*`` it was not given;
* starts in an empty folder, reads its inputs from a JSON job on stdin, and never sees the
  pipeline config;
* is confined by Landlock (:mod:`mlgate.lifecycle.sandbox`): it reads only the Python installation,
  system libraries, ``training.python_path`` and the staged inputs (made read-only); it writes only
  its output folder and a private scratch folder; no TCP unless ``training.network``; no signals or
  ptrace to the gate process; no capabilities;
* is killed (its whole process group) after ``training.timeout_seconds``.

Patching mlgate in memory there changes nothing in the gate process; whatever it writes is
re-staged from disk and re-hashed by the pre-publish checkpoint. In production the training step
runs on its own Prefect work pool and infrastructure (``infra/README.md``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import MlgateError, PolicyError

if TYPE_CHECKING:
    from mlgate.lifecycle.pipeline import Context, PreTrainResult

CHILD_MODULE = f"{__package__}._train_child"  # the module run as the training process
# Exit codes of the training process (anything else: the function failed or was killed).
EXIT_BAD_FUNCTION = 3
EXIT_NO_SANDBOX = 4
LOG_TAIL = 20


@dataclass(frozen=True)
class TrainInputs:
    datasets: dict[str, Path]  # dataset name -> local file or folder (verified copy)
    dataset_fingerprints: dict[str, str]  # dataset name -> sha256 fingerprint checked by the data gate
    base_models: dict[str, Path]  # base model name -> local folder (verified copy)
    output_dir: Path  # write the model here
    params: dict[str, Any] = field(default_factory=dict)


TrainFunction = Callable[[TrainInputs], "Path | None"]


class TrainingFailed(MlgateError):
    """The training process failed, timed out, or produced no usable output (exit 2)."""


def import_training_function(spec: str, config_file: str = "<pipeline>") -> TrainFunction:
    """Import ``package.module:function``. Only the training process calls this: importing a
    team's module runs its code, which never happens in the gate process."""
    mod_name, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise PolicyError(config_file, "training.function", f"cannot import {mod_name!r}: {e}") from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise PolicyError(config_file, "training.function", f"{spec!r} is not a callable")
    return fn  # type: ignore[no-any-return]


BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")


def child_env(passthrough: tuple[str, ...], home: Path, tmp: Path) -> dict[str, str]:
    """The training process's whole environment."""
    env = {k: os.environ[k] for k in BASE_ENV if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update({"HOME": str(home), "TMPDIR": str(tmp), "PYTHONDONTWRITEBYTECODE": "1",
                "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    env.update({k: os.environ[k] for k in passthrough if k in os.environ})
    return env


def _read_only(path: Path) -> None:
    """Best effort: drop write bits on a staged copy's files (Landlock is what enforces it)."""
    paths = [path] if path.is_file() else list(path.rglob("*"))
    for p in paths:
        if p.is_file() and not p.is_symlink():
            p.chmod(stat.S_IMODE(p.stat().st_mode) & ~0o222)


def run_isolated(ctx: Context, pre: PreTrainResult) -> Path:
    """Re-verify the staged inputs, run the training function in its confined process, and return
    the artifact it produced (a path inside the fresh output folder)."""
    spec = ctx.cfg.doc.training
    for copy in [*pre.datasets.values(), *pre.base_models.values()]:
        copy.reverify("pre-train")  # the bytes handed over are the bytes that were checked
        _read_only(copy.path)
    out = ctx.run_dir / "output"
    out.mkdir()
    scratch = Path(tempfile.mkdtemp(prefix="mlgate-train-"))
    try:
        for d in ("cwd", "home", "tmp"):
            (scratch / d).mkdir()
        job = {
            "function": spec.function,
            "config_file": str(ctx.cfg.path.name),
            "datasets": {n: str(c.path) for n, c in pre.datasets.items()},
            "dataset_fingerprints": dict(pre.fingerprints),
            "base_models": {n: str(c.path) for n, c in pre.base_models.items()},
            "output_dir": str(out),
            "params": dict(spec.params),
            "python_path": [str(ctx.cfg.resolve(p)) for p in spec.python_path],
            "scratch": [str(scratch / "home"), str(scratch / "tmp")],
            "isolation": spec.isolation,
            "network": spec.network,
        }
        log_path = ctx.run_dir / "training.log"
        rel = _run_child(job, child_env(spec.env, scratch / "home", scratch / "tmp"), scratch / "cwd",
                         log_path, spec.timeout_seconds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _artifact(out, rel)


def _run_child(job: dict[str, Any], env: dict[str, str], cwd: Path, log_path: Path, timeout: float) -> str | None:
    result_r, result_w = os.pipe()
    job["result_fd"] = result_w
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-m", CHILD_MODULE],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True, pass_fds=(result_w,), close_fds=True,
        )
        os.close(result_w)
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(job).encode())
            proc.stdin.close()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TrainingFailed(f"the training function did not finish within {timeout:g} s "
                                 f"(training.timeout_seconds); log: {log_path}") from None
        finally:
            _kill_group(proc)
            with os.fdopen(result_r, "rb") as r:
                result = r.read(65_536)
    if proc.returncode == EXIT_BAD_FUNCTION:
        raise PolicyError(str(job["config_file"]), "training.function", _last_line(log_path))
    if proc.returncode == EXIT_NO_SANDBOX:
        raise TrainingFailed(f"training not started: {_last_line(log_path)}; set training.isolation: process to "
                             "accept an unconfined process, or run training on its own work pool (infra/README.md)")
    if proc.returncode != 0:
        raise TrainingFailed(f"the training function failed (exit {proc.returncode}): {_last_line(log_path)} "
                             f"(log: {log_path})")
    try:
        doc = json.loads(result or b"{}")
    except ValueError:
        raise TrainingFailed("the training process returned an unreadable result") from None
    artifact = doc.get("artifact") if isinstance(doc, dict) else None
    return artifact if isinstance(artifact, str) else None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Nothing the training function started outlives it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(10)


def _last_line(log_path: Path) -> str:
    try:
        lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1].strip()[:500] if lines else "(no output)"


def _artifact(out: Path, rel: str | None) -> Path:
    """The returned folder, which must lie inside the output folder (the process's own claim is
    untrusted: it is only a path, checked here; the bytes are re-staged and re-hashed next)."""
    root = out.resolve()
    artifact = (root / rel).resolve() if rel else root  # an absolute rel replaces root
    if root not in (artifact, *artifact.parents) or not artifact.exists():
        raise TrainingFailed(f"the training function returned {rel!r}, which is not inside its output folder {out}")
    if artifact.is_dir() and not any(artifact.iterdir()):
        raise TrainingFailed(f"the training function wrote nothing into {artifact}")
    return artifact
