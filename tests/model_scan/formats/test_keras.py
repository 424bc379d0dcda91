"""Keras configs (``.keras`` config.json, ``.h5`` attributes): Lambda at any depth, module
references judged by the policy (CVE-2025-1550 class), code-loading layers, HDF5 side channels."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from mlgate.gates.model_scan.blob import bytes_blob, file_blob
from mlgate.gates.model_scan.formats.keras import analyze_hdf5, analyze_keras_config
from mlgate.gates.model_scan.globals_policy import GlobalsPolicy
from mlgate.model import FindingKind, Severity

from . import _keras_configs as K
from ._util import formats, ids, only

# -- benign ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [K.sequential_keras3(), K.functional_keras3(), K.sequential_keras2(), K.TRAINING_CONFIG_KERAS2],
    ids=["sequential-keras3", "functional-keras3", "sequential-keras2", "training-config-keras2"],
)
def test_benign_configs_pass(config: dict[str, Any], ctx: Any) -> None:
    analyze_keras_config(config, ctx, "config.json")
    assert ctx.findings == [], [f.message for f in ctx.findings]
    assert formats(ctx) == ["keras-config"]
    assert "keras.layers.Dense" in ctx.details.get("keras_allowed_refs", ["keras.layers.Dense"])


def test_config_given_as_json_text(ctx: Any) -> None:
    analyze_keras_config(json.dumps(K.sequential_keras3()), ctx, "config.json")
    assert ctx.findings == []


def test_builtins_activation_reference_is_keras_not_python(ctx: Any) -> None:
    cfg = K.sequential_keras3()
    cfg["config"]["layers"][-1]["config"]["activation"] = {
        "module": "builtins", "class_name": "function", "config": "relu", "registered_name": "function"}
    analyze_keras_config(cfg, ctx, "config.json")
    assert ctx.findings == []


# -- Lambda ---------------------------------------------------------------------------------------


def test_top_level_lambda_keras2(ctx: Any) -> None:
    analyze_keras_config(K.with_layer(K.sequential_keras2(), K.lambda_keras2("scale")), ctx, "model_config")
    (f,) = ctx.findings
    assert f.id == "MLG-KERAS-LAMBDA"
    assert f.severity is Severity.CRITICAL
    assert "'scale'" in f.message
    assert "marshalled Python bytecode" in f.message
    assert f.details["path"] == "$.config.layers[2]"


def test_top_level_lambda_keras3_reports_once(ctx: Any) -> None:
    analyze_keras_config(K.with_layer(K.sequential_keras3(), K.lambda_keras3()), ctx, "config.json")
    assert ids(ctx) == ["MLG-KERAS-LAMBDA"]
    assert "serialized Python lambda" in ctx.findings[0].message


def _nested(kind: str) -> dict[str, Any]:
    lam = K.lambda_keras3("hidden")
    if kind == "inner-sequential":
        inner = {"module": "keras", "class_name": "Sequential",
                 "config": {"name": "inner", "layers": [K.dense("d", 4), lam]}, "registered_name": None}
    elif kind == "time-distributed":
        inner = K.layer("TimeDistributed", "td", layer=lam)
    elif kind == "bidirectional":
        inner = K.layer("Bidirectional", "bi", layer=K.layer("LSTM", "f", units=4), backward_layer=lam)
    elif kind == "deep":
        inner = lam
        for i in range(30):
            inner = K.layer("TimeDistributed", f"td{i}", layer=inner)
    else:
        raise AssertionError(kind)
    outer = K.functional_keras3()
    outer["config"]["layers"].insert(1, inner)
    return outer


@pytest.mark.parametrize("kind", ["inner-sequential", "time-distributed", "bidirectional", "deep"])
def test_nested_lambda_is_found(kind: str, ctx: Any) -> None:
    analyze_keras_config(_nested(kind), ctx, "config.json")
    lam = only(ctx, "MLG-KERAS-LAMBDA")
    assert len(lam) == 1
    assert lam[0].severity is Severity.CRITICAL
    assert "'hidden'" in lam[0].message
    assert lam[0].details["path"].startswith("$.config.layers[1]")


def test_lambda_outside_a_lambda_layer(ctx: Any) -> None:
    cfg = K.sequential_keras3()
    cfg["config"]["layers"][-1]["config"]["activation"] = {"class_name": "__lambda__",
                                                           "config": {"value": K.FAKE_BYTECODE_B64}}
    analyze_keras_config(cfg, ctx, "config.json")
    assert ids(ctx) == ["MLG-KERAS-LAMBDA"]


# -- module references ----------------------------------------------------------------------------


def _with_activation(ref: dict[str, Any]) -> dict[str, Any]:
    cfg = K.sequential_keras3()
    cfg["config"]["layers"][-1]["config"]["activation"] = ref
    return cfg


@pytest.mark.parametrize(
    ("module", "name"),
    [("os", "system"), ("builtins", "eval"), ("subprocess", "check_output"), ("keras.utils", "get_file"),
     ("posix", "system"), ("importlib", "import_module")],
)
def test_function_reference_to_code_is_critical(module: str, name: str, ctx: Any) -> None:
    """CVE-2025-1550: Keras 3 imports `module` and calls `config`."""
    cfg = _with_activation({"module": module, "class_name": "function", "config": name, "registered_name": name})
    analyze_keras_config(cfg, ctx, "config.json")
    (f,) = ctx.findings
    assert f.id == "MLG-KERAS-DANGEROUS-REF"
    assert f.severity is Severity.CRITICAL
    assert f"{module}.{name}" in f.message


def test_class_reference_to_dangerous_module_is_critical(ctx: Any) -> None:
    cfg = K.with_layer(K.sequential_keras3(), {"module": "subprocess", "class_name": "Popen",
                                               "config": {"args": ["true"]}, "registered_name": None})
    analyze_keras_config(cfg, ctx, "config.json")
    assert ids(ctx) == ["MLG-KERAS-DANGEROUS-REF"]


def test_custom_object_is_unknown_at_policy_severity(ctx: Any, default_globals: GlobalsPolicy) -> None:
    custom = {"module": "my_project.layers", "class_name": "FancyAttention", "config": {"name": "fa"},
              "registered_name": "my_project>FancyAttention"}
    analyze_keras_config(K.with_layer(K.sequential_keras3(), custom), ctx, "config.json")
    assert ids(ctx) == ["MLG-KERAS-UNKNOWN-REF", "MLG-KERAS-UNKNOWN-REF"]
    assert {f.details["ref"] for f in ctx.findings} == {"my_project.layers.FancyAttention", "my_project.FancyAttention"}
    assert all(f.severity is default_globals.unknown_severity for f in ctx.findings)


def test_unknown_severity_follows_the_policy(make_ctx: Any, default_globals: GlobalsPolicy) -> None:
    lenient = GlobalsPolicy(default_globals.allow, Severity.LOW)
    ctx = make_ctx(globals_policy=lenient)
    cfg = _with_activation({"module": "my_pkg.acts", "class_name": "function", "config": "swishy"})
    analyze_keras_config(cfg, ctx, "config.json")
    assert [(f.id, f.severity) for f in ctx.findings] == [("MLG-KERAS-UNKNOWN-REF", Severity.LOW)]


def test_keras_resolver_functions_are_not_allowlisted(ctx: Any) -> None:
    cfg = _with_activation({"module": "keras.activations", "class_name": "function", "config": "deserialize"})
    analyze_keras_config(cfg, ctx, "config.json")
    assert ids(ctx) == ["MLG-KERAS-UNKNOWN-REF"]


def test_repeated_reference_is_reported_once(ctx: Any) -> None:
    cfg = K.sequential_keras3()
    for layer in cfg["config"]["layers"][1:]:
        layer["config"]["activation"] = {"module": "os", "class_name": "function", "config": "system"}
    analyze_keras_config(cfg, ctx, "config.json")
    assert ids(ctx) == ["MLG-KERAS-DANGEROUS-REF"]


# -- code-loading layers, TF ops, malformed ---------------------------------------------------------


def test_torch_module_wrapper_is_critical(ctx: Any) -> None:
    tmw = K.layer("TorchModuleWrapper", "torch_module_wrapper", module="gASVAAAA")
    analyze_keras_config(K.with_layer(K.sequential_keras3(), tmw), ctx, "config.json")
    assert ids(ctx) == ["MLG-KERAS-CODE-LAYER"]
    assert ctx.findings[0].severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("function", "expected"),
    [("io.write_file", Severity.CRITICAL), ("compat.v1.io.read_file", Severity.CRITICAL),
     ("py_function", Severity.CRITICAL), ("raw_ops.WriteFile", Severity.CRITICAL),
     ("some.new_api", Severity.HIGH), ("math.add", None), ("__operators__.add", None), ("reshape", None)],
)
def test_tf_op_lambda(function: str, expected: Severity | None, ctx: Any) -> None:
    op = {"class_name": "TFOpLambda", "config": {"name": "tf_op", "function": function, "trainable": False}}
    analyze_keras_config(K.with_layer(K.sequential_keras2(), op), ctx, "model_config")
    if expected is None:
        assert ctx.findings == []
    else:
        assert [(f.id, f.severity) for f in ctx.findings] == [("MLG-KERAS-TF-OP", expected)]


@pytest.mark.parametrize("config", [[1, 2], "not json", 3])
def test_malformed_config(config: Any, ctx: Any) -> None:
    analyze_keras_config(config, ctx, "config.json")
    assert ids(ctx) == ["MLG-KERAS-MALFORMED"]
    assert formats(ctx) == []


def test_non_string_module_is_malformed(ctx: Any) -> None:
    analyze_keras_config({"module": ["os"], "class_name": "X", "config": {}}, ctx, "config.json")
    assert ids(ctx) == ["MLG-KERAS-MALFORMED"]


# -- HDF5 -----------------------------------------------------------------------------------------


def h5_bytes(model_config: Any = None, training_config: Any = None, *, weights: bool = True,
             build: Any = None) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        if model_config is not None:
            f.attrs["model_config"] = model_config if isinstance(model_config, str) else json.dumps(model_config)
            f.attrs["keras_version"] = "2.15.0"
            f.attrs["backend"] = "tensorflow"
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config)
        if weights:
            g = f.create_group("model_weights/dense/dense")
            g.create_dataset("kernel:0", data=np.zeros((4, 2), dtype=np.float32))
            g.create_dataset("bias:0", data=np.zeros((2,), dtype=np.float32))
            f["model_weights"].attrs["layer_names"] = np.array([b"dense"])
            f["model_weights/dense"].attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        if build is not None:
            build(f)
    return buf.getvalue()


def test_benign_h5_model(ctx: Any) -> None:
    data = h5_bytes(K.sequential_keras2(), K.TRAINING_CONFIG_KERAS2)
    analyze_hdf5(bytes_blob("model.h5", data), ctx)
    assert ctx.findings == [], [f.message for f in ctx.findings]
    assert formats(ctx) == ["keras-config", "keras-config", "keras-h5"]


def test_benign_h5_from_a_real_file(tmp_path: Path, ctx: Any) -> None:
    p = tmp_path / "model.h5"
    p.write_bytes(h5_bytes(K.sequential_keras2()))
    analyze_hdf5(file_blob(str(p), "model.h5"), ctx)
    assert ctx.findings == []
    assert "keras-h5" in formats(ctx)


def test_h5_with_lambda(ctx: Any) -> None:
    data = h5_bytes(K.with_layer(K.sequential_keras2(), K.lambda_keras2()))
    analyze_hdf5(bytes_blob("model.h5", data), ctx)
    assert ids(ctx) == ["MLG-KERAS-LAMBDA"]
    assert ctx.findings[0].details["config"] == "model_config"


def test_h5_with_module_reference_in_training_config(ctx: Any) -> None:
    tc = copy.deepcopy(K.TRAINING_CONFIG_KERAS2)
    tc["loss"] = {"module": "os", "class_name": "function", "config": "system"}
    analyze_hdf5(bytes_blob("model.h5", h5_bytes(K.sequential_keras2(), tc)), ctx)
    assert ids(ctx) == ["MLG-KERAS-DANGEROUS-REF"]


def test_weights_only_h5_is_hdf5_data(ctx: Any) -> None:
    analyze_hdf5(bytes_blob("model.weights.h5", h5_bytes()), ctx)
    assert ctx.findings == []
    assert formats(ctx) == ["hdf5-data"]
    assert "no model config" in ctx.coverage[0].detail


def test_h5_model_config_not_json(ctx: Any) -> None:
    analyze_hdf5(bytes_blob("model.h5", h5_bytes("{broken")), ctx)
    assert ids(ctx) == ["MLG-KERAS-MALFORMED"]


def test_h5_external_link_and_storage(ctx: Any) -> None:
    def build(f: h5py.File) -> None:
        f["leak"] = h5py.ExternalLink("/etc/passwd.h5", "/x")
        f.create_dataset("ext", shape=(4,), dtype="f4", external=[("/etc/passwd", 0, 16)])

    analyze_hdf5(bytes_blob("data.h5", h5_bytes(build=build)), ctx)
    assert ids(ctx) == ["MLG-KERAS-HDF5-EXTERNAL", "MLG-KERAS-HDF5-EXTERNAL"]
    assert all(f.severity is Severity.MEDIUM for f in ctx.findings)


def test_h5_hard_link_cycle_terminates(ctx: Any) -> None:
    def build(f: h5py.File) -> None:
        f["model_weights/dense/loop"] = f["model_weights"]

    analyze_hdf5(bytes_blob("cycle.h5", h5_bytes(build=build)), ctx)
    assert ctx.findings == []


EVIL_PICKLE_P0 = b"cposix\nsystem\n(S'true'\ntR."  # protocol 0, the form PyTables writes


def test_h5_pickled_attribute_goes_through_the_pickle_analyser(ctx: Any) -> None:
    def build(f: h5py.File) -> None:
        f["model_weights"].attrs["CLASS_INFO"] = np.bytes_(EVIL_PICKLE_P0)

    analyze_hdf5(bytes_blob("data.h5", h5_bytes(build=build)), ctx)
    assert "MLG-KERAS-HDF5-PICKLED-ATTR" in ids(ctx)
    assert "MLG-PKL-DANGEROUS-GLOBAL" in ids(ctx)
    pk = only(ctx, "MLG-PKL-DANGEROUS-GLOBAL")[0]
    assert pk.location.member == "/model_weights@CLASS_INFO"


def test_h5_plain_string_attributes_are_not_pickles(ctx: Any) -> None:
    def build(f: h5py.File) -> None:
        f.attrs["note"] = "ends with a dot."
        f.attrs["opaque"] = np.void(b"\x00\x01\x02")

    analyze_hdf5(bytes_blob("data.h5", h5_bytes(build=build)), ctx)
    assert ctx.findings == []


def test_not_hdf5_is_an_engine_error(ctx: Any) -> None:
    analyze_hdf5(bytes_blob("model.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 100), ctx)
    assert ids(ctx) == ["MLG-KERAS-HDF5-UNREADABLE"]
    assert ctx.findings[0].kind is FindingKind.ERROR
    assert formats(ctx) == []
