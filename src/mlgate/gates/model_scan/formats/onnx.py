"""ONNX models (``ModelProto``), read with :mod:`protowire`: no ``onnx`` package, no runtime.

What the loaders do that reaches files or code:

* **External data** (``TensorProto.data_location = EXTERNAL``; ``external_data`` ``location``):
  ``onnx.load`` / ONNX Runtime open ``<model dir>/<location>``. An absolute path, a ``..``
  component or a device reads (and with ``onnx.save``/``convert_model_to_external_data``
  overwrites) files outside the model folder: CVE-2022-25882, CVE-2024-27318 (bypass of the first
  fix). Every location must be a plain relative path inside the folder; links inside the folder
  are reported by the folder walk (``MLG-FILE-SPECIAL``).
* **Operator domains**: nodes in a domain other than the standard ones (ai.onnx, ai.onnx.ml,
  training, ONNX Runtime's built-in ``com.microsoft``) need a custom-op library registered by the
  loader (native code), or are Python ops (``PyOp`` of onnxruntime-extensions, ORT training's
  ``PythonOp``), which call Python. Deny by default; domains of the model's own local functions
  are allowed because those functions are walked like graphs.
* **Nested graphs** (``If``/``Loop``/``Scan`` attributes, training graphs, local functions) are
  walked to any depth up to ``MAX_GRAPH_DEPTH``.
* **Tensors**: dimensions are bounded (no negative dims, element count under ``MAX_ELEMENTS``),
  and inline data must not be shorter than the dimensions say.

Field numbers are those of ``onnx/onnx.proto3`` (stable since IR version 3).
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from dataclasses import dataclass, field

from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats.protowire import I32, I64, LEN, VARINT, Reader, WireError, looks_like_message
from mlgate.gates.model_scan.rules import rule
from mlgate.model import FindingKind, Severity

REFS = ("https://onnx.ai/onnx/repo-docs/ExternalData.html", "https://onnx.ai/onnx/repo-docs/IR.html")
R_EXTERNAL_PATH = rule(
    "MLG-ONNX-EXTERNAL-PATH",
    "ONNX external data location leaves the model folder",
    Severity.CRITICAL,
    "onnx.load and ONNX Runtime read (and onnx.save writes) the named file: an absolute path, '..' or a device "
    "reaches files outside the model. Do not load; external data must sit beside the model file.",
    REFS,
    cwe=("CWE-22",),
    advisories=("CVE-2022-25882", "CVE-2024-27318"),
)
R_EXTERNAL_RANGE = rule(
    "MLG-ONNX-EXTERNAL-RANGE",
    "ONNX external data range lies beyond the end of its file",
    Severity.HIGH,
    "The model names offset/length bytes that its external data file does not have: the loader fails or reads "
    "short. Re-export the model and its data together.",
    REFS,
    cwe=("CWE-125",),
)
R_EXTERNAL_UNCHECKED = rule(
    "MLG-ONNX-EXTERNAL-UNCHECKED",
    "ONNX external data file could not be checked",
    Severity.MEDIUM,
    "The model reads tensors from a file that is missing here, or the model is not a file on disk (inside an "
    "archive), so the file the loader would open was not checked. Scan the model folder with its data files.",
    REFS,
    kind=FindingKind.UNSUPPORTED,
)
R_CUSTOM_DOMAIN = rule(
    "MLG-ONNX-CUSTOM-OP",
    "ONNX node uses an operator domain outside the allowlist (custom-op library)",
    Severity.HIGH,
    "A custom domain runs native code from a custom-op library the loader registers. Review the library and "
    "waive by file, or export with standard operators.",
    ("https://onnxruntime.ai/docs/reference/operators/add-custom-op.html",),
    cwe=("CWE-94",),
)
R_PYTHON_OP = rule(
    "MLG-ONNX-PYTHON-OP",
    "ONNX node calls Python (PyOp / PythonOp)",
    Severity.CRITICAL,
    "onnxruntime-extensions PyOp and ORT training PythonOp run Python callables when the graph runs. Do not "
    "serve this model.",
    ("https://github.com/microsoft/onnxruntime-extensions/blob/main/docs/pyop.md",),
    cwe=("CWE-94",),
)
R_MALFORMED = rule(
    "MLG-ONNX-MALFORMED",
    "ONNX model does not parse as a ModelProto",
    Severity.HIGH,
    "The file claims to be ONNX but its protobuf structure is broken; loaders may read it differently. Re-export.",
    REFS,
    cwe=("CWE-20",),
)
R_TENSOR = rule(
    "MLG-ONNX-TENSOR",
    "ONNX tensor has impossible or oversized dimensions",
    Severity.HIGH,
    "Negative dimensions, element counts beyond any real model, or inline data shorter than the shape make "
    "loaders allocate unbounded memory or read out of bounds.",
    REFS,
    cwe=("CWE-789", "CWE-125"),
)

STANDARD_DOMAINS = frozenset({
    "", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
    "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental",
})
PYTHON_OPS = frozenset({"PyOp", "PythonOp", "PythonOpGrad", "PyFunc"})
MAX_GRAPH_DEPTH = 32
MAX_NODES = 5_000_000
MAX_ELEMENTS = 1 << 40
MAX_EXTERNAL_ENTRIES = 1_000_000
ELEM_SIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
             17: 1, 18: 1, 19: 1, 20: 1, 21: 1, 22: 1, 23: 1, 24: 1, 25: 1}
DEVICE = re.compile(r"^(/dev/|/proc/|/sys/|\\\\[.?]\\|//[.?]/)|^(con|prn|aux|nul|com\d|lpt\d)(\.|$)", re.I)

# ModelProto top-level fields and wire types (for the sniff).
MODEL_FIELDS = {1: VARINT, 2: LEN, 3: LEN, 4: LEN, 5: VARINT, 6: LEN, 7: LEN, 8: LEN, 14: LEN, 20: LEN,
                25: LEN, 26: LEN}


def looks_like_onnx(head: bytes) -> bool:
    """ModelProto as onnx.save writes it: ir_version (field 1) first, 3 <= ir_version <= 64, then
    producer/graph/opset fields."""
    if len(head) < 4 or head[0] != 0x08 or not 3 <= head[1] <= 64:
        return False
    return looks_like_message(head, MODEL_FIELDS, first_fields=3)


@dataclass
class _State:
    nodes: int = 0
    graphs: int = 0
    tensors: int = 0
    external: list[str] = field(default_factory=list)
    domains: dict[str, int] = field(default_factory=dict)
    local_functions: set[tuple[str, str]] = field(default_factory=set)
    function_domains: set[str] = field(default_factory=set)
    custom: list[tuple[str, str, str]] = field(default_factory=list)  # (domain, op_type, node name)
    python: list[tuple[str, str, str]] = field(default_factory=list)
    bad_paths: list[tuple[str, str]] = field(default_factory=list)  # (tensor, location)
    bad_tensors: list[tuple[str, str]] = field(default_factory=list)
    # (tensor, location, offset, length or None, bytes the shape needs or None), locations that stay inside
    ext_entries: list[tuple[str, str, int, int | None, int | None]] = field(default_factory=list)
    opsets: dict[str, int] = field(default_factory=dict)


class _Walker:
    def __init__(self, r: Reader, ctx: ScanContext) -> None:
        self.r = r
        self.ctx = ctx
        self.s = _State()
        self.ticks = 0

    def model(self, start: int, end: int) -> int:
        ir = -1
        graphs: list[tuple[int, int]] = []
        functions: list[tuple[int, int]] = []
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 1 and wt == VARINT:
                ir = v
            elif fno == 8 and wt == LEN:
                dom, ver = "", 0
                for f2, w2, v2, p2 in self.r.fields(pos, pos + v):
                    if f2 == 1 and w2 == LEN:
                        dom = self.r.string(p2, v2, 256)
                    elif f2 == 2 and w2 == VARINT:
                        ver = v2
                self.s.opsets[dom] = ver
            elif fno == 7 and wt == LEN:
                graphs.append((pos, pos + v))
            elif fno == 20 and wt == LEN:  # TrainingInfoProto: initialization (1), algorithm (2)
                for f2, w2, v2, p2 in self.r.fields(pos, pos + v):
                    if f2 in (1, 2) and w2 == LEN:
                        graphs.append((p2, p2 + v2))
            elif fno == 25 and wt == LEN:
                functions.append((pos, pos + v))
            elif fno in MODEL_FIELDS and MODEL_FIELDS[fno] != wt:
                raise WireError(f"ModelProto field {fno} has wire type {wt}")
        if ir < 0:
            raise WireError("no ir_version")
        if not graphs:
            raise WireError("no graph")
        # local functions first: their (domain, name) pairs are callable from graphs
        for fs, fe in functions:
            self.function_header(fs, fe)
        for fs, fe in functions:
            self.function(fs, fe, 1)
        for gs, ge in graphs:
            self.graph(gs, ge, 1)
        return ir

    def function_header(self, start: int, end: int) -> None:
        name, dom = "", ""
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 1 and wt == LEN:
                name = self.r.string(pos, v, 1024)
            elif fno == 10 and wt == LEN:
                dom = self.r.string(pos, v, 1024)
        self.s.local_functions.add((dom, name))
        self.s.function_domains.add(dom)

    def function(self, start: int, end: int, depth: int) -> None:
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 7 and wt == LEN:
                self.node(pos, pos + v, depth)
            elif fno == 11 and wt == LEN:
                self.attribute(pos, pos + v, depth)

    def graph(self, start: int, end: int, depth: int) -> None:
        if depth > MAX_GRAPH_DEPTH:
            raise WireError(f"graphs nested deeper than {MAX_GRAPH_DEPTH} levels")
        self.s.graphs += 1
        self.ctx.check_time()
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 1 and wt == LEN:
                self.node(pos, pos + v, depth)
            elif fno == 5 and wt == LEN:
                self.tensor(pos, pos + v)
            elif fno == 15 and wt == LEN:  # SparseTensorProto: values (1), indices (2)
                for f2, w2, v2, p2 in self.r.fields(pos, pos + v):
                    if f2 in (1, 2) and w2 == LEN:
                        self.tensor(p2, p2 + v2)

    def node(self, start: int, end: int, depth: int) -> None:
        self.s.nodes += 1
        if self.s.nodes > MAX_NODES:
            raise _Limit(f"more than {MAX_NODES} nodes")
        if not self.s.nodes & 4095:
            self.ctx.check_time()
        op, dom, name = "", "", ""
        attrs: list[tuple[int, int]] = []
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 4 and wt == LEN:
                op = self.r.string(pos, v, 1024)
            elif fno == 7 and wt == LEN:
                dom = self.r.string(pos, v, 1024)
            elif fno == 3 and wt == LEN:
                name = self.r.string(pos, v, 256)
            elif fno == 5 and wt == LEN:
                attrs.append((pos, pos + v))
        self.s.domains[dom] = self.s.domains.get(dom, 0) + 1
        if op in PYTHON_OPS or (dom == "ai.onnx.contrib" and op.startswith("Py")):
            self.s.python.append((dom, op, name))
        elif dom not in STANDARD_DOMAINS and (dom, op) not in self.s.local_functions:
            self.s.custom.append((dom, op, name))
        for a_s, a_e in attrs:
            self.attribute(a_s, a_e, depth)

    def tick(self) -> None:
        self.ticks += 1
        if not self.ticks & 4095:
            self.ctx.check_time()

    def attribute(self, start: int, end: int, depth: int) -> None:
        self.tick()
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno in (6, 11) and wt == LEN:  # g, graphs: If/Loop/Scan bodies
                self.graph(pos, pos + v, depth + 1)
            elif fno in (5, 10) and wt == LEN:  # t, tensors
                self.tensor(pos, pos + v)
            elif fno in (22, 23) and wt == LEN:  # sparse_tensor(s)
                for f2, w2, v2, p2 in self.r.fields(pos, pos + v):
                    if f2 in (1, 2) and w2 == LEN:
                        self.tensor(p2, p2 + v2)

    def tensor(self, start: int, end: int) -> None:
        self.s.tensors += 1
        self.tick()
        dims: list[int] = []
        dtype = 0
        name = ""
        raw = -1
        typed = 0
        external = False
        entries: list[tuple[str, str]] = []
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 1:
                if wt == VARINT:
                    dims.append(v - (1 << 64) if v >= 1 << 63 else v)
                elif wt == LEN:
                    dims.extend(x - (1 << 64) if x >= 1 << 63 else x for x in self.r.packed_varints(pos, v, 64))
            elif fno == 2 and wt == VARINT:
                dtype = v
            elif fno == 8 and wt == LEN:
                name = self.r.string(pos, v, 256)
            elif fno == 9 and wt == LEN:
                raw = v
            elif fno in (4, 5, 7, 10, 11) and wt == LEN:
                typed += v
            elif fno in (4, 5, 7, 10, 11) and wt in (VARINT, I32, I64):
                typed += 1
            elif fno == 14 and wt == VARINT:
                external = v == 1
            elif fno == 13 and wt == LEN:
                key, val = "", ""
                for f2, w2, v2, p2 in self.r.fields(pos, pos + v):
                    if f2 == 1 and w2 == LEN:
                        key = self.r.string(p2, v2, 256)
                    elif f2 == 2 and w2 == LEN:
                        val = self.r.string(p2, v2, 4096)
                entries.append((key, val))
        count = 1
        for d in dims:
            if d < 0:
                self.s.bad_tensors.append((name, f"negative dimension {d}"))
                return
            count *= d
            if count > MAX_ELEMENTS:
                self.s.bad_tensors.append((name, f"more than {MAX_ELEMENTS} elements ({dims[:8]})"))
                return
        size = ELEM_SIZE.get(dtype)
        if raw >= 0 and size is not None and raw < count * size:
            self.s.bad_tensors.append((name, f"raw_data has {raw} bytes, the shape needs {count * size}"))
        if external or entries:
            loc = next((v for k, v in entries if k == "location"), None)
            if loc is None:
                self.s.bad_paths.append((name, "(no location)"))
            else:
                if loc not in self.s.external:
                    self.s.external.append(loc)
                why = bad_location(loc)
                if why:
                    self.s.bad_paths.append((name, f"{loc!r}: {why}"))
            nums: dict[str, int] = {}
            for key, val in entries:
                if key in ("offset", "length"):
                    if not val.isdigit() or len(val) > 20:
                        self.s.bad_tensors.append((name, f"external data {key} {val!r} is not a non-negative integer"))
                    else:
                        nums[key] = int(val)
            need = count * size if size is not None else None
            if need is not None and "length" in nums and nums["length"] < need:
                self.s.bad_tensors.append((name, f"external data length {nums['length']} is shorter than the "
                                                 f"{need} bytes the shape needs"))
            if loc is not None and not bad_location(loc) and len(self.s.ext_entries) < MAX_EXTERNAL_ENTRIES:
                self.s.ext_entries.append((name, loc, nums.get("offset", 0), nums.get("length"), need))


class _Limit(Exception):
    pass


def bad_location(loc: str) -> str | None:
    """Why an external-data location leaves the model folder (None if it stays inside)."""
    if not loc:
        return "empty location"
    if "\x00" in loc:
        return "NUL byte in the path"
    norm = loc.replace("\\", "/")
    if DEVICE.search(loc) or DEVICE.search(norm):
        return "names a device or special file"
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or norm.startswith("~"):
        return "absolute path"
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "'..' component leaves the model folder"
    if not parts:
        return "names the model folder itself"
    if posixpath.normpath(norm).startswith(".."):
        return "leaves the model folder"
    return None


def resolve_external(base: str, loc: str) -> tuple[str | None, int | None]:
    """Follow ``loc`` (already checked by :func:`bad_location`) from the model folder ``base`` one
    component at a time, never following a link: (why it leaves the folder or is not a regular
    file, None) / (None, size) / (None, None) when it does not exist."""
    cur = base
    parts = [p for p in loc.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except (FileNotFoundError, NotADirectoryError):
            return None, None
        except OSError as e:
            return f"cannot be examined ({e.strerror})", None
        if stat.S_ISLNK(st.st_mode):
            return f"goes through the symbolic link {'/'.join(parts[: i + 1])!r} (may lead out of the folder)", None
        last = i == len(parts) - 1
        if not last and not stat.S_ISDIR(st.st_mode):
            return None, None
        if last:
            if stat.S_ISDIR(st.st_mode):
                return "is a directory", None
            if not stat.S_ISREG(st.st_mode):
                return "is a device, FIFO or socket", None
            return None, st.st_size
    return "names the model folder itself", None


def check_external_files(entries: list[tuple[str, str, int, int | None, int | None]], ctx: ScanContext) -> None:
    """The files the loader opens beside the model: each must be a regular file inside the model
    folder (no link on the way) that holds every range the model names."""
    if not entries:
        return
    by_loc: dict[str, list[tuple[str, int, int | None, int | None]]] = {}
    for tname, loc, off, length, need in entries:
        by_loc.setdefault(loc, []).append((tname, off, length, need))
    if ctx.fs_path is None or ctx.members:
        ctx.unsupported(R_EXTERNAL_UNCHECKED, f"the model reads {len(by_loc)} external data file(s) "
                        f"({', '.join(sorted(by_loc)[:5])}) and is not a file on disk here: they were not checked",
                        details={"locations": sorted(by_loc)[:100]})
        return
    base = os.path.dirname(ctx.fs_path)
    checked: list[str] = []
    for loc, items in sorted(by_loc.items()):
        ctx.check_time()
        why, size = resolve_external(base, loc)
        tname = items[0][0]
        if why is not None:
            ctx.issue(R_EXTERNAL_PATH, f"tensor {tname!r}: external data location {loc!r} {why}",
                      details={"tensor": tname, "location": loc, "tensors": len(items)})
            continue
        if size is None:
            ctx.unsupported(R_EXTERNAL_UNCHECKED, f"tensor {tname!r}: external data file {loc!r} does not exist "
                            "beside the model", details={"tensor": tname, "location": loc, "tensors": len(items)})
            continue
        checked.append(loc)
        short = 0
        first = ""
        for tn, off, length, need in items:
            want = length if length is not None else (need or 0)
            if off + want > size:
                short += 1
                first = first or f"tensor {tn!r} needs bytes [{off}, {off + want})"
        if short:
            ctx.issue(R_EXTERNAL_RANGE, f"external data file {loc!r} has {size} bytes; {first}"
                      + (f" (and {short - 1} more)" if short > 1 else ""),
                      details={"location": loc, "size": size, "tensors_out_of_range": short})
    if checked:
        siblings = ctx.details.setdefault("reads_siblings", [])  # the verdict depends on these files
        siblings.extend(x for x in checked[:100] if x not in siblings)


def analyze_onnx(blob: Blob, ctx: ScanContext) -> None:
    with blob.open() as f:
        r = Reader(f, blob.size)
        w = _Walker(r, ctx)
        try:
            ir = w.model(0, blob.size)
        except WireError as e:
            ctx.issue(R_MALFORMED, f"not a well-formed ONNX ModelProto: {e}")
            return
        except _Limit as e:
            ctx.limit(f"ONNX graph: {e}; the rest was not analysed")
            return
        except RecursionError:
            ctx.limit("ONNX graph nesting too deep for the analyser")
            return
    s = w.s
    for tname, why in s.bad_paths[:50]:
        ctx.issue(R_EXTERNAL_PATH, f"tensor {tname!r}: external data location {why}",
                  details={"tensor": tname, "location": why})
    for tname, why in s.bad_tensors[:50]:
        ctx.issue(R_TENSOR, f"tensor {tname!r}: {why}", details={"tensor": tname})
    if len(s.ext_entries) >= MAX_EXTERNAL_ENTRIES:
        ctx.limit(f"more than {MAX_EXTERNAL_ENTRIES} external-data tensors: the files of the rest were not checked")
    check_external_files(s.ext_entries, ctx)
    for dom, op, name in s.python[:50]:
        ctx.issue(R_PYTHON_OP, f"node {name!r}: {dom or 'ai.onnx'}::{op} calls Python",
                  details={"domain": dom, "op_type": op, "node": name})
    custom: dict[tuple[str, str], int] = {}
    for dom, op, _ in s.custom:
        custom[(dom, op)] = custom.get((dom, op), 0) + 1
    for (dom, op), n in sorted(custom.items())[:100]:
        ctx.issue(R_CUSTOM_DOMAIN, f"{n} node(s) {dom}::{op}: domain outside the allowlist",
                  details={"domain": dom, "op_type": op, "nodes": n})
    ctx.details.setdefault("onnx", {}).update({
        "ir_version": ir, "opsets": dict(list(s.opsets.items())[:50]), "nodes": s.nodes, "graphs": s.graphs,
        "tensors": s.tensors, "external_data": s.external[:100], "local_functions": len(s.local_functions)})
    ctx.covered("onnx", f"IR {ir}, {s.nodes} nodes in {s.graphs} graphs, {s.tensors} tensors, "
                f"{len(s.external)} external data files")
