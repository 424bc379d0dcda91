"""Serving and checkpoint formats that are not pickles: Flax/msgpack checkpoints, OpenVINO IR, ExecuTorch
programs and TorchServe ``.mar`` archives.

* **Flax** (``flax.serialization.to_bytes``): a msgpack map. ``msgpack_restore`` turns extension types
  1 (ndarray: ``[shape, dtype name, bytes]``), 2 (native complex) and 3 (numpy scalar) into arrays;
  any other extension type is handed to whatever ``ext_hook`` the loader has (deny by default), and an
  ndarray whose dtype is ``object`` would need pickling. The whole stream is walked, bounded.
* **OpenVINO IR** (``.xml`` + ``.bin``): every ``<layer>`` must be an operation of its standard
  ``opsetN`` (``openvino_opsets.py``, generated from the real library); another ``version``, or a
  type the opset does not have, names an extension (a native library the runtime loads). DOCTYPE/ENTITY
  declarations are refused by the expat handlers (entity expansion, external entities), whatever
  the encoding. The ``.bin`` weights beside the ``.xml`` must be a regular file holding every
  ``<data offset size>`` range; the ``.bin`` itself is raw weights (see ``sidecars.py``).
* **ExecuTorch** ``.pte``: flatbuffer; not validated yet -> ``incomplete`` with a reason.
* **TorchServe** ``.mar``: the handler and any ``.py`` in the archive are code; they are reported by the
  code-file rule (custom code, blocking) with their SHA-256 so an exception can name the reviewed digest.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field
from xml.parsers import expat

from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats.openvino_opsets import OPENVINO_VERSION, OPSETS
from mlgate.gates.model_scan.formats.protowire import Reader, WireError
from mlgate.gates.model_scan.rules import rule
from mlgate.model import FindingKind, Severity

R_MSGPACK_EXT = rule(
    "MLG-SERVE-MSGPACK-EXT",
    "msgpack checkpoint uses an extension type or dtype outside Flax's data types",
    Severity.HIGH,
    "Flax restores only ext types 1-3 (arrays, complex, scalars); other types reach the loader's ext_hook and "
    "object dtypes need pickling. Re-save with flax.serialization.",
    ("https://flax.readthedocs.io/en/latest/api_reference/flax.serialization.html",),
    cwe=("CWE-502",),
)
R_MSGPACK_MALFORMED = rule(
    "MLG-SERVE-MSGPACK-MALFORMED",
    "msgpack checkpoint does not parse",
    Severity.HIGH,
    "The stream does not walk to its end as msgpack; loaders may read it differently. Re-save.",
    cwe=("CWE-20",),
)
R_OPENVINO_EXT = rule(
    "MLG-SERVE-OPENVINO-EXTENSION",
    "OpenVINO IR layer comes from an extension, not a standard opset",
    Severity.HIGH,
    "Extension layers run native code from a library the runtime loads (core.add_extension). Review it and waive "
    "by file, or convert with standard operations.",
    ("https://docs.openvino.ai/2024/documentation/openvino-extensibility.html",),
    cwe=("CWE-94",),
)
R_OPENVINO_MALFORMED = rule(
    "MLG-SERVE-OPENVINO-MALFORMED",
    "OpenVINO IR XML is malformed or declares entities",
    Severity.HIGH,
    "IR files have no DOCTYPE or entities; an XML that declares them or does not parse is refused.",
    cwe=("CWE-776", "CWE-20"),
)
R_OPENVINO_WEIGHTS = rule(
    "MLG-SERVE-OPENVINO-WEIGHTS",
    "OpenVINO IR weights file is a link, not a regular file, or shorter than the IR needs",
    Severity.HIGH,
    "read_model opens <stem>.bin beside the .xml and reads every <data offset size> range from it. Ship a regular "
    "weights file written with the IR.",
    ("https://docs.openvino.ai/2024/documentation/openvino-ir-format.html",),
    cwe=("CWE-59", "CWE-125"),
)
R_OPENVINO_WEIGHTS_UNCHECKED = rule(
    "MLG-SERVE-OPENVINO-WEIGHTS-UNCHECKED",
    "OpenVINO IR weights file could not be checked",
    Severity.MEDIUM,
    "The IR reads weights from a .bin that is missing here (or the IR is inside an archive). Scan the IR with its "
    "weights file.",
    kind=FindingKind.UNSUPPORTED,
)

FLAX_EXT = {1: "ndarray", 2: "native complex", 3: "numpy scalar"}
MAX_ITEMS = 50_000_000
MAX_DEPTH = 256
ROOT_AFTER_DOCTYPE = re.compile(rb"^<!DOCTYPE\s+([A-Za-z_][\w.:-]*)")
NET_ELEMENT = re.compile(rb"<net[\s/>]")


def looks_like_executorch(head: bytes) -> bool:
    return len(head) >= 8 and head[4:6] == b"ET" and head[6:8].isdigit()


def looks_like_flax_msgpack(head: bytes, size: int) -> bool:
    """A msgpack map whose first key is a string (Flax state dicts)."""
    if len(head) < 3:
        return False
    b0, b1 = head[0], head[1]
    if 0x81 <= b0 <= 0x8F:
        key = b1
    elif b0 == 0xDE and len(head) > 3:
        key = head[3]
    elif b0 == 0xDF and len(head) > 5:
        key = head[5]
    else:
        return False
    return 0xA0 <= key <= 0xBF or key == 0xD9


def looks_like_openvino_xml(head: bytes) -> bool:
    """An XML document whose root element is ``<net>``. The prolog (declaration, processing
    instructions, comments, a DOCTYPE with its internal subset) is skipped, so an IR that declares
    entities is still recognised (and then refused by the analyser), never passed as text."""
    text = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    for _ in range(64):
        if text.startswith(b"<?"):
            end = text.find(b"?>")
        elif text.startswith(b"<!--"):
            end = text.find(b"-->")
        elif text.startswith(b"<!DOCTYPE"):
            m = ROOT_AFTER_DOCTYPE.search(text)  # the declared root, or a <net> element after it
            return (m is not None and m.group(1) == b"net") or NET_ELEMENT.search(text) is not None
        else:
            break
        if end < 0:
            return False
        text = text[end + 2 :].lstrip(b">").lstrip()
    return text.startswith((b"<net ", b"<net>", b"<net/", b"<net\t", b"<net\n", b"<net\r"))


class _MsgpackWalker:
    def __init__(self, r: Reader, ctx: ScanContext) -> None:
        self.r = r
        self.ctx = ctx
        self.items = 0
        self.arrays = 0
        self.bad: list[str] = []

    def byte(self, pos: int) -> int:
        return self.r.read(pos, 1)[0]

    def walk(self, pos: int, end: int, depth: int = 0) -> int:
        """Walk one value starting at ``pos``; returns the position after it (iterative over
        containers, recursive only into ext payloads)."""
        pending = 1  # values still to read at this level, as a stack of counts
        stack: list[int] = []
        while True:
            while pending == 0:
                if not stack:
                    return pos
                pending = stack.pop()
            pending -= 1
            self.items += 1
            if self.items > MAX_ITEMS:
                raise _Limit(f"more than {MAX_ITEMS} msgpack values")
            if not self.items & 65535:
                self.ctx.check_time()
            if pos >= end:
                raise WireError("truncated msgpack value")
            b = self.byte(pos)
            pos += 1
            n = -1  # container entries to push
            if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
                continue
            if 0x80 <= b <= 0x8F:
                n = 2 * (b & 0x0F)
            elif 0x90 <= b <= 0x9F:
                n = b & 0x0F
            elif 0xA0 <= b <= 0xBF:
                pos += b & 0x1F
            elif b in (0xC4, 0xD9):
                pos += 1 + self.byte(pos)
            elif b in (0xC5, 0xDA):
                pos += 2 + struct.unpack(">H", self.r.read(pos, 2))[0]
            elif b in (0xC6, 0xDB):
                pos += 4 + struct.unpack(">I", self.r.read(pos, 4))[0]
            elif b in (0xCA, 0xCE, 0xD2):
                pos += 4
            elif b in (0xCB, 0xCF, 0xD3):
                pos += 8
            elif b in (0xCC, 0xD0):
                pos += 1
            elif b in (0xCD, 0xD1):
                pos += 2
            elif b == 0xDC:
                n = struct.unpack(">H", self.r.read(pos, 2))[0]
                pos += 2
            elif b == 0xDD:
                n = struct.unpack(">I", self.r.read(pos, 4))[0]
                pos += 4
            elif b == 0xDE:
                n = 2 * struct.unpack(">H", self.r.read(pos, 2))[0]
                pos += 2
            elif b == 0xDF:
                n = 2 * struct.unpack(">I", self.r.read(pos, 4))[0]
                pos += 4
            elif 0xD4 <= b <= 0xD8 or b in (0xC7, 0xC8, 0xC9):
                if 0xD4 <= b <= 0xD8:
                    ln = 1 << (b - 0xD4)
                elif b == 0xC7:
                    ln = self.byte(pos)
                    pos += 1
                elif b == 0xC8:
                    ln = struct.unpack(">H", self.r.read(pos, 2))[0]
                    pos += 2
                else:
                    ln = struct.unpack(">I", self.r.read(pos, 4))[0]
                    pos += 4
                code = struct.unpack(">b", self.r.read(pos, 1))[0]
                pos += 1
                self.ext(code, pos, ln, depth)
                pos += ln
            else:
                raise WireError(f"byte {b:#04x} is not a msgpack type (offset {pos - 1})")
            if pos > end:
                raise WireError("msgpack value runs past the end")
            if n > 0:
                if n > end - pos:
                    raise WireError(f"container of {n} values cannot fit in {end - pos} bytes")
                if len(stack) >= MAX_DEPTH:
                    raise _Limit(f"msgpack nested deeper than {MAX_DEPTH} levels")
                stack.append(pending)
                pending = n

    def ext(self, code: int, pos: int, ln: int, depth: int) -> None:
        if code not in FLAX_EXT:
            self.bad.append(f"extension type {code} ({ln} bytes)")
            return
        if code == 1:
            self.arrays += 1
            if depth > 4:
                raise _Limit("ndarray extension nested too deep")
            # payload: msgpack [shape, dtype name, buffer]; look at the dtype name
            head = self.r.read(pos, min(ln, 256))
            m = re.search(rb"[\xa0-\xbf]([A-Za-z0-9<>|=]+)", head[1:]) if head else None
            name = m.group(1).decode("ascii", "replace") if m else ""
            if name in ("O", "object", "|O", "V") or name.startswith(("O", "|O")):
                self.bad.append(f"ndarray with dtype {name!r} (needs pickling)")
            self.walk(pos, pos + ln, depth + 1)


class _Limit(Exception):
    pass


def analyze_flax_msgpack(blob: Blob, ctx: ScanContext) -> None:
    with blob.open() as f:
        w = _MsgpackWalker(Reader(f, blob.size), ctx)
        try:
            end = w.walk(0, blob.size)
        except WireError as e:
            ctx.issue(R_MSGPACK_MALFORMED, f"not a well-formed msgpack stream: {e}")
            return
        except _Limit as e:
            ctx.limit(f"msgpack: {e}")
            return
    if end != blob.size:
        ctx.issue(R_MSGPACK_MALFORMED, f"{blob.size - end} bytes after the msgpack value")
    for b in w.bad[:50]:
        ctx.issue(R_MSGPACK_EXT, b)
    ctx.covered("flax-msgpack", f"{w.items} values, {w.arrays} arrays")


@dataclass
class OpenVinoIR:
    root: str
    layers: list[dict[str, str]] = field(default_factory=list)  # layer attributes
    data: list[tuple[str, int, int]] = field(default_factory=list)  # (layer id, offset, size) of <data>


class _Refused(Exception):
    pass


def parse_openvino_xml(blob: Blob, max_bytes: int) -> tuple[OpenVinoIR | None, str | None]:
    """Parse an IR with expat, refusing any DOCTYPE, entity declaration or external entity (in any
    encoding: the handlers see the parsed declarations, not bytes). Returns (ir, None) or (None, why)."""
    if blob.size > max_bytes:
        return None, f"{blob.size} bytes is over the {max_bytes}-byte limit"
    with blob.open() as f:
        raw = f.read(max_bytes + 1)
    ir = OpenVinoIR(root="")
    stack: list[str] = []
    layer: list[dict[str, str]] = []

    def refuse(*_a: object) -> None:
        raise _Refused("XML declares a DOCTYPE or entities")

    def start(name: str, attrs: dict[str, str]) -> None:
        if not stack:
            ir.root = name
        stack.append(name)
        if name == "layer":  # anywhere (TensorIterator/Loop bodies nest <layers>): judge every one
            layer.append(attrs)
            ir.layers.append(attrs)
        elif name == "data" and layer and stack[-2] == "layer" and "offset" in attrs and "size" in attrs:
            try:
                off, size = int(attrs["offset"]), int(attrs["size"])
            except ValueError:
                off, size = -1, -1
            ir.data.append((layer[-1].get("id", "?"), off, size))

    def end(name: str) -> None:
        stack.pop()
        if name == "layer" and layer:
            layer.pop()

    p = expat.ParserCreate()
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    p.StartDoctypeDeclHandler = refuse
    p.EntityDeclHandler = refuse
    p.UnparsedEntityDeclHandler = refuse
    p.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    p.StartElementHandler = start
    p.EndElementHandler = end
    try:
        p.Parse(raw, True)
    except _Refused as e:
        return None, str(e)
    except (expat.ExpatError, ValueError, RecursionError) as e:
        return None, f"XML does not parse: {e}"
    if ir.root != "net":
        return None, f"root element is <{ir.root}>, not <net>"
    return ir, None


_OPSETS_LOWER = {k: frozenset(t.lower() for t in v) for k, v in OPSETS.items()}


def _standard_op(version: str, typ: str) -> bool:
    """What the IR reader creates from its own opsets (case-insensitively, like create_insensitive);
    anything else comes from an extension. Internal opsets are not typed here (name only)."""
    known = _OPSETS_LOWER.get(version)
    if known is not None:
        return typ.lower() in known
    return version in ("ie_internal_opset", "internal")


def analyze_openvino_xml(blob: Blob, ctx: ScanContext) -> None:
    ir, why = parse_openvino_xml(blob, ctx.config.limits.max_json_bytes)
    if ir is None:
        if why and "over the" in why:
            ctx.limit(f"OpenVINO XML: {why}")
        else:
            ctx.issue(R_OPENVINO_MALFORMED, why or "XML does not parse")
        return
    ext: dict[tuple[str, str], int] = {}
    for attrs in ir.layers:
        ver, typ = attrs.get("version", ""), attrs.get("type", "")
        if _standard_op(ver, typ):
            continue
        ext[(ver, typ)] = ext.get((ver, typ), 0) + 1
    for (ver, typ), n in sorted(ext.items())[:100]:
        key = f"{ver or '(no version)'}::{typ or '?'}"
        why = (f"{typ!r} is not an operation of {ver} (OpenVINO {OPENVINO_VERSION}): an extension registered "
               "under a standard opset name" if ver in _OPSETS_LOWER else "not a standard opset")
        ctx.issue(R_OPENVINO_EXT, f"{n} layer(s) {key}: {why}", details={"layer": key, "count": n})
    bad = [(lid, off, size) for lid, off, size in ir.data if off < 0 or size < 0]
    for lid, off, size in bad[:20]:
        ctx.issue(R_OPENVINO_MALFORMED, f"layer {lid!r}: <data offset={off} size={size}> is not a byte range")
    _check_weights(ir, ctx)
    ctx.covered("openvino-ir", f"{len(ir.layers)} layers, {len(ir.data)} weight ranges")


def _check_weights(ir: OpenVinoIR, ctx: ScanContext) -> None:
    """``Core.read_model(xml)`` opens ``<stem>.bin`` beside it: a regular file (no link) that holds
    every ``<data offset size>`` range."""
    need = max((off + size for _, off, size in ir.data if off >= 0 and size >= 0), default=0)
    if not need:
        return
    if ctx.fs_path is None or ctx.members:
        ctx.unsupported(R_OPENVINO_WEIGHTS_UNCHECKED, f"the IR reads {need} bytes of weights from its .bin and is "
                        "not a file on disk here: the weights file was not checked")
        return
    import os
    import stat as st_

    stem = os.path.splitext(ctx.fs_path)[0]
    bin_path = stem + ".bin"
    name = os.path.basename(bin_path)
    try:
        st = os.lstat(bin_path)
    except OSError:
        ctx.unsupported(R_OPENVINO_WEIGHTS_UNCHECKED, f"weights file {name!r} does not exist beside the IR "
                        f"(the IR reads {need} bytes from it)")
        return
    if st_.S_ISLNK(st.st_mode) or not st_.S_ISREG(st.st_mode):
        ctx.issue(R_OPENVINO_WEIGHTS, f"weights file {name!r} is a link or not a regular file", details={"bin": name})
        return
    if st.st_size < need:
        ctx.issue(R_OPENVINO_WEIGHTS, f"weights file {name!r} has {st.st_size} bytes; the IR reads up to byte {need}",
                  details={"bin": name, "size": st.st_size, "needed": need})
    ctx.details.setdefault("reads_siblings", []).append(name)


def digest_of(blob: Blob) -> str:
    h = hashlib.sha256()
    with blob.open() as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
