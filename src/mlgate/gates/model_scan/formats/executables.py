"""Executables inside a model folder: ELF, PE (incl. llamafile / Actually Portable Executables),
Mach-O (thin and fat), and WebAssembly. A model has no reason to ship one; whoever runs the folder's
contents runs it. Detected by magic bytes (never by name), before any container sniff: a llamafile is
also a valid zip of its weights, and analysing only the zip would pass it."""

from __future__ import annotations

from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.rules import rule
from mlgate.model import Severity

R_EXECUTABLE = rule(
    "MLG-EXEC-BINARY",
    "Executable program inside the model folder",
    Severity.CRITICAL,
    "Remove native executables (ELF/PE/Mach-O, llamafile) from model artifacts; ship weights in a data format "
    "and the runtime through your normal, reviewed software supply chain.",
    ("https://github.com/Mozilla-Ocho/llamafile", "https://justine.lol/ape.html"),
    cwe=("CWE-506", "CWE-494"),
)

MACHO = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")


def executable_kind(head: bytes) -> str | None:
    if head.startswith(b"\x7fELF"):
        return "ELF"
    if head.startswith((b"MZqFpD", b"jartsr")):
        return "Actually Portable Executable (llamafile)"
    if head.startswith(b"MZ") and len(head) >= 0x40:
        # a bare "MZ" is two bytes of any weight file: require the PE signature where e_lfanew points
        pe = int.from_bytes(head[0x3C:0x40], "little")
        if pe >= 0x40 and pe + 4 <= len(head) and head[pe : pe + 4] == b"PE\x00\x00":
            return "PE"
    if head.startswith(MACHO):
        return "Mach-O"
    if head.startswith(b"\xca\xfe\xba\xbe") and len(head) >= 8 and 0 < int.from_bytes(head[4:8], "big") < 32:
        return "Mach-O universal"  # (a Java class file has a version >= 45 here)
    if head.startswith(b"\x00asm\x01\x00\x00\x00"):
        return "WebAssembly"
    return None


def analyze_executable(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    kind = executable_kind(head) or "executable"
    ctx.issue(R_EXECUTABLE, f"{kind} program ({blob.size} bytes)", details={"kind": kind})
    ctx.covered("executable", kind)
