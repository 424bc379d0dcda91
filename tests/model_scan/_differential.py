"""Reference readers for differential tests: the real loaders, made inert.

* :func:`reference_pickle` runs CPython's C ``pickle.Unpickler`` *and* the pure-Python
  ``pickle._Unpickler`` (what joblib subclasses) with a recording ``find_class`` that returns
  inert stand-in classes and a ``persistent_load`` that returns an inert object. Nothing named by
  the stream is ever imported or called: every global is a fresh empty class.
* :func:`reference_joblib` runs joblib's own ``NumpyUnpickler`` the same way, except that
  ``joblib.numpy_pickle.NumpyArrayWrapper`` and ``numpy.dtype`` resolve to the real (data-only)
  objects whose reading rules mlgate mirrors; a nested object-array pickle is read by the
  recording unpickler too, never by ``pickle.load``.
* :func:`compare_pickle` / :func:`compare_joblib` list the disagreements with mlgate's machine
  that matter: a stream a loader accepts but mlgate rejects, or a global a loader resolves that
  mlgate did not see. mlgate accepting *more* than a loader is the safe side and not reported.
* :func:`compare_zip` compares mlgate's member view with ``zipfile``'s.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass, field
from typing import Any

from mlgate.gates.model_scan.pickle_vm import Budget, PickleMachine, PickleResult


class Inert:
    """Accepts every call the unpicklers make on an object; does nothing."""

    def __new__(cls, *a: Any, **k: Any) -> Inert:
        return object.__new__(cls)

    def __init__(self, *a: Any, **k: Any) -> None:
        pass

    def __call__(self, *a: Any, **k: Any) -> Inert:
        return Inert()

    def __setstate__(self, state: Any) -> None:
        pass

    def append(self, x: Any) -> None:
        pass

    def extend(self, xs: Any) -> None:
        pass

    def add(self, x: Any) -> None:
        pass

    def __setitem__(self, k: Any, v: Any) -> None:
        pass


def _stand_in(module: str, name: str) -> type:
    return type("Inert_" + name.replace(".", "_")[:40], (Inert,), {})


@dataclass
class Ref:
    accepted: bool = False
    end: int | None = None
    globals: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _recording(base: type) -> type:
    class Recording(base):  # type: ignore[valid-type,misc]
        def __init__(self, f: Any, log: list[tuple[str, str]]) -> None:
            super().__init__(f, encoding="latin1")
            self._log = log

        def find_class(self, module: str, name: str) -> Any:
            self._log.append((module, name))
            return _stand_in(module, name)

        def persistent_load(self, pid: Any) -> Any:
            return Inert()

    return Recording


CRecording = _recording(pickle.Unpickler)
PyRecording = _recording(pickle._Unpickler)  # type: ignore[attr-defined]


def reference_pickle(data: bytes) -> Ref:
    ref = Ref()
    for cls in (CRecording, PyRecording):
        f = io.BytesIO(data)
        log: list[tuple[str, str]] = []
        try:
            cls(f, log).load()
        except Exception as e:  # any failure of the real unpickler: it stops there
            ref.errors.append(f"{cls.__mro__[1].__module__}: {type(e).__name__}: {str(e)[:80]}")
        else:
            if not ref.accepted:
                ref.accepted, ref.end = True, f.tell()
        for g in log:
            if g not in ref.globals:
                ref.globals.append(g)
    return ref


def mlgate_pickle(data: bytes) -> PickleResult:
    return PickleMachine(Budget(2_000_000, 100_000, 1_000_000)).run(io.BytesIO(data), len(data))


def _seen(res: PickleResult) -> set[tuple[str, str]]:
    out = {g.written or (g.module, g.name) for g in res.globals}
    for sub in res.nested:
        out |= _seen(sub)
    return out


def _blocks(res: PickleResult) -> bool:
    """mlgate reports the stream as blocking or incomplete whatever its globals are."""
    if res.error_kind in ("budget", "undecidable"):
        return True
    return any(e.kind in ("dynamic-global", "ext", "indirect-call", "build-on-global") for e in res.events)


def compare(ref: Ref, res: PickleResult) -> list[str]:
    problems: list[str] = []
    if ref.accepted and not res.stopped and not _blocks(res):
        problems.append(f"a loader accepts the stream, mlgate stops: {res.error} at {res.error_offset}")
    missing = [g for g in ref.globals if g not in _seen(res)]
    if missing and not _blocks(res):
        problems.append(f"globals the loader resolves that mlgate did not see: {missing[:5]}")
    if ref.accepted and res.stopped and ref.end is not None and ref.end != res.end and not _blocks(res):
        problems.append(f"the stream ends at {ref.end} for the loader, at {res.end} for mlgate")
    return problems


def compare_pickle(data: bytes) -> list[str]:
    return compare(reference_pickle(data), mlgate_pickle(data))


def mutate(data: bytes, muts: list[tuple[str, int, bytes]]) -> bytes:
    b = bytearray(data)
    for kind, pos, byte in muts:
        if not b:
            break
        i = pos % len(b)
        if kind == "flip":
            b[i] = byte[0]
        elif kind == "insert":
            b[i:i] = byte
        elif kind == "delete":
            del b[i]
        elif kind == "truncate":
            del b[i:]
        else:
            j = min(len(b), i + 1 + byte[0] % 16)
            b[i:i] = b[i:j]
    return bytes(b)


# -- joblib ----------------------------------------------------------------------------------------


def _sane_dtype_state(state: Any) -> bool:
    import numpy as np

    def small(x: Any, lo: int = -1, hi: int = 2**24) -> bool:
        return isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi

    if not (isinstance(state, tuple) and len(state) in (8, 9)):
        return False
    version, order, sub, names, fields, elsize, align, flags = state[:8]
    if version not in (3, 4) or order not in ("<", ">", "|", "=") or not (small(elsize) and small(align)):
        return False
    if not small(flags, 0, 255):
        return False
    if sub is not None:
        if not (isinstance(sub, tuple) and len(sub) == 2 and isinstance(sub[0], np.dtype)):
            return False
        if not (isinstance(sub[1], tuple) and all(small(x, 0, 2**16) for x in sub[1])):
            return False
    if (names is None) != (fields is None):
        return False
    if names is not None:
        if not (isinstance(names, tuple) and isinstance(fields, dict) and set(names) == set(fields)):
            return False
        for spec in fields.values():
            if not (isinstance(spec, tuple) and len(spec) in (2, 3) and isinstance(spec[0], np.dtype)):
                return False
            if not small(spec[1], 0) or spec[1] + spec[0].itemsize > elsize:
                return False
    if len(state) == 9 and state[8] is not None:
        meta = state[8]
        if not (isinstance(meta, tuple) and len(meta) == 2 and isinstance(meta[0], dict)):
            return False
        unit = meta[1]
        if not (isinstance(unit, tuple) and len(unit) == 4 and isinstance(unit[0], bytes)):
            return False
        if not all(small(x, 0, 2**16) for x in unit[1:]):
            return False
    return True


def _holds_objects(dt: Any, depth: int = 0) -> bool:
    if depth > 8:
        return True
    if dt.kind == "O":
        return True
    if dt.fields:
        return any(_holds_objects(f[0], depth + 1) for f in dt.fields.values())
    if dt.subdtype is not None:
        return _holds_objects(dt.subdtype[0], depth + 1)
    return False


def reference_joblib(data: bytes) -> Ref:
    import numpy as np
    from joblib import numpy_pickle

    ref = Ref()
    log: list[tuple[str, str]] = []

    class SafeWrapper(numpy_pickle.NumpyArrayWrapper):  # type: ignore[misc]
        """joblib's wrapper with its reading rules; refuses allocations the file cannot back
        (joblib would fail too, only later) and reads object arrays with the recording unpickler."""

        def read_array(self, unpickler: Any, ensure_native_byte_order: Any) -> Any:
            if _holds_objects(self.dtype) and not self.dtype.hasobject:
                # joblib would read file bytes as object pointers (a crash, or worse): refuse
                raise ValueError("object dtype whose flags deny objects")
            if self.dtype.hasobject:
                return CRecording(unpickler.file_handle, log).load()
            count = 1 if len(self.shape) == 0 else int(np.multiply.reduce([np.int64(x) for x in self.shape]))
            here = unpickler.file_handle.tell()
            if count < 0 or count * self.dtype.itemsize > len(data) - here:
                raise ValueError("array data runs past the end")
            self.subclass = np.ndarray  # the recorded stand-in class is not an ndarray subtype
            return super().read_array(unpickler, ensure_native_byte_order)

    class Joblib(numpy_pickle.NumpyUnpickler):  # type: ignore[misc]
        dispatch = numpy_pickle.NumpyUnpickler.dispatch.copy()

        def load_build(self) -> None:
            # numpy's dtype.__setstate__ segfaults on some hostile states (a NumPy bug, found by
            # the deep run): the reference refuses states of a shape NumPy itself never writes.
            if len(self.stack) >= 2 and isinstance(self.stack[-2], np.dtype) and not _sane_dtype_state(
                self.stack[-1]
            ):
                raise ValueError("dtype state of a shape NumPy never writes")
            numpy_pickle.NumpyUnpickler.load_build(self)

        dispatch[pickle.BUILD[0]] = load_build

        def find_class(self, module: str, name: str) -> Any:
            log.append((module, name))
            if (module, name) == ("joblib.numpy_pickle", "NumpyArrayWrapper"):
                return SafeWrapper
            if (module, name) == ("numpy", "dtype"):
                return np.dtype
            return _stand_in(module, name)

        def persistent_load(self, pid: Any) -> Any:
            return Inert()

    f = io.BytesIO(data)
    try:
        Joblib("mem.joblib", f, ensure_native_byte_order=False).load()
    except Exception as e:
        ref.errors.append(f"joblib: {type(e).__name__}: {str(e)[:80]}")
    else:
        ref.accepted, ref.end = True, f.tell()
    ref.globals = list(dict.fromkeys(log))
    return ref


def joblib_accepts(data: bytes) -> bool:
    return reference_joblib(data).accepted


def compare_joblib(data: bytes) -> list[str]:
    return compare(reference_joblib(data), mlgate_pickle(data))


# -- zip -------------------------------------------------------------------------------------------


def mlgate_zip_members(data: bytes) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(name, bytes) of every member mlgate analyses, and the finding ids of the parse."""
    from mlgate.gates.model_scan import containers
    from mlgate.gates.model_scan.blob import bytes_blob
    from mlgate.gates.model_scan.config import ModelScanConfig
    from mlgate.gates.model_scan.context import ScanContext
    from mlgate.gates.model_scan.globals_policy import GlobalsPolicy

    ctx = ScanContext(path="t.zip", config=ModelScanConfig(), globals_policy=GlobalsPolicy.__new__(GlobalsPolicy))
    blob = bytes_blob("t.zip", data)
    parsed = containers.parse_zip(blob, ctx)
    out: list[tuple[str, bytes]] = []
    extra: list[str] = []
    if parsed is not None:
        for e in parsed[0]:
            if e.data_start < 0:
                continue
            if e.data_start + e.csize > len(data):
                extra.append("MLG-ZIP-OVERLAP")  # what analyze_zip reports for it (blocking)
                continue
            got = containers.zip_member_blob(blob, e, ctx)
            if got is None:
                continue
            member, spool = got
            try:
                with member.open() as fh:
                    out.append((e.name, fh.read()))
            finally:
                if spool is not None:
                    spool.close()
    return out, [f.id for f in ctx.findings] + extra


def compare_zip(data: bytes) -> list[str]:
    """Every member zipfile can read (by name, as np.load and most loaders open them) must be
    among the bytes mlgate analysed, or mlgate must have reported the archive as malformed."""
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception:
        return problems
    ours, findings = mlgate_zip_members(data)
    blocked = any(i in ("MLG-ARC-MALFORMED", "MLG-ZIP-NAME-MISMATCH", "MLG-ZIP-OVERLAP") for i in findings)
    have = {content for _, content in ours}
    for info in zf.infolist():
        try:
            content = zf.read(info)
        except Exception:
            continue
        if content not in have and not blocked:
            problems.append(f"zipfile reads member {info.filename!r} ({len(content)} bytes) that mlgate did not see")
    return problems
