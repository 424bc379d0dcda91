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
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

_IDENT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_LINE = 4096
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
    def __init__(self, offset: int, message: str, truncated: bool = False) -> None:
        super().__init__(message)
        self.offset = offset
        self.truncated = truncated


class Budget:
    def __init__(self, max_ops: int, max_memo: int) -> None:
        self.max_ops = max_ops
        self.max_memo = max_memo


class _Reader:
    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f = f
        self.size = size
        self.pos = f.tell()

    def read(self, n: int) -> bytes:
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

    def line(self) -> bytes:
        data = self.f.readline(MAX_LINE + 1)
        if not data.endswith(b"\n"):
            if len(data) > MAX_LINE:
                raise PickleFormatError(self.pos, f"line longer than {MAX_LINE} bytes")
            raise PickleFormatError(self.pos, "unterminated line", truncated=True)
        self.pos += len(data)
        return data[:-1]


def _is_ident_path(s: Any) -> bool:
    return isinstance(s, str) and bool(_IDENT_PATH.match(s))


def _small(v: Any) -> Any:
    if isinstance(v, str) and len(v) > MAX_STR:
        return v[:MAX_STR]
    return v


def _decode_line(raw: bytes, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PickleFormatError(offset, "GLOBAL/INST name is not UTF-8") from None


def _parse_pystring(raw: bytes, offset: int) -> str | bytes:
    # STRING opcode: a quoted Python 2 str literal; keep it as text for name resolution.
    if len(raw) >= 2 and raw[:1] == raw[-1:] and raw[:1] in (b"'", b'"'):
        body = raw[1:-1]
        try:
            return body.decode("unicode_escape") if b"\\" in body else body.decode("latin-1")
        except UnicodeDecodeError:
            return body
    raise PickleFormatError(offset, "STRING argument is not quoted")


def _dtype_itemsize(dtype: Any, depth: int = 0) -> tuple[int | None, bool]:
    """(itemsize, hasobject) of a symbolic ``numpy.dtype(code, align, copy)`` call and its BUILD
    state ``(version, byteorder, subarray, names, fields, elsize, alignment, flags)``. Structured
    dtypes are sized from ``elsize`` and checked field by field for objects; ``None`` when the
    machine cannot tell (the caller then refuses to guess)."""
    if depth > 8 or not isinstance(dtype, Call) or not isinstance(dtype.func, GlobalRef):
        return None, False
    if dtype.func.name != "dtype" or not isinstance(dtype.args, tuple) or not dtype.args:
        return None, False
    code = dtype.args[0]
    if not isinstance(code, str) or not code:
        return None, False
    if code[0] == "O":
        return 8, True
    state = dtype.state
    if isinstance(state, tuple) and len(state) >= 6:
        subarray, names, fields, elsize = state[2], state[3], state[4], state[5]
        if subarray is not None:
            if not (isinstance(subarray, tuple) and len(subarray) == 2):
                return None, False
            base_size, base_obj = _dtype_itemsize(subarray[0], depth + 1)
            shape = subarray[1] if isinstance(subarray[1], tuple) else (subarray[1],)
            if base_size is None or not all(isinstance(x, int) and x >= 0 for x in shape):
                return None, False
            n = 1
            for x in shape:
                n *= x
            return base_size * n, base_obj
        if names is not None or fields is not None:
            if not isinstance(fields, dict) or not isinstance(elsize, int) or elsize <= 0:
                return None, False
            hasobj = False
            for spec in fields.values():
                if not isinstance(spec, tuple) or not spec:
                    return None, False
                size, obj = _dtype_itemsize(spec[0], depth + 1)
                if size is None:
                    return None, False
                hasobj = hasobj or obj
            return elsize, hasobj
        if isinstance(elsize, int) and elsize > 0:
            return elsize, False
    m = re.match(r"^[a-zA-Z?](\d+)", code)
    if m:
        return int(m.group(1)), False
    if code in ("?", "b", "B"):
        return 1, False
    return None, False


class PickleMachine:
    """Parse one pickle stream starting at the reader's position."""

    def __init__(self, budget: Budget, nested_min: int = 16) -> None:
        self.budget = budget
        self.nested_min = nested_min

    def run(self, f: BinaryIO, size: int) -> PickleResult:
        r = _Reader(f, size)
        res = PickleResult(start=r.pos)
        try:
            self._run(r, res)
        except PickleFormatError as e:
            res.error = str(e)
            res.error_offset = e.offset
            res.truncated = e.truncated
        except (RecursionError, MemoryError) as e:  # pragma: no cover - defensive
            res.error = f"analysis aborted: {type(e).__name__}"
            res.error_offset = r.pos
        res.end = r.pos
        return res

    # The opcode loop. Each branch mirrors pickle._Unpickler.
    def _run(self, r: _Reader, res: PickleResult) -> None:
        stack: list[Any] = []
        marks: list[list[Any]] = []
        memo: dict[int, Any] = {}
        budget = self.budget

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
            if isinstance(args, tuple):
                for a in args:
                    use(a, "arg")

        def add_global(module: Any, name: Any, opcode: str) -> Any:
            if not (_is_ident_path(module) and _is_ident_path(name)):
                if isinstance(module, str) and isinstance(name, str):
                    raise PickleFormatError(op_off, f"{opcode}: {module!r}.{name!r} is not an importable name")
                res.events.append(
                    Event(
                        "dynamic-global",
                        op_off,
                        f"{opcode} with names computed at load time",
                        {"module": repr(module)[:200], "name": repr(name)[:200]},
                    )
                )
                return UNKNOWN
            g = GlobalRef(module, name, op_off, opcode)
            res.globals.append(g)
            return g

        def append_to(container: Any, items: list[Any]) -> None:
            if isinstance(container, list):
                room = MAX_ITEMS - len(container)
                container.extend(items[: max(0, room)])
            elif isinstance(container, (Call, GlobalRef)):
                # list subclass or extend() on an object: the object's methods run
                for it in items:
                    use(it, "arg")
            elif container is UNKNOWN:
                pass
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
            elif isinstance(container, (Call, GlobalRef)) or container is UNKNOWN:
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

        while True:
            op_off = r.pos
            res.ops += 1
            if res.ops > budget.max_ops:
                raise PickleFormatError(op_off, f"more than {budget.max_ops} opcodes")
            op = r.byte()
            if op in CODE_OPS:
                res.code_capable = True
            c = chr(op)
            if c == "\x80":  # PROTO
                proto = r.byte()
                if proto > 5:
                    raise PickleFormatError(op_off, f"unsupported protocol {proto}")
                res.protocol = proto
            elif c == "\x95":  # FRAME
                r.read(8)
            elif c == ".":  # STOP
                res.value = stack[-1] if stack else None
                res.stopped = True
                if not stack:
                    raise PickleFormatError(op_off, "STOP with an empty stack")
                return
            elif c == "(":
                marks.append(stack)
                stack = []
                if len(marks) > 100_000:
                    raise PickleFormatError(op_off, "too many nested MARKs")
            elif c == "0":
                pop()
            elif c == "1":
                pop_mark()
            elif c == "2":
                stack.append(top())
            elif c == "N":
                stack.append(None)
            elif c == "\x88":
                stack.append(True)
            elif c == "\x89":
                stack.append(False)
            elif c == "I":
                line = r.line()
                if line == b"00":
                    stack.append(False)
                elif line == b"01":
                    stack.append(True)
                else:
                    try:
                        stack.append(int(line))
                    except ValueError:
                        raise PickleFormatError(op_off, "INT argument is not an integer") from None
            elif c == "J":
                stack.append(struct.unpack("<i", r.read(4))[0])
            elif c == "K":
                stack.append(r.byte())
            elif c == "M":
                stack.append(struct.unpack("<H", r.read(2))[0])
            elif c == "L":
                line = r.line().rstrip(b"L")
                try:
                    stack.append(int(line) if len(line) < 5000 else UNKNOWN)
                except ValueError:
                    raise PickleFormatError(op_off, "LONG argument is not an integer") from None
            elif c == "\x8a":  # LONG1
                n = r.byte()
                stack.append(int.from_bytes(r.read(n), "little", signed=True))
            elif c == "\x8b":  # LONG4
                n = struct.unpack("<i", r.read(4))[0]
                if n < 0:
                    raise PickleFormatError(op_off, "LONG4 with a negative length")
                data = r.skip(n)
                stack.append(int.from_bytes(data, "little", signed=True) if n <= 4 * HEAD else UNKNOWN)
            elif c == "F":
                try:
                    stack.append(float(r.line()))
                except ValueError:
                    raise PickleFormatError(op_off, "FLOAT argument is not a float") from None
            elif c == "G":
                stack.append(struct.unpack(">d", r.read(8))[0])
            elif c == "S":
                stack.append(_small(_parse_pystring(r.line(), op_off)))
            elif c == "T":  # BINSTRING
                n = struct.unpack("<i", r.read(4))[0]
                if n < 0:
                    raise PickleFormatError(op_off, "BINSTRING with a negative length")
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
                    stack.append(_small(r.line().decode("raw-unicode-escape")))
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
            elif c == "l":
                lst = list(pop_mark()[:MAX_ITEMS])
                stack.append(lst)
            elif c == "a":
                item = pop()
                append_to(top(), [item])
            elif c == "e":
                items = pop_mark()
                append_to(top(), items)
            elif c == ")":
                stack.append(())
            elif c == "t":
                tup = freeze(pop_mark())
                stack.append(tup)
            elif c == "\x85":
                one = pop()
                stack.append((one,))
            elif c == "\x86":
                b = pop()
                a = pop()
                stack.append((a, b))
            elif c == "\x87":
                c3 = pop()
                b = pop()
                a = pop()
                stack.append((a, b, c3))
            elif c == "}":
                stack.append({})
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
            elif c == "\x8f":
                stack.append([])  # sets are modelled as lists
            elif c == "\x90":  # ADDITEMS
                items = pop_mark()
                append_to(top(), items)
            elif c == "\x91":  # FROZENSET
                tup = freeze(pop_mark())
                stack.append(tup)
            elif c == "c":  # GLOBAL
                module = _decode_line(r.line(), op_off)
                name = _decode_line(r.line(), op_off)
                stack.append(add_global(module, name, "GLOBAL"))
            elif c == "\x93":  # STACK_GLOBAL
                name = pop()
                module = pop()
                stack.append(add_global(module, name, "STACK_GLOBAL"))
            elif c == "i":  # INST
                module = _decode_line(r.line(), op_off)
                name = _decode_line(r.line(), op_off)
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
            elif c == "R":  # REDUCE
                args = pop()
                func = pop()
                if not isinstance(args, tuple) and args is not UNKNOWN:
                    raise PickleFormatError(op_off, f"REDUCE arguments are a {type(args).__name__}, not a tuple")
                self._check_callable(func, res, op_off, "REDUCE")
                use(func, "call")
                mark_args(args)
                stack.append(record(Call(func, args, op_off, "reduce")))
            elif c == "\x81":  # NEWOBJ
                args = pop()
                cls = pop()
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
                if isinstance(kwargs, dict):
                    for v in kwargs.values():
                        use(v, "arg")
                stack.append(record(Call(cls, args, op_off, "newobj")))
            elif c == "b":  # BUILD
                state = pop()
                obj = top()
                if isinstance(state, dict):
                    for v in state.values():
                        use(v, "arg")
                elif isinstance(state, tuple):
                    mark_args(state)
                if isinstance(obj, Call):
                    obj.state = state
                    self._after_build(r, obj, res, stack)
                elif isinstance(obj, GlobalRef):
                    # BUILD on a class/function object sets attributes on it: a known gadget.
                    use(obj, "build")
                    res.events.append(Event("build-on-global", op_off, f"BUILD sets state on {obj.module}.{obj.name}"))
            elif c in ("\x82", "\x83", "\x84"):  # EXT1/2/4
                n = {"\x82": 1, "\x83": 2, "\x84": 4}[c]
                code = int.from_bytes(r.read(n), "little")
                res.events.append(
                    Event(
                        "ext",
                        op_off,
                        f"extension-registry code {code}: the global it names is not visible in the file",
                        {"code": code},
                    )
                )
                stack.append(UNKNOWN)
            elif c == "P":  # PERSID
                pid = _small(r.line().decode("ascii", "replace"))
                res.persistent_ids.append(pid)
                stack.append(Persistent(pid))
            elif c == "Q":  # BINPERSID
                pid = pop()
                mark_args(pid if isinstance(pid, tuple) else (pid,))
                if len(res.persistent_ids) < MAX_ITEMS * 64:
                    res.persistent_ids.append(pid)
                stack.append(Persistent(pid))
            elif c in ("g", "h", "j"):  # GET, BINGET, LONG_BINGET
                if c == "g":
                    try:
                        idx = int(r.line())
                    except ValueError:
                        raise PickleFormatError(op_off, "GET argument is not an integer") from None
                elif c == "h":
                    idx = r.byte()
                else:
                    idx = struct.unpack("<I", r.read(4))[0]
                if idx not in memo:
                    raise PickleFormatError(op_off, f"memo key {idx} read before it was written")
                stack.append(memo[idx])
            elif c in ("p", "q", "r"):  # PUT, BINPUT, LONG_BINPUT
                if c == "p":
                    try:
                        idx = int(r.line())
                    except ValueError:
                        raise PickleFormatError(op_off, "PUT argument is not an integer") from None
                elif c == "q":
                    idx = r.byte()
                else:
                    idx = struct.unpack("<I", r.read(4))[0]
                if len(memo) >= budget.max_memo:
                    raise PickleFormatError(op_off, f"memo larger than {budget.max_memo} entries")
                memo[idx] = top()
            elif c == "\x94":  # MEMOIZE
                if len(memo) >= budget.max_memo:
                    raise PickleFormatError(op_off, f"memo larger than {budget.max_memo} entries")
                memo[len(memo)] = top()
            else:
                raise PickleFormatError(op_off, f"invalid opcode 0x{op:02x}")

    def _check_callable(self, func: Any, res: PickleResult, off: int, opcode: str) -> None:
        if isinstance(func, GlobalRef):
            return
        if isinstance(func, Call):
            res.events.append(
                Event("indirect-call", off, f"{opcode} calls the result of another call (a gadget chain)")
            )
        elif func is UNKNOWN or isinstance(func, Persistent):
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

    def _after_build(self, r: _Reader, obj: Call, res: PickleResult, stack: list[Any]) -> None:
        """joblib writes numpy array bytes right after the BUILD of a NumpyArrayWrapper."""
        cls = obj.func
        if not (isinstance(cls, GlobalRef) and cls.name == "NumpyArrayWrapper" and cls.module.startswith("joblib")):
            return
        state = obj.state
        if not isinstance(state, dict):
            raise PickleFormatError(r.pos, "NumpyArrayWrapper without a state dict")
        shape = state.get("shape")
        if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise PickleFormatError(r.pos, "NumpyArrayWrapper with an invalid shape")
        itemsize, hasobject = _dtype_itemsize(state.get("dtype"))
        start = r.pos
        if hasobject:
            nested = PickleMachine(self.budget, self.nested_min).run(r.f, r.size)
            r.pos = nested.end
            r.f.seek(r.pos)
            res.nested.append(nested)
            res.events.append(Event("joblib-array", start, "joblib object array (nested pickle)", {"nested": True}))
            if not nested.stopped:
                raise PickleFormatError(
                    nested.error_offset or r.pos, f"nested joblib pickle: {nested.error}", truncated=nested.truncated
                )
        else:
            if itemsize is None:
                raise PickleFormatError(r.pos, "joblib array with a dtype the scanner cannot size")
            if state.get("numpy_array_alignment_bytes") is not None:
                pad = r.byte()
                r.skip(pad)
            count = 1
            for s in shape:
                count *= s
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


NESTED_MAGICS = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"\x93NUMPY")


def _looks_nested(head: bytes) -> bool:
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return True
    return any(head.startswith(m) for m in NESTED_MAGICS)


def parse_bytes(data: bytes, budget: Budget | None = None) -> PickleResult:
    return PickleMachine(budget or Budget(1_000_000, 100_000)).run(io.BytesIO(data), len(data))
