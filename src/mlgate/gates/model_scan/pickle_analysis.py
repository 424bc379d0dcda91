"""Turn symbolic pickle runs into findings: every pickle in a stream (stacked pickles, legacy
PyTorch files, payloads after a benign pickle), nested byte strings, joblib buffers."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.globals_policy import GlobalStatus
from mlgate.gates.model_scan.pickle_vm import (
    Budget,
    GlobalRef,
    PickleMachine,
    PickleResult,
)
from mlgate.gates.model_scan.rules import rule
from mlgate.model import Severity

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


def report_pickle(
    res: PickleResult, blob: Blob, ctx: ScanContext, label: str, nested_cb: Callable[[Blob], None] | None = None
) -> None:
    """Findings for one parsed pickle stream (and the joblib sub-pickles inside it)."""
    by_name: dict[tuple[str, str], list[GlobalRef]] = defaultdict(list)
    for g in res.globals:
        by_name[(g.module, g.name)].append(g)
    allowed: list[str] = []
    for (module, name), refs in by_name.items():
        j = ctx.globals_policy.judge(module, name)
        usages = sorted({u for g in refs for u in g.usages}) or ["ref"]
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
        if ev.kind == "dynamic-global":
            ctx.issue(R_DYNAMIC, f"{label}: {ev.message} ({ev.data})", offset=ev.offset)
        elif ev.kind == "ext":
            ctx.issue(R_EXT, f"{label}: {ev.message}", offset=ev.offset)
        elif ev.kind == "indirect-call":
            ctx.issue(R_INDIRECT, f"{label}: {ev.message}", offset=ev.offset)
        elif ev.kind == "build-on-global":
            ctx.issue(R_BUILD_GLOBAL, f"{label}: {ev.message}", offset=ev.offset)
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
