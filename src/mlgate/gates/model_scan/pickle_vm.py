"""A symbolic pickle machine: reads opcodes, never unpickles.

It follows the unpickler's stack and memo with symbolic values (constants, globals, calls) so it
can tell *which* globals a stream imports and *how* they are used (called, instantiated, passed
as arguments), resolve ``STACK_GLOBAL`` operands through the memo, and detect names computed at
load time. Memory and time are bounded: byte strings are skipped with ``seek`` (only a short head
is kept, to sniff nested files), containers keep a bounded number of items, the memo and the
opcode count are capped.

It also knows the two places where bytes that are *not* opcodes sit inside a pickle stream:
joblib's inline numpy buffers (after the ``BUILD`` of a ``NumpyArrayWrapper``) and nested
pickles of joblib object arrays.

The grammar is the union of what CPython's two unpicklers accept (the C ``_pickle.Unpickler`` used
by ``pickle.load``/``torch.load``/``np.load`` and the pure-Python ``pickle._Unpickler`` that
joblib subclasses): a stream either of them would run is never rejected here. Where mlgate cannot
model a value the machine accepts more than a loader would (safe: the stream is then analysed as a
pickle). Limits of mlgate's own (opcode count, memo, retained values, time) raise a *budget*
error, which callers report as "incomplete", never as "not a pickle". ``tests/model_scan/
test_differential_pickle.py`` checks the agreement against the real unpicklers.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import io
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

_IDENT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
LINE_KEEP = 64 * 1024  # longer lines are read to their end, but only this much is kept
HEAD = 64
MAX_ITEMS = 4096
MAX_STR = 4096
MAX_CALLS = 1 << 18

CODE_OPS = frozenset(b"c\x93io\x81\x92Rb\x82\x83\x84")  # ops that import or call


class _Mark:
    def __repr__(self) -> str:
        return "MARK"


MARK = _Mark()


class Unknown:
    """A value the machine does not model (buffers, truncated containers)."""

    def __repr__(self) -> str:
        return "?"


UNKNOWN = Unknown()


@dataclass
class GlobalRef:
    module: str
    name: str
    offset: int
    opcode: str
    usages: set[str] = field(default_factory=set)
    written: tuple[str, str] | None = None  # the names in the stream, before fix_imports remapping

    def __hash__(self) -> int:
        return id(self)


@dataclass
class Call:
    func: Any
    args: Any
    offset: int
    kind: str  # reduce | newobj | inst | obj
    state: Any = None


@dataclass
class BigBytes:
    """A byte string that was skipped: where it sits in the stream and its first bytes."""

    start: int
    length: int
    head: bytes


@dataclass
class Persistent:
    pid: Any


@dataclass
class Event:
    kind: str  # dynamic-global | ext | indirect-call | nested-bytes | joblib-array | note
    offset: int
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class PickleResult:
    start: int
    end: int = 0
    protocol: int = 0
    stopped: bool = False
    error: str | None = None  # malformed / truncated, with the offset in ``error_offset``
    error_offset: int | None = None
    # grammar: a real unpickler fails here too | budget: mlgate's own limit (incomplete) |
    # undecidable: mlgate cannot tell what a loader would do next (blocking)
    error_kind: str = "grammar"
    truncated: bool = False
    ops: int = 0
    code_capable: bool = False
    globals: list[GlobalRef] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    persistent_ids: list[Any] = field(default_factory=list)
    nested: list[PickleResult] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)  # call sites (REDUCE/NEWOBJ/INST/OBJ), in order
    calls_overflow: bool = False  # more than MAX_CALLS call sites: ``calls`` is incomplete
    value: Any = None  # the symbolic result (top of stack at STOP)


class PickleFormatError(Exception):
    def __init__(self, offset: int, message: str, truncated: bool = False, kind: str = "grammar") -> None:
        super().__init__(message)
        self.offset = offset
        self.truncated = truncated
        self.kind = kind


class Budget:
    """mlgate's own limits for one stream. ``max_values`` bounds what the machine keeps alive
    (stack entries, open MARKs, container items): memory, not grammar. ``deadline`` is a
    ``time.monotonic()`` value."""

    def __init__(
        self, max_ops: int, max_memo: int, max_values: int = 4_000_000, deadline: float | None = None
    ) -> None:
        self.max_ops = max_ops
        self.max_memo = max_memo
        self.max_values = max_values
        self.deadline = deadline


def _over(offset: int, message: str) -> PickleFormatError:
    return PickleFormatError(offset, message, kind="budget")


class _Reader:
    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f = f
        self.size = size
        self.pos = f.tell()
        self.frame_end = 0  # a loader reads a whole FRAME ahead: a stream ends no earlier

    def _cross(self, start: int, end: int) -> None:
        # The C unpickler reading a file keeps a FRAME in a buffer: an argument that runs past the
        # frame's end is read from *after* the frame and the rest of the frame is dropped, while
        # the Python unpickler fails and pickle.loads reads straight on. Three readings: undecidable.
        if start < self.frame_end < end:
            raise PickleFormatError(start, "an opcode argument crosses the end of its FRAME", kind="undecidable")

    def read(self, n: int) -> bytes:
        if self.frame_end:
            self._cross(self.pos, self.pos + n)
        if n < 0 or self.pos + n > self.size:
            raise PickleFormatError(self.pos, f"needs {n} bytes, {self.size - self.pos} left", truncated=True)
        data = self.f.read(n)
        if len(data) != n:
            raise PickleFormatError(self.pos, "unexpected end of data", truncated=True)
        self.pos += n
        return data

    def byte(self) -> int:
        return self.read(1)[0]

    def skip(self, n: int) -> bytes:
        """Skip ``n`` bytes, returning the first :data:`HEAD` of them."""
        if self.frame_end:
            self._cross(self.pos, self.pos + n)
        if n < 0 or self.pos + n > self.size:
            raise PickleFormatError(
                self.pos, f"length {n} runs past the end ({self.size - self.pos} left)", truncated=True
            )
        if n <= 4 * HEAD:
            return self.read(n)
        head = self.f.read(HEAD)
        self.f.seek(self.pos + n)
        self.pos += n
        return head

    def line(self) -> tuple[bytes, bool]:
        """The next line without its newline (at most :data:`LINE_KEEP` bytes of it) and whether
        it was cut. Lines of any length are accepted, as the unpicklers do; memory stays bounded."""
        start = self.pos
        data = self.f.readline(min(LINE_KEEP + 1, max(self.size - self.pos, 0)))
        if data.endswith(b"\n"):
            if self.frame_end:
                self._cross(start, start + len(data))
            self.pos += len(data)
            return data[:-1], False
        kept = data[:LINE_KEEP]
        self.pos += len(data)
        while self.pos < self.size:
            chunk = self.f.readline(min(1024 * 1024, self.size - self.pos))
            if not chunk:
                break
            self.pos += len(chunk)
            if chunk.endswith(b"\n"):
                if self.frame_end:
                    self._cross(start, self.pos)
                return kept, True
        # End of data without a newline: pickle._Unpickler takes readline()[:-1] anyway (its last
        # byte dropped) and goes on (a GLOBAL imports); the C unpickler stops. The next read fails.
        if self.frame_end:
            self._cross(start, self.pos + 1)
        if len(data) <= LINE_KEEP:
            return data[:-1], False
        return kept, True


def _is_ident_path(s: Any) -> bool:
    return isinstance(s, str) and bool(_IDENT_PATH.match(s))


def _small(v: Any) -> Any:
    if isinstance(v, str) and len(v) > MAX_STR:
        return v[:MAX_STR]
    return v


def _decode_line(raw: bytes, offset: int, encoding: str = "utf-8") -> str:
    # GLOBAL names are UTF-8 in both unpicklers, INST names ASCII.
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise PickleFormatError(offset, f"GLOBAL/INST name is not {encoding}") from None


def _parse_pystring(raw: bytes, offset: int) -> str | bytes:
    # STRING opcode: a quoted Python 2 str literal, unescaped like PyBytes_DecodeEscape; kept as
    # text (loaders decode it with ASCII, latin-1 or UTF-8) for name resolution.
    if len(raw) >= 2 and raw[:1] == raw[-1:] and raw[:1] in (b"'", b'"'):
        body = raw[1:-1]
        try:
            return codecs.escape_decode(body)[0].decode("latin-1")  # type: ignore[attr-defined,no-any-return]
        except ValueError:
            raise PickleFormatError(offset, "STRING argument has an invalid escape") from None
    raise PickleFormatError(offset, "the STRING opcode argument must be quoted")


_C_SPACE = b" \t\n\v\f\r"
_INT_MAX_DIGITS = 4000  # past this, int() may refuse (sys.int_info.default_max_str_digits): not modelled
_INT0 = re.compile(rb"^\s*[+-]?(0[xX](_?[0-9a-fA-F])+|0[oO](_?[0-7])+|0[bB](_?[01])+|0(_?0)*|[1-9](_?[0-9])*)\s*$")
_INT10 = re.compile(rb"^\s*[+-]?[0-9](_?[0-9])*\s*$")


def _cut_nul(raw: bytes) -> bytes:
    # The C unpickler NUL-terminates each line and parses numbers with C string functions.
    i = raw.find(b"\0")
    return raw if i < 0 else raw[:i]


def _py_int(raw: bytes, base: int) -> int | Unknown | None:
    """``int(raw, base)`` as the unpicklers call it; ``UNKNOWN`` for a valid literal too long to
    convert cheaply, ``None`` when it is not an integer."""
    if len(raw) > _INT_MAX_DIGITS:
        return UNKNOWN if (_INT0 if base == 0 else _INT10).match(raw) else None
    try:
        return int(raw, base)
    except ValueError:
        return None


def _c_strtol(s: bytes) -> int | None:
    """glibc ``strtol(s, &end, 0)`` as _pickle.c's load_int uses it: the value when ``end`` lands on
    the end of the line and nothing overflowed, else None."""
    i, n = 0, len(s)
    while i < n and s[i] in _C_SPACE:
        i += 1
    neg = False
    if i < n and s[i] in b"+-":
        neg = s[i] == 0x2D
        i += 1
    if s[i : i + 2] in (b"0x", b"0X") and i + 2 < n and chr(s[i + 2]) in "0123456789abcdefABCDEF":
        base, i = 16, i + 2
    elif i < n and s[i] == 0x30:
        base = 8
    else:
        base = 10
    j = i
    digits = "0123456789abcdef"[:base]
    while j < n and chr(s[j]).lower() in digits:
        j += 1
    if j == i:  # no conversion: end == start of the string
        return 0 if n == 0 else None
    if j != n:
        return None
    v = int(s[i:j], base)
    v = -v if neg else v
    return v if -(2**63) <= v < 2**63 else None


def _parse_int_op(raw: bytes) -> Any:
    """INT (``I``): 00/01 are booleans, then C strtol base 0, PyLong base 0 (C) or int(x, 0)."""
    if raw == b"00":
        return False
    if raw == b"01":
        return True
    if raw:
        cut = _cut_nul(raw)
        v = _c_strtol(cut)
        if v is not None:
            return v
        got = _py_int(cut, 0)
        if got is not None:
            return got
    got = _py_int(raw, 0) if raw else None
    if got is None:
        raise ValueError("INT argument is not an integer")
    return got


def _parse_long_op(raw: bytes) -> Any:
    """LONG (``L``): one trailing ``L`` is dropped, then base 0."""
    if raw[-1:] == b"L":
        raw = raw[:-1]
    for cand in (_cut_nul(raw), raw):
        got = _py_int(cand, 0) if cand else None
        if got is not None:
            return got
    raise ValueError("LONG argument is not an integer")


def _parse_index(raw: bytes) -> Any:
    """GET / PUT arguments: base-10 integers (C parses up to a NUL, Python the whole line)."""
    for cand in (_cut_nul(raw), raw):
        got = _py_int(cand, 10) if cand else None
        if got is not None:
            return got
    raise ValueError("memo index is not an integer")


def _parse_float_op(raw: bytes) -> Any:
    for cand in (_cut_nul(raw), raw):
        try:
            return float(cand)
        except ValueError:
            continue
    raise ValueError("FLOAT argument is not a float")


_NUMPY_DTYPE_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")
_SIMPLE_DTYPE = re.compile(r"^[<>|=]?[a-zA-Z?]\d{0,6}$")
_FLEXIBLE = "VSUa"


class Undecidable(Exception):
    """mlgate cannot tell what a loader would compute here."""


def _dtype_info(dtype: Any, depth: int = 0) -> tuple[int, bool]:
    """``(itemsize, hasobject)`` of a symbolic ``numpy.dtype(code, align, copy)`` call after its
    BUILD state, exactly as NumPy's ``dtype.__setstate__`` leaves them: the state's ``elsize``
    replaces the item size of flexible types (V, S, U) only, and ``hasobject`` is read from the
    state's ``flags`` (bit 0), whatever the fields are. Raises :class:`Undecidable` when the
    machine cannot tell."""
    import numpy as np

    if depth > 8 or not isinstance(dtype, Call) or not isinstance(dtype.func, GlobalRef):
        raise Undecidable("the dtype is not a numpy.dtype(...) call")
    if dtype.func.name != "dtype" or dtype.func.module not in _NUMPY_DTYPE_MODULES or dtype.kind not in (
        "reduce",
        "obj",
        "inst",
    ):
        raise Undecidable(f"the dtype is built by {dtype.func.module}.{dtype.func.name}")
    if not isinstance(dtype.args, tuple) or not dtype.args:
        raise Undecidable("numpy.dtype without arguments")
    code = dtype.args[0]
    if not isinstance(code, str) or not _SIMPLE_DTYPE.match(code):
        raise Undecidable(f"dtype code {str(code)[:40]!r}")
    try:
        base = np.dtype(code)
    except (TypeError, ValueError):
        raise Undecidable(f"dtype code {code!r} is not a NumPy type") from None
    itemsize, hasobject = int(base.itemsize), bool(base.hasobject)
    state = dtype.state
    if state is None:
        return itemsize, hasobject
    if not isinstance(state, tuple) or len(state) not in (7, 8, 9):
        raise Undecidable("dtype state of an unmodelled shape")
    elsize = state[5]
    if not isinstance(elsize, int) or isinstance(elsize, bool):
        raise Undecidable("dtype state with a non-integer elsize")
    flexible = base.kind in _FLEXIBLE or state[3] is not None
    if flexible:
        itemsize = elsize
    # what the type really holds: object pointers in the type itself, its fields or its subarray
    holds_objects = hasobject
    fields, subarray = state[4], state[2]
    if isinstance(fields, dict):
        for spec in fields.values():
            if not (isinstance(spec, tuple) and spec):
                raise Undecidable("dtype fields of an unmodelled shape")
            holds_objects = holds_objects or _dtype_info(spec[0], depth + 1)[1]
    elif fields is not None:
        raise Undecidable("dtype fields of an unmodelled shape")
    if isinstance(subarray, tuple) and subarray:
        holds_objects = holds_objects or _dtype_info(subarray[0], depth + 1)[1]
    elif subarray is not None:
        raise Undecidable("dtype subarray of an unmodelled shape")
    if len(state) >= 8:
        flags = state[7]
        if not isinstance(flags, int):
            raise Undecidable("dtype state with non-integer flags")
        hasobject = bool(flags & 1)
        if holds_objects and not hasobject:
            # joblib would copy file bytes into object slots: pointers chosen by the file
            raise Undecidable("a dtype holding objects whose flags deny it (raw bytes become object pointers)")
    else:  # version 1/2 states carry no flags: NumPy derives them from the fields
        hasobject = holds_objects
    return itemsize, hasobject


_COPYREG_NEW = {
    ("copyreg", "_reconstructor"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "__newobj__"),
    ("copyreg", "__newobj_ex__"),
    ("builtins", "object.__new__"),
}
_WRAPPER_MODULES = ("joblib.numpy_pickle", "sklearn.externals.joblib.numpy_pickle")


# joblib < 0.10 array wrappers: joblib's unpickler, after the BUILD of an instance, opens the file
# the instance names next to the pickle (NDArrayWrapper: np.load(allow_pickle=True), so a pickle
# there runs; ZNDArrayWrapper: read_zfile). The scanner reports the file name; the analysis of the
# file itself is pickle_analysis's (joblib-sibling event).
_COMPAT_WRAPPERS = {
    (m, n)
    for m in ("joblib.numpy_pickle", "joblib.numpy_pickle_compat", "sklearn.externals.joblib.numpy_pickle",
              "sklearn.externals.joblib.numpy_pickle_compat")
    for n in ("NDArrayWrapper", "ZNDArrayWrapper")
}


def _is_compat_wrapper(v: Any) -> bool:
    return isinstance(v, GlobalRef) and (v.module, v.name) in _COMPAT_WRAPPERS


def _is_wrapper_class(v: Any) -> bool:
    return isinstance(v, GlobalRef) and v.name == "NumpyArrayWrapper" and v.module in _WRAPPER_MODULES


def _state_attrs(state: Any, op_off: int, what: str) -> dict[Any, Any]:
    """The attributes a default ``__setstate__``-less BUILD sets: a dict, or (dict, slot dict)."""
    attrs: dict[Any, Any] = {}
    slotstate: Any = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slotstate = state
    for part in (state, slotstate):
        if part is None or (isinstance(part, (dict, tuple, list, str, bytes)) and not part):
            continue
        if not isinstance(part, dict):
            raise PickleFormatError(op_off, f"{what} state the scanner cannot read", kind="undecidable")
        attrs.update(part)
    return attrs


def _mentions_wrapper(v: Any, depth: int = 0) -> bool:
    if _is_wrapper_class(v):
        return True
    if depth > 3:
        return False
    if isinstance(v, Call):
        return _mentions_wrapper(v.func, depth + 1) or _mentions_wrapper(v.args, depth + 1)
    if isinstance(v, (tuple, list)):
        return any(_mentions_wrapper(x, depth + 1) for x in v[:16])
    return False


class PickleMachine:
    """Parse one pickle stream starting at the reader's position."""

    def __init__(self, budget: Budget, nested_min: int = 16, joblib: bool = True) -> None:
        self.budget = budget
        self.nested_min = nested_min
        self.joblib = joblib  # False: read as pickle.load does (no inline array data)

    def run(self, f: BinaryIO, size: int) -> PickleResult:
        start = f.tell()
        res = self._run_once(f, size)
        if self.joblib and any(e.kind == "joblib-array" and not e.data.get("nested") for e in res.events):
            # The same bytes under pickle.load (a .pkl someone loads without joblib): the inline
            # array bytes are read as opcodes. Whatever that view imports or calls is reported too.
            f.seek(start)
            plain = PickleMachine(self.budget, self.nested_min, joblib=False)._run_once(f, size)
            # Array bytes read as opcodes are mostly noise: only importable names count (the
            # machine's over-approximations, e.g. calls of values it cannot see, would flag every
            # benign joblib file).
            seen = {(g.offset, g.module, g.name) for g in res.globals}
            res.globals.extend(
                g
                for g in plain.globals
                if (g.offset, g.module, g.name) not in seen and _is_ident_path(g.module) and _is_ident_path(g.name)
            )
            f.seek(res.end)
        return res

    def _run_once(self, f: BinaryIO, size: int) -> PickleResult:
        r = _Reader(f, size)
        res = PickleResult(start=r.pos)
        try:
            self._run(r, res)
        except PickleFormatError as e:
            res.stopped = False
            res.error = str(e)
            res.error_offset = e.offset
            res.truncated = e.truncated
            res.error_kind = e.kind
        except RecursionError as e:  # pragma: no cover - defensive
            res.stopped = False
            res.error = f"analysis aborted: {type(e).__name__}"
            res.error_offset = r.pos
            res.error_kind = "budget"
        res.end = r.pos
        return res

    # The opcode loop. Each branch mirrors _pickle.c and pickle._Unpickler (the union of both).
    def _run(self, r: _Reader, res: PickleResult) -> None:
        stack: list[Any] = []
        marks: list[list[Any]] = []
        memo: dict[int, Any] = {}
        budget = self.budget
        retained = 0  # container items kept (memory bound)
        proto = 0

        def pop_mark() -> list[Any]:
            nonlocal stack
            if not marks:
                raise PickleFormatError(op_off, "MARK expected on the stack")
            items = stack
            stack = marks.pop()
            return items

        def pop() -> Any:
            if not stack:
                raise PickleFormatError(op_off, "pop from empty stack")
            return stack.pop()

        def top() -> Any:
            if not stack:
                raise PickleFormatError(op_off, "empty stack")
            return stack[-1]

        def use(v: Any, how: str) -> None:
            if isinstance(v, GlobalRef):
                v.usages.add(how)

        def mark_args(args: Any) -> None:
            if isinstance(args, (tuple, list)):
                for a in args[:MAX_ITEMS]:
                    use(a, "arg")
            elif isinstance(args, dict):
                for a in args.values():
                    use(a, "arg")
            else:
                use(args, "arg")

        def add_global(module: Any, name: Any, opcode: str) -> Any:
            if not (isinstance(module, str) and isinstance(name, str)):
                if isinstance(module, (bytes, int, float, bool, tuple, list, dict)) or module is None:
                    raise PickleFormatError(op_off, f"{opcode} requires str names")
                if isinstance(name, (bytes, int, float, bool, tuple, list, dict)) or name is None:
                    raise PickleFormatError(op_off, f"{opcode} requires str names")
                res.events.append(
                    Event(
                        "dynamic-global",
                        op_off,
                        f"{opcode} with names computed at load time",
                        {"module": repr(module)[:200], "name": repr(name)[:200]},
                    )
                )
                return UNKNOWN
            written = (module[:MAX_STR], name[:MAX_STR])
            if proto < 3:  # fix_imports: Python 2 names are remapped by both unpicklers
                mapped = _compat_pickle.NAME_MAPPING.get((module, name))
                if mapped is not None:
                    module, name = mapped
                else:
                    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
            g = GlobalRef(module[:MAX_STR], name[:MAX_STR], op_off, opcode, written=written)
            if len(res.globals) < MAX_ITEMS * 64:
                res.globals.append(g)
            return g

        def keep(n: int) -> None:
            nonlocal retained
            retained += n
            if retained + len(stack) + len(marks) > budget.max_values:
                raise _over(op_off, f"more than {budget.max_values} values held by the pickle machine")

        def append_to(container: Any, items: list[Any]) -> None:
            if isinstance(container, list):
                room = MAX_ITEMS - len(container)
                if room > 0:
                    container.extend(items[:room])
                    keep(min(room, len(items)))
                for it in items[room:]:
                    use(it, "arg") if isinstance(it, GlobalRef) else None
            elif isinstance(container, (Call, GlobalRef, Persistent, BigBytes, bytes)) or container is UNKNOWN:
                # list subclass, bytearray, or append()/extend() of an object: its methods run
                for it in items:
                    use(it, "arg")
            else:
                raise PickleFormatError(op_off, f"APPEND(S) to {type(container).__name__}")

        def setitems(container: Any, items: list[Any]) -> None:
            if len(items) % 2:
                raise PickleFormatError(op_off, "SETITEMS with an odd number of items")
            if isinstance(container, dict):
                for k, v in zip(items[::2], items[1::2], strict=True):
                    if len(container) < MAX_ITEMS:
                        try:
                            container[k] = v
                        except TypeError:
                            container[repr(k)[:100]] = v
                        keep(1)
                    else:
                        use(v, "arg")
            elif isinstance(container, (Call, GlobalRef, Persistent, list, BigBytes, bytes)) or container is UNKNOWN:
                # __setitem__ of an object (or of a list/bytearray): the loader calls it
                for it in items:
                    use(it, "arg")
            else:
                raise PickleFormatError(op_off, f"SETITEM(S) on {type(container).__name__}")

        def record(call: Call) -> Call:
            if len(res.calls) < MAX_CALLS:
                res.calls.append(call)
            else:
                res.calls_overflow = True
            return call

        def freeze(items: list[Any]) -> tuple[Any, ...]:
            return tuple(items[:MAX_ITEMS])

        def line() -> bytes:
            raw, cut = r.line()
            if cut:
                raise _Cut(raw)
            return raw

        while True:
            op_off = r.pos
            res.ops += 1
            if res.ops > budget.max_ops:
                raise _over(op_off, f"more than {budget.max_ops} opcodes")
            if not res.ops & 0xFFF:
                if budget.deadline is not None and time.monotonic() > budget.deadline:
                    raise _over(op_off, "the time budget ran out")
                if len(stack) + len(marks) + retained > budget.max_values:
                    raise _over(op_off, f"more than {budget.max_values} values held by the pickle machine")
            op = r.byte()
            if op in CODE_OPS:
                res.code_capable = True
            c = chr(op)
            try:
                self._op(c, op, op_off, r, res, stack, memo, marks, proto)
            except _Handled:
                pass
            except _Cut as cut:
                self._cut_line(c, op_off, cut.kept, stack, res)
                continue
            else:
                continue
            # opcodes that need the closures above
            if c == "\x80":  # PROTO
                p = r.byte()
                if p > 5:
                    raise PickleFormatError(op_off, f"unsupported pickle protocol: {p}")
                proto = p
                res.protocol = p
            elif c == ".":  # STOP
                if not stack:
                    raise PickleFormatError(op_off, "STOP with an empty stack")
                res.value = stack[-1]
                res.stopped = True
                if r.frame_end > r.pos:  # the rest of the frame was read with it
                    r.pos = r.frame_end
                    r.f.seek(r.pos)
                return
            elif c == "(":
                marks.append(stack)
                stack = []
                if len(marks) + len(stack) + retained > budget.max_values:
                    raise _over(op_off, f"more than {budget.max_values} values held by the pickle machine")
            elif c == "0":  # POP: pops the MARK itself when nothing sits above it
                if stack:
                    stack.pop()
                elif marks:
                    pop_mark()
                else:
                    raise PickleFormatError(op_off, "unpickling stack underflow")
            elif c == "1":
                pop_mark()
            elif c == "l":
                lst = list(pop_mark()[:MAX_ITEMS])  # pop_mark rebinds ``stack``: evaluate it first
                stack.append(lst)
            elif c == "e":
                items = pop_mark()
                append_to(top(), items)
            elif c == "a":
                item = pop()
                append_to(top(), [item])
            elif c == "t":
                tup = freeze(pop_mark())
                stack.append(tup)
            elif c == "d":
                items = pop_mark()
                d: dict[Any, Any] = {}
                setitems(d, items)
                stack.append(d)
            elif c == "s":
                v = pop()
                k = pop()
                setitems(top(), [k, v])
            elif c == "u":
                items = pop_mark()
                setitems(top(), items)
            elif c == "\x90":  # ADDITEMS: set.update, or .add() of an object
                items = pop_mark()
                append_to(top(), items)
            elif c == "\x91":  # FROZENSET
                fs = freeze(pop_mark())
                stack.append(fs)
            elif c == "c":  # GLOBAL
                module, name = self._names(r, op_off, "utf-8")
                stack.append(add_global(module, name, "GLOBAL"))
            elif c == "\x93":  # STACK_GLOBAL
                name = pop()
                module = pop()
                stack.append(add_global(module, name, "STACK_GLOBAL"))
            elif c == "i":  # INST (Python reads the names and imports before it looks for the MARK)
                module, name = self._names(r, op_off, "ascii")
                g = add_global(module, name, "INST")
                args = freeze(pop_mark())
                use(g, "call")
                mark_args(args)
                stack.append(record(Call(g, args, op_off, "inst")))
            elif c == "o":  # OBJ
                items = pop_mark()
                if not items:
                    raise PickleFormatError(op_off, "OBJ without a class")
                cls, args = items[0], freeze(items[1:])
                self._check_callable(cls, res, op_off, "OBJ")
                use(cls, "call")
                mark_args(args)
                stack.append(record(Call(cls, args, op_off, "obj")))
            elif c == "R":  # REDUCE (pickle._Unpickler accepts any iterable as the arguments)
                args = pop()
                func = pop()
                if args is None or isinstance(args, (bool, int, float)):
                    raise PickleFormatError(op_off, f"REDUCE arguments are a {type(args).__name__}")
                self._check_callable(func, res, op_off, "REDUCE")
                use(func, "call")
                mark_args(args)
                stack.append(record(Call(func, args, op_off, "reduce")))
            elif c == "\x81":  # NEWOBJ
                args = pop()
                cls = pop()
                if args is None or isinstance(args, (bool, int, float)):
                    raise PickleFormatError(op_off, f"NEWOBJ arguments are a {type(args).__name__}")
                self._check_callable(cls, res, op_off, "NEWOBJ")
                use(cls, "new")
                mark_args(args)
                stack.append(record(Call(cls, args, op_off, "newobj")))
            elif c == "\x92":  # NEWOBJ_EX
                kwargs = pop()
                args = pop()
                cls = pop()
                self._check_callable(cls, res, op_off, "NEWOBJ_EX")
                use(cls, "new")
                mark_args(args)
                mark_args(kwargs)
                stack.append(record(Call(cls, args, op_off, "newobj")))
            elif c == "b":  # BUILD
                state = pop()
                obj = top()
                mark_args(state)
                if isinstance(state, tuple):
                    for part in state[:2]:
                        mark_args(part)
                if isinstance(obj, Call):
                    obj.state = state
                    self._after_build(r, obj, res, stack, op_off)
                elif isinstance(obj, GlobalRef):
                    # BUILD on a class/function object sets attributes on it: a known gadget.
                    use(obj, "build")
                    res.events.append(Event("build-on-global", op_off, f"BUILD sets state on {obj.module}.{obj.name}"))
            elif c in ("\x82", "\x83", "\x84"):  # EXT1/2/4
                n = {"\x82": 1, "\x83": 2, "\x84": 4}[c]
                code = int.from_bytes(r.read(n), "little", signed=(n == 4))
                if code <= 0:
                    raise PickleFormatError(op_off, "EXT specifies code <= 0")
                res.events.append(
                    Event(
                        "ext",
                        op_off,
                        f"extension-registry code {code}: the global it names is not visible in the file",
                        {"code": code},
                    )
                )
                stack.append(UNKNOWN)
            elif c == "Q":  # BINPERSID
                pid = pop()
                mark_args(pid if isinstance(pid, tuple) else (pid,))
                if len(res.persistent_ids) < MAX_ITEMS * 64:
                    res.persistent_ids.append(pid)
                stack.append(Persistent(pid))
            elif c in ("p", "q", "r", "\x94"):  # PUT, BINPUT, LONG_BINPUT, MEMOIZE
                if c == "p":
                    try:
                        idx = _parse_index(line())
                    except ValueError:
                        raise PickleFormatError(op_off, "PUT argument is not an integer") from None
                    except _Cut:
                        raise PickleFormatError(op_off, "PUT argument is not an integer") from None
                    if idx is UNKNOWN:
                        raise PickleFormatError(op_off, "PUT argument is too long")
                    if idx < 0:
                        raise PickleFormatError(op_off, "negative PUT argument")
                elif c == "q":
                    idx = r.byte()
                elif c == "r":
                    idx = struct.unpack("<I", r.read(4))[0]
                else:
                    idx = len(memo)
                value = top()
                if idx not in memo and len(memo) >= budget.max_memo:
                    raise _over(op_off, f"memo larger than {budget.max_memo} entries")
                memo[idx] = value
            elif c in ("g", "h", "j"):  # GET, BINGET, LONG_BINGET
                if c == "g":
                    try:
                        idx = _parse_index(line())
                    except (ValueError, _Cut):
                        raise PickleFormatError(op_off, "GET argument is not an integer") from None
                elif c == "h":
                    idx = r.byte()
                else:
                    idx = struct.unpack("<I", r.read(4))[0]
                if idx is UNKNOWN or idx not in memo:
                    raise PickleFormatError(op_off, f"memo value not found at index {idx}")
                stack.append(memo[idx])
            else:
                raise PickleFormatError(op_off, f"invalid load key 0x{op:02x}")

    def _op(
        self,
        c: str,
        op: int,
        op_off: int,
        r: _Reader,
        res: PickleResult,
        stack: list[Any],
        memo: dict[int, Any],
        marks: list[list[Any]],
        proto: int,
    ) -> None:
        """Opcodes that only push a value (or touch the top of the stack). Raises _Handled for the
        others, which the loop handles."""

        def top() -> Any:
            if not stack:
                raise PickleFormatError(op_off, "empty stack")
            return stack[-1]

        def line() -> bytes:
            raw, cut = r.line()
            if cut:
                raise _Cut(raw)
            return raw

        if c == "\x95":  # FRAME (C wants the frame's bytes to be there; Python does not)
            n = struct.unpack("<Q", r.read(8))[0]
            r.frame_end = min(r.pos + n, r.size)
        elif c == "2":
            stack.append(top())
        elif c == "N":
            stack.append(None)
        elif c == "\x88":
            stack.append(True)
        elif c == "\x89":
            stack.append(False)
        elif c == "I":
            try:
                stack.append(_parse_int_op(line()))
            except ValueError:
                raise PickleFormatError(op_off, "INT argument is not an integer") from None
        elif c == "J":
            stack.append(struct.unpack("<i", r.read(4))[0])
        elif c == "K":
            stack.append(r.byte())
        elif c == "M":
            stack.append(struct.unpack("<H", r.read(2))[0])
        elif c == "L":
            try:
                stack.append(_parse_long_op(line()))
            except ValueError:
                raise PickleFormatError(op_off, "LONG argument is not an integer") from None
        elif c == "\x8a":  # LONG1
            n = r.byte()
            stack.append(int.from_bytes(r.read(n), "little", signed=True))
        elif c == "\x8b":  # LONG4
            n = struct.unpack("<i", r.read(4))[0]
            if n < 0:
                raise PickleFormatError(op_off, "LONG pickle has negative byte count")
            data = r.skip(n)
            stack.append(int.from_bytes(data, "little", signed=True) if n <= 4 * HEAD else UNKNOWN)
        elif c == "F":
            try:
                stack.append(_parse_float_op(line()))
            except ValueError:
                raise PickleFormatError(op_off, "FLOAT argument is not a float") from None
        elif c == "G":
            stack.append(struct.unpack(">d", r.read(8))[0])
        elif c == "S":
            stack.append(_small(_parse_pystring(line(), op_off)))
        elif c == "T":  # BINSTRING
            n = struct.unpack("<i", r.read(4))[0]
            if n < 0:
                raise PickleFormatError(op_off, "BINSTRING pickle has negative byte count")
            stack.append(self._bytes_value(r, n, res, as_text=True))
        elif c == "U":  # SHORT_BINSTRING
            stack.append(r.read(r.byte()).decode("latin-1"))
        elif c == "C":  # SHORT_BINBYTES
            stack.append(self._bytes_value(r, r.byte(), res))
        elif c == "B":  # BINBYTES
            stack.append(self._bytes_value(r, struct.unpack("<I", r.read(4))[0], res))
        elif c in ("\x8e", "\x96"):  # BINBYTES8, BYTEARRAY8
            stack.append(self._bytes_value(r, struct.unpack("<Q", r.read(8))[0], res))
        elif c == "V":  # UNICODE (raw-unicode-escape)
            try:
                stack.append(_small(line().decode("raw-unicode-escape")))
            except UnicodeDecodeError:
                raise PickleFormatError(op_off, "UNICODE argument does not decode") from None
        elif c == "\x8c":  # SHORT_BINUNICODE
            stack.append(self._text_value(r, r.byte(), op_off))
        elif c == "X":  # BINUNICODE
            stack.append(self._text_value(r, struct.unpack("<I", r.read(4))[0], op_off))
        elif c == "\x8d":  # BINUNICODE8
            stack.append(self._text_value(r, struct.unpack("<Q", r.read(8))[0], op_off))
        elif c == "\x97":  # NEXT_BUFFER (out-of-band buffer, supplied by the loader)
            stack.append(UNKNOWN)
        elif c == "\x98":  # READONLY_BUFFER
            top()
        elif c == "]":
            stack.append([])
        elif c == ")":
            stack.append(())
        elif c == "}":
            stack.append({})
        elif c == "\x8f":
            stack.append([])  # sets are modelled as lists
        elif c == "\x85":
            one = self._pop(stack, op_off)
            stack.append((one,))
        elif c == "\x86":
            b = self._pop(stack, op_off)
            a = self._pop(stack, op_off)
            stack.append((a, b))
        elif c == "\x87":
            c3 = self._pop(stack, op_off)
            b = self._pop(stack, op_off)
            a = self._pop(stack, op_off)
            stack.append((a, b, c3))
        elif c == "P":  # PERSID: an ASCII line handed to persistent_load
            raw = line()
            try:
                pid = _small(raw.decode("ascii"))
            except UnicodeDecodeError:
                raise PickleFormatError(op_off, "persistent IDs in protocol 0 must be ASCII strings") from None
            if len(res.persistent_ids) < MAX_ITEMS * 64:
                res.persistent_ids.append(pid)
            stack.append(Persistent(pid))
        else:
            raise _Handled

    @staticmethod
    def _names(r: _Reader, off: int, encoding: str) -> tuple[str, str]:
        (m, m_cut), (n, n_cut) = r.line(), r.line()
        module = m.decode(encoding, "replace") if m_cut else _decode_line(m, off, encoding)
        name = n.decode(encoding, "replace") if n_cut else _decode_line(n, off, encoding)
        return module, name

    @staticmethod
    def _pop(stack: list[Any], off: int) -> Any:
        if not stack:
            raise PickleFormatError(off, "unpickling stack underflow")
        return stack.pop()

    @staticmethod
    def _cut_line(c: str, off: int, kept: bytes, stack: list[Any], res: PickleResult) -> None:
        """A text argument longer than LINE_KEEP: the value is not modelled (the stream is
        accepted, which is the safe side: it is then analysed as a pickle)."""
        if c in ("I", "L", "F", "S", "V"):
            stack.append(UNKNOWN)
        elif c == "P":
            res.persistent_ids.append(UNKNOWN)
            stack.append(Persistent(UNKNOWN))
        else:  # pragma: no cover - every line opcode is handled above
            raise PickleFormatError(off, f"opcode {c!r} with an over-long line")

    def _check_callable(self, func: Any, res: PickleResult, off: int, opcode: str) -> None:
        if isinstance(func, GlobalRef):
            return
        if isinstance(func, Call):
            res.events.append(
                Event("indirect-call", off, f"{opcode} calls the result of another call (a gadget chain)")
            )
        elif func is UNKNOWN or isinstance(func, (Persistent, BigBytes)):
            res.events.append(Event("indirect-call", off, f"{opcode} calls a value the scanner cannot see"))
        else:
            raise PickleFormatError(off, f"{opcode} on a {type(func).__name__}, which is not callable")

    def _text_value(self, r: _Reader, n: int, off: int) -> Any:
        if n > MAX_STR:
            r.skip(n)
            return UNKNOWN
        try:
            return r.read(n).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise PickleFormatError(off, "BINUNICODE is not UTF-8") from None

    def _bytes_value(self, r: _Reader, n: int, res: PickleResult, as_text: bool = False) -> Any:
        start = r.pos
        head = r.skip(n)
        if n <= 4 * HEAD:
            val: Any = head.decode("latin-1") if as_text else head
            if n >= self.nested_min and _looks_nested(head):
                res.events.append(
                    Event("nested-bytes", start, "byte string holds a file", {"start": start, "length": n})
                )
            return val
        if _looks_nested(head):
            res.events.append(Event("nested-bytes", start, "byte string holds a file", {"start": start, "length": n}))
        return BigBytes(start, n, head)

    def _compat_wrapper_file(self, obj: Call, res: PickleResult, op_off: int) -> None:
        """An NDArrayWrapper/ZNDArrayWrapper instance after BUILD: joblib opens the file it names."""
        cls, attrs = obj.func, dict[Any, Any]()
        if _is_compat_wrapper(cls):
            if obj.kind in ("reduce", "inst", "obj") and isinstance(obj.args, tuple):
                attrs.update(zip(("filename", "subclass", "allow_mmap"), obj.args, strict=False))  # __init__
        elif not (
            isinstance(cls, GlobalRef)
            and (cls.module, cls.name) in _COPYREG_NEW
            and isinstance(obj.args, tuple)
            and obj.args
            and _is_compat_wrapper(obj.args[0])
        ):
            return
        attrs.update(_state_attrs(obj.state, op_off, "joblib NDArrayWrapper"))
        name = attrs.get("filename")
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if not isinstance(name, str):
            raise PickleFormatError(op_off, "joblib NDArrayWrapper whose file name the scanner cannot read",
                                    kind="undecidable")
        res.events.append(Event("joblib-sibling", op_off, f"joblib opens the file {name!r} named in the pickle",
                                {"filename": name}))

    def _after_build(self, r: _Reader, obj: Call, res: PickleResult, stack: list[Any], op_off: int) -> None:
        """joblib's NumpyUnpickler replaces any NumpyArrayWrapper *instance* on top of the stack
        after a BUILD by the array it reads right there, however the instance was made (NEWOBJ,
        a REDUCE of the class or of copyreg._reconstructor, OBJ/INST). Mirror
        ``NumpyArrayWrapper.read_array`` exactly, or stop with an undecidable (blocking) error."""
        self._compat_wrapper_file(obj, res, op_off)
        if not self.joblib:
            return
        cls = obj.func
        attrs: dict[Any, Any] = {}
        if _is_wrapper_class(cls):
            if obj.kind in ("reduce", "inst", "obj") and isinstance(obj.args, tuple) and obj.args:
                # NumpyArrayWrapper(subclass, shape, order, dtype, allow_mmap, numpy_array_alignment_bytes)
                names = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")
                if len(obj.args) > len(names):
                    raise PickleFormatError(op_off, "NumpyArrayWrapper called with too many arguments",
                                            kind="undecidable")
                attrs.update(zip(names, obj.args, strict=False))
                if len(obj.args) < 4:
                    raise PickleFormatError(op_off, "NumpyArrayWrapper called with too few arguments",
                                            kind="undecidable")
                attrs.setdefault("numpy_array_alignment_bytes", 16)
        elif (
            isinstance(cls, GlobalRef)
            and (cls.module, cls.name) in _COPYREG_NEW
            and isinstance(obj.args, tuple)
            and obj.args
            and _is_wrapper_class(obj.args[0])
        ):
            pass  # an instance without __init__: only the BUILD state sets attributes
        elif _mentions_wrapper(obj):
            raise PickleFormatError(
                op_off, "joblib NumpyArrayWrapper built in a way the scanner does not model", kind="undecidable"
            )
        else:
            return
        state = obj.state
        slotstate: Any = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slotstate = state
        for part in (state, slotstate):
            if part is None or (isinstance(part, (dict, tuple, list, str, bytes)) and not part):
                continue
            if not isinstance(part, dict):
                raise PickleFormatError(
                    op_off, "NumpyArrayWrapper state the scanner cannot read", kind="undecidable"
                )
            attrs.update(part)
        try:
            shape = attrs["shape"]
            dtype = attrs["dtype"]
        except KeyError:
            raise PickleFormatError(op_off, "NumpyArrayWrapper without shape or dtype", kind="undecidable") from None
        if not isinstance(shape, (tuple, list)) or not all(isinstance(s, int) for s in shape):
            raise PickleFormatError(op_off, "NumpyArrayWrapper shape the scanner cannot read", kind="undecidable")
        try:
            itemsize, hasobject = _dtype_info(dtype)
        except Undecidable as e:
            raise PickleFormatError(op_off, f"joblib array: {e}", kind="undecidable") from None
        # np.multiply.reduce over int64 values wraps around
        count = 1
        for s in shape:
            count = (count * int(s)) & 0xFFFFFFFFFFFFFFFF
        if count >= 2**63:
            count -= 2**64
        if not shape:
            count = 1
        start = r.pos
        if hasobject:
            nested = PickleMachine(self.budget, self.nested_min).run(r.f, r.size)
            r.pos = nested.end
            r.f.seek(r.pos)
            res.nested.append(nested)
            res.events.append(Event("joblib-array", start, "joblib object array (nested pickle)", {"nested": True}))
            if not nested.stopped:
                raise PickleFormatError(
                    nested.error_offset or r.pos,
                    f"nested joblib pickle: {nested.error}",
                    truncated=nested.truncated,
                    kind=nested.error_kind,
                )
        else:
            if count < 0:
                raise PickleFormatError(op_off, "joblib array with a negative element count", kind="undecidable")
            if itemsize <= 0:
                raise PickleFormatError(op_off, f"joblib array with item size {itemsize}", kind="undecidable")
            if attrs.get("numpy_array_alignment_bytes") is not None:
                pad = r.byte()
                if pad:
                    r.skip(pad)
            nbytes = count * itemsize
            head = r.skip(nbytes)
            res.events.append(Event("joblib-array", start, f"joblib inline array, {nbytes} bytes", {"nested": False}))
            if _looks_nested(head) and nbytes >= self.nested_min:
                res.events.append(
                    Event(
                        "nested-bytes",
                        r.pos - nbytes,
                        "array bytes hold a file",
                        {"start": r.pos - nbytes, "length": nbytes},
                    )
                )
        stack[-1] = UNKNOWN  # the wrapper is replaced by the array


class _Handled(Exception):
    pass


class _Cut(Exception):
    def __init__(self, kept: bytes) -> None:
        super().__init__("line cut")
        self.kept = kept


NESTED_MAGICS = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"\x93NUMPY")


def _looks_nested(head: bytes) -> bool:
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return True
    return any(head.startswith(m) for m in NESTED_MAGICS)


def parse_bytes(data: bytes, budget: Budget | None = None) -> PickleResult:
    return PickleMachine(budget or Budget(1_000_000, 100_000)).run(io.BytesIO(data), len(data))
