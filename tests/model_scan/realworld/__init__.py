"""Benign files made by the real libraries (see build.py and MANIFEST.json), and helpers that turn
them into malicious counterparts."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
MANIFEST = HERE / "MANIFEST.json"

# An inert payload: a protocol-0 call of os.system("true"), popped so the stream goes on unchanged.
PAYLOAD = b"cos\nsystem\n(S'true'\ntR0"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text())
    return data


def inject(data: bytes) -> bytes | None:
    """The same bytes with PAYLOAD run before the first real opcode, for a raw pickle stream
    (any protocol: the unpickler reads opcodes outside frames), or None when ``data`` is not one."""
    if data[:1] == b"\x80" and len(data) > 2 and data[1] <= 5:
        return data[:2] + PAYLOAD + data[2:]
    return None


def inject_torch_zip(data: bytes) -> bytes | None:
    """A torch.save zip whose data.pkl carries PAYLOAD (rewritten with zipfile, stored)."""
    try:
        zin = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None
    names = [n for n in zin.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if not names:
        return None
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename in names:
                body = inject(body) or body
            zout.writestr(info, body)
    return out.getvalue()


def npy_object_payload(data: bytes) -> bytes | None:
    """An .npy object array whose pickle carries PAYLOAD."""
    if not data.startswith(b"\x93NUMPY"):
        return None
    major = data[6]
    hlen = struct.unpack("<H", data[8:10])[0] if major == 1 else struct.unpack("<I", data[8:12])[0]
    start = (10 if major == 1 else 12) + hlen
    header = data[:start]
    if b"'O'" not in header and b"|O" not in header:
        return None
    body = inject(data[start:])
    return None if body is None else header + body
