"""Registration of the model-format analysers with the dispatcher (:mod:`..analyze`), kept here so
the dispatcher's edits stay one line each: :func:`sniff_model_format` (called by ``sniff`` before
the zip-end-record and text checks), :data:`MODEL_FORMAT_HANDLERS` (merged into its handler table)
and :func:`zip_hook` (called first by its zip handler).

Every handler here first asks the pickle engine (lenient) whether ``pickle.load`` of the bytes would
import or call anything -- sniffing adds analyses, it never removes that check -- and, when the
blob also carries a zip end record (a polyglot), runs the zip analysis too.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mlgate.gates.model_scan import containers
from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats import executables, onnx, serving, tensorflow
from mlgate.gates.model_scan.formats.protowire import top_level_fields
from mlgate.gates.model_scan.rules import FILE_UNSUPPORTED

Handler = Callable[[Blob, ScanContext, bytes], None]
TF_DATA_SHARD = re.compile(r"(^|/)[^/]+\.data-\d{5}-of-\d{5}$")


def sniff_model_format(blob: Blob, head: bytes) -> str | None:
    if executables.executable_kind(head) is not None:
        return "executable"
    if onnx.looks_like_onnx(head):
        return "onnx"
    if tensorflow.looks_like_saved_model(head):
        return "tf-savedmodel"
    if tensorflow.looks_like_keras_metadata(head):
        return "tf-keras-metadata"
    if tensorflow.looks_like_graphdef(head):
        return "tf-graphdef"
    if serving.looks_like_executorch(head):
        return "executorch"
    if serving.looks_like_flax_msgpack(head, blob.size):
        return "flax-msgpack"
    if serving.looks_like_openvino_xml(head):
        return "openvino-xml"
    fmt = _protobuf_by_walk(blob, head)
    if fmt is not None:
        return fmt
    if blob.size >= 48 and tensorflow.looks_like_tf_index(blob.tail(8)):
        return "tf-checkpoint-index"
    if TF_DATA_SHARD.search(blob.name):
        # A TF checkpoint data shard has no header at all: it is read only at the offsets its
        # .index names, as typed tensors. The pickle check below still runs on it.
        return "tf-checkpoint-data"
    return None


# First bytes that can open a ModelProto / SavedModel / GraphDef in any field order.
_PB_FIRST = frozenset(
    {(k << 3) | wt for k, wt in onnx.MODEL_FIELDS.items() if k < 16}
    | {(k << 3) | wt for k, wt in tensorflow.GRAPHDEF_FIELDS.items()}
    | {(k << 3) | wt for k, wt in tensorflow.SAVED_MODEL_FIELDS.items()}
)
MAX_WALK_BYTES = 1 << 31


def _protobuf_by_walk(blob: Blob, head: bytes) -> str | None:
    """Protobuf parsers accept fields in any order, so a ModelProto that starts with its graph (or a
    small one whose bytes are all valid UTF-8) escapes the quick sniffs above. Walk the top level of
    the whole blob (keys and lengths only) against each message's field set."""
    if not head or head[0] not in _PB_FIRST or blob.size > MAX_WALK_BYTES:
        return None
    with blob.open() as f:
        # onnx.load / ParseFromString skip unknown fields: so does this walk
        seen = top_level_fields(f, blob.size, onnx.MODEL_FIELDS, unknown_ok=True)
        if seen is not None and 7 in seen:
            return "onnx"
        f.seek(0)
        seen = top_level_fields(f, blob.size, tensorflow.SAVED_MODEL_FIELDS, unknown_ok=True)
        if seen is not None and 2 in seen:
            return "tf-savedmodel"
        f.seek(0)
        seen = top_level_fields(f, blob.size, tensorflow.FINGERPRINT_FIELDS)
        if seen is not None and len(seen & {1, 2, 3, 4, 5}) >= 3:
            return "tf-fingerprint"
        f.seek(0)
        seen = top_level_fields(f, blob.size, tensorflow.GRAPHDEF_FIELDS)
        if seen is not None and 1 in seen and tensorflow.first_node_is_nodedef(f, blob.size):
            return "tf-graphdef"
    return None


# Formats that are binary by definition: text content under one of these names is not "text that
# passes" (the loader will parse it as its binary format), it is content nothing analysed.
BINARY_MODEL_EXTS = frozenset({".onnx", ".pb", ".pt", ".pth", ".pt2", ".ckpt", ".safetensors", ".gguf", ".h5",
                               ".keras", ".pte", ".tflite", ".msgpack", ".nemo", ".mar", ".npy", ".npz"})


def text_in_binary_format(blob: Blob, ctx: ScanContext) -> bool:
    """Called by the text handler before it would pass a file: True (and an unsupported finding)
    when the name says a binary model format. Names only ever add findings here, never remove one."""
    if blob.suffix_hint in BINARY_MODEL_EXTS:
        ctx.unsupported(FILE_UNSUPPORTED, f"{blob.suffix_hint} file holds text-like bytes that no analyser "
                        "recognised as that format")
        return True
    return False


def _with_pickle_check(fn: Handler) -> Handler:
    def h(blob: Blob, ctx: ScanContext, head: bytes) -> None:
        from mlgate.gates.model_scan import analyze  # the dispatcher imports this module
        from mlgate.gates.model_scan.pickle_analysis import analyze_pickle_file

        analyze_pickle_file(blob, ctx, nested_cb=analyze._nested(ctx), lenient=True)
        fn(blob, ctx, head)
        if containers.find_eocd(blob) is not None:
            analyze._h_zip(blob, ctx, head)

    return h


def _tf_data(blob: Blob, ctx: ScanContext, head: bytes) -> None:
    ctx.covered("tf-checkpoint-data", f"raw tensor shard, {blob.size} bytes")


def _unfinished(fmt: str, why: str) -> Handler:
    def h(blob: Blob, ctx: ScanContext, head: bytes) -> None:
        ctx.unsupported(FILE_UNSUPPORTED, f"{fmt}: {why}", details={"format": fmt})

    return h


MODEL_FORMAT_HANDLERS: dict[str, Handler] = {
    "executable": _with_pickle_check(executables.analyze_executable),
    "onnx": _with_pickle_check(lambda b, c, h: onnx.analyze_onnx(b, c)),
    "tf-savedmodel": _with_pickle_check(lambda b, c, h: tensorflow.analyze_tf_graph(b, c, "savedmodel")),
    "tf-graphdef": _with_pickle_check(lambda b, c, h: tensorflow.analyze_tf_graph(b, c, "graphdef")),
    "tf-keras-metadata": _with_pickle_check(lambda b, c, h: tensorflow.analyze_keras_metadata(b, c)),
    "tf-checkpoint-index": _with_pickle_check(lambda b, c, h: tensorflow.analyze_tf_index(b, c)),
    "tf-checkpoint-data": _with_pickle_check(_tf_data),
    "tf-fingerprint": _with_pickle_check(lambda b, c, h: c.covered("tf-fingerprint", "hashes and versions only")),
    "flax-msgpack": _with_pickle_check(lambda b, c, h: serving.analyze_flax_msgpack(b, c)),
    "executorch": _with_pickle_check(_unfinished(
        "ExecuTorch .pte", "the flatbuffer program (delegates, operator names) is not validated yet")),
    "openvino-xml": _with_pickle_check(lambda b, c, h: serving.analyze_openvino_xml(b, c)),
}


# What headerless raw weights can sniff as by chance (random float bytes that start like a pickle
# opcode, a zlib header, a msgpack map, ...). Formats with a real magic (zip, gzip, GGUF, HDF5,
# safetensors, ONNX, executables, ...) are analysed as what they are, wherever they sit.
SIDECAR_KINDS = frozenset({"binary", "pickle", "lzma", "zlib", "image", "flax-msgpack", "tf-checkpoint-data"})


def sidecar_of(blob: Blob, ctx: ScanContext, kind: str) -> bool:
    """A top-level file that a model beside it reads as raw tensor bytes (``sidecars.py``): judged as
    tensor storage (only a pickle that would import or call is reported) and covered. True when
    handled. Bytes that really are what they sniff as (a whole zlib/lzma stream, a msgpack document
    that walks to its end) are still analysed as that too: naming a file as weights never hides
    what another loader would find in it."""
    from mlgate.gates.model_scan import analyze
    from mlgate.gates.model_scan.formats import sidecars
    from mlgate.gates.model_scan.pickle_analysis import analyze_pickle_file

    owner = sidecars.paired_model(ctx)
    if owner is None:
        return False
    ctx.details["weights_of"] = owner
    ctx.details.setdefault("reads_siblings", []).append(owner)  # the verdict depends on that file
    if kind in ("zlib", "lzma"):
        sidecars.compressed_reading(blob, ctx, kind, analyze.analyze_blob)
    elif kind == "flax-msgpack":
        sidecars.msgpack_reading(blob, ctx)
    if not analyze_pickle_file(blob, ctx, nested_cb=analyze._nested(ctx), storage=True):
        ctx.covered("external-weights", f"{blob.size} raw tensor bytes read by {owner}")
    return True


def zip_hook(blob: Blob, ctx: ScanContext) -> bool:
    """Zip layouts analysed here instead of the generic zip walk: TorchScript archives, torch.export
    programs. Returns True when handled."""
    from mlgate.gates.model_scan import analyze
    from mlgate.gates.model_scan.formats import torchscript

    return torchscript.handle_zip(blob, ctx, analyze.analyze_blob)
