"""A tiny pickle assembler for the corpus: expressions in, opcodes out. Nothing here unpickles.

Malicious samples are written opcode by opcode so the exact shape of a technique (``GLOBAL`` vs
``STACK_GLOBAL``, memo use, broken tails) is under the test's control, independent of how the
running Python would pickle an object::

    G("os", "system")("touch /tmp/canary")        # os.system("touch ...") at load time
    dumps(G("os", "system")("true"), protocol=2)  # PROTO 2, GLOBAL, BINUNICODE, TUPLE1, REDUCE, STOP

Values are Python constants (str, bytes, int, float, bool, None, tuple, list, dict) or
expressions (:class:`G`, :class:`Call`, :class:`Raw`).
"""

from __future__ import annotations

import pickle
import struct
from typing import Any


class Expr:
    """Something that pushes exactly one value on the unpickler's stack."""

    def __call__(self, *args: Any) -> Call:
        return Call(self, args)

    def emit(self, w: Writer) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class G(Expr):
    """A global. ``op`` picks the opcode: GLOBAL (text, any protocol), STACK_GLOBAL (protocol 4),
    or STACK_GLOBAL with operands in STRING / SHORT_BINSTRING form."""

    def __init__(self, module: str, name: str, op: str = "GLOBAL") -> None:
        self.module, self.name, self.op = module, name, op

    def emit(self, w: Writer) -> None:
        if self.op == "GLOBAL":
            w.raw(pickle.GLOBAL + self.module.encode() + b"\n" + self.name.encode() + b"\n")
        elif self.op == "STACK_GLOBAL":
            w.value(self.module)
            w.value(self.name)
            w.raw(pickle.STACK_GLOBAL)
        elif self.op == "STACK_GLOBAL/STRING":
            w.raw(pickle.STRING + repr(self.module).encode() + b"\n")
            w.raw(pickle.STRING + repr(self.name).encode() + b"\n")
            w.raw(pickle.STACK_GLOBAL)
        elif self.op == "STACK_GLOBAL/SHORT_BINSTRING":
            for s in (self.module, self.name):
                b = s.encode()
                w.raw(pickle.SHORT_BINSTRING + bytes([len(b)]) + b)
            w.raw(pickle.STACK_GLOBAL)
        else:  # pragma: no cover - programming error
            raise ValueError(self.op)


class Call(Expr):
    """``func(*args)`` through REDUCE."""

    def __init__(self, func: Any, args: tuple[Any, ...]) -> None:
        self.func, self.args = func, tuple(args)

    def emit(self, w: Writer) -> None:
        w.value(self.func)
        w.value(self.args)
        w.raw(pickle.REDUCE)


class NewObj(Expr):
    """``cls.__new__(cls, *args)`` through NEWOBJ (protocol 2)."""

    def __init__(self, cls: Any, args: tuple[Any, ...]) -> None:
        self.cls, self.args = cls, tuple(args)

    def emit(self, w: Writer) -> None:
        w.value(self.cls)
        w.value(self.args)
        w.raw(pickle.NEWOBJ)


class Build(Expr):
    """``obj`` then ``BUILD state`` (``__setstate__`` or ``__dict__.update``)."""

    def __init__(self, obj: Any, state: Any) -> None:
        self.obj, self.state = obj, state

    def emit(self, w: Writer) -> None:
        w.value(self.obj)
        w.value(self.state)
        w.raw(pickle.BUILD)


class Raw(Expr):
    """Opcodes written verbatim (must push exactly one value to be used as a value)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def emit(self, w: Writer) -> None:
        w.raw(self.data)


class Seq(Expr):
    """Evaluate ``first`` for its side effect, POP it, then push ``then``."""

    def __init__(self, first: Any, then: Any) -> None:
        self.first, self.then = first, then

    def emit(self, w: Writer) -> None:
        w.value(self.first)
        w.raw(pickle.POP)
        w.value(self.then)


class Writer:
    def __init__(self, protocol: int = 4) -> None:
        self.protocol = protocol
        self.buf = bytearray()

    def raw(self, b: bytes) -> None:
        self.buf += b

    def value(self, v: Any) -> None:
        if isinstance(v, Expr):
            v.emit(self)
        elif v is None:
            self.raw(pickle.NONE)
        elif v is True:
            self.raw(pickle.NEWTRUE)
        elif v is False:
            self.raw(pickle.NEWFALSE)
        elif isinstance(v, int):
            if 0 <= v < 256:
                self.raw(pickle.BININT1 + bytes([v]))
            elif 0 <= v < 65536:
                self.raw(pickle.BININT2 + struct.pack("<H", v))
            elif -(2**31) <= v < 2**31:
                self.raw(pickle.BININT + struct.pack("<i", v))
            else:
                n = (v.bit_length() + 8) // 8
                self.raw(pickle.LONG1 + bytes([n]) + v.to_bytes(n, "little", signed=True))
        elif isinstance(v, float):
            self.raw(pickle.BINFLOAT + struct.pack(">d", v))
        elif isinstance(v, str):
            b = v.encode("utf-8", "surrogatepass")
            if self.protocol >= 4 and len(b) < 256:
                self.raw(pickle.SHORT_BINUNICODE + bytes([len(b)]) + b)
            else:
                self.raw(pickle.BINUNICODE + struct.pack("<I", len(b)) + b)
        elif isinstance(v, (bytes, bytearray)):
            b = bytes(v)
            if len(b) < 256:
                self.raw(pickle.SHORT_BINBYTES + bytes([len(b)]) + b)
            else:
                self.raw(pickle.BINBYTES + struct.pack("<I", len(b)) + b)
        elif isinstance(v, tuple):
            if not v:
                self.raw(pickle.EMPTY_TUPLE)
            elif len(v) <= 3 and self.protocol >= 2:
                for x in v:
                    self.value(x)
                self.raw({1: pickle.TUPLE1, 2: pickle.TUPLE2, 3: pickle.TUPLE3}[len(v)])
            else:
                self.raw(pickle.MARK)
                for x in v:
                    self.value(x)
                self.raw(pickle.TUPLE)
        elif isinstance(v, list):
            self.raw(pickle.EMPTY_LIST)
            if v:
                self.raw(pickle.MARK)
                for x in v:
                    self.value(x)
                self.raw(pickle.APPENDS)
        elif isinstance(v, dict):
            self.raw(pickle.EMPTY_DICT)
            if v:
                self.raw(pickle.MARK)
                for k, x in v.items():
                    self.value(k)
                    self.value(x)
                self.raw(pickle.SETITEMS)
        else:  # pragma: no cover - programming error
            raise TypeError(f"cannot assemble {type(v).__name__}")


def body(v: Any, protocol: int = 4) -> bytes:
    """The opcodes that push ``v`` (no PROTO, no STOP)."""
    w = Writer(protocol)
    w.value(v)
    return bytes(w.buf)


def dumps(v: Any, protocol: int = 4, *, stop: bool = True) -> bytes:
    """A complete pickle stream: ``PROTO n`` (for n >= 2), the value, ``STOP``."""
    head = pickle.PROTO + bytes([protocol]) if protocol >= 2 else b""
    return head + body(v, protocol) + (pickle.STOP if stop else b"")


class Reduce:
    """An object whose pickle is ``func(*args)``: for ``pickle.dumps`` (which never runs it)."""

    def __init__(self, func: Any, args: tuple[Any, ...]) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args
