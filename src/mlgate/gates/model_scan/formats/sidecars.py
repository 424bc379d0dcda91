"""Headerless weight files that a model file beside them names: ONNX external data (the
``external_data`` ``location`` of the model's tensors) and OpenVINO IR weights (``model.bin`` beside
``model.xml``, which ``Core.read_model`` opens by that name).

Nothing in such a file says what it is, so on its own it is unrecognised (incomplete). When a model
in the same scanned folder names it, the real loader reads it as raw tensor bytes at the offsets
the model gives: the file is then judged as tensor storage (only a pickle that would import or call
something is reported, like a torch zip's ``data/N``), and the model's own subject checks that the
file exists, stays inside the folder and covers the ranges it names.

The pairing is decided by the referencing model's *content* (its parsed ``external_data`` entries,
an IR that parses), never by this file's name alone. Only models inside the scanned root are
consulted, directory listings and parsed models are cached per process, and every step is bounded
(entries per directory, levels, the file's deadline).
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections import OrderedDict

from mlgate.gates.model_scan import containers
from mlgate.gates.model_scan.blob import Blob, bytes_blob, file_blob
from mlgate.gates.model_scan.context import ScanContext

MAX_DIR_ENTRIES = 4096
PARTIAL_OUTPUT = 16 * 1024 * 1024
MAX_LEVELS = 8
_CACHE_SIZE = 256

# (directory, its mtime_ns) -> ONNX model paths in it
_dir_models: OrderedDict[tuple[str, int], list[str]] = OrderedDict()
# (model path, size, mtime_ns) -> normalised external-data locations it names
_model_locations: OrderedDict[tuple[str, int, int], frozenset[str]] = OrderedDict()


def _remember(cache: OrderedDict, key: object, value: object) -> None:  # type: ignore[type-arg]
    cache[key] = value
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def _scan_root(ctx: ScanContext) -> str | None:
    assert ctx.fs_path is not None
    rel = ctx.path.replace(os.sep, "/")
    fs = ctx.fs_path.replace(os.sep, "/")
    if not fs.endswith(rel):
        return None
    root = fs[: len(fs) - len(rel)].rstrip("/")
    return root or "/"


def _onnx_models_in(d: str, ctx: ScanContext) -> list[str]:
    from mlgate.gates.model_scan.analyze import HEAD_BYTES, sniff

    try:
        key = (d, os.stat(d).st_mtime_ns)
    except OSError:
        return []
    hit = _dir_models.get(key)
    if hit is not None:
        return hit
    found: list[str] = []
    try:
        with os.scandir(d) as it:
            for n, e in enumerate(it):
                if n >= MAX_DIR_ENTRIES:
                    break
                if n % 64 == 0:
                    ctx.check_time()
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_size < 4:
                    continue
                try:
                    b = file_blob(e.path, e.name)
                    # the dispatcher's own sniff: zips, safetensors, pickles... are ruled out by
                    # their magic before any protobuf walk
                    if sniff(b, b.head(HEAD_BYTES)) == "onnx":
                        found.append(e.path)
                except OSError:
                    continue
    except OSError:
        return []
    _remember(_dir_models, key, found)
    return found


def _locations(model: str, ctx: ScanContext) -> frozenset[str]:
    from mlgate.gates.model_scan.formats import onnx
    from mlgate.gates.model_scan.formats.protowire import Reader, WireError

    try:
        st = os.lstat(model)
    except OSError:
        return frozenset()
    key = (model, st.st_size, st.st_mtime_ns)
    hit = _model_locations.get(key)
    if hit is not None:
        return hit
    quiet = ScanContext(path=ctx.path, config=ctx.config, globals_policy=ctx.globals_policy, deadline=ctx.deadline)
    blob = file_blob(model, os.path.basename(model))
    locs: frozenset[str] = frozenset()
    try:
        with blob.open() as f:
            w = onnx._Walker(Reader(f, blob.size), quiet)
            w.model(0, blob.size)
        locs = frozenset(posixpath.normpath(loc) for _, loc, _, _, _ in w.s.ext_entries)
    except (WireError, onnx._Limit, RecursionError, OSError):
        locs = frozenset()  # a model that does not parse names nothing (its own subject blocks)
    _remember(_model_locations, key, locs)
    return locs


def _openvino_ir_for(path: str) -> str | None:
    from mlgate.gates.model_scan.formats.serving import looks_like_openvino_xml, parse_openvino_xml

    stem, ext = os.path.splitext(path)
    if ext.lower() != ".bin":
        return None
    xml = stem + ".xml"
    try:
        st = os.lstat(xml)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    b = file_blob(xml, os.path.basename(xml))
    if not looks_like_openvino_xml(b.head(1024)):
        return None
    root, _ = parse_openvino_xml(b, max_bytes=64 * 1024 * 1024)
    return xml if root is not None else None


def paired_model(ctx: ScanContext) -> str | None:
    """The model file (relative to the scanned root) that reads this top-level file as raw tensor
    bytes, or None."""
    if ctx.fs_path is None or ctx.members:
        return None
    root = _scan_root(ctx)
    if root is None:
        return None
    path = ctx.fs_path
    xml = _openvino_ir_for(path)
    if xml is not None:
        return posixpath.join(posixpath.dirname(ctx.path), os.path.basename(xml))
    d = os.path.dirname(path)
    rel_here = os.path.basename(path)
    levels = ctx.path.count("/")
    for _ in range(min(levels, MAX_LEVELS) + 1):
        for m in _onnx_models_in(d, ctx):
            if rel_here in _locations(m, ctx):
                return os.path.relpath(m, root).replace(os.sep, "/")
        if d.rstrip("/") == root.rstrip("/"):
            break
        rel_here = posixpath.join(os.path.basename(d), rel_here)
        d = os.path.dirname(d)
    return None


def compressed_reading(blob: Blob, ctx: ScanContext, kind: str, analyze: containers.Analyze) -> None:
    """Weights whose first bytes look like a zlib/lzma header: a whole stream is analysed as before
    (what joblib or another loader would decompress); a stream that breaks is raw bytes, except that
    whatever it decompressed to before the break is checked for a pickle that would run (a loader
    may execute that much before it fails)."""
    try:
        spool = containers.drain_decompress(blob, kind, ctx, f"{kind}-decompressed")
    except containers._Bomb as e:
        ctx.issue(containers.R_BOMB, str(e))
        return
    except ValueError:
        data = _partial(blob, kind, ctx)
        if data:
            from mlgate.gates.model_scan.analyze import _nested
            from mlgate.gates.model_scan.pickle_analysis import analyze_pickle_file

            with ctx.member(f"<{kind}-prefix>"):
                analyze_pickle_file(bytes_blob(f"<{kind}-prefix>", data), ctx, nested_cb=_nested(ctx), storage=True)
        return
    with spool:
        ctx.covered(kind, f"{spool.size} bytes decompressed")
        with ctx.member(f"<{kind}>"):
            analyze(spool.blob(), ctx)


def _partial(blob: Blob, kind: str, ctx: ScanContext) -> bytes:
    out = bytearray()
    d = containers._decompressor(kind)
    try:
        with blob.open() as f:
            while len(out) < PARTIAL_OUTPUT:
                ctx.check_time()
                chunk = f.read(16)  # small steps: the output of the step that fails is lost
                if not chunk:
                    break
                out += d.decompress(chunk, PARTIAL_OUTPUT - len(out) + 1)
                if getattr(d, "eof", False):
                    break
    except Exception:  # noqa: S110 - the break is the point: keep what came out before it
        pass
    return bytes(out[:PARTIAL_OUTPUT])


def msgpack_reading(blob: Blob, ctx: ScanContext) -> None:
    """Weights that start like a msgpack map: when the whole file walks as msgpack, the Flax
    checks are reported as for any checkpoint; otherwise the bytes are raw weights."""
    from mlgate.gates.model_scan.formats.serving import R_MSGPACK_MALFORMED, analyze_flax_msgpack

    scratch = ScanContext(path=ctx.path, config=ctx.config, globals_policy=ctx.globals_policy,
                          deadline=ctx.deadline, members=list(ctx.members))
    analyze_flax_msgpack(blob, scratch)
    if any(f.id == R_MSGPACK_MALFORMED.id for f in scratch.findings):
        return
    ctx.findings.extend(scratch.findings)
    for c in scratch.coverage:
        ctx.covered(c.format, c.detail)
