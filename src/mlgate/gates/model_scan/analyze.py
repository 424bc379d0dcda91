"""The dispatcher: detect a blob's format by content (never by name) and hand it to its analyser.

Every path ends in exactly one of: a finding, an ``unsupported`` record, or coverage. Anything
not recognised is ``MLG-FILE-UNSUPPORTED`` (incomplete under the default policy).

Sniffing *adds* analyses, it never removes the pickle check: whatever its first bytes (``GIF89a``
is a BINFLOAT opcode, ``{`` an EMPTY_DICT), every blob that is not sniffed as a pickle is also run
through the pickle machine, and reported as a pickle when loading it would import or call
something (or when the machine cannot decide).
"""

from __future__ import annotations

import ast
import json
import posixpath
import struct
from typing import Any

from mlgate.gates.model_scan import containers
from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats import registry as model_formats
from mlgate.gates.model_scan.pickle_analysis import analyze_pickle_file
from mlgate.gates.model_scan.rules import FILE_UNSUPPORTED, rule
from mlgate.model import FindingKind, Severity

HEAD_BYTES = 4096

R_NPY_OBJECT = rule(
    "MLG-NPY-OBJECT",
    "NumPy file holds an object array (a pickle)",
    Severity.INFO,  # the embedded pickle is judged like any other: its globals decide the verdict
    "Object arrays need np.load(allow_pickle=True), which unpickles; the embedded pickle was analysed. "
    "Store numeric arrays or safetensors instead.",
    ("https://numpy.org/doc/stable/reference/generated/numpy.load.html",),
)
R_NPY_MALFORMED = rule(
    "MLG-NPY-MALFORMED",
    "NumPy file header or size is malformed",
    Severity.HIGH,
    "The header does not describe the data that follows; do not load.",
)
R_TEXT_MALFORMED = rule(
    "MLG-TEXT-MALFORMED",
    "Configuration file does not parse",
    Severity.MEDIUM,
    "A JSON/YAML file that does not parse cannot be checked for code references.",
    kind=FindingKind.UNSUPPORTED,
)
R_BYTECODE = rule(
    "MLG-FILE-BYTECODE",
    "Compiled Python bytecode shipped with the model",
    Severity.HIGH,
    "Remove .pyc files: they run when imported and cannot be reviewed.",
)

CODE_EXTS = {
    ".py",
    ".pyw",
    ".pyi",
    ".sh",
    ".bash",
    ".zsh",
    ".ps1",
    ".bat",
    ".cmd",
    ".js",
    ".rb",
    ".pl",
    ".pyx",
    ".ipynb",
}
TEMPLATE_EXTS = {".jinja", ".jinja2", ".j2"}
YAML_NAMES = {"MLmodel", "conda.yaml", "python_env.yaml"}
MAGIC_PNG = b"\x89PNG\r\n\x1a\n"


def sniff(blob: Blob, head: bytes) -> str:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if containers.joblib_zfile_header(head) is not None:
        return "joblib-zfile"
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    from mlgate.gates.model_scan.formats.safetensors import looks_like_safetensors

    # before the pickle/zlib/lzma sniffs: a header length of 384 starts with 0x80, 376 with 0x78
    if looks_like_safetensors(head, blob.size):
        return "safetensors"
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return "pickle"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    if head.startswith(b"\x5d\x00\x00"):
        return "lzma"
    if head.startswith(MAGIC_PNG) or head.startswith(b"\xff\xd8\xff") or head.startswith(b"GIF8"):
        return "image"
    fmt = model_formats.sniff_model_format(blob, head)  # formats/registry.py: ONNX, TF, executables, ...
    if fmt is not None:
        return fmt
    if containers.find_eocd(blob) is not None:
        return "zip"
    if _is_text(head):
        return "text"
    return "binary"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # a multi-byte character cut by the head boundary is fine
        return e.start >= len(head) - 3
    return True


def analyze_blob(blob: Blob, ctx: ScanContext, *, role: str | None = None) -> None:
    """Analyse one blob (a file, a member, a decompressed stream), recursing into containers."""
    ctx.check_time()
    if blob.size == 0:
        ctx.covered("empty", "0 bytes")
        return
    head = blob.head(HEAD_BYTES)
    kind = sniff(blob, head)
    if role == containers.TORCH_STORAGE and (
        kind in ("binary", "text", "safetensors", "image", "lzma", "zlib") or kind in model_formats.MODEL_FORMAT_HANDLERS
    ):
        # raw tensor bytes referenced by data.pkl: only a pickle hiding there matters
        if not analyze_pickle_file(blob, ctx, nested_cb=_nested(ctx), storage=True):
            ctx.covered("tensor-storage", f"{blob.size} bytes")
        return
    if kind in model_formats.SIDECAR_KINDS and model_formats.sidecar_of(blob, ctx, kind):
        return  # raw weights another model in the folder names (ONNX external data, OpenVINO .bin)
    if kind != "pickle" and _pickle_probe(blob, ctx, kind, head) and kind in ("text", "binary"):
        return  # a pickle and nothing else reads it
    handler = _HANDLERS.get(kind)
    if handler is None:
        _unknown(blob, ctx, kind)
        return
    handler(blob, ctx, head)


def _pickle_probe(blob: Blob, ctx: ScanContext, kind: str, head: bytes) -> bool:
    """Would ``pickle.load`` (or torch.load's legacy reader, joblib, ``np.load``) run something
    on these bytes? Text and unrecognised binaries are analysed in full when they parse as a
    pickle; bytes another format claims are reported only when loading them would import or call.
    A stream whose first opcode is PERSID is skipped: none of those loaders has a persistent_load
    for a file's first pickle, so they all stop there (every zip starts ``PK``)."""
    if head[:1] == b"P":
        return False
    if kind in ("text", "binary"):
        return analyze_pickle_file(blob, ctx, nested_cb=_nested(ctx), lenient=True)
    return analyze_pickle_file(blob, ctx, nested_cb=_nested(ctx), lenient=True, claimed=True)


def _nested(ctx: ScanContext) -> Any:
    def cb(child: Blob) -> None:
        with ctx.member(child.name.split("@")[-1]):
            _analyze_sniffed(child, ctx)

    return cb


def _analyze_sniffed(blob: Blob, ctx: ScanContext) -> None:
    """Byte strings inside a pickle that start like a file: report only what would run code."""
    head = blob.head(HEAD_BYTES)
    kind = sniff(blob, head)
    if kind == "pickle" or kind == "binary" or kind in model_formats.MODEL_FORMAT_HANDLERS:
        analyze_pickle_file(blob, ctx, nested_cb=_nested(ctx), lenient=True)
        return
    if kind in _HANDLERS and kind not in ("text", "image"):
        analyze_blob(blob, ctx)


def _unknown(blob: Blob, ctx: ScanContext, kind: str) -> None:
    # (the pickle check already ran in analyze_blob)
    ext = blob.suffix_hint
    if ext in (".pyc", ".pyo"):
        ctx.issue(R_BYTECODE, "compiled Python bytecode")
        return
    if _looks_like_protobuf(blob) and (ext in (".model", ".pb", ".onnx") or blob.name.endswith("tokenizer.model")):
        if ext == ".model":
            ctx.covered("sentencepiece", "protobuf message, no code constructs")
            return
        ctx.unsupported(FILE_UNSUPPORTED, f"{ext} protobuf graphs (TensorFlow/ONNX) are not analysed")
        return
    ctx.unsupported(FILE_UNSUPPORTED, f"unrecognised binary content ({blob.size} bytes, starts {blob.head(8).hex()})")


def _looks_like_protobuf(blob: Blob, max_fields: int = 100_000) -> bool:
    """Top-level protobuf wire-format walk: every field key and length must fit exactly."""
    with blob.open() as f:
        pos, n = 0, 0
        while pos < blob.size and n < max_fields:
            key, pos = _varint(f, pos)
            if key is None or key >> 3 == 0:
                return False
            wt = key & 7
            if wt == 0:
                v, pos = _varint(f, pos)
                if v is None:
                    return False
            elif wt == 1:
                pos += 8
            elif wt == 2:
                ln, pos = _varint(f, pos)
                if ln is None:
                    return False
                pos += ln
            elif wt == 5:
                pos += 4
            else:
                return False
            f.seek(pos)
            n += 1
        return pos == blob.size and n > 0


def _varint(f: Any, pos: int) -> tuple[int | None, int]:
    result, shift = 0, 0
    while shift < 64:
        b = f.read(1)
        if not b:
            return None, pos
        pos += 1
        result |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return result, pos
        shift += 7
    return None, pos


# --- handlers ---------------------------------------------------------------------------------


def _h_zip(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    # a zip found by its end record only (something sits in front) had the pickle check already
    if model_formats.zip_hook(blob, ctx):  # TorchScript / torch.export layouts
        return
    containers.analyze_zip(blob, ctx, analyze_blob, on_layout=_zip_layout)


def _zip_layout(blob: Blob, entries: list[containers.ZipEntry], ctx: ScanContext) -> set[str]:
    """Recognise torch / Keras / skops zips by their members; returns member names that are raw
    tensor storage."""
    names = {e.name for e in entries}
    storage: set[str] = set()
    pkls = {n for n in names if n.endswith("data.pkl")}
    if pkls:
        # linear: a storage name "<prefix>data/<digits>" (any "data/" in it) belongs to "<prefix>data.pkl"
        for i, n in enumerate(names):
            if i % 4096 == 0:
                ctx.check_time()
            at = n.rfind("data/")  # only the last one can be followed by digits alone
            if at >= 0 and n[at + 5 :].isdigit() and n[:at] + "data.pkl" in pkls:
                storage.add(n)
        if storage or any(n.endswith("/version") or n.endswith(".format_version") for n in names):
            ctx.covered("torch-zip", f"{len(storage)} storages")
    by_name = {e.name: e for e in entries}
    if "schema.json" in by_name:
        schema = _zip_json(blob, by_name["schema.json"], ctx)
        if isinstance(schema, dict) and "__loader__" in json.dumps(schema)[:10_000_000]:
            from mlgate.gates.model_scan.formats.skops import analyze_skops_schema

            with ctx.member("schema.json"):
                analyze_skops_schema(schema, ctx)
    if "config.json" in by_name and ("metadata.json" in by_name or any(n.endswith(".weights.h5") for n in names)):
        cfg = _zip_json(blob, by_name["config.json"], ctx)
        if cfg is not None:
            from mlgate.gates.model_scan.formats.keras import analyze_keras_config

            with ctx.member("config.json"):
                analyze_keras_config(cfg, ctx, "config.json")
    return storage


def _zip_json(blob: Blob, e: containers.ZipEntry, ctx: ScanContext) -> Any:
    if e.usize > ctx.config.limits.max_json_bytes:
        ctx.limit(f"{e.name}: {e.usize} bytes is over the JSON limit")
        return None
    with ctx.member(e.name):
        got = containers.zip_member_blob(blob, e, ctx)
    if got is None:
        return None
    member, spool = got
    try:
        with member.open() as f:
            data = f.read(ctx.config.limits.max_json_bytes + 1)
    finally:
        if spool is not None:
            spool.close()
    try:
        return json.loads(data, object_pairs_hook=_no_dupes)
    except (ValueError, UnicodeDecodeError) as ex:
        with ctx.member(e.name):
            ctx.unsupported(R_TEXT_MALFORMED, f"JSON does not parse: {ex}")
        return None


def _h_compressed(kind: str) -> Any:
    def h(blob: Blob, ctx: ScanContext, head: bytes) -> None:
        containers.analyze_compressed(blob, ctx, kind, analyze_blob)

    return h


def _h_joblib_zfile(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    """joblib < 0.10's container (``joblib.load`` still reads it: numpy_pickle_compat): the
    decompressed bytes are unpickled when the file itself is loaded, or are the raw data of a
    ``ZNDArrayWrapper`` sibling (never unpickled then). Either way, what would run is a pickle."""

    def inner(child: Blob, ctx: ScanContext) -> None:
        h = child.head(HEAD_BYTES)
        if sniff(child, h) == "pickle":
            analyze_blob(child, ctx)
        elif not analyze_pickle_file(child, ctx, nested_cb=_nested(ctx), storage=True):
            ctx.covered("joblib-zfile-data", f"{child.size} bytes of array data, no pickle")

    containers.analyze_joblib_zfile(blob, ctx, head, inner)


def _h_tar(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    containers.analyze_tar(blob, ctx, analyze_blob)


def _h_7z(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    containers.analyze_7z(blob, ctx, analyze_blob)


def _h_pickle(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    analyze_pickle_file(blob, ctx, nested_cb=_nested(ctx))


def _h_lzma_or_pickle(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    containers.analyze_compressed(blob, ctx, "lzma", analyze_blob)


def _h_image(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    ctx.covered("image", "raster image (no code constructs)")


def _h_safetensors(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    from mlgate.gates.model_scan.formats.safetensors import analyze_safetensors

    analyze_safetensors(blob, ctx)


def _h_gguf(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    from mlgate.gates.model_scan.formats.gguf import analyze_gguf

    analyze_gguf(blob, ctx)


def _h_hdf5(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    from mlgate.gates.model_scan.formats.keras import analyze_hdf5

    analyze_hdf5(blob, ctx)


def _h_npy(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    import numpy as np

    if len(head) < 10:
        ctx.issue(R_NPY_MALFORMED, "header truncated")
        return
    major = head[6]
    if major == 1:
        hlen, start = struct.unpack("<H", head[8:10])[0], 10
    elif major in (2, 3):
        hlen, start = struct.unpack("<I", head[8:12])[0], 12
    else:
        ctx.issue(R_NPY_MALFORMED, f"unknown format version {major}")
        return
    if hlen > 1024 * 1024 or start + hlen > blob.size:
        ctx.issue(R_NPY_MALFORMED, f"header length {hlen} is out of bounds")
        return
    with blob.open() as f:
        f.seek(start)
        raw = f.read(hlen)
    try:
        header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
        descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
        if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise ValueError("bad shape")
        if not isinstance(fortran, bool):
            raise ValueError("bad fortran_order")
        dtype = np.lib.format.descr_to_dtype(descr)  # type: ignore[no-untyped-call]
    except Exception as e:  # literal_eval / descr errors on hostile headers
        ctx.issue(R_NPY_MALFORMED, f"header does not parse: {type(e).__name__}: {e}")
        return
    data_off = start + hlen
    if dtype.hasobject:
        ctx.issue(R_NPY_OBJECT, f"object array {shape} (dtype {descr!r}); the embedded pickle was analysed")
        ctx.covered("npy", f"object array header {dtype.str} {shape}")  # the data part: the pickle's own coverage
        analyze_pickle_file(blob.window("object-array", data_off, blob.size - data_off), ctx, nested_cb=_nested(ctx))
        return
    count = 1
    for s in shape:
        count *= s
    expected = count * dtype.itemsize
    actual = blob.size - data_off
    if actual < expected:
        ctx.issue(R_NPY_MALFORMED, f"data is {actual} bytes, the header describes {expected}")
        return
    if actual > expected:
        from mlgate.gates.model_scan.pickle_analysis import R_TRAILING

        trailing = blob.window("trailing", data_off + expected, actual - expected)
        if not analyze_pickle_file(trailing, ctx, nested_cb=_nested(ctx), lenient=True):
            ctx.issue(
                R_TRAILING,
                f"{actual - expected} bytes after the array data",
                severity=ctx.config.trailing_data_severity,
                offset=data_off + expected,
            )
    ctx.covered("npy", f"{dtype.str} {shape}")


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def _h_text(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    # (protocol-0 pickles are text too: analyze_blob checked what pickle.load would do first)
    base = posixpath.basename(blob.name)
    ext = blob.suffix_hint
    limit = ctx.config.limits.max_json_bytes
    if blob.size > limit:
        ctx.limit(f"text file of {blob.size} bytes is over the {limit}-byte limit")
        return
    with blob.open() as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        ctx.unsupported(FILE_UNSUPPORTED, "binary content (not UTF-8)")
        return
    if "\x00" in text:
        ctx.unsupported(FILE_UNSUPPORTED, "binary content (NUL bytes)")
        return
    from mlgate.gates.model_scan.formats import hf

    if ext in CODE_EXTS or text.startswith("#!"):
        hf.check_code_file(base, text, ctx)
        ctx.covered("code", "source file")
        return
    if ext in TEMPLATE_EXTS:
        from mlgate.gates.model_scan.formats.templates import check_jinja_template

        check_jinja_template(text, ctx, base)
        ctx.covered("template", base)
        return
    stripped = text.lstrip("\ufeff \t\r\n")
    if ext == ".json" or (stripped[:1] in ("{", "[") and ext not in (".txt", ".md")):
        try:
            data = json.loads(stripped, object_pairs_hook=_no_dupes)
        except ValueError as e:
            if ext == ".json":
                ctx.unsupported(R_TEXT_MALFORMED, f"JSON does not parse: {e}")
                return
        else:
            hf.check_json_document(base, data, ctx)
            ctx.covered("json", base)
            return
    if base in YAML_NAMES or ext in (".yaml", ".yml"):
        hf.check_yaml_document(base, text, ctx)  # bounded loader, MLmodel + config targets
        return
    if base == "requirements.txt":
        hf.check_requirements_file(base, text, ctx)  # loader advisories (formats/advisories.py)
    if model_formats.text_in_binary_format(blob, ctx):  # an .onnx/.pb/... of text never passes
        return
    ctx.covered("text", f"{len(text)} characters")


_HANDLERS: dict[str, Any] = {
    "zip": _h_zip,
    "gzip": _h_compressed("gzip"),
    "bz2": _h_compressed("bz2"),
    "xz": _h_compressed("xz"),
    "zstd": _h_compressed("zstd"),
    "lz4": _h_compressed("lz4"),
    "zlib": _h_compressed("zlib"),
    "lzma": _h_lzma_or_pickle,
    "7z": _h_7z,
    "tar": _h_tar,
    "npy": _h_npy,
    "joblib-zfile": _h_joblib_zfile,
    "pickle": _h_pickle,
    "safetensors": _h_safetensors,
    "gguf": _h_gguf,
    "hdf5": _h_hdf5,
    "image": _h_image,
    "text": _h_text,
    **model_formats.MODEL_FORMAT_HANDLERS,
}
