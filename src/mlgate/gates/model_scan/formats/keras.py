"""Keras models: ``config.json`` of a Keras 3 ``.keras`` zip and the ``model_config`` /
``training_config`` attributes of a legacy ``.h5`` file. Nothing is deserialised.

What reaches code when Keras loads a model:

* ``Lambda`` layers carry marshalled Python bytecode (Keras 2: ``"function": [b64, defaults,
  closure]``; Keras 3: ``{"class_name": "__lambda__", "config": {"value": ...}}``). Any ``Lambda``,
  at any depth (inner ``Sequential``/``Functional`` models, ``TimeDistributed``,
  ``Bidirectional``, ``layers`` lists, ``config.layer``), and any ``__lambda__`` object is
  critical; we walk the whole JSON tree rather than known keys, so new wrappers are covered.
* Keras 3 resolves ``{"module": m, "class_name": c}`` and function references ``{"module": m,
  "class_name": "function", "config": name}`` by importing ``m`` (CVE-2025-1550: ``"module":
  "os"``). Every such pair is judged by the policy's globals allowlist, the same deny-by-default
  judgement the pickle analyser uses: dangerous -> critical, unknown -> the policy's unknown
  severity, allowed -> fine. ``registered_name`` values with a ``package>`` prefix name custom
  objects and are judged as ``(package, name)``.
* Layers that load code or other models by design: ``TorchModuleWrapper`` (a ``torch.load`` of an
  embedded pickle), ``TFSMLayer`` (a TensorFlow SavedModel from a path outside the file).
* ``TFOpLambda``/``SlicingOpLambda`` call a TensorFlow API function named in the config; I/O,
  ``py_function``, ``raw_ops`` and similar are critical, unknown functions take the unknown
  severity, plain math/array ops pass.

Legacy Keras 2 configs name layers by ``class_name`` only (no ``module``); those names resolve
only against Keras' registry or the loader's own ``custom_objects``, so they are not judged, but
``Lambda`` and the layers above are.

HDF5 files without a ``model_config`` (weights-only files, ``model.weights.h5`` inside ``.keras``,
generic data) are covered as ``hdf5-data`` after two checks that matter for any HDF5 reader:
links/storage that point outside the file (external links, external raw storage, virtual datasets
with other source files) and string/opaque attributes holding pickles (PyTables unpickles
attributes that look like pickles when they are read), which go through the pickle analyser.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any

from mlgate.gates.model_scan.blob import Blob, bytes_blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.globals_policy import GlobalStatus
from mlgate.gates.model_scan.rules import rule
from mlgate.model import FindingKind, Severity

REFS = (
    "https://nvd.nist.gov/vuln/detail/CVE-2025-1550",
    "https://nvd.nist.gov/vuln/detail/CVE-2024-3660",
    "https://keras.io/api/models/model_saving_apis/model_saving_and_loading/",
)
R_LAMBDA = rule(
    "MLG-KERAS-LAMBDA",
    "Keras model contains a Lambda layer or serialized Python lambda (marshalled bytecode)",
    Severity.CRITICAL,
    "Do not load the model: Lambda layers run arbitrary Python when loaded with safe_mode=False or by older "
    "Keras versions. Rebuild the layer as a registered custom layer from reviewed code and re-save.",
    REFS,
)
R_DANGEROUS = rule(
    "MLG-KERAS-DANGEROUS-REF",
    "Keras config references a code-reaching module or function",
    Severity.CRITICAL,
    "Do not load the model: Keras imports the referenced module and calls the object (CVE-2025-1550 class).",
    REFS,
)
R_UNKNOWN = rule(
    "MLG-KERAS-UNKNOWN-REF",
    "Keras config references a class or function that is not on the allowlist",
    Severity.HIGH,
    "If it is a reviewed custom object of your organisation, add it to the policy allowlist with a reason; "
    "otherwise treat the model as hostile.",
    REFS,
)
R_CODE_LAYER = rule(
    "MLG-KERAS-CODE-LAYER",
    "Keras layer that loads code or an external model by design",
    Severity.CRITICAL,
    "TorchModuleWrapper unpickles an embedded torch module; TFSMLayer loads a SavedModel from a path outside "
    "the file. Replace the layer with native Keras layers.",
    REFS,
)
R_TFOP = rule(
    "MLG-KERAS-TF-OP",
    "TFOpLambda layer calls a TensorFlow function that can reach files, processes or Python",
    Severity.CRITICAL,
    "Do not load the model; rebuild it without the named TensorFlow call.",
    REFS,
)
R_MALFORMED = rule(
    "MLG-KERAS-MALFORMED",
    "Keras model configuration is malformed",
    Severity.HIGH,
    "The configuration could not be read as a Keras config; obtain a clean copy of the model.",
    REFS,
)
R_HDF5_EXTERNAL = rule(
    "MLG-KERAS-HDF5-EXTERNAL",
    "HDF5 file links to or stores data in other files",
    Severity.MEDIUM,
    "External links, external raw storage and virtual datasets make the reader open other files (local "
    "secrets, network shares). Re-save the file self-contained.",
    ("https://docs.h5py.org/en/stable/high/group.html#external-links",),
)
R_HDF5_PICKLE = rule(
    "MLG-KERAS-HDF5-PICKLED-ATTR",
    "HDF5 attribute holds a pickle",
    Severity.HIGH,
    "PyTables (pandas.read_hdf) unpickles such attributes when they are read; the pickle was analysed "
    "separately. Store plain values instead.",
    ("https://www.pytables.org/usersguide/libref/declarative_classes.html",),
)
R_HDF5_ERROR = rule(
    "MLG-KERAS-HDF5-UNREADABLE",
    "HDF5 file could not be read",
    Severity.HIGH,
    "The file may be truncated or crafted to break HDF5 readers; do not load it.",
    kind=FindingKind.ERROR,
)

# Keras resolves module "builtins" function names against its own activations/losses/metrics;
# Python's builtins has no attribute with these names.
KERAS_BUILTIN_FUNCTIONS = frozenset({
    # activations
    "relu", "relu6", "elu", "selu", "softmax", "softplus", "softsign", "silu", "swish", "gelu", "tanh",
    "sigmoid", "hard_sigmoid", "hard_silu", "hard_swish", "exponential", "linear", "leaky_relu",
    "log_softmax", "mish", "celu", "glu", "hard_tanh", "log_sigmoid", "sparse_plus", "squareplus",
    "tanh_shrink", "soft_shrink", "hard_shrink", "sparse_sigmoid", "sparsemax", "threshold",
    # losses
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "binary_focal_crossentropy", "categorical_focal_crossentropy",
    "hinge", "squared_hinge", "categorical_hinge", "huber", "log_cosh", "kl_divergence", "poisson",
    "cosine_similarity", "ctc", "dice", "tversky", "mse", "mae", "mape", "msle", "kld", "logcosh",
    # metrics
    "accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
})
CODE_LAYERS = {
    "TorchModuleWrapper": "wraps a torch.nn.Module that is torch.load-ed (unpickled) from the config",
    "TFSMLayer": "loads a TensorFlow SavedModel (graph with arbitrary ops) from a path outside the file",
}
TF_OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda"})
TF_DANGEROUS = frozenset({
    "io", "gfile", "py_function", "numpy_function", "py_func", "eager_py_func", "raw_ops", "debugging", "print",
    "Print", "summary", "saved_model", "data", "load_op_library", "load_library", "experimental", "distribute",
    "config", "sysconfig", "train", "keras", "autograph", "Session", "InteractiveSession", "lookup", "tpu",
    "estimator", "queue", "write_file", "read_file", "matching_files", "function", "init_scope", "compat",
})
TF_SAFE_NAMESPACES = frozenset({"math", "nn", "linalg", "__operators__", "image", "signal", "bitwise", "sparse",
                                "dtypes", "ragged", "strings"})
TF_SAFE_FUNCTIONS = frozenset({
    "reshape", "concat", "stack", "unstack", "expand_dims", "squeeze", "transpose", "cast", "shape", "gather",
    "gather_nd", "split", "tile", "pad", "where", "clip_by_value", "ones_like", "zeros_like", "ones", "zeros",
    "fill", "range", "one_hot", "slice", "strided_slice", "identity", "broadcast_to", "einsum", "matmul",
    "sort", "argsort", "reverse", "rank", "size", "boolean_mask", "tensor_scatter_nd_update", "roll", "cumsum",
    "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_any", "reduce_all",
    "argmax", "argmin", "abs", "add", "subtract", "multiply", "divide", "maximum", "minimum", "exp", "sqrt",
    "square", "pow", "sigmoid", "tanh", "norm", "stop_gradient", "convert_to_tensor", "equal", "not_equal",
    "greater", "less", "greater_equal", "less_equal", "logical_and", "logical_or", "logical_not", "repeat",
    "meshgrid", "linspace", "searchsorted", "unique", "round", "sign", "floor", "ceil", "bitcast", "clip_by_norm",
    "scatter_nd", "sequence_mask", "math", "nn", "__operators__",
})
B64ISH = re.compile(r"^[A-Za-z0-9+/=\s]{16,}$")
MAX_REPORTS_PER_RULE = 20


def _walk(doc: Any, root: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict in a JSON tree with its path (iterative: configs can be deeply nested)."""
    stack: list[tuple[str, Any]] = [(root, doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            yield path, node
            items = list(node.items())
            for k, v in reversed(items):
                if isinstance(v, (dict, list)):
                    stack.append((f"{path}.{k}", v))
        elif isinstance(node, list):
            for i in range(len(node) - 1, -1, -1):
                v = node[i]
                if isinstance(v, (dict, list)):
                    stack.append((f"{path}[{i}]", v))


def _layer_name(node: dict[str, Any]) -> str | None:
    cfg = node.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
        return str(cfg["name"])
    name = node.get("name")
    return name if isinstance(name, str) else None


def _describe_function(fn: Any) -> str:
    """What a Lambda's ``function`` field holds (for the message; never decoded into code)."""
    if isinstance(fn, (list, tuple)) and fn and isinstance(fn[0], str):
        s = fn[0]
        if B64ISH.match(s):
            try:
                raw = base64.b64decode(s.encode("ascii"), validate=False)
            except (binascii.Error, ValueError):
                raw = b""
            if raw[:1] in (b"\xe3", b"c"):
                return f"marshalled Python bytecode ({len(raw)} bytes, base64)"
            return f"base64 data ({len(s)} chars)"
        return "a serialized function"
    if isinstance(fn, dict):
        if fn.get("class_name") == "__lambda__":
            return "a serialized Python lambda (marshalled bytecode)"
        return f"a function reference {fn.get('module')!s}.{fn.get('config')!s}"
    if isinstance(fn, str):
        return f"a function named {fn[:80]!r}"
    return "a function"


class _Reporter:
    def __init__(self, ctx: ScanContext, where: str) -> None:
        self.ctx = ctx
        self.where = where
        self.counts: dict[str, int] = {}
        self.refs: dict[tuple[str, str], list[str]] = {}

    def issue(self, r: Any, path: str, message: str, severity: Severity | None = None, **details: Any) -> None:
        n = self.counts.get(r.id, 0)
        self.counts[r.id] = n + 1
        if n > MAX_REPORTS_PER_RULE:
            return
        if n == MAX_REPORTS_PER_RULE:
            self.ctx.issue(r, f"{self.where}: more {r.id} findings not listed", severity=severity,
                           details={"truncated": True})
            return
        self.ctx.issue(r, f"{self.where}: {message} at {path}", severity=severity,
                       details={"config": self.where, "path": path, **details})


def _tf_op_problem(fn: str) -> tuple[bool, str] | None:
    """(dangerous?, why) for a TFOpLambda function name; None when it is a plain math/array op."""
    name = fn
    for prefix in ("compat.v1.", "compat.v2."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    first = name.split(".")[0]
    if first in TF_DANGEROUS:
        return True, f"tf.{fn} reaches files, processes, Python or the runtime"
    if first in TF_SAFE_NAMESPACES or name in TF_SAFE_FUNCTIONS:
        return None
    return False, f"tf.{fn} is not a known math/array op"


def _judge(rep: _Reporter, path: str, module: str, name: str, what: str) -> None:
    key = (module, name)
    if key in rep.refs:
        rep.refs[key].append(path)
        return
    rep.refs[key] = [path]
    j = rep.ctx.globals_policy.judge(module, name)
    ref = f"{j.module}.{name}"
    if j.status is GlobalStatus.DANGEROUS:
        rep.issue(R_DANGEROUS, path, f"{what} {ref} ({j.reason})", ref=ref)
    elif j.status is GlobalStatus.UNKNOWN:
        rep.issue(R_UNKNOWN, path, f"{what} {ref} is not on the allowlist", severity=j.severity, ref=ref)
    else:
        allowed = rep.ctx.details.setdefault("keras_allowed_refs", [])
        if ref not in allowed and len(allowed) < 200:
            allowed.append(ref)


def _config_of(node: dict[str, Any]) -> dict[str, Any]:
    cfg = node.get("config")
    return cfg if isinstance(cfg, dict) else {}


def _check_node(rep: _Reporter, path: str, node: dict[str, Any], skip: set[int]) -> int:
    """Checks one dict; returns 1 if it is a layer/object with a class name."""
    class_name = node.get("class_name")
    if not isinstance(class_name, str):
        return 0
    module = node.get("module")
    registered = node.get("registered_name")
    if class_name == "Lambda" or (isinstance(registered, str) and registered.split(">")[-1] == "Lambda"):
        cfg = _config_of(node)
        fn = cfg.get("function")
        if isinstance(fn, dict):
            skip.add(id(fn))
        parts = [f"function: {_describe_function(fn)}"]
        if cfg.get("function_type"):
            parts.append(f"function_type {str(cfg.get('function_type'))[:20]}")
        out = cfg.get("output_shape")
        if isinstance(out, dict):
            skip.add(id(out))
        if cfg.get("output_shape_type") == "lambda" or isinstance(out, dict):
            parts.append("output_shape is also code")
        layer = _layer_name(node)
        rep.issue(R_LAMBDA, path, f"Lambda layer {layer!r} ({'; '.join(parts)})", layer=layer,
                  function_module=str(cfg.get("module"))[:100] if cfg.get("module") else None)
    elif class_name == "__lambda__" and id(node) not in skip:
        rep.issue(R_LAMBDA, path, "serialized Python lambda (marshalled bytecode)")
    if class_name in CODE_LAYERS:
        rep.issue(R_CODE_LAYER, path, f"{class_name} layer {_layer_name(node)!r}: {CODE_LAYERS[class_name]}",
                  layer=_layer_name(node))
    if class_name in TF_OP_LAYERS:
        cfg = _config_of(node)
        fn = cfg.get("function")
        if not isinstance(fn, str):
            rep.issue(R_MALFORMED, path, f"{class_name} without a function name")
        else:
            problem = _tf_op_problem(fn)
            if problem is not None:
                dangerous, why = problem
                rep.issue(R_TFOP, path, f"{class_name} {_layer_name(node)!r}: {why}",
                          severity=None if dangerous else rep.ctx.globals_policy.unknown_severity, function=fn)
    # Module references (Keras 3 / tf.keras >= 2.13 serialization).
    if module is not None:
        if not isinstance(module, str) or not module:
            rep.issue(R_MALFORMED, path, f"'module' is a {type(module).__name__}, not a module name")
        elif class_name == "function":
            fn_name = node.get("config")
            if not isinstance(fn_name, str):
                rep.issue(R_MALFORMED, path, "function reference without a function name")
            elif not (module == "builtins" and fn_name in KERAS_BUILTIN_FUNCTIONS):
                _judge(rep, path, module, fn_name, "function reference")
        elif not (class_name.startswith("__") and class_name.endswith("__")):
            _judge(rep, path, module, class_name, "class")
    if isinstance(registered, str) and ">" in registered:
        package, _, name = registered.rpartition(">")
        _judge(rep, path, package or "<custom>", name or registered, "registered custom object")
    return 1


def analyze_keras_config(config: Any, ctx: ScanContext, where: str) -> None:
    """Check a parsed Keras model/training config (``config.json`` of a ``.keras`` zip, or the
    ``model_config``/``training_config`` attribute of an ``.h5``). ``where`` names the document."""
    if isinstance(config, (str, bytes)):
        try:
            config = json.loads(config)
        except (ValueError, RecursionError) as e:
            ctx.issue(R_MALFORMED, f"{where}: not valid JSON: {e}", details={"config": where})
            return
    if not isinstance(config, dict):
        ctx.issue(R_MALFORMED, f"{where}: is a {type(config).__name__}, not a JSON object", details={"config": where})
        return
    rep = _Reporter(ctx, where)
    skip: set[int] = set()
    objects = 0
    for i, (path, node) in enumerate(_walk(config, "$")):
        if i % 4096 == 0:
            ctx.check_time()
        objects += _check_node(rep, path, node, skip)
    ctx.covered("keras-config", f"{where}: {objects} serialized objects")


# ---------------------------------------------------------------------------------------------
# HDF5
# ---------------------------------------------------------------------------------------------

PICKLE_HINT = frozenset(b"\x80(cNKJMIL]})")


def _pickle_like(raw: bytes) -> bool:
    if len(raw) < 2:
        return False
    if raw[0] == 0x80:
        return raw[1] <= 5 and raw.endswith(b".")
    return raw[0] in PICKLE_HINT and raw.endswith(b".")


def _attr_bytes(value: Any) -> list[bytes]:
    """Byte strings inside an attribute value (str/bytes/opaque scalars and small arrays of them)."""
    import numpy as np

    out: list[bytes] = []
    items: list[Any]
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in ("S", "O", "V", "U") or value.size > 4096:
            return out
        items = list(value.ravel())
    else:
        items = [value]
    for it in items:
        if isinstance(it, bytes):
            out.append(it)
        elif isinstance(it, np.void):
            out.append(it.tobytes())
        elif isinstance(it, str):
            out.append(it.encode("utf-8", errors="surrogateescape"))
    return out


class _Hdf5Walk:
    def __init__(self, ctx: ScanContext, h5: Any) -> None:
        self.ctx = ctx
        self.h5 = h5
        self.objects = 0
        self.attrs = 0
        self.external: list[str] = []
        self.errors: list[str] = []
        self.pickled = 0

    def run(self, root: Any) -> None:
        import h5py

        seen: set[int] = set()
        stack: list[tuple[str, Any]] = [("/", root)]
        limit = self.ctx.config.limits.max_members
        while stack:
            path, group = stack.pop()
            ident = hash(group.id)
            if ident in seen:
                continue
            seen.add(ident)
            self.visit(path, group)
            for name in list(group.keys()):
                self.objects += 1
                if self.objects > limit:
                    self.ctx.limit(f"HDF5 file has more than {limit} objects; the rest was not checked")
                    return
                if self.objects % 1024 == 0:
                    self.ctx.check_time()
                child_path = path.rstrip("/") + "/" + name
                try:
                    link = group.get(name, getlink=True)
                    if isinstance(link, h5py.ExternalLink):
                        self.external.append(f"{child_path} -> external link {link.filename}:{link.path}")
                        continue
                    if isinstance(link, h5py.SoftLink):
                        continue  # the target is visited through its hard link, if it exists
                    obj = group[name]
                except (KeyError, OSError, RuntimeError, ValueError) as e:
                    self.errors.append(f"{child_path}: {e}")
                    continue
                if isinstance(obj, h5py.Group):
                    stack.append((child_path, obj))
                else:
                    ident = hash(obj.id)
                    if ident in seen:
                        continue
                    seen.add(ident)
                    self.visit(child_path, obj)
                    if isinstance(obj, h5py.Dataset):
                        self.dataset(child_path, obj)

    def dataset(self, path: str, ds: Any) -> None:
        try:
            ext = ds.external
            if ext:
                files = sorted({str(e[0]) for e in ext})
                self.external.append(f"{path} -> external raw storage in {', '.join(files)[:200]}")
            if ds.is_virtual:
                sources = sorted({str(s.file_name) for s in ds.virtual_sources()} - {"."})
                if sources:
                    self.external.append(f"{path} -> virtual dataset sourced from {', '.join(sources)[:200]}")
        except (OSError, RuntimeError, ValueError) as e:
            self.errors.append(f"{path}: {e}")

    def visit(self, path: str, obj: Any) -> None:
        max_bytes = self.ctx.config.limits.max_json_bytes
        try:
            names = list(obj.attrs.keys())
        except (OSError, RuntimeError, ValueError) as e:
            self.errors.append(f"{path}: attributes: {e}")
            return
        for an in names:
            self.attrs += 1
            try:
                aid = obj.attrs.get_id(an)
                if aid.shape is not None and 0 in aid.shape:
                    continue  # a zero-length array holds no bytes (Keras writes weight_names=[] this way)
                if aid.get_storage_size() > max_bytes:
                    self.ctx.limit(f"HDF5 attribute {path}@{an} is larger than {max_bytes} bytes; not checked")
                    continue
                if aid.dtype.kind not in ("S", "O", "V", "U"):
                    continue
                value = obj.attrs[an]
            except (OSError, RuntimeError, ValueError, TypeError, KeyError) as e:
                self.errors.append(f"{path}@{an}: {e}")
                continue
            for i, raw in enumerate(_attr_bytes(value)):
                if _pickle_like(raw):
                    self.pickle_attr(f"{path}@{an}" + (f"[{i}]" if i else ""), raw)

    def pickle_attr(self, label: str, raw: bytes) -> None:
        from mlgate.gates.model_scan.pickle_analysis import analyze_pickle_file

        with self.ctx.member(label):
            if analyze_pickle_file(bytes_blob(label, raw), self.ctx, lenient=True):
                self.pickled += 1
                self.ctx.issue(R_HDF5_PICKLE, f"attribute {label} holds a pickle ({len(raw)} bytes)",
                               details={"attribute": label, "bytes": len(raw)})


def _read_config_attr(h5: Any, name: str, ctx: ScanContext) -> Any:
    raw = h5.attrs.get(name)
    if raw is None:
        return None
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw
    else:
        import numpy as np

        if isinstance(raw, np.ndarray) and raw.size == 1:
            item = raw.ravel()[0]
            text = item.decode("utf-8", errors="replace") if isinstance(item, bytes) else str(item)
        else:
            ctx.issue(R_MALFORMED, f"{name}: attribute is a {type(raw).__name__}, not a JSON string",
                      details={"config": name})
            return None
    if len(text) > ctx.config.limits.max_json_bytes:
        ctx.limit(f"{name} is larger than limits.max_json_bytes; not analysed")
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        ctx.issue(R_MALFORMED, f"{name}: not valid JSON: {e}", details={"config": name})
        return None


def analyze_hdf5(blob: Blob, ctx: ScanContext) -> None:
    """Check an HDF5 file through h5py (metadata only): Keras ``model_config`` and
    ``training_config`` attributes, links/storage outside the file, pickled attributes.
    Coverage: ``keras-h5`` when a model config was analysed, else ``hdf5-data``."""
    import h5py

    with blob.open() as f:
        try:
            h5 = h5py.File(f, "r")
        except (OSError, ValueError, RuntimeError) as e:
            ctx.error(R_HDF5_ERROR, f"h5py could not open the file: {e}")
            return
        try:
            has_model = False
            for name in ("model_config", "training_config"):
                try:
                    cfg = _read_config_attr(h5, name, ctx)
                except (OSError, RuntimeError, ValueError, TypeError) as e:
                    ctx.error(R_HDF5_ERROR, f"could not read attribute {name}: {e}")
                    continue
                if cfg is not None:
                    has_model = has_model or name == "model_config"
                    analyze_keras_config(cfg, ctx, name)
            walk = _Hdf5Walk(ctx, h5)
            walk.run(h5)
        finally:
            h5.close()
    for ext in walk.external[:20]:
        ctx.issue(R_HDF5_EXTERNAL, ext, details={"link": ext})
    if walk.errors:
        ctx.error(R_HDF5_ERROR, f"{len(walk.errors)} HDF5 objects could not be read; first: {walk.errors[0]}",
                  details={"errors": walk.errors[:20]})
    detail = f"{walk.objects} objects, {walk.attrs} attributes"
    if has_model:
        ctx.covered("keras-h5", detail)
    else:
        ctx.covered("hdf5-data", detail + ", no model config")
