"""``mlgate allowlist build``: allowlist entries that name objects, made from the real library.

The library is imported only in a separate process (``inspect_library.py``), run with the target
venv's python in isolated mode (``-I``), with an empty network namespace (``unshare -rn``) where the
kernel allows it and its sockets refused in any case. This process reads its JSON answer and turns
it into reviewed YAML: one entry per object, named as a pickle names it (its defining module and
qualname), with its kind, whether reconstruction calls it, the library version(s) it came from and
a reason. Re-exports inside the package become entries that record the object they resolve to;
re-exports of objects defined elsewhere (``sklearn.datasets._base.NamedTemporaryFile``) are never
entries: they are listed under ``rejected`` with the object they really are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError, UsageError

INSPECTOR = Path(__file__).with_name("inspect_library.py")
TIMEOUT_S = 1800
# distribution name -> import names, where they differ
IMPORT_NAMES = {"scikit-learn": ("sklearn",), "pytorch-lightning": ("pytorch_lightning",)}


class BuildError(MlgateError):
    pass


@dataclass(frozen=True)
class Spec:
    dist: str
    version: str

    @classmethod
    def parse(cls, text: str) -> Spec:
        dist, sep, version = text.partition("==")
        if not sep or not dist.strip() or not version.strip():
            raise UsageError(f"expected PACKAGE==VERSION, got {text!r}")
        return cls(dist.strip(), version.strip())

    def __str__(self) -> str:
        return f"{self.dist}=={self.version}"


def _sandbox_prefix() -> list[str]:
    """An empty network namespace when the kernel grants one (the socket guard in the inspector
    applies either way)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    try:
        ok = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return [unshare, "-rn"] if ok else []


def _clean_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({"KERAS_BACKEND": "torch", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"})
    return env


def installed_version(python: str, dist: str) -> str | None:
    code = "import sys,importlib.metadata as m\ntry: print(m.version(sys.argv[1]))\nexcept m.PackageNotFoundError: pass"
    out = subprocess.run([python, "-I", "-c", code, dist], capture_output=True, text=True, timeout=120, env=_clean_env())
    return out.stdout.strip() or None


def make_venv(specs: list[Spec], where: Path) -> str:
    """A throwaway venv with exactly these distributions (pip by name from the usual registry)."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    py = str(where / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "-q", *map(str, specs)], capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"pip install {' '.join(map(str, specs))} failed: {r.stderr.strip()[-400:]}")
    return py


def _denied_under(prefixes: tuple[str, ...]) -> list[str]:
    from mlgate.gates.model_scan.globals_policy import DANGEROUS_MODULES

    return [m for m in DANGEROUS_MODULES if any(m == p or m.startswith(p + ".") for p in prefixes)]


def inspect(python: str, prefixes: tuple[str, ...], extra_path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the inspector on ``prefixes`` with ``python`` (``extra_path``: directories put first on its
    sys.path, for a library that is not installed, such as a test fixture)."""
    excluded = [f"--exclude={m}" for m in _denied_under(prefixes)]
    paths = [f"--path={p}" for p in extra_path]
    cmd = [*_sandbox_prefix(), python, "-I", str(INSPECTOR), *prefixes, *excluded, *paths]
    with tempfile.TemporaryDirectory(prefix="mlgate-inspect-") as cwd:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=_clean_env(), cwd=cwd)
    if r.returncode != 0:
        raise BuildError(f"inspecting {', '.join(prefixes)} failed: {r.stderr.strip()[-600:]}")
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def _reason(obj: dict[str, Any]) -> str:
    if obj["kind"] == "function":
        return "Cython-generated unpickler: checks the layout checksum, then sets the fields"
    if obj["kind"] == "value":
        return str(obj.get("notes", ["a value"])[0])
    risky = [str(n) for n in obj.get("notes", []) if "Python" in str(n)]
    extra = f"; reviewed: {'; '.join(risky)}" if risky else ""
    if obj.get("called"):
        return "extension type: its own reduce calls it with the arguments it wrote (native code)" + extra
    return "state-only class: default pickling (NEWOBJ + BUILD)" + extra


def entries_from(data: dict[str, Any], spec: Spec, aliases: bool = False) -> tuple[list[dict[str, Any]], dict[str, str]]:
    out: list[dict[str, Any]] = []
    ok: dict[str, dict[str, Any]] = {}
    for obj in data["objects"]:
        if not obj.get("ok"):
            continue
        key = f"{obj['module']}:{obj['name']}"
        e: dict[str, Any] = {"module": obj["module"], "name": obj["name"], "kind": obj["kind"]}
        if obj.get("called"):
            e["called"] = True
        e["versions"] = [str(spec)]
        e["reason"] = _reason(obj)
        ok[key] = e
        out.append(e)
    for a in data["aliases"]:
        target = ok.get(a["object"])
        if target is None:
            continue
        # By default only the spellings under the module that claims the object (NumPy's and
        # pandas' set_module: numpy.matrix is defined in numpy.matrixlib.defmatrix, where older
        # versions pickled it); ``aliases`` keeps every in-package re-export.
        if not aliases and not a["module"].startswith(target["module"] + "."):
            continue
        e = {"module": a["module"], "name": a["name"], "kind": target["kind"], "object": a["object"]}
        if target.get("called"):
            e["called"] = True
        e["versions"] = [str(spec)]
        e["reason"] = f"re-export of {a['object'].replace(':', '.')} (resolved when this entry was built)"
        out.append(e)
    return out, dict(data["rejected"])


def merge(existing: dict[str, Any] | None, new: list[dict[str, Any]], rejected: dict[str, str],
          spec: Spec) -> dict[str, Any]:
    """Union over versions: an entry seen in several versions lists each of them."""
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    rej: dict[str, str] = {}
    if existing:
        for e in existing.get("globals", []):
            by_key[(e["module"], e["name"])] = dict(e)
        rej.update(existing.get("rejected", {}) or {})
    for e in new:
        k = (e["module"], e["name"])
        old = by_key.get(k)
        if old is None:
            by_key[k] = e
            continue
        vers = list(dict.fromkeys([*old.get("versions", []), str(spec)]))
        if old.get("kind") != e["kind"] or bool(old.get("called")) != bool(e.get("called")):
            # judged differently across versions: keep the stricter reading (not called), note it
            e = dict(e, called=bool(old.get("called")) and bool(e.get("called")))
            if not e["called"]:
                e.pop("called")
        by_key[k] = dict(e, versions=vers)
    rej.update(rejected)
    allowed = {f"{m}:{n}" for (m, n) in by_key}
    rej = {k: v for k, v in rej.items() if k not in allowed}
    return {"globals": [by_key[k] for k in sorted(by_key)], "rejected": dict(sorted(rej.items()))}


ABOUT = (
    "Generated by `mlgate allowlist build {specs}` (docs/allowlists.md), then reviewed. Each entry names an "
    "object as a pickle names it (its defining module and qualname), found by importing the library in a "
    "separate, network-less process. kind class: may be constructed (NEWOBJ/BUILD) or passed as a value; "
    "called: true also lets a pickle call it with arguments (its own reduce does). object: what a re-exported "
    "spelling resolves to. 'rejected' lists what the builder refused and why; it is never matched."
)


def write(path: Path, doc: dict[str, Any], specs: list[Spec]) -> None:
    """JSON (a policy may include .json allowlists): one entry per line, so reviews diff well."""
    lines = ["{", f'"about": {json.dumps(ABOUT.format(specs=" ".join(map(str, specs))))},', '"globals": [']
    entries = [json.dumps(e, ensure_ascii=True, separators=(",", ":")) for e in doc["globals"]]
    lines.append(",\n".join(entries))
    lines.append("],")
    lines.append(f'"rejected": {json.dumps(doc["rejected"], indent=0, sort_keys=True)}')
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def build(specs: list[Spec], modules: tuple[str, ...], out: Path, python: str | None, install: bool,
          aliases: bool = False) -> dict[str, int]:
    if not specs:
        raise UsageError("name at least one PACKAGE==VERSION")
    existing = json.loads(out.read_text()) if out.exists() else None
    counts = {"entries": 0, "rejected": 0}
    with tempfile.TemporaryDirectory(prefix="mlgate-allowlist-venv-") as tmp:
        for spec in specs:
            py = python
            if install:
                py = make_venv([spec], Path(tmp) / spec.dist.replace("/", "_"))
            if py is None:
                raise UsageError("give --python PATH (a venv with the library) or --install")
            got = installed_version(py, spec.dist)
            if got != spec.version:
                raise BuildError(f"{py} has {spec.dist} {got or 'not installed'}, not {spec.version}")
            prefixes = modules or IMPORT_NAMES.get(spec.dist, (spec.dist.replace("-", "_"),))
            data = inspect(py, prefixes)
            new, rejected = entries_from(data, spec, aliases)
            existing = merge(existing, new, rejected, spec)
    assert existing is not None
    write(out, existing, specs)
    counts["entries"] = len(existing["globals"])
    counts["rejected"] = len(existing["rejected"])
    return counts
