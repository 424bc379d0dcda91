"""Regression tests for the parser-gap bypass classes of issue 10, one test per class, named after it.

Every sample is a hand-built stream that CPython's unpickler (or joblib's, or zipfile) *would*
execute, written to a temporary file and scanned under ``policies/default.yaml``. Nothing is ever
loaded: the payload strings are inert and no test calls an unpickler on them (the differential
tests in ``test_differential_pickle.py`` do that, with inert stand-ins).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from mlgate.api import scan
from mlgate.gates.model_scan.pickle_vm import Budget, PickleMachine
from mlgate.model import Report, Verdict
from mlgate.policy import Policy

CALL_SYSTEM = b"cos\nsystem\n(S'echo mlgate-canary'\ntR"  # os.system('echo ...'), protocol 0


def scan_bytes(tmp_path: Path, name: str, data: bytes, policy: Policy) -> Report:
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return scan(target, policy=policy)


def blocking_ids(r: Report) -> list[str]:
    return [f.id for s in r.subjects for f in s.findings if f.blocking]


def assert_dangerous(r: Report, glob: str = "os.system") -> None:
    found = [(f.id, f.details.get("global")) for s in r.subjects for f in s.findings if f.blocking]
    assert r.verdict is Verdict.FAIL, (r.verdict, found)
    assert ("MLG-PKL-DANGEROUS-GLOBAL", glob) in found, found


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "model.sav", "image.gif"])
def test_pickle_that_starts_like_a_gif_binfloat(tmp_path: Path, default_policy: Policy, name: str) -> None:
    """A first BINFLOAT (``G``) opcode swallows ``IF89a...``: the file sniffs as a GIF image."""
    data = b"GIF89a\x01\x00" + b"0" + CALL_SYSTEM + b"." + b"\x00" * 64
    assert data.startswith(b"GIF89a")
    assert_dangerous(scan_bytes(tmp_path, name, data, default_policy))


@pytest.mark.parametrize(
    "first",
    [
        b"C\x03abc0",  # SHORT_BINBYTES
        b"B\x02\x00\x00\x00ab0",  # BINBYTES
        b"T\x02\x00\x00\x00ab0",  # BINSTRING
        b"U\x02ab0",  # SHORT_BINSTRING
        b"\x8f0",  # EMPTY_SET
        b"\x8e\x01\x00\x00\x00\x00\x00\x00\x00a0",  # BINBYTES8
        b"G\x00\x00\x00\x00\x00\x00\x00\x000",  # BINFLOAT
        b"(1",  # MARK, POP_MARK
        b"N0",  # NONE, POP
    ],
)
def test_pickle_with_first_opcode_outside_the_old_start_set(
    tmp_path: Path, default_policy: Policy, first: bytes
) -> None:
    """Streams whose first opcode the old ``_PICKLE_START`` sniff did not list read as text/binary."""
    assert_dangerous(scan_bytes(tmp_path, "weights.bin", first + CALL_SYSTEM + b".", default_policy))


def test_pop_of_a_mark_on_an_empty_frame(tmp_path: Path, default_policy: Policy) -> None:
    """POP with nothing above a MARK pops the MARK (both unpicklers); the old machine stopped."""
    assert_dangerous(scan_bytes(tmp_path, "notes.txt", b"(0" + CALL_SYSTEM + b".", default_policy))


@pytest.mark.parametrize("literal", [b"I0x10\n", b"I010\n", b"I1_0\n", b"I5\x00junk\n", b"I\x00\n", b"L0x10L\n"])
def test_int_parsed_with_base_zero(tmp_path: Path, default_policy: Policy, literal: bytes) -> None:
    """INT/LONG arguments are parsed with base 0 (strtol in C, int(x, 0) in Python), up to a NUL in C."""
    assert_dangerous(scan_bytes(tmp_path, "data.txt", literal + b"0" + CALL_SYSTEM + b".", default_policy))


def test_line_longer_than_the_old_4096_byte_limit(tmp_path: Path, default_policy: Policy) -> None:
    """CPython reads text arguments of any length; the old machine refused lines over 4,096 bytes."""
    data = b"V" + b"a" * 100_000 + b"\n0" + CALL_SYSTEM + b"."
    assert_dangerous(scan_bytes(tmp_path, "vocab.txt", data, default_policy))


def test_more_marks_than_the_old_100000_limit(tmp_path: Path, default_policy: Policy) -> None:
    """200,000 MARKs then as many POP_MARKs: CPython accepts it; the old machine gave up early."""
    data = b"(" * 200_000 + b"1" * 200_000 + CALL_SYSTEM + b"."
    assert_dangerous(scan_bytes(tmp_path, "deep.txt", data, default_policy))


def test_reduce_with_list_arguments_python_unpickler(tmp_path: Path, default_policy: Policy) -> None:
    """joblib's unpickler (pickle._Unpickler) calls ``func(*args)``: a list works as the arguments."""
    data = b"cos\nsystem\n(S'echo x'\nlR."
    assert_dangerous(scan_bytes(tmp_path, "model.joblib", data, default_policy))


def test_fix_imports_name_mapping(tmp_path: Path, default_policy: Policy) -> None:
    """Protocol < 3: ``commands.getoutput`` is remapped to ``subprocess.getoutput`` by the loader."""
    r = scan_bytes(tmp_path, "old.pkl", b"ccommands\ngetoutput\n(S'id'\ntR.", default_policy)
    assert_dangerous(r, "subprocess.getoutput")


def test_module_name_that_is_not_an_identifier(tmp_path: Path, default_policy: Policy) -> None:
    """``__import__('my-plugin')`` imports ``my-plugin.py`` from sys.path: a global like any other."""
    r = scan_bytes(tmp_path, "model.pkl", b"\x80\x02cmy-plugin\nrun\n)R.", default_policy)
    assert r.verdict is Verdict.FAIL
    assert "MLG-PKL-UNKNOWN-GLOBAL" in blocking_ids(r)


def test_text_with_grammar_error_before_any_code_is_text(tmp_path: Path, default_policy: Policy) -> None:
    """The converse: a label file that parses as GLOBAL then breaks (nothing called) stays text."""
    r = scan_bytes(tmp_path, "labels.txt", b"cat\ndog\nbird\n", default_policy)
    assert r.verdict is Verdict.PASS, blocking_ids(r)


def test_budget_error_is_incomplete_not_pass() -> None:
    """When mlgate's own limit stops the machine the error is a *budget* error (reported as
    incomplete), never a grammar error that lenient callers read as "not a pickle"."""
    data = b"]" * 50_000 + b"N."  # 50,001 values alive at once
    res = PickleMachine(Budget(1_000_000, 1000, max_values=10_000)).run(io.BytesIO(data), len(data))
    assert not res.stopped
    assert res.error_kind == "budget", res.error
    res = PickleMachine(Budget(1_000, 1000)).run(io.BytesIO(b"N0" * 2000), 4000)
    assert res.error_kind == "budget", res.error
    res = PickleMachine(Budget(1_000_000, 1000)).run(io.BytesIO(b"]]q"), 3)
    assert res.error_kind == "grammar"


def _joblib_wrapper_stream(construct: bytes, state_dtype: bytes, shape: bytes, inline: bytes, tail: bytes) -> bytes:
    return (
        b"\x80\x04"
        + construct
        + b"}(\x8c\x05shape" + shape
        + b"\x8c\x05order\x8c\x01C"
        + b"\x8c\x05dtype" + state_dtype
        + b"\x8c\x1bnumpy_array_alignment_bytesN"
        + b"ub"
        + inline
        + tail
    )


NEWOBJ_WRAPPER = b"\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93)\x81"
RECON_WRAPPER = (
    b"\x8c\x07copyreg\x8c\x0e_reconstructor\x93"
    b"\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93\x8c\x08builtins\x8c\x06object\x93N\x87R"
)
F8 = b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02f8\x89\x88\x87R"
PAYLOAD = b"0\x8c\x02os\x8c\x06system\x93\x8c\x06echo x\x85R."


def test_joblib_wrapper_built_through_copyreg_reconstructor(tmp_path: Path, default_policy: Policy) -> None:
    """The wrapper made by copyreg._reconstructor is still a NumpyArrayWrapper for joblib: its
    inline bytes are skipped and the payload after them runs. mlgate must skip them too."""
    # 2 float64 = 16 bytes of "array" that, read as opcodes, would look like a harmless STOP
    inline = b"N." + b"\x00" * 14
    data = _joblib_wrapper_stream(RECON_WRAPPER, F8, b"K\x02\x85", inline, PAYLOAD)
    assert_dangerous(scan_bytes(tmp_path, "model.joblib", data, default_policy))


def test_joblib_dtype_whose_itemsize_lies(tmp_path: Path, default_policy: Policy) -> None:
    """``f8`` with a BUILD state claiming elsize 1: NumPy ignores elsize for fixed-size types (8 bytes
    per item); the old machine believed the state and parsed array bytes as opcodes."""
    lying = F8 + b"(K\x03\x8c\x01<NNNK\x01K\x01K\x00tb"
    inline = b"N." + b"\x00" * 14
    data = _joblib_wrapper_stream(NEWOBJ_WRAPPER, lying, b"K\x02\x85", inline, PAYLOAD)
    assert_dangerous(scan_bytes(tmp_path, "model.joblib", data, default_policy))


def test_joblib_dtype_whose_object_flag_lies(tmp_path: Path, default_policy: Policy) -> None:
    """``f8`` whose state sets the object flag: joblib then reads a *pickle* after the wrapper."""
    flagged = F8 + b"(K\x03\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb"
    inner = b"\x80\x04" + b"\x8c\x02os\x8c\x06system\x93\x8c\x06echo y\x85R."
    data = _joblib_wrapper_stream(NEWOBJ_WRAPPER, flagged, b"K\x01\x85", inner, b"N.")
    assert_dangerous(scan_bytes(tmp_path, "model.joblib", data, default_policy))


def test_joblib_wrapper_built_in_an_unmodelled_way_blocks(tmp_path: Path, default_policy: Policy) -> None:
    """A wrapper instance returned by some other callable: mlgate cannot tell, so it blocks."""
    odd = b"\x8c\x04copy\x8c\x04copy\x93" + b"\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93\x85R"
    data = _joblib_wrapper_stream(odd, F8, b"K\x01\x85", b"\x00" * 8, b"N.")
    r = scan_bytes(tmp_path, "model.joblib", data, default_policy)
    assert r.verdict is not Verdict.PASS
    assert any(
        f.id == "MLG-PKL-MALFORMED" and f.details.get("undecidable") for s in r.subjects for f in s.findings
    ) or "MLG-PKL-UNKNOWN-GLOBAL" in blocking_ids(r)


def test_stacked_tiny_pickles_are_bounded(tmp_path: Path, default_policy: Policy) -> None:
    """Thousands of stacked ``N.`` streams: memory stays flat and past the policy's stream budget the
    verdict is incomplete, not pass."""
    data = b"N." * 20_000
    r = scan_bytes(tmp_path, "many.pkl", data, default_policy)
    assert r.verdict is Verdict.INCOMPLETE, (r.verdict, blocking_ids(r))
    assert "MLG-FILE-LIMIT" in [f.id for s in r.subjects for f in s.findings]


def test_struct_pack_helpers_are_consistent() -> None:
    # guards the hand-built samples above against silent edits
    assert struct.unpack(">d", b"IF89a\x01\x00\x00")[0] != 0


def test_joblib_inline_array_read_by_plain_pickle_load(tmp_path: Path, default_policy: Policy) -> None:
    """The same file under ``pickle.load`` (no joblib): the "array bytes" are opcodes. What they
    import or call is reported although joblib would skip them."""
    inline = b"0" + b"\x8c\x02os\x8c\x06system\x93\x8c\x01x\x85R0"  # 24 bytes: 3 float64
    inline += b"N" * (24 - len(inline)) if len(inline) < 24 else b""
    assert len(inline) == 24, len(inline)
    data = _joblib_wrapper_stream(NEWOBJ_WRAPPER, F8, b"K\x03\x85", inline, b".")
    assert_dangerous(scan_bytes(tmp_path, "model.pkl", data, default_policy))


def test_stacked_second_pickle_with_an_unusual_first_opcode(tmp_path: Path, default_policy: Policy) -> None:
    """A harmless first pickle, then one starting with BINFLOAT: analysed as a pickle (named
    global), not only reported as trailing data."""
    data = b"N." + b"G\x00\x00\x00\x00\x00\x00\x00\x000" + CALL_SYSTEM + b"."
    assert_dangerous(scan_bytes(tmp_path, "two.pkl", data, default_policy))


def test_joblib_object_dtype_whose_flags_deny_objects(tmp_path: Path, default_policy: Policy) -> None:
    """``O8`` whose BUILD state clears the object flag: joblib copies file bytes into object slots
    (pointers chosen by the file: a crash or memory corruption in the loader). Blocks."""
    o8 = b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02O8\x89\x88\x87R" + b"(K\x03\x8c\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    data = _joblib_wrapper_stream(NEWOBJ_WRAPPER, o8, b"K\x01\x85", b"\x41" * 8, b"N.")
    r = scan_bytes(tmp_path, "model.joblib", data, default_policy)
    assert r.verdict is Verdict.FAIL
    assert any(f.id == "MLG-PKL-MALFORMED" and f.details.get("undecidable") for s in r.subjects for f in s.findings)
