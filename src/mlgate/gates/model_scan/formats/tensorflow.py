"""TensorFlow SavedModel (``saved_model.pb``), frozen GraphDef (``.pb``), Keras 2 SavedModel metadata
(``keras_metadata.pb``) and TF checkpoints (``variables/variables.index`` + data shards), read with
:mod:`protowire` (no TensorFlow, nothing executed).

``tf.saved_model.load`` / ``tf.keras.models.load_model`` rebuild every function of the graph library
and run the restore functions; serving runs the signatures. Ops that read or write files, spawn
processes, call Python or reach the network then run with the loader's rights. Every op of every
graph and every function is judged against a deny-by-default allowlist:

* **denied** (critical): file I/O (``ReadFile``, ``WriteFile``, ``MatchingFiles``, ``DeleteFile`` ...),
  Python callbacks (``PyFunc``, ``EagerPyFunc``, ``PyFuncStateless``), dataset readers over arbitrary
  paths, summary/debug writers, audio/image *file* ops, ``ImmutableConst`` (memory-maps a file);
* **checkpoint ops** (``SaveV2``, ``RestoreV2``, ``ShardedFilename``, ``MergeV2Checkpoints`` ...) are what
  every SavedModel's saver uses; they are allowed only inside the functions the saver builds and
  when the file-name prefix they receive is the saver's placeholder -- a ``Const`` string that names
  a path (absolute, ``..``, ``~``) anywhere in the graph is reported as ``MLG-TF-FOREIGN-PATH``;
* **allowed**: pure tensor math, control flow, variables and resource handles, string ops
  (``TF_OPS_ALLOWED`` below, from the TF 2.x raw-ops list);
* anything else is **unknown** (high): a custom op needs a native library loaded with
  ``tf.load_op_library``.

Keras 2 ``keras_metadata.pb`` holds one JSON document per saved object; ``Lambda`` layers and custom
objects are judged by the Keras rules (:func:`analyze_keras_config`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import BinaryIO

from mlgate.gates.model_scan.blob import Blob
from mlgate.gates.model_scan.context import ScanContext
from mlgate.gates.model_scan.formats.protowire import LEN, VARINT, Reader, WireError, looks_like_message
from mlgate.gates.model_scan.rules import rule
from mlgate.model import Severity

REFS = ("https://www.tensorflow.org/guide/saved_model",
        "https://github.com/tensorflow/tensorflow/blob/master/SECURITY.md")
R_OP_DANGEROUS = rule(
    "MLG-TF-DANGEROUS-OP",
    "TensorFlow graph uses an op that reads/writes files, calls Python or runs code",
    Severity.CRITICAL,
    "Loading or serving the graph runs the op with the loader's rights (TensorFlow's SECURITY.md: models are "
    "programs). Do not load; re-export without file or Python ops.",
    REFS,
    cwe=("CWE-94", "CWE-73"),
)
R_OP_UNKNOWN = rule(
    "MLG-TF-UNKNOWN-OP",
    "TensorFlow graph uses an op outside the allowlist (custom or unreviewed op)",
    Severity.HIGH,
    "Custom ops need a native library (tf.load_op_library). Review it and waive by file, or re-export with "
    "standard ops.",
    REFS,
    cwe=("CWE-94",),
)
R_FOREIGN_PATH = rule(
    "MLG-TF-FOREIGN-PATH",
    "TensorFlow graph holds a file path outside the model folder",
    Severity.CRITICAL,
    "A constant absolute or '..' path feeding Save/Restore/ShardedFilename or a reader makes loading read or "
    "write foreign files. Do not load.",
    REFS,
    cwe=("CWE-22", "CWE-73"),
)
R_MALFORMED = rule(
    "MLG-TF-MALFORMED",
    "TensorFlow protobuf does not parse",
    Severity.HIGH,
    "The file claims to be a SavedModel/GraphDef but its structure is broken; re-export.",
    REFS,
    cwe=("CWE-20",),
)

# Ops that touch files, processes, Python or the network. (TF raw ops list, 2.x.)
TF_OPS_DENIED = frozenset({
    "ReadFile", "WriteFile", "MatchingFiles", "MatchingFilesDataset", "DeleteFile", "FileExists",
    "PyFunc", "PyFuncStateless", "EagerPyFunc", "ImmutableConst", "LoadAndRemapMatrix",
    "TextLineReader", "TextLineReaderV2", "TFRecordReader", "TFRecordReaderV2", "FixedLengthRecordReader",
    "FixedLengthRecordReaderV2", "WholeFileReader", "WholeFileReaderV2", "IdentityReader", "IdentityReaderV2",
    "LMDBReader", "ReaderReadV2", "ReaderRead", "TextLineDataset", "TFRecordDataset", "TFRecordDatasetV2",
    "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2", "SqlDataset", "ExperimentalSqlDataset",
    "LMDBDataset", "ExperimentalLMDBDataset", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset",
    "SaveDataset", "SaveDatasetV2", "LoadDataset", "SnapshotDataset", "SnapshotDatasetV2", "DatasetToTFRecord",
    "ExperimentalDatasetToTFRecord", "CacheDatasetV2", "CacheDataset", "DataServiceDataset",
    "DataServiceDatasetV2", "DataServiceDatasetV3", "DataServiceDatasetV4", "RegisterDataset", "RegisterDatasetV2",
    "WriteSummary", "WriteRawProtoSummary", "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary",
    "WriteAudioSummary", "WriteGraphSummary", "CreateSummaryFileWriter", "CreateSummaryDbWriter",
    "ImportEvent", "FlushSummaryWriter", "CloseSummaryWriter", "SummaryWriter",
    "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNumericSummary", "DebugNumericSummaryV2",
    "DebugNanCount", "Print", "PrintV2", "InitializeTableFromTextFile", "InitializeTableFromTextFileV2",
    "Save", "SaveSlices", "Restore", "RestoreSlice", "ReadVariableXlaSplitND", "EncodeWav", "DecodeWav",
    "TPUReplicatedInput", "_Send", "_Recv", "_HostSend", "_HostRecv", "Send", "Recv",
    "CollectiveBcastRecv", "CollectiveBcastSend", "RpcCall", "RpcServer", "RpcClient", "RpcServerStart",
    "RpcServerRegister", "RpcCheckStatus", "RpcGetValue", "GenerateVocabRemapping", "SaveSlicesV2",
})
# Checkpoint ops every SavedModel's saver emits; their path comes from a placeholder fed by the loader.
TF_OPS_CHECKPOINT = frozenset({"SaveV2", "RestoreV2", "ShardedFilename", "MergeV2Checkpoints", "StringJoin",
                               "ShardedFilespec", "StaticRegexFullMatch"})
TF_OPS_ALLOWED = frozenset(["Abs", "Acos", "Acosh", "Add", "AddN", "AddV2", "All", "Any", "ApproximateEqual", "ArgMax", "ArgMin", "AsString", "Asin", "Asinh", "Assert", "Assign", "AssignAdd", "AssignAddVariableOp", "AssignSub", "AssignSubVariableOp", "AssignVariableOp", "Atan", "Atan2", "Atanh", "AvgPool", "AvgPool3D", "AvgPoolGrad", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "BatchNormWithGlobalNormalization", "BatchToSpace", "BatchToSpaceND", "BiasAdd", "BiasAddGrad", "BiasAddV1", "Bincount", "Bitcast", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BroadcastArgs", "BroadcastGradientArgs", "BroadcastTo", "Bucketize", "Case", "Cast", "Ceil", "CheckNumerics", "CheckNumericsV2", "Cholesky", "ClipByValue", "Complex", "ComplexAbs", "Concat", "ConcatOffset", "ConcatV2", "Conj", "ConjugateTranspose", "Const", "ControlTrigger", "Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput", "Conv3D", "Conv3DBackpropFilterV2", "Conv3DBackpropInputV2", "Cos", "Cosh", "CropAndResize", "Cross", "Cumprod", "Cumsum", "DecodeBase64", "DepthToSpace", "DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropFilter", "DepthwiseConv2dNativeBackpropInput", "DestroyResourceOp", "Diag", "DiagPart", "Digamma", "Dilation2D", "DisableCopyOnRead", "Div", "DivNoNan", "DynamicPartition", "DynamicStitch", "Einsum", "Elu", "EluGrad", "EmptyTensorList", "EncodeBase64", "EnsureShape", "Enter", "Equal", "Erf", "Erfc", "Exit", "Exp", "ExpandDims", "Expm1", "ExtractImagePatches", "FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel", "Fill", "Floor", "FloorDiv", "FloorMod", "FusedBatchNorm", "FusedBatchNormGrad", "FusedBatchNormGradV3", "FusedBatchNormV2", "FusedBatchNormV3", "Gather", "GatherNd", "GatherV2", "Greater", "GreaterEqual", "HashTable", "HashTableV2", "Identity", "IdentityN", "If", "Imag", "InTopKV2", "InitializeTableV2", "InvertPermutation", "IsFinite", "IsInf", "IsNan", "IsVariableInitialized", "L2Loss", "LeakyRelu", "LeakyReluGrad", "LeftShift", "Less", "LessEqual", "Lgamma", "LinSpace", "ListDiff", "Log", "Log1p", "LogSoftmax", "LogicalAnd", "LogicalNot", "LogicalOr", "LookupTableExportV2", "LookupTableFindV2", "LookupTableImportV2", "LookupTableInsertV2", "LookupTableSizeV2", "LoopCond", "LRN", "MatMul", "MatrixBandPart", "MatrixDiag", "MatrixDiagPart", "MatrixDiagPartV3", "MatrixDiagV3", "MatrixInverse", "MatrixSetDiag", "MatrixSetDiagV3", "MatrixSolve", "MatrixTriangularSolve", "Max", "MaxPool", "MaxPool3D", "MaxPoolGrad", "MaxPoolV2", "MaxPoolWithArgmax", "Maximum", "Mean", "Merge", "Min", "Minimum", "MirrorPad", "Mod", "Mul", "MulNoNan", "MutableHashTable", "MutableHashTableV2", "MutableDenseHashTableV2", "Multinomial", "Neg", "NextIteration", "NoOp", "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5", "NotEqual", "OneHot", "OnesLike", "OptionalFromValue", "OptionalGetValue", "OptionalHasValue", "OptionalNone", "Pack", "Pad", "PadV2", "ParallelConcat", "ParallelDynamicStitch", "PartitionedCall", "Placeholder", "PlaceholderWithDefault", "Pow", "PreventGradient", "Prod", "QuantizeAndDequantizeV2", "QuantizeAndDequantizeV3", "QuantizeAndDequantizeV4", "RaggedGather", "RaggedRange", "RaggedTensorFromVariant", "RaggedTensorToSparse", "RaggedTensorToTensor", "RaggedTensorToVariant", "RandomGammaGrad", "RandomShuffle", "RandomStandardNormal", "RandomUniform", "RandomUniformInt", "Range", "Rank", "ReadVariableOp", "Real", "RealDiv", "Reciprocal", "ReciprocalGrad", "RefIdentity", "RegexFullMatch", "RegexReplace", "Relu", "Relu6", "Relu6Grad", "ReluGrad", "Reshape", "ResizeArea", "ResizeBicubic", "ResizeBilinear", "ResizeBilinearGrad", "ResizeNearestNeighbor", "ResourceGather", "ResourceGatherNd", "ResourceScatterAdd", "ResourceScatterNdUpdate", "ResourceScatterUpdate", "ResourceStridedSliceAssign", "Reverse", "ReverseSequence", "ReverseV2", "RightShift", "Rint", "Round", "Rsqrt", "RsqrtGrad", "SegmentMax", "SegmentMean", "SegmentMin", "SegmentProd", "SegmentSum", "Select", "SelectV2", "Selu", "SeluGrad", "Shape", "ShapeN", "Sigmoid", "SigmoidGrad", "Sign", "Sin", "Sinh", "Size", "Slice", "Snapshot", "Softmax", "SoftmaxCrossEntropyWithLogits", "Softplus", "SoftplusGrad", "Softsign", "SpaceToBatch", "SpaceToBatchND", "SpaceToDepth", "SparseFillEmptyRows", "SparseReshape", "SparseSegmentMean", "SparseSegmentSqrtN", "SparseSegmentSum", "SparseSoftmaxCrossEntropyWithLogits", "SparseTensorDenseMatMul", "SparseToDense", "Split", "SplitV", "Sqrt", "SqrtGrad", "Square", "SquaredDifference", "Squeeze", "Stack", "StatefulPartitionedCall", "StatelessIf", "StatelessRandomNormal", "StatelessRandomNormalV2", "StatelessRandomUniform", "StatelessRandomUniformV2", "StatelessRandomGetKeyCounter", "StatelessRandomGetAlg", "StatelessWhile", "StopGradient", "StridedSlice", "StridedSliceGrad", "StringFormat", "StringLength", "StringLower", "StringSplit", "StringSplitV2", "StringStrip", "StringToHashBucket", "StringToHashBucketFast", "StringToNumber", "StringUpper", "Sub", "Substr", "Sum", "Switch", "SymbolicGradient", "Tan", "Tanh", "TanhGrad", "TensorArrayGatherV3", "TensorArrayReadV3", "TensorArrayScatterV3", "TensorArraySizeV3", "TensorArrayV3", "TensorArrayWriteV3", "TensorListFromTensor", "TensorListGetItem", "TensorListLength", "TensorListReserve", "TensorListSetItem", "TensorListStack", "TensorScatterAdd", "TensorScatterUpdate", "Tile", "TopKV2", "Transpose", "TruncateDiv", "TruncateMod", "TruncatedNormal", "Unique", "UniqueV2", "Unpack", "UnsortedSegmentMax", "UnsortedSegmentMin", "UnsortedSegmentProd", "UnsortedSegmentSum", "UnicodeDecode", "UnicodeDecodeWithOffsets", "UnicodeEncode", "UnicodeScript", "UnicodeTranscode", "VarHandleOp", "VarIsInitializedOp", "Variable", "VariableShape", "VariableV2", "Where", "While", "Xdivy", "Xlog1py", "Xlogy", "ZerosLike", "Zeta", "_Arg", "_Retval", "_ReadVariablesOp", "_FusedConv2D", "_FusedMatMul", "_FusedBatchNormEx", "NoOp", "Relu6", "Softmax", "LookupTableRemoveV2", "AnonymousHashTable", "ResourceApplyAdam", "ResourceApplyGradientDescent", "ResourceApplyMomentum", "ResourceApplyKerasMomentum", "ResourceApplyRMSProp", "ResourceApplyAdagradV2", "AssignVariableXlaConcatND", "ReadVariableXlaSplitND", "TensorListElementShape", "TensorListPushBack", "TensorListPopBack", "TensorListConcatV2", "TensorListResize", "OptionalNone", "DeviceIndex", "Roll", "Sort", "TensorListSplit"]) - TF_OPS_DENIED

PATHLIKE = re.compile(rb"(^|[^A-Za-z0-9_])(/(etc|home|root|tmp|var|usr|proc|dev|sys|opt|mnt|Users)/|\.\./|~/|[A-Za-z]:\\)")
SAVED_MODEL_FIELDS = {1: VARINT, 2: LEN}
# fingerprint.pb (FingerprintDef): five uint64 hashes, a VersionDef and a UUID string; no code.
FINGERPRINT_FIELDS = {1: VARINT, 2: VARINT, 3: VARINT, 4: VARINT, 5: VARINT, 6: LEN, 7: LEN}
GRAPHDEF_FIELDS = {1: LEN, 2: LEN, 3: VARINT, 4: LEN}
MAX_NODES = 5_000_000
MAX_FUNC_DEPTH = 16


def looks_like_saved_model(head: bytes) -> bool:
    """SavedModel: saved_model_schema_version = 1 (field 1), then MetaGraphDefs (field 2)."""
    return head.startswith(b"\x08\x01\x12") and looks_like_message(head, SAVED_MODEL_FIELDS, 2)


def looks_like_graphdef(head: bytes) -> bool:
    """GraphDef: NodeDef messages (field 1) whose first fields are name (1) and op (2)."""
    if len(head) < 6 or head[0] != 0x0A:
        return False
    # inside the first NodeDef: 0x0a name 0x12 op
    pos = 1
    ln = 0
    shift = 0
    while pos < len(head):
        b = head[pos]
        pos += 1
        ln |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    inner = head[pos : pos + min(ln, 512)]
    if not inner.startswith(b"\x0a") or len(inner) < 3:
        return False
    nlen = inner[1]
    return nlen < 0x80 and inner[2 + nlen : 3 + nlen] == b"\x12"


NODEDEF_FIELDS = {1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN, 6: LEN, 7: LEN}


def first_node_is_nodedef(f: BinaryIO, size: int) -> bool:
    """The first field-1 message of a GraphDef-shaped blob is a NodeDef (all its fields are strings
    or messages, with an op name); a SentencePiece model (field 2 is a float) is not."""
    r = Reader(f, size)
    try:
        for fno, _wt, v, pos in r.fields(0, size):
            if fno == 1:
                ops = [f2 for f2, w2, _v2, _p2 in r.fields(pos, pos + v) if NODEDEF_FIELDS.get(f2) == w2]
                return 2 in ops and all(NODEDEF_FIELDS.get(f2) == w2 for f2, w2, _v, _p in r.fields(pos, pos + v))
    except WireError:
        return False
    return False


def looks_like_keras_metadata(head: bytes) -> bool:
    """keras SavedMetadata: SavedObject messages (field 1) holding node_id (2), node_path (3),
    identifier (4), metadata JSON (5)."""
    return head[:1] == b"\x0a" and b"_tf_keras_" in head[:4096] and looks_like_message(head, {1: LEN}, 1)


@dataclass
class _State:
    nodes: int = 0
    functions: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)


class _Walker:
    def __init__(self, r: Reader, ctx: ScanContext) -> None:
        self.r = r
        self.ctx = ctx
        self.s = _State()

    def saved_model(self, start: int, end: int) -> None:
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 2 and wt == LEN:
                self.meta_graph(pos, pos + v)

    def meta_graph(self, start: int, end: int) -> None:
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 2 and wt == LEN:  # graph_def
                self.graph_def(pos, pos + v)

    def graph_def(self, start: int, end: int) -> None:
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 1 and wt == LEN:
                self.node(pos, pos + v)
            elif fno == 2 and wt == LEN:  # FunctionDefLibrary
                for f2, w2, v2, p2 in self.r.fields(pos, pos + v):
                    if f2 == 1 and w2 == LEN:  # FunctionDef
                        self.function(p2, p2 + v2)

    def function(self, start: int, end: int) -> None:
        self.s.functions += 1
        self.ctx.check_time()
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 3 and wt == LEN:  # node_def
                self.node(pos, pos + v)

    def node(self, start: int, end: int) -> None:
        self.s.nodes += 1
        if self.s.nodes > MAX_NODES:
            raise _Limit(f"more than {MAX_NODES} nodes")
        if not self.s.nodes & 4095:
            self.ctx.check_time()
        op = ""
        attrs: list[tuple[int, int]] = []
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 2 and wt == LEN:
                op = self.r.string(pos, v, 512)
            elif fno == 5 and wt == LEN:
                attrs.append((pos, pos + v))
        self.s.ops[op] = self.s.ops.get(op, 0) + 1
        if op == "Const":
            for a_s, a_e in attrs:
                self.const_strings(a_s, a_e)

    def const_strings(self, start: int, end: int) -> None:
        """map<string, AttrValue> entry 'value' -> AttrValue.tensor (8) -> TensorProto.string_val (8)."""
        for fno, wt, v, pos in self.r.fields(start, end):
            if fno == 2 and wt == LEN:
                for f2, w2, v2, p2 in self.r.fields(pos, pos + v):
                    if f2 == 8 and w2 == LEN:
                        for f3, w3, v3, p3 in self.r.fields(p2, p2 + v2):
                            if f3 == 8 and w3 == LEN and v3 < 4096:
                                s = self.r.read(p3, v3)
                                if PATHLIKE.search(s) and len(self.s.paths) < 50:
                                    self.s.paths.append(s.decode("utf-8", "replace"))


class _Limit(Exception):
    pass


def _judge_ops(ops: dict[str, int], paths: list[str], ctx: ScanContext, what: str) -> None:
    denied = {o: n for o, n in ops.items() if o in TF_OPS_DENIED}
    unknown = {o: n for o, n in ops.items()
               if o not in TF_OPS_DENIED and o not in TF_OPS_ALLOWED and o not in TF_OPS_CHECKPOINT}
    for op, n in sorted(denied.items()):
        ctx.issue(R_OP_DANGEROUS, f"{what}: {n} {op} node(s)", details={"op": op, "nodes": n})
    for op, n in sorted(unknown.items())[:100]:
        ctx.issue(R_OP_UNKNOWN, f"{what}: {n} {op or '(empty op name)'} node(s) outside the op allowlist",
                  details={"op": op, "nodes": n})
    for p in paths:
        ctx.issue(R_FOREIGN_PATH, f"{what}: constant string {p[:200]!r} names a path outside the model folder",
                  details={"value": p[:500]})


def analyze_tf_graph(blob: Blob, ctx: ScanContext, kind: str) -> None:
    """``kind``: ``savedmodel`` or ``graphdef``."""
    with blob.open() as f:
        w = _Walker(Reader(f, blob.size), ctx)
        try:
            if kind == "savedmodel":
                w.saved_model(0, blob.size)
            else:
                w.graph_def(0, blob.size)
        except WireError as e:
            ctx.issue(R_MALFORMED, f"not a well-formed TensorFlow {kind}: {e}")
            return
        except _Limit as e:
            ctx.limit(f"TensorFlow graph: {e}; the rest was not analysed")
            return
    s = w.s
    _judge_ops(s.ops, s.paths, ctx, kind)
    ctx.details.setdefault("tensorflow", {}).update(
        {"kind": kind, "nodes": s.nodes, "functions": s.functions, "ops": dict(sorted(s.ops.items())[:300])})
    ctx.covered(f"tf-{kind}", f"{s.nodes} nodes, {s.functions} functions, {len(s.ops)} distinct ops")


def analyze_keras_metadata(blob: Blob, ctx: ScanContext) -> None:
    """keras_metadata.pb: each SavedObject's metadata (field 5) is a JSON document with the layer's
    class_name and config; judged by the Keras rules."""
    from mlgate.gates.model_scan.formats.keras import analyze_keras_config

    if blob.size > ctx.config.limits.max_json_bytes:
        ctx.limit(f"keras_metadata.pb of {blob.size} bytes is over the JSON limit")
        return
    docs = 0
    versions: set[str] = set()
    with blob.open() as f:
        r = Reader(f, blob.size)
        try:
            for fno, wt, v, pos in r.fields(0, blob.size):
                if fno != 1 or wt != LEN:
                    continue
                for f2, w2, v2, p2 in r.fields(pos, pos + v):
                    if f2 == 5 and w2 == LEN:
                        try:
                            meta = json.loads(r.read(p2, v2))
                        except ValueError as e:
                            ctx.issue(R_MALFORMED, f"keras metadata JSON does not parse: {e}")
                            continue
                        docs += 1
                        if isinstance(meta, dict) and isinstance(meta.get("keras_version"), str):
                            versions.add(meta["keras_version"][:50])
                        if isinstance(meta, dict) and isinstance(meta.get("config"), (dict, list)):
                            analyze_keras_config({"class_name": meta.get("class_name"), "config": meta["config"],
                                                  "module": meta.get("module")}, ctx, "keras_metadata.pb")
        except WireError as e:
            ctx.issue(R_MALFORMED, f"keras_metadata.pb does not parse: {e}")
            return
    if versions:
        from mlgate.gates.model_scan.formats.advisories import check_pins

        # the writer's Keras version (info): whoever loads it with that Keras is exposed
        check_pins("keras_metadata.pb", [("keras", v, 0) for v in sorted(versions)[:5]], ctx, declared=False)
    ctx.covered("keras-metadata", f"{docs} saved objects")


TF_INDEX_MAGIC = bytes.fromhex("57fb808b247547db")


def looks_like_tf_index(tail: bytes) -> bool:
    """A TF checkpoint index is an SSTable: its 48-byte footer ends with the table magic."""
    return len(tail) >= 8 and tail[-8:] == TF_INDEX_MAGIC


def analyze_tf_index(blob: Blob, ctx: ScanContext) -> None:
    """The index maps tensor names to (dtype, shape, shard, offset, size) in the data shards: data only,
    read by the loader as typed tensors. The table is not decoded further (its block compression is
    snappy); only its footer is checked."""
    if blob.size < 48:
        ctx.issue(R_MALFORMED, "checkpoint index shorter than its footer")
        return
    ctx.covered("tf-checkpoint-index", f"SSTable, {blob.size} bytes")
