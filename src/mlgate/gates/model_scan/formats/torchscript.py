"""TorchScript archives (``torch.jit.save``) and ``torch.export`` programs (``torch.export.save``, ``.pt2``).

**TorchScript** (a zip with ``<prefix>/constants.pkl``, ``data.pkl``, ``code/**.py``): ``torch.load`` hands
an archive holding ``constants.pkl`` to ``torch.jit.load`` (``_is_torchscript_zip``), whose C++ unpickler
resolves only a closed set of globals (``torch.jit._pickle.*`` list builders, tensor rebuilders,
``collections.OrderedDict``) and ``__torch__.*`` class types *from the archive's own code*. So:

* pickles inside (``data.pkl``, ``constants.pkl``, ``*.debug_pkl``, ``traced_inputs.pkl``) are analysed as
  today, with that closed set allowed and everything else judged by the policy as before;
* the TorchScript source under ``code/`` is parsed (``ast``; never compiled or run) and judged:
  ``torch.ops.<ns>`` namespaces outside ``OP_NAMESPACES`` (custom-op libraries, native code), custom
  classes ``__torch__.torch.classes.<ns>`` outside ``CLASS_NAMESPACES``, file access
  (``torch.from_file``, ``torch.save``/``aten::save``, ``open``) and Python escapes (``eval``, imports) --
  the serializer never writes imports, so source with imports is not TorchScript and is reported as
  custom code.

**torch.export** (``archive_format`` = ``pt2``, ``models/*.json``): the serialized graph's node targets are
judged (``torch.ops.<ns>.<op>.<overload>`` namespaces, ``_operator``/``torch.sym_*`` helpers; any other
callable is judged like a pickle global), custom objects (``class_fqn``) too. Weights stored raw
(``use_pickle: false`` in ``model_weights_config.json``) are tensor storage; pickled ones and
``sample_inputs`` go through the pickle engine.
"""

from __future__ import annotations

import ast
import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mlgate.gates.model_scan import containers
from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.globals_policy import GlobalJudgement, GlobalsPolicy, GlobalStatus
from mlgate.gates.model_scan.rules import rule
from mlgate.model import Severity

REFS = ("https://pytorch.org/docs/stable/jit.html", "https://pytorch.org/docs/stable/export.html")
R_CUSTOM_OP = rule(
    "MLG-TS-CUSTOM-OP",
    "TorchScript/exported program calls an operator namespace or custom class outside the allowlist",
    Severity.HIGH,
    "Custom operators and TorchBind classes run native code from a library the loader must load. Review it "
    "and waive by file, or export with standard aten operators.",
    REFS,
    cwe=("CWE-94",),
)
R_DANGEROUS = rule(
    "MLG-TS-DANGEROUS-CALL",
    "TorchScript/exported program reads or writes files or escapes to Python",
    Severity.CRITICAL,
    "torch.from_file / torch.save (aten::save) / open / eval in a model program access the file system or run "
    "code when the model runs. Do not load or serve it.",
    REFS,
    cwe=("CWE-94", "CWE-73"),
)
R_MALFORMED = rule(
    "MLG-TS-MALFORMED",
    "TorchScript source or exported program does not parse",
    Severity.HIGH,
    "The archive's program cannot be judged; loaders may still compile it. Re-export.",
    REFS,
    cwe=("CWE-20",),
)

OP_NAMESPACES = frozenset({"aten", "prim", "prims", "quantized", "_quantized", "quantized_decomposed",
                           "higher_order", "xnnpack", "prepacked", "profiler", "_c10d_functional",
                           "c10d_functional", "_c10d_functional_autograd", "_dtensor", "rngprims", "debugprims"})
CLASS_NAMESPACES = frozenset({"quantized", "xnnpack", "rnn"})
DANGEROUS_OPS = frozenset({"from_file", "save", "load", "_load_for_mobile", "_save_for_mobile", "_save_parameters",
                           "_load_parameters", "_debug_has_internal_overlap_save"})
DANGEROUS_BUILTINS = frozenset({"open", "eval", "exec", "compile", "__import__", "getattr", "setattr",
                                "globals", "locals", "vars", "input", "breakpoint"})
SYM_HELPERS = re.compile(r"^(_operator|operator|math)\.[a-z_]+$|^torch\.(sym_[a-z_]+|_sym_sqrt)$")
# What torch.jit's C++ unpickler resolves by itself (torch/csrc/jit/serialization/unpickler.cpp).
TS_UNPICKLER_GLOBALS = frozenset({
    ("torch.jit._pickle", n) for n in ("build_intlist", "build_tensorlist", "build_doublelist", "build_boollist",
                                        "build_tensor_from_id", "restore_type_tag")
} | {("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_qtensor"),
     ("torch._utils", "_rebuild_sparse_tensor"), ("collections", "OrderedDict"), ("torch", "Tensor")})


class TorchScriptGlobals(GlobalsPolicy):
    """The policy seen by pickles *inside* a TorchScript archive: the C++ unpickler's closed set and
    ``__torch__`` classes (their code is judged separately) are allowed; everything else is judged by
    the scan's policy, unchanged."""

    def __init__(self, base: GlobalsPolicy) -> None:
        super().__init__(base.allow, base.unknown_severity)
        self.base = base

    def judge(self, module: str, name: str, usages: frozenset[str] = frozenset()) -> GlobalJudgement:
        if (module, name) in TS_UNPICKLER_GLOBALS:
            return GlobalJudgement(GlobalStatus.ALLOWED, module, name, Severity.INFO,
                                   "resolved by torch.jit's own unpickler (closed set)")
        if (module == "__torch__" or module.startswith("__torch__.")) and not module.startswith("__torch__.torch.classes"):
            return GlobalJudgement(GlobalStatus.ALLOWED, module, name, Severity.INFO,
                                   "TorchScript class type compiled from the archive's code/ (judged)")
        return self.base.judge(module, name, usages)


@dataclass
class _Findings:
    custom: dict[str, int] = field(default_factory=dict)
    dangerous: list[str] = field(default_factory=list)


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    cur: ast.expr = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    if not isinstance(cur, ast.Name):
        return None
    return ".".join([cur.id, *reversed(parts)])


def _judge_name(dotted: str, out: _Findings, line: int) -> None:
    parts = dotted.split(".")
    if parts[0] == "torch" and len(parts) >= 2:
        if parts[1] == "ops" and len(parts) >= 4:
            ns, op = parts[2], parts[3]
            if ns == "aten" and op in DANGEROUS_OPS:
                out.dangerous.append(f"line {line}: {dotted}")
            elif ns not in OP_NAMESPACES:
                out.custom[f"torch.ops.{ns}.{op}"] = out.custom.get(f"torch.ops.{ns}.{op}", 0) + 1
            return
        if len(parts) == 2 and parts[1] in DANGEROUS_OPS:
            out.dangerous.append(f"line {line}: {dotted}")
        return
    if parts[0] == "ops" and len(parts) >= 3:
        _judge_name("torch." + dotted, out, line)
        return
    if (parts[0] == "__torch__" and len(parts) >= 5 and parts[1:3] == ["torch", "classes"]
            and parts[3] not in CLASS_NAMESPACES):
        key = ".".join(parts[:5])
        out.custom[key] = out.custom.get(key, 0) + 1


def judge_torchscript_source(name: str, text: str, ctx: ScanContext) -> bool:
    """Judge one ``code/**.py`` member. Returns False when the text is not TorchScript (it imports
    modules): the caller then treats it as ordinary code."""
    try:
        tree = ast.parse(text, filename=name)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        ctx.issue(R_MALFORMED, f"{name}: TorchScript source does not parse: {str(e)[:200]}")
        return True
    out = _Findings()
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in DANGEROUS_BUILTINS:
            out.dangerous.append(f"line {node.lineno}: {node.func.id}()")
        elif isinstance(node, ast.Attribute) and id(node) not in inner:
            d = _dotted(node)
            if d is not None:
                _judge_name(d, out, getattr(node, "lineno", 0))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "torch.classes." in node.value:
            for m in re.finditer(r"__torch__\.torch\.classes\.[\w.]+", node.value):
                _judge_name(m.group(0), out, node.lineno)
    _report(name, out, ctx)
    ctx.covered("torchscript-code", name)
    return True


def _report(name: str, out: _Findings, ctx: ScanContext) -> None:
    if out.dangerous:
        ctx.issue(R_DANGEROUS, f"{name}: {', '.join(sorted(set(out.dangerous))[:10])}",
                  details={"calls": sorted(set(out.dangerous))[:50]})
    for target, n in sorted(out.custom.items())[:100]:
        ctx.issue(R_CUSTOM_OP, f"{name}: {target} ({n} reference(s)) is outside the allowlist",
                  details={"target": target, "count": n})


# --------------------------------------------------------------------------------------------
# torch.export programs
# --------------------------------------------------------------------------------------------

def _walk_json(doc: Any) -> Iterator[dict[str, Any]]:
    stack = [doc]
    n = 0
    while stack:
        cur = stack.pop()
        n += 1
        if n > 5_000_000:
            raise ValueError("more than 5,000,000 JSON values")
        if isinstance(cur, dict):
            yield cur
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)


def judge_exported_program(name: str, doc: Any, ctx: ScanContext) -> None:
    out = _Findings()
    targets = 0
    for d in _walk_json(doc):
        t = d.get("target")
        if isinstance(t, str) and ("inputs" in d or "outputs" in d):
            targets += 1
            if t.startswith("torch.ops."):
                _judge_name(t, out, 0)
            elif SYM_HELPERS.match(t):
                continue
            else:
                from mlgate.gates.model_scan.formats.configs import judge_reference

                j = judge_reference(ctx.globals_policy, t)
                if j.status is GlobalStatus.DANGEROUS:
                    out.dangerous.append(f"{t} ({j.reason})")
                elif j.status is GlobalStatus.UNKNOWN:
                    out.custom[t] = out.custom.get(t, 0) + 1
        fqn = d.get("class_fqn")
        if isinstance(fqn, str):
            ns = fqn.split(".")
            if not (len(ns) >= 4 and ns[0] == "__torch__" and ns[1:3] == ["torch", "classes"]
                    and ns[3] in CLASS_NAMESPACES):
                out.custom[fqn] = out.custom.get(fqn, 0) + 1
    _report(name, out, ctx)
    ctx.covered("torch-export", f"{name}: {targets} node targets")


# --------------------------------------------------------------------------------------------
# The archive
# --------------------------------------------------------------------------------------------

@dataclass
class _Layout:
    kind: str  # torchscript | pt2
    prefix: str
    storage: set[str] = field(default_factory=set)


def _layout(entries: list[containers.ZipEntry]) -> _Layout | None:
    names = {e.name for e in entries}
    for n in names:
        if n.endswith("constants.pkl") and posixpath.basename(n) == "constants.pkl":
            prefix = n[: -len("constants.pkl")]
            if prefix.count("/") <= 1 and any(x.startswith(prefix + "code/") for x in names):
                lay = _Layout("torchscript", prefix)
                lay.storage = {x for x in names if x.startswith(prefix + "data/") and x[len(prefix) + 5:].isdigit()}
                return lay
        if posixpath.basename(n) == "archive_format" and n.count("/") <= 1:
            prefix = n[: -len("archive_format")]
            if any(x.startswith(prefix + "models/") and x.endswith(".json") for x in names):
                return _Layout("pt2", prefix)
    return None


def _quiet_ctx(ctx: ScanContext) -> ScanContext:
    return ScanContext(path=ctx.path, config=ctx.config, globals_policy=ctx.globals_policy, deadline=ctx.deadline)


def _read_member(blob: Blob, e: containers.ZipEntry, ctx: ScanContext, limit: int) -> bytes | None:
    if e.usize > limit:
        ctx.limit(f"{e.name}: {e.usize} bytes is over the {limit}-byte limit")
        return None
    got = containers.zip_member_blob(blob, e, _quiet_ctx(ctx))
    if got is None:
        return None
    member, spool = got
    try:
        with member.open() as f:
            return f.read(limit + 1)
    finally:
        if spool is not None:
            spool.close()


def handle_zip(blob: Blob, ctx: ScanContext, analyze: containers.Analyze) -> bool:
    """If ``blob`` is a TorchScript archive or a torch.export program, analyse it (the zip's structure
    checks included) and return True; otherwise return False and report nothing."""
    parsed = containers.parse_zip(blob, _quiet_ctx(ctx))
    if parsed is None:
        return False
    entries, _ = parsed
    lay = _layout(entries)
    if lay is None:
        return False
    by_name = {e.name: e for e in entries}
    if lay.kind == "pt2":
        for cfg_name in ("data/weights/model_weights_config.json", "data/constants/model_constants_config.json"):
            e = by_name.get(lay.prefix + cfg_name)
            raw = _read_member(blob, e, ctx, ctx.config.limits.max_json_bytes) if e else None
            if raw is None:
                continue
            try:
                cfg = json.loads(raw)
            except ValueError:
                continue
            for spec in (cfg.get("config") or {}).values() if isinstance(cfg, dict) else ():
                if isinstance(spec, dict) and spec.get("use_pickle") is False and isinstance(spec.get("path_name"), str):
                    lay.storage.add(posixpath.join(posixpath.dirname(lay.prefix + cfg_name), spec["path_name"]))

    def member(m: Blob, c: ScanContext, role: str | None = None) -> None:
        name = c.members[-1] if c.members else m.name
        rel = name[len(lay.prefix):] if name.startswith(lay.prefix) else name
        if role is not None:
            analyze(m, c, role=role)
            return
        if lay.kind == "torchscript" and rel.startswith("code/") and rel.endswith(".py"):
            if m.size > c.config.limits.max_json_bytes:
                c.limit(f"{rel}: {m.size} bytes of source is over the limit")
                return
            with m.open() as f:
                text = f.read().decode("utf-8", "replace")
            if judge_torchscript_source(rel, text, c):
                return
        if lay.kind == "pt2" and rel.startswith("models/") and rel.endswith(".json"):
            if m.size > c.config.limits.max_json_bytes:
                c.limit(f"{rel}: {m.size} bytes of JSON is over the limit")
                return
            with m.open() as f:
                raw = f.read()
            try:
                doc = json.loads(raw)
            except (ValueError, RecursionError) as ex:
                c.issue(R_MALFORMED, f"{rel}: exported program JSON does not parse: {ex}")
                return
            try:
                judge_exported_program(rel, doc, c)
            except ValueError as ex:
                c.limit(f"{rel}: {ex}")
            return
        if lay.kind == "torchscript":
            old = c.globals_policy
            c.globals_policy = TorchScriptGlobals(old)
            try:
                analyze(m, c)
            finally:
                c.globals_policy = old
            return
        analyze(m, c)

    def on_layout(_b: Blob, _e: list[containers.ZipEntry], c: ScanContext) -> set[str]:
        c.covered("torchscript" if lay.kind == "torchscript" else "torch-export-archive",
                  f"{len(lay.storage)} raw storages")
        return lay.storage

    containers.analyze_zip(blob, ctx, member, on_layout=on_layout)
    return True
