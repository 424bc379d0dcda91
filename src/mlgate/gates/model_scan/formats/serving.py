"""Serving and checkpoint formats that are not pickles: Flax/msgpack checkpoints, OpenVINO IR, ExecuTorch
programs and TorchServe ``.mar`` archives.

* **Flax** (``flax.serialization.to_bytes``): a msgpack map. ``msgpack_restore`` turns extension types
  1 (ndarray: ``[shape, dtype name, bytes]``), 2 (native complex) and 3 (numpy scalar) into arrays;
  any other extension type is handed to whatever ``ext_hook`` the loader has (deny by default), and an
  ndarray whose dtype is ``object`` would need pickling. The whole stream is walked, bounded.
* **OpenVINO IR** (``.xml`` + ``.bin``): every ``<layer>`` must come from a standard ``opsetN``;
  another ``version`` names an extension (a native library the runtime loads). DOCTYPE/ENTITY
  declarations are refused (entity expansion). The ``.bin`` weights have no header: unsupported,
  as before.
* **ExecuTorch** ``.pte``: flatbuffer; not validated yet -> ``incomplete`` with a reason.
* **TorchServe** ``.mar``: the handler and any ``.py`` in the archive are code; they are reported by the
  code-file rule (custom code, blocking) with their SHA-256 so an exception can name the reviewed digest.
"""

from __future__ import annotations

import hashlib
import re
import struct
import xml.etree.ElementTree as ET

from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats.protowire import Reader, WireError
from mlgate.gates.model_scan.rules import rule
from mlgate.model import Severity

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

FLAX_EXT = {1: "ndarray", 2: "native complex", 3: "numpy scalar"}
MAX_ITEMS = 50_000_000
MAX_DEPTH = 256
OPSET = re.compile(r"^opset\d+$|^ie_internal_opset$|^internal$")


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
    text = head[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<?xml"):
        end = text.find(b"?>")
        text = text[end + 2 :].lstrip() if end > 0 else text
    return text.startswith(b"<net ") or text.startswith(b"<net>")


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


def analyze_openvino_xml(blob: Blob, ctx: ScanContext) -> None:
    if blob.size > ctx.config.limits.max_json_bytes:
        ctx.limit(f"OpenVINO XML of {blob.size} bytes is over the limit")
        return
    with blob.open() as f:
        raw = f.read()
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        ctx.issue(R_OPENVINO_MALFORMED, "XML declares a DOCTYPE or entities")
        return
    try:
        root = ET.fromstring(raw)  # noqa: S314 - no DOCTYPE/ENTITY (checked above)
    except ET.ParseError as e:
        ctx.issue(R_OPENVINO_MALFORMED, f"XML does not parse: {e}")
        return
    ext: dict[str, int] = {}
    layers = 0
    for layer in root.iter("layer"):
        layers += 1
        ver = layer.get("version", "")
        if not OPSET.match(ver):
            key = f"{ver or '(no version)'}::{layer.get('type', '?')}"
            ext[key] = ext.get(key, 0) + 1
    for key, n in sorted(ext.items())[:100]:
        ctx.issue(R_OPENVINO_EXT, f"{n} layer(s) {key}", details={"layer": key, "count": n})
    ctx.covered("openvino-ir", f"{layers} layers")


def digest_of(blob: Blob) -> str:
    h = hashlib.sha256()
    with blob.open() as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
