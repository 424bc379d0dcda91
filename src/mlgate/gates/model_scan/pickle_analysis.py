"""Turn symbolic pickle runs into findings: every pickle in a stream (stacked pickles, legacy
PyTorch files, payloads after a benign pickle), nested byte strings, joblib buffers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.globals_policy import GlobalStatus, normalise_module
from mlgate.gates.model_scan.pickle_vm import (
    BigBytes,
    Budget,
    Call,
    GlobalRef,
    Persistent,
    PickleMachine,
    PickleResult,
)
from mlgate.gates.model_scan.rules import rule
from mlgate.model import FindingKind, Severity

if TYPE_CHECKING:
    from collections.abc import Callable

REFS_GLOBALS = (
    "https://github.com/trailofbits/fickling",
    "https://docs.python.org/3/library/pickle.html#restricting-globals",
)
R_DANGEROUS = rule(
    "MLG-PKL-DANGEROUS-GLOBAL",
    "Pickle imports a code-reaching global",
    Severity.CRITICAL,
    "Do not load this file. Re-export the weights as safetensors from a trusted environment.",
    REFS_GLOBALS,
)
R_UNKNOWN = rule(
    "MLG-PKL-UNKNOWN-GLOBAL",
    "Pickle imports a global that is not on the allowlist",
    Severity.HIGH,
    "If the global is a known-safe class of your organisation, add it to the policy allowlist with a reason; "
    "otherwise treat the file as hostile. Prefer safetensors.",
    REFS_GLOBALS,
)
R_DYNAMIC = rule(
    "MLG-PKL-DYNAMIC-GLOBAL",
    "Pickle computes the name of a global at load time",
    Severity.CRITICAL,
    "Names built at load time (STACK_GLOBAL fed by call results) hide the imported callable; do not load.",
    ("https://github.com/mmaitre314/picklescan/security/advisories",),
)
R_EXT = rule(
    "MLG-PKL-EXT-OPCODE",
    "Pickle uses the copyreg extension registry (EXT1/2/4)",
    Severity.HIGH,
    "Extension codes import globals that the file does not name; do not load.",
)
R_INDIRECT = rule(
    "MLG-PKL-INDIRECT-CALL",
    "Pickle calls the result of another call",
    Severity.HIGH,
    "Gadget chains (getattr/attrgetter results called later) reach arbitrary callables; do not load.",
    ("https://github.com/advisories/GHSA-955r-x9j8-7rhh",),
)
R_BUILD_GLOBAL = rule(
    "MLG-PKL-BUILD-ON-GLOBAL",
    "Pickle sets attributes on an imported module object",
    Severity.HIGH,
    "BUILD on a class or function mutates interpreter state; do not load.",
)
R_MALFORMED = rule(
    "MLG-PKL-MALFORMED",
    "Pickle stream is malformed",
    Severity.HIGH,
    "A loader runs every opcode before the error; a broken stream after code opcodes is an attack pattern "
    "(nullifAI). Do not load; obtain a clean copy.",
    ("https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face",),
)
R_TRAILING = rule(
    "MLG-PKL-TRAILING-DATA",
    "Data after the end of the pickle stream",
    Severity.MEDIUM,
    "Bytes after STOP are read by custom loaders; a second pickle may hide there. Re-save the file.",
)

R_SIBLING_PATH = rule(
    "MLG-PKL-JOBLIB-FILE-PATH",
    "joblib pickle makes the loader open a file outside its folder",
    Severity.HIGH,
    "joblib's NDArrayWrapper opens the file it names with np.load(allow_pickle=True); a path that leaves the "
    "model folder loads whatever sits there. Do not load; re-save with a current joblib.",
)
R_SIBLING_UNCHECKED = rule(
    "MLG-PKL-JOBLIB-FILE-UNCHECKED",
    "joblib pickle makes the loader open a file that could not be checked",
    Severity.MEDIUM,
    "The file the pickle names must sit beside it, as a regular file, in the scanned folder; scan the whole "
    "folder, or re-save with a current joblib (one file).",
    kind=FindingKind.UNSUPPORTED,
)

LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_ELEMENT_SIZE = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
    "QInt8Storage": 1,
    "QUInt8Storage": 1,
    "QInt32Storage": 4,
    "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1,
    "UntypedStorage": 1,
    "Float8_e4m3fnStorage": 1,
    "Float8_e5m2Storage": 1,
}
_PICKLE_START = frozenset(b"\x80(c]})NKJMIL\x8c\x8aGFSUVX\x88\x89\x95")


def budget_for(ctx: ScanContext) -> Budget:
    lim = ctx.config.limits
    return Budget(lim.max_pickle_ops, lim.max_memo, lim.max_pickle_values, ctx.deadline)


# Call sites judged by what they are called with, not by their name alone (see _explain).
PARTIAL = ("functools", "partial")
GETATTR = ("builtins", "getattr")
LOAD_FROM_BYTES = ("torch.storage", "_load_from_bytes")
_LITERALS = (type(None), bool, int, float, complex, str, bytes)


@dataclass
class _Explained:
    """Globals whose every call site was judged on its arguments, and the indirect calls (calls of a
    call's result) that those judgements account for."""

    globals: dict[tuple[str, str], str]  # (module, name) -> why it is data here
    indirect_offsets: set[int]


def _is_data(v: Any, depth: int = 0) -> bool:
    """Literal data: constants, containers of data, skipped byte strings, tensors (persistent ids),
    references to globals (judged on their own) and objects rebuilt by a global (judged on their
    own). Not data: the result of calling a call's result, or values the machine cannot see."""
    if depth > 32:
        return False
    if isinstance(v, (_LITERALS, BigBytes, Persistent, GlobalRef)):
        return True
    if isinstance(v, (tuple, list)):
        return all(_is_data(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(_is_data(k, depth + 1) and _is_data(x, depth + 1) for k, x in v.items())
    if isinstance(v, Call):
        return isinstance(v.func, GlobalRef) and _is_data(v.args, depth + 1)
    return False


def _is_class_entry(ctx: ScanContext, ref: Any) -> bool:
    if not isinstance(ref, GlobalRef):
        return False
    j = ctx.globals_policy.judge(ref.module, ref.name, frozenset({"new"}))
    if j.status is not GlobalStatus.ALLOWED or j.entry is None:
        return False
    if j.entry.kind is not None:
        return j.entry.kind == "class"
    last = ref.name.split(".")[-1]
    return last[:1].isupper()


def _explain(res: PickleResult, ctx: ScanContext, nested_starts: set[int]) -> _Explained:
    """Judge the call sites of functools.partial, builtins.getattr and torch.storage._load_from_bytes
    on their arguments. A global is explained only when *every* one of its references is a call site
    the machine recorded and each call site is benign:

    * ``functools.partial(C, *literals, **literals)`` where C is an allowlisted class (and the BUILD
      state names the same C): a value, like a class reference with its arguments (Lightning hparams,
      scikit-learn's HistGradientBoosting with categorical features);
    * ``getattr(C, 'attr')`` where C is a global and ``C.attr`` is itself on the allowlist for the way
      the result is used (tz-aware pandas pickles ``getattr(zoneinfo.ZoneInfo, '_unpickle')(key, 1)``);
    * ``torch.storage._load_from_bytes(b)`` where ``b`` is a byte string the scanner analyses as a
      nested file (``pickle.dumps(tensor)``): its findings are reported like any other file's.
    Anything else keeps the global's own judgement (dangerous)."""
    out = _Explained({}, set())
    if res.calls_overflow:
        return out
    refs: dict[tuple[str, str], list[GlobalRef]] = defaultdict(list)
    for g in res.globals:
        if (normalise_module(g.module), g.name) in (PARTIAL, GETATTR, LOAD_FROM_BYTES):
            refs[(normalise_module(g.module), g.name)].append(g)
    if not refs:
        return out
    sites: dict[int, list[Call]] = defaultdict(list)  # id(GlobalRef) -> calls of it
    callers: dict[int, list[Call]] = defaultdict(list)  # id(Call) -> calls of its result
    for c in res.calls:
        if isinstance(c.func, GlobalRef):
            sites[id(c.func)].append(c)
        elif isinstance(c.func, Call):
            callers[id(c.func)].append(c)
    for key, grefs in refs.items():
        why: str | None = None
        indirect: set[int] = set()
        ok = True
        for g in grefs:
            calls = sites.get(id(g), [])
            if g.usages != {"call"} or not calls:
                ok = False
                break
            for c in calls:
                if key == PARTIAL:
                    ok = _benign_partial(c, ctx) and not callers.get(id(c))
                    why = "functools.partial of an allowlisted class or callable with literal arguments"
                elif key == GETATTR:
                    target = _getattr_target(c, ctx, callers.get(id(c), []))
                    ok = target is not None
                    if ok:
                        indirect.update(x.offset for x in callers.get(id(c), []))
                        why = f"getattr resolves to allowlisted {target}"
                else:
                    arg = c.args[0] if isinstance(c.args, tuple) and len(c.args) == 1 else None
                    ok = isinstance(arg, BigBytes) and arg.start in nested_starts and not callers.get(id(c))
                    why = "nested torch file in a byte string, analysed as a file of its own"
                if not ok:
                    break
            if not ok:
                break
        if ok and why is not None:
            for g in grefs:  # under the spelling the stream used (protocol <= 2: __builtin__)
                out.globals[(g.module, g.name)] = why
            out.indirect_offsets |= indirect
    return out


def _callable_target(ctx: ScanContext, ref: Any) -> bool:
    """May the pickle call this global with arguments (an allowlisted reconstructor or validator)?"""
    if not isinstance(ref, GlobalRef):
        return False
    return ctx.globals_policy.judge(ref.module, ref.name, frozenset({"call"})).status is GlobalStatus.ALLOWED


def _benign_partial(c: Call, ctx: ScanContext) -> bool:
    """partial(C, literals) of an allowlisted class is data; partial(f, ...) of anything else is a
    call of f, benign only when f may be called with arguments (its own allowlist entry says so)."""
    args = c.args
    if not (isinstance(args, tuple) and args and _is_data(args[1:])):
        return False
    func = args[0]
    if not (_is_class_entry(ctx, func) or _callable_target(ctx, func)):
        return False
    st = c.state
    if st is None:
        return True
    if not (isinstance(st, tuple) and len(st) == 4):
        return False
    f2, a2, kw, d = st
    same = f2 is func or (isinstance(f2, GlobalRef) and (f2.module, f2.name) == (func.module, func.name))
    return (
        same
        and isinstance(a2, tuple)
        and (kw is None or isinstance(kw, dict))
        and (d is None or isinstance(d, dict))
        and _is_data(a2)
        and _is_data(kw)
        and _is_data(d)
    )


def _getattr_target(c: Call, ctx: ScanContext, called_by: list[Call]) -> str | None:
    args = c.args
    if not (isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], GlobalRef)):
        return None
    owner, attr = args
    if not (isinstance(attr, str) and attr.isidentifier() and not attr.startswith("__")):
        return None
    usages = frozenset({"call"}) if called_by else frozenset({"arg"})
    j = ctx.globals_policy.judge(owner.module, f"{owner.name}.{attr}", usages)
    if j.status is not GlobalStatus.ALLOWED:
        return None
    if not all(_is_data(x.args) for x in called_by):
        return None
    return f"{j.module}.{owner.name}.{attr}"


def report_pickle(
    res: PickleResult, blob: Blob, ctx: ScanContext, label: str, nested_cb: Callable[[Blob], None] | None = None
) -> None:
    """Findings for one parsed pickle stream (and the joblib sub-pickles inside it)."""
    by_name: dict[tuple[str, str], list[GlobalRef]] = defaultdict(list)
    for g in res.globals:
        by_name[(g.module, g.name)].append(g)
    nested_starts = (
        {int(ev.data["start"]) for ev in res.events if ev.kind == "nested-bytes"} if nested_cb is not None else set()
    )
    explained = _explain(res, ctx, nested_starts)
    allowed: list[str] = []
    for (module, name), refs in by_name.items():
        usage_set = frozenset(u for g in refs for u in g.usages)
        if (module, name) in explained.globals:
            allowed.append(f"{module}.{name}")
            ctx.details.setdefault("explained_calls", {})[f"{module}.{name}"] = explained.globals[(module, name)]
            continue
        j = ctx.globals_policy.judge(module, name, usage_set)
        usages = sorted(usage_set) or ["ref"]
        details = {
            "global": f"{j.module}.{name}",
            "usages": usages,
            "offsets": [g.offset for g in refs[:20]],
            "count": len(refs),
            "stream": label,
        }
        if j.status is GlobalStatus.DANGEROUS:
            ctx.issue(
                R_DANGEROUS,
                f"{label}: imports {j.module}.{name} ({j.reason}); used as {', '.join(usages)}",
                offset=refs[0].offset,
                details=details,
            )
        elif j.status is GlobalStatus.UNKNOWN:
            ctx.issue(
                R_UNKNOWN,
                f"{label}: imports {j.module}.{name}, which is not on the allowlist; used as {', '.join(usages)}",
                severity=j.severity,
                offset=refs[0].offset,
                details=details,
            )
        else:
            allowed.append(f"{j.module}.{name}")
    if allowed:
        ctx.details.setdefault("allowed_globals", [])
        for a in allowed:
            if a not in ctx.details["allowed_globals"] and len(ctx.details["allowed_globals"]) < 200:
                ctx.details["allowed_globals"].append(a)
    for ev in res.events:
        if ev.kind == "indirect-call" and ev.offset in explained.indirect_offsets:
            continue
        if ev.kind == "dynamic-global":
            ctx.issue(R_DYNAMIC, f"{label}: {ev.message} ({ev.data})", offset=ev.offset)
        elif ev.kind == "ext":
            ctx.issue(R_EXT, f"{label}: {ev.message}", offset=ev.offset)
        elif ev.kind == "indirect-call":
            ctx.issue(R_INDIRECT, f"{label}: {ev.message}", offset=ev.offset)
        elif ev.kind == "build-on-global":
            ctx.issue(R_BUILD_GLOBAL, f"{label}: {ev.message}", offset=ev.offset)
        elif ev.kind == "joblib-sibling":
            _check_sibling(str(ev.data["filename"]), ctx, label, ev.offset)
        elif ev.kind == "joblib-array":
            ctx.details["joblib_inline_arrays"] = ctx.details.get("joblib_inline_arrays", 0) + 1
        elif ev.kind == "nested-bytes" and nested_cb is not None:
            start, length = ev.data["start"], ev.data["length"]
            nested_cb(blob.window(f"{label}@bytes[{start}]", start, length))
    for sub in res.nested:
        report_pickle(sub, blob, ctx, f"{label}/object-array@{sub.start}", nested_cb)
        _report_break(sub, ctx, f"{label}/object-array@{sub.start}")
    if res.stopped or res.code_capable:
        ctx.details.setdefault("pickle_protocols", [])
        if res.protocol not in ctx.details["pickle_protocols"]:
            ctx.details["pickle_protocols"].append(res.protocol)


def _check_sibling(name: str, ctx: ScanContext, label: str, offset: int) -> None:
    """joblib (numpy_pickle_compat) opens ``os.path.join(dirname(pickle), name)``: np.load with
    allow_pickle=True for NDArrayWrapper (a pickle there runs), read_zfile for ZNDArrayWrapper. The
    file is analysed here as part of this subject; a name that leaves the folder blocks."""
    import os

    if not name or name in (".", "..") or any(c in name for c in ("/", "\\", "\x00")):
        ctx.issue(R_SIBLING_PATH, f"{label}: joblib opens {name!r}", offset=offset)
        return
    # only decompression layers (``<gzip>``, ``<joblib-zfile>``...) may sit between the file and the
    # pickle: joblib.load decompresses the file it was given and resolves names beside that file
    if ctx.fs_path is None or not all(m.startswith("<") and m.endswith(">") for m in ctx.members):
        ctx.unsupported(R_SIBLING_UNCHECKED, f"{label}: joblib opens {name!r} beside a file that is not on disk here",
                        offset=offset)
        return
    path = os.path.join(os.path.dirname(ctx.fs_path), name)
    if os.path.islink(path) or not os.path.isfile(path):
        ctx.unsupported(R_SIBLING_UNCHECKED, f"{label}: joblib opens {name!r}, which is missing or not a regular file",
                        offset=offset)
        return
    from mlgate.gates.model_scan.analyze import analyze_blob
    from mlgate.gates.model_scan.blob import file_blob

    siblings = ctx.details.setdefault("reads_siblings", [])
    if name not in siblings:
        siblings.append(name)
    with ctx.member(name):
        analyze_blob(file_blob(path, name), ctx)


def _runs_code(res: PickleResult, ctx: ScanContext, events_need_stop: bool = False) -> bool:
    """Would loading this (possibly broken) stream call something? A GLOBAL that is never called
    (text such as "cat\\ndog" parses as GLOBAL cat.dog) only imports; that counts when the import
    itself is dangerous."""
    if res.events and (res.stopped or not events_need_stop):
        return True
    for g in res.globals:
        if g.usages & {"call", "new", "build"}:
            return True
        if ctx.globals_policy.judge(g.module, g.name).status is GlobalStatus.DANGEROUS:
            return True
    return False


def _report_break(res: PickleResult, ctx: ScanContext, label: str) -> None:
    if res.stopped:
        return
    if res.error_kind == "budget":  # mlgate's own limit, not the file's fault: incomplete
        ctx.limit(f"{label}: pickle analysis stopped at offset {res.error_offset}: {res.error}")
        return
    if res.error_kind == "undecidable":
        ctx.issue(
            R_MALFORMED,
            f"{label}: the scanner cannot tell how a loader reads on from offset {res.error_offset}: {res.error}",
            offset=res.error_offset,
            details={"code_before_error": res.code_capable, "undecidable": True},
        )
        return
    what = "truncated" if res.truncated else "malformed"
    after = " after code opcodes ran" if res.code_capable else ""
    ctx.issue(
        R_MALFORMED,
        f"{label}: stream {what}{after}: {res.error}",
        offset=res.error_offset,
        details={"code_before_error": res.code_capable},
    )


def looks_like_pickle_start(b: bytes) -> bool:
    if not b:
        return False
    if b[0] == 0x80:
        return len(b) > 1 and b[1] <= 5
    return b[0] in _PICKLE_START


def analyze_pickle_file(
    blob: Blob,
    ctx: ScanContext,
    nested_cb: Callable[[Blob], None] | None = None,
    *,
    lenient: bool = False,
    storage: bool = False,
    claimed: bool = False,
) -> bool:
    """Analyse every pickle stream in ``blob`` and return True, or return False without reporting
    anything when the bytes are not a pickle worth reporting:

    * ``lenient`` (content of unknown type): not a pickle when the first stream breaks before it
      imports or calls anything. A stream that parses to STOP is a pickle and is fully analysed
      (so a payload stacked after a harmless protocol-0 pickle is still found).
    * ``storage`` (raw tensor bytes in a torch zip): only imports/calls are reported; random bytes
      that happen to parse as a tiny pickle are data."""
    machine = PickleMachine(budget_for(ctx), ctx.config.limits.nested_blob_min)
    with blob.open() as f:
        first = machine.run(f, blob.size)
        code = _runs_code(first, ctx)
        if storage and not _runs_code(first, ctx, events_need_stop=True):
            # random weight bytes often start with an opcode (EXT1/2/4, REDUCE) and then break
            return False
        # Not a pickle only when a real unpickler also fails before anything ran; mlgate's own
        # limits (budget) and undecidable cases are reported, never read as "not a pickle".
        if lenient and not first.stopped and not code and first.error_kind == "grammar":
            return False
        # ``claimed``: another format owns these bytes (an image, a zip found by its end record...);
        # the pickle view only matters when loading it would run something.
        if claimed and not code and first.error_kind == "grammar" and first.value != LEGACY_TORCH_MAGIC:
            return False
        streams = [first]
        report_pickle(first, blob, ctx, "pickle#0", nested_cb)
        _report_break(first, ctx, "pickle#0")
        if not first.stopped:
            ctx.covered("pickle", f"{len(first.globals)} globals before the stream broke")
            return True
        pos = first.end
        legacy = first.value == LEGACY_TORCH_MAGIC
        if legacy:
            after = _legacy_torch(blob, ctx, f, machine, pos, streams, nested_cb)
            if after is None:
                return True
            pos = after
        # Anything after: another pickle (every one is analysed) or trailing data.
        idx = len(streams)
        n_globals = sum(len(s.globals) for s in streams)
        max_streams = ctx.config.limits.max_pickle_streams
        while pos < blob.size:
            ctx.check_time()
            if idx >= max_streams:
                ctx.limit(f"more than {max_streams} stacked pickle streams (offset {pos}); the rest was not analysed")
                break
            f.seek(pos)
            peek = f.read(2)
            f.seek(pos)
            res = machine.run(f, blob.size)
            # another pickle whatever its first opcode (a stacked stream may start with G, C, B...):
            # one that parses to STOP, runs something before it breaks, or that mlgate cannot finish
            another = res.stopped or _runs_code(res, ctx) or res.error_kind != "grammar"
            if another or (looks_like_pickle_start(peek) and res.code_capable):
                label = f"pickle#{idx}"
                report_pickle(res, blob, ctx, label, nested_cb)
                _report_break(res, ctx, label)
                n_globals += len(res.globals)  # results are not kept: memory stays flat
                idx += 1
                if not res.stopped:
                    break
                pos = res.end
                continue
            if not storage:
                ctx.issue(
                    R_TRAILING,
                    f"{blob.size - pos} bytes after the last pickle stream (offset {pos})",
                    severity=ctx.config.trailing_data_severity,
                    offset=pos,
                )
            break
    n = idx
    kind = "legacy-torch" if legacy else "pickle"
    ctx.covered(kind, f"{n} pickle stream(s), {n_globals} globals")
    if n > 1 and not legacy:
        ctx.details["stacked_pickles"] = n
    return True


def _legacy_torch(
    blob: Blob,
    ctx: ScanContext,
    f: Any,
    machine: PickleMachine,
    pos: int,
    streams: list[PickleResult],
    nested_cb: Callable[[Blob], None] | None,
) -> int | None:
    """Legacy (pre-1.6) torch.save: magic, protocol, sys_info, main object, storage keys, then the
    raw storages. Every pickle is analysed; the storage bytes are walked exactly so nothing hides
    after them."""
    names = ("protocol-version", "sys-info", "main", "storage-keys")
    for name in names:
        f.seek(pos)
        res = machine.run(f, blob.size)
        label = f"legacy-torch/{name}"
        report_pickle(res, blob, ctx, label, nested_cb)
        _report_break(res, ctx, label)
        streams.append(res)
        if not res.stopped:
            return None
        pos = res.end
    main, keys = streams[3], streams[4].value
    sizes: dict[str, int] = {}
    for pid in main.persistent_ids:
        if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage":
            st = pid[1]
            key = pid[2]
            if isinstance(st, GlobalRef) and isinstance(key, str):
                sizes[key] = STORAGE_ELEMENT_SIZE.get(st.name.split(".")[-1], 0)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        ctx.issue(R_MALFORMED, "legacy torch file: storage key list is not a list of strings", offset=streams[4].start)
        return None
    for key in keys:
        elem = sizes.get(key)
        if not elem:
            ctx.issue(R_MALFORMED, f"legacy torch file: storage {key!r} has no known type", offset=pos)
            return None
        f.seek(pos)
        raw = f.read(8)
        if len(raw) != 8:
            ctx.issue(R_MALFORMED, f"legacy torch file: storage {key!r} truncated", offset=pos)
            return None
        numel = int.from_bytes(raw, "little", signed=True)
        nbytes = numel * elem
        if numel < 0 or pos + 8 + nbytes > blob.size:
            ctx.issue(R_MALFORMED, f"legacy torch file: storage {key!r} runs past the end", offset=pos)
            return None
        pos += 8 + nbytes
    return pos
