"""Inspect an installed library for pickle-safe objects. Run ONLY as a script in a separate,
network-less process (``mlgate allowlist build`` does that): importing a library runs its code,
which must never happen in a scanning process.

    python -I inspect_library.py PREFIX [PREFIX...]  ->  JSON on stdout

For every module under the prefixes (tests, benchmarks and examples skipped) and every class or
function it exposes, it reports the object's *defining* module and qualname (what a pickle of that
object names), and a conservative judgement of what reconstruction of it runs:

* a class whose pickling is the default (``copyreg.__newobj__`` + BUILD) and whose Python-level
  ``__setstate__``/``__new__``/``__reduce__``/``__init__`` (when a custom reduce calls it) reach no
  code, import, file, process or network name is ``class`` (state only);
* a class whose custom ``__reduce__`` is native (C/Cython) is ``class`` with ``called: true`` (the
  loader calls the class with arguments, which only reach the extension type's constructor);
* Cython-generated unpicklers (``__pyx_unpickle_*``) are ``function`` (they check a layout checksum
  and set fields);
* anything else is listed as rejected with the reason, never as allowed.

Nothing here imports mlgate; stdlib only.
"""

from __future__ import annotations

import dis
import importlib
import json
import pkgutil
import socket
import sys
import types
import warnings

# Names whose appearance in a reconstruction method means it may reach code, imports, files,
# processes or the network. Deliberately broad: a false "rejected" costs a review, a false
# "allowed" costs a compromise.
RISKY_NAMES = frozenset(
    ["eval", "exec", "compile", "__import__", "import_module", "reload", "open", "system", "popen", "Popen", "spawn", "fork", "execv", "execve", "check_output", "check_call", "urlopen", "urlretrieve", "request", "connect", "create_connection", "socket", "get_file", "from_file", "fromfile", "loadtxt", "genfromtxt", "memmap", "read_pickle", "load_pickle", "unpickle", "Unpickler", "loads", "load", "_load", "torch_load", "joblib_load", "dlopen", "CDLL", "LoadLibrary", "globals", "locals", "__builtins__", "__globals__", "__subclasses__", "getattribute", "find_class", "run_path", "run_module", "builtins", "subprocess", "os", "shutil", "tempfile", "pickle", "marshal", "dill", "cloudpickle", "importlib", "pkgutil", "ctypes", "remove", "unlink", "rmtree", "rmdir", "rename", "replace", "write_bytes", "write_text"]
)
# Names whose appearance in ANY method of a class means the object itself can run code, spawn
# processes, touch files or the network when the application uses it (joblib.Memory, a socket
# tracker, a lazy module loader, a test runner). Such classes are not data, however they are rebuilt.
CAPABILITY_GLOBALS = frozenset(["eval", "exec", "compile", "__import__", "breakpoint"])  # as builtins only
CAPABILITY_ATTRS = frozenset(
    ["system", "popen", "Popen", "spawnv", "spawnl", "fork", "forkpty", "execv", "execve", "execvp", "check_output", "check_call", "urlopen", "urlretrieve", "create_connection", "rmtree", "run_path", "run_module", "dlopen", "CDLL", "LoadLibrary", "import_module"]
)
SKIP_PARTS = {"tests", "test", "testing", "_testing", "conftest", "benchmarks", "examples", "setup", "__main__",
              "_pytest", "externals", "distutils", "f2py", "_pyinstaller"}
REDUCE_ATTRS = ("__reduce_ex__", "__reduce__")
EXCLUDED: list[str] = []
# Standard-library value types whose native pickling a library class may inherit (pandas'
# Timestamp/Timedelta/NaT derive from datetime): they rebuild a date, a time or a duration.
TRUSTED_NATIVE = frozenset({"datetime"})  # module prefixes never imported (the scanner denies them anyway)


def _block_network() -> None:
    def refuse(*a: object, **k: object) -> None:
        raise OSError("network disabled while inspecting a library")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]


def _code_names(fn: object, depth: int = 0) -> set[str]:
    code = getattr(fn, "__code__", None)
    if code is None and isinstance(fn, (classmethod, staticmethod)):
        code = getattr(fn.__func__, "__code__", None)
    if code is None:
        return set()
    names: set[str] = set()
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return names


def _defined_by(cls: type, attr: str) -> tuple[type | None, object]:
    for base in cls.__mro__:
        if attr in vars(base):
            return base, vars(base)[attr]
    return None, None


def _is_python(fn: object) -> bool:
    f = fn.__func__ if isinstance(fn, (classmethod, staticmethod)) else fn
    return isinstance(f, types.FunctionType)


def _judge_method(cls: type, attr: str, prefixes: tuple[str, ...]) -> tuple[str, str]:
    """('ok'|'native'|'risky'|'foreign', why) for the method a reconstruction would run."""
    owner, fn = _defined_by(cls, attr)
    if owner is None or owner is object or owner.__module__ == "builtins":
        return "ok", ""
    if _is_python(fn):
        risky = sorted(_code_names(fn) & RISKY_NAMES)
        if risky:
            return "risky", f"{owner.__module__}.{owner.__qualname__}.{attr} references {', '.join(risky)}"
        return "ok", f"{owner.__module__}.{owner.__qualname__}.{attr} (Python, no risky names)"
    mod = getattr(owner, "__module__", "") or ""
    if mod in TRUSTED_NATIVE:
        return "native", f"{attr} is the standard library's {mod}.{owner.__qualname__} (plain value)"
    if not any(mod == p or mod.startswith(p + ".") for p in prefixes):
        return "foreign", f"{attr} is native code of {mod}.{owner.__qualname__}, outside the inspected package"
    return "native", f"{attr} is native (C/Cython) code of {mod}.{owner.__qualname__}"


def _methods(base: type) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for name, v in vars(base).items():
        if isinstance(v, property):
            out.extend((f"{name}.{k}", f) for k, f in (("fget", v.fget), ("fset", v.fset)) if f is not None)
        elif isinstance(v, (staticmethod, classmethod)):
            out.append((name, v.__func__))
        elif isinstance(v, types.FunctionType):
            out.append((name, v))
    return out


def _global_and_attr_names(fn: object) -> tuple[set[str], set[str]]:
    code = getattr(fn, "__code__", None)
    glob: set[str] = set()
    attrs: set[str] = set()
    stack = [code] if code is not None else []
    while stack:
        c = stack.pop()
        for ins in dis.get_instructions(c):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                glob.add(str(ins.argval))
            elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD", "IMPORT_FROM"):
                attrs.add(str(ins.argval))
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return glob, attrs


def capability(cls: type, prefixes: tuple[str, ...]) -> str | None:
    """The first method (of the class and its in-package bases) that calls a code, process, file
    deletion or network primitive, or None."""
    for base in cls.__mro__:
        if base is object or not _in(getattr(base, "__module__", "") or "", prefixes):
            continue
        for name, fn in _methods(base):
            glob, attrs = _global_and_attr_names(fn)
            hit = sorted((glob & CAPABILITY_GLOBALS) | ((glob | attrs) & CAPABILITY_ATTRS))
            if hit:
                return f"method {base.__module__}.{base.__qualname__}.{name} uses {', '.join(hit)}"
    return None


def judge_class(cls: type, prefixes: tuple[str, ...]) -> dict[str, object]:
    notes: list[str] = []
    called = False
    cap = capability(cls, prefixes)
    if cap is not None:
        return {"ok": False, "why": "the object can reach code, processes, files or the network: " + cap}
    for attr in ("__setstate__", "__new__", "__del__"):
        verdict, why = _judge_method(cls, attr, prefixes)
        if verdict in ("risky", "foreign"):
            return {"ok": False, "why": why}
        if why:
            notes.append(why)
    _rv, rwhy = "ok", ""
    for attr in REDUCE_ATTRS:
        owner, _ = _defined_by(cls, attr)
        if owner is not None and owner is not object:
            v, w = _judge_method(cls, attr, prefixes)
            if v in ("risky", "foreign"):
                return {"ok": False, "why": w}
            _rv, rwhy = v, w
            break
    if rwhy:
        # A custom reduce: the loader calls something with arguments, usually the class itself.
        called = True
        notes.append(rwhy)
        iv, iwhy = _judge_method(cls, "__init__", prefixes)
        if iv in ("risky", "foreign"):
            return {"ok": False, "why": "custom reduce calls the class and " + iwhy}
        if iwhy:
            notes.append(iwhy)
    if issubclass(cls, BaseException):
        return {"ok": False, "why": "exception class (never needed to rebuild a model)"}
    return {"ok": True, "called": called, "notes": notes}


def _walk_packages(path: list[str], prefix: str) -> list[pkgutil.ModuleInfo]:
    """pkgutil.walk_packages without descending into (importing) excluded or skipped packages."""
    out: list[pkgutil.ModuleInfo] = []
    for info in pkgutil.iter_modules(path, prefix):
        if SKIP_PARTS & set(info.name.split(".")) or _in(info.name, tuple(EXCLUDED)):
            continue
        out.append(info)
        if info.ispkg:
            try:
                mod = importlib.import_module(info.name)
            except BaseException:  # noqa: S112 - the caller's import reports it
                continue
            sub = getattr(mod, "__path__", None)
            if sub:
                out.extend(_walk_packages(list(sub), info.name + "."))
    return out


def _is_numeric_ufunc(obj: object, mname: str) -> bool:
    t = type(obj)
    if t.__name__ != "ufunc" or t.__module__ != "numpy":
        return False
    # NumPy's own and scipy.special's compiled math; np.frompyfunc ufuncs wrap Python callables
    return (mname == "numpy" or mname.startswith(("numpy.core.", "numpy._core.", "scipy.special"))) and (
        getattr(obj, "__name__", "") not in ("frompyfunc",))


def _in(mod: str, prefixes: tuple[str, ...]) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


def walk(prefixes: tuple[str, ...]) -> dict[str, object]:
    warnings.simplefilter("ignore")
    modules: dict[str, types.ModuleType] = {}
    errors: dict[str, str] = {}
    for p in prefixes:
        try:
            root = importlib.import_module(p)
        except Exception as e:
            errors[p] = f"{type(e).__name__}: {e}"[:300]
            continue
        modules[p] = root
        path = getattr(root, "__path__", None)
        if path is None:
            continue
        for info in _walk_packages(path, p + "."):
            if SKIP_PARTS & set(info.name.split(".")) or _in(info.name, tuple(EXCLUDED)):
                continue
            try:
                modules[info.name] = importlib.import_module(info.name)
            except BaseException as e:
                errors[info.name] = f"{type(e).__name__}: {e}"[:300]
    seen: dict[str, dict[str, object]] = {}
    aliases: list[dict[str, str]] = []
    rejected: dict[str, str] = {}
    for mname, mod in sorted(modules.items()):
        for attr, obj in sorted(vars(mod).items()):
            if _is_numeric_ufunc(obj, mname):
                # a ufunc pickles by name, under whichever module pickle's whichmodule() finds first:
                # every spelling where it is found is the object itself
                key = f"{mname}:{attr}"
                seen.setdefault(key, {"module": mname, "name": attr, "kind": "value", "ok": True, "called": False,
                                      "notes": ["NumPy/SciPy ufunc: pure element-wise math, referenced as data "
                                                "(FunctionTransformer(np.log1p)); never called by the loader"]})
                continue
            if not isinstance(obj, type) and callable(obj) and attr[:1].isupper():
                # a capitalised callable (what a classes-only wildcard matched): record where it is from
                dmod = getattr(obj, "__module__", None)
                if isinstance(dmod, str) and not _in(dmod, prefixes):
                    qual = getattr(obj, "__qualname__", attr)
                    rejected[f"{mname}:{attr}"] = f"re-export of {dmod}.{qual}, defined outside {', '.join(prefixes)}"
                continue
            if isinstance(obj, type):
                kind = "class"
            elif (isinstance(obj, (types.BuiltinFunctionType, types.FunctionType))
                  and attr.startswith("__pyx_unpickle_")):
                kind = "function"
            else:
                continue
            dmod = getattr(obj, "__module__", None)
            qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
            if not isinstance(dmod, str) or not isinstance(qual, str) or "<" in qual:
                continue
            canonical = f"{dmod}:{qual}"
            spelled = f"{mname}:{attr}"
            if not _in(dmod, prefixes) or SKIP_PARTS & set(dmod.split(".")):
                if isinstance(obj, type) and spelled != canonical:
                    rejected[spelled] = f"re-export of {dmod}.{qual}, defined outside {', '.join(prefixes)}"
                continue
            if canonical not in seen:
                if kind == "class":
                    j = judge_class(obj, prefixes)
                else:
                    j = {"ok": True, "called": True, "notes": ["Cython-generated unpickler: checks the layout "
                                                                "checksum, then sets the object's fields"]}
                seen[canonical] = {"module": dmod, "name": qual, "kind": kind, **j}
            if spelled != canonical:
                aliases.append({"module": mname, "name": attr, "object": canonical})
    for canonical, judged in seen.items():
        if not judged["ok"]:
            rejected[canonical] = str(judged["why"])
    return {"python": sys.version.split()[0], "objects": list(seen.values()), "aliases": aliases,
            "rejected": rejected, "import_errors": errors}


def main() -> int:
    _block_network()
    args = sys.argv[1:]
    excluded = tuple(a[len("--exclude="):] for a in args if a.startswith("--exclude="))
    sys.path[:0] = [a[len("--path="):] for a in args if a.startswith("--path=")]
    prefixes = tuple(a for a in args if not a.startswith("--"))
    EXCLUDED.extend(excluded)
    out = sys.stdout
    sys.stdout = sys.stderr  # modules that print on import must not corrupt the answer
    data = walk(prefixes)
    sys.stdout = out
    json.dump(data, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
