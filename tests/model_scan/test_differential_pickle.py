"""Differential tests: mlgate's pickle machine against CPython's unpicklers (C and pure Python) and
joblib's reader, run with inert stand-ins (``_differential.py``: nothing named by a stream is ever
imported or called).

For every input: if a real loader accepts the stream, mlgate must too (or block it for a reason of
its own), and every global the loader resolves must be one mlgate saw. Inputs come from a grammar of
opcodes (hypothesis), from files the real libraries write at test time, and from mutations of
those. The example counts here are small (``make test``); ``bench/differential_deep.py`` runs the
same properties at depth.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import io
import pickle
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.model_scan import _differential as d

EXAMPLES = 150

# -- an opcode grammar ----------------------------------------------------------------------------

LINES = [
    b"0", b"1", b"00", b"01", b"0x10", b"010", b"08", b" 5", b"5 ", b"5\x00x", b"\x00", b"1_0", b"+5", b"-0",
    b"99999999999999999999", b"", b"abc", b"1.5", b"inf", b"nan", b" 1.5", b"1e999", b"1_0.5", b"0b11", b"7L",
    b"0x10L", b"'a'", b"\"b\"", b"'\\x41'", b"'\\x4'", b"os", b"system", b"builtins", b"eval", b"my-mod", b"a.b",
    b"__builtin__", b"commands", b"getoutput", b"copy_reg", b"_reconstructor", b"\xc3\xa9",
]
NAMES = ["os", "system", "builtins", "eval", "copyreg", "_reconstructor", "object", "a.b", "x y", ""]

simple_ops = st.sampled_from(
    [bytes([c]) for c in b"N)]}(012tldaesu\x85\x86\x87\x88\x89\x8f\x90\x91R\x81\x92bo\x93\x94Q."]
)
line = st.sampled_from(LINES)
small = st.integers(0, 255).map(lambda i: bytes([i]))


def _str_op(s: str) -> bytes:
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


arg_ops = st.one_of(
    small.map(lambda b: b"K" + b),
    small.map(lambda b: b"q" + b),
    small.map(lambda b: b"h" + b),
    st.integers(0, 3).map(lambda i: b"j" + struct.pack("<I", i)),
    st.integers(0, 3).map(lambda i: b"r" + struct.pack("<I", i)),
    st.integers(-(2**31), 2**31 - 1).map(lambda i: b"J" + struct.pack("<i", i)),
    st.integers(0, 65535).map(lambda i: b"M" + struct.pack("<H", i)),
    st.tuples(st.sampled_from(b"ILFSVPgp"), line).map(lambda t: bytes([t[0]]) + t[1] + b"\n"),
    st.tuples(st.sampled_from(b"ci"), line, line).map(lambda t: bytes([t[0]]) + t[1] + b"\n" + t[2] + b"\n"),
    st.sampled_from(NAMES).map(_str_op),
    st.binary(max_size=8).map(lambda b: b"C" + bytes([len(b)]) + b),
    st.binary(max_size=8).map(lambda b: b"U" + bytes([len(b)]) + b),
    st.binary(max_size=8).map(lambda b: b"B" + struct.pack("<I", len(b)) + b),
    st.binary(max_size=8).map(lambda b: b"T" + struct.pack("<i", len(b)) + b),
    st.integers(0, 7).map(lambda p: b"\x80" + bytes([p])),
    st.integers(0, 40).map(lambda n: b"\x95" + struct.pack("<Q", n)),
    st.binary(min_size=8, max_size=8).map(lambda b: b"G" + b),
    st.binary(max_size=4).map(lambda b: b"\x8a" + bytes([len(b)]) + b),
    small.map(lambda b: b"\x82" + b),
)
streams = st.lists(st.one_of(simple_ops, arg_ops), max_size=24).map(lambda ops: b"".join(ops) + b".")


def _check(data: bytes) -> None:
    problems = d.compare_pickle(data)
    assert not problems, (data, problems)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams)
def test_opcode_grammar_streams_agree_with_cpython(data: bytes) -> None:
    _check(data)


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_agree_with_cpython(data: bytes) -> None:
    _check(data)


# -- files the real libraries write ----------------------------------------------------------------

OBJECTS = [
    {"a": [1, 2.5, "x", b"y", None, True]},
    [set(range(5)), frozenset({1}), (1, (2, (3,)))],
    {"big": 2**100, "neg": -(2**70), "f": 1e300, "s": "é" * 10},
    collections.OrderedDict(a=1),
    datetime.datetime(2024, 1, 2, 3, 4, 5),
    decimal.Decimal("1.5"),
    fractions.Fraction(1, 3),
    np.arange(6, dtype="f8").reshape(2, 3),
    np.array(["a", "bc"], dtype=object),
    bytearray(b"abc"),
    ["shared"] * 3,
]


def real_pickles() -> list[bytes]:
    out = []
    for proto in range(0, 6):
        for obj in OBJECTS:
            out.append(pickle.dumps(obj, protocol=proto))
    return out


def real_joblib_files() -> list[bytes]:
    import joblib

    out = []
    for obj in (
        {"w": np.arange(10, dtype="f4"), "b": np.zeros((2, 2), dtype="i8")},
        [np.array([1, "x"], dtype=object), np.ones(3, dtype=[("a", "i4"), ("b", "f8")])],
        np.array(["ab", "c"], dtype="U2"),
    ):
        buf = io.BytesIO()
        joblib.dump(obj, buf)
        out.append(buf.getvalue())
    return out


@pytest.mark.parametrize("data", real_pickles(), ids=lambda b: f"{len(b)}b")
def test_real_pickles_agree_with_cpython(data: bytes) -> None:
    _check(data)


@pytest.mark.parametrize("data", real_joblib_files(), ids=lambda b: f"{len(b)}b")
def test_real_joblib_files_agree_with_joblib(data: bytes) -> None:
    assert d.joblib_accepts(data), d.reference_joblib(data).errors  # the reference itself works
    problems = d.compare_joblib(data)
    assert not problems, problems


mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]), st.integers(0, 10**6), small)


REAL = real_pickles()
JOBLIB = real_joblib_files()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(REAL) - 1), st.lists(mutation, min_size=1, max_size=3))
def test_mutated_real_pickles_agree_with_cpython(idx: int, muts: list[tuple[str, int, bytes]]) -> None:
    _check(d.mutate(REAL[idx], muts))


@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(JOBLIB) - 1), st.lists(mutation, min_size=1, max_size=2))
def test_mutated_joblib_files_agree_with_joblib(idx: int, muts: list[tuple[str, int, bytes]]) -> None:
    data = d.mutate(JOBLIB[idx], muts)
    problems = d.compare_joblib(data)
    assert not problems, (data, problems)


def test_harness_catches_a_disagreement() -> None:
    """The harness is not vacuous: a machine that rejected base-0 INTs would be reported."""
    ref = d.reference_pickle(b"I0x10\n0cos\nsystem\n.")
    assert ref.accepted
    assert ("os", "system") in ref.globals
    res = d.mlgate_pickle(b"N.")  # pretend mlgate saw a different stream
    assert d.compare(ref, res)
