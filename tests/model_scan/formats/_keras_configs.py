"""Keras model configs written by hand in the shapes Keras 3 (``.keras`` config.json) and tf.keras 2
(``.h5`` model_config) produce. TensorFlow/Keras are not installed; nothing here is deserialised."""

from __future__ import annotations

import base64
import copy
from typing import Any

DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def init(cls: str, **cfg: Any) -> dict[str, Any]:
    return {"module": "keras.initializers", "class_name": cls, "config": cfg, "registered_name": None}


def layer(cls: str, name: str, mod: str = "keras.layers", **cfg: Any) -> dict[str, Any]:
    return {
        "module": mod,
        "class_name": cls,
        "config": {"name": name, "trainable": True, "dtype": DTYPE, **cfg},
        "registered_name": None,
        "build_config": {"input_shape": [None, 16]},
    }


def dense(name: str, units: int, activation: str = "relu") -> dict[str, Any]:
    return layer(
        "Dense", name, units=units, activation=activation, use_bias=True,
        kernel_initializer=init("GlorotUniform", seed=None), bias_initializer=init("Zeros"),
        kernel_regularizer={"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
                            "registered_name": None},
        bias_regularizer=None, kernel_constraint=None, bias_constraint=None,
    )


def sequential_keras3() -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "dtype": DTYPE,
            "layers": [
                {"module": "keras.layers", "class_name": "InputLayer",
                 "config": {"batch_shape": [None, 16], "dtype": "float32", "sparse": False, "name": "input_layer"},
                 "registered_name": None},
                layer("Embedding", "embedding", input_dim=1000, output_dim=16,
                      embeddings_initializer=init("RandomUniform", minval=-0.05, maxval=0.05, seed=None)),
                layer("LSTM", "lstm", units=32, activation="tanh", recurrent_activation="sigmoid",
                      return_sequences=True, kernel_initializer=init("GlorotUniform", seed=None),
                      recurrent_initializer=init("Orthogonal", gain=1.0, seed=None)),
                layer("Conv1D", "conv1d", filters=8, kernel_size=[3], strides=[1], padding="valid",
                      activation="relu"),
                layer("BatchNormalization", "batch_normalization", axis=-1, momentum=0.99, epsilon=0.001,
                      beta_initializer=init("Zeros"), gamma_initializer=init("Ones")),
                layer("GlobalAveragePooling1D", "gap", data_format="channels_last"),
                layer("Dropout", "dropout", rate=0.5, seed=None),
                dense("dense", 10, activation="softmax"),
            ],
            "build_input_shape": [None, 16],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 16]},
        "compile_config": {
            "optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                          "config": {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9}, "registered_name": None},
            "loss": {"module": "keras.losses", "class_name": "SparseCategoricalCrossentropy",
                     "config": {"name": "sparse_categorical_crossentropy", "from_logits": False},
                     "registered_name": None},
            "metrics": [{"module": "keras.metrics", "class_name": "function", "config": "sparse_categorical_accuracy",
                         "registered_name": "sparse_categorical_accuracy"}, "accuracy"],
            "loss_weights": None,
            "weighted_metrics": None,
            "run_eagerly": False,
            "steps_per_execution": 1,
            "jit_compile": False,
        },
    }


def keras_tensor(layer_name: str) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, 16], "dtype": "float32", "keras_history": [layer_name, 0, 0]}}


def functional_keras3() -> dict[str, Any]:
    d1 = dense("d1", 16)
    d1["inbound_nodes"] = [{"args": [keras_tensor("input")], "kwargs": {}}]
    d2 = dense("d2", 1, activation="sigmoid")
    d2["inbound_nodes"] = [{"args": [keras_tensor("d1")], "kwargs": {}}]
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "functional",
            "trainable": True,
            "layers": [
                {"module": "keras.layers", "class_name": "InputLayer",
                 "config": {"batch_shape": [None, 16], "dtype": "float32", "sparse": False, "name": "input"},
                 "registered_name": None, "name": "input", "inbound_nodes": []},
                d1,
                d2,
            ],
            "input_layers": [["input", 0, 0]],
            "output_layers": [["d2", 0, 0]],
        },
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
    }


def sequential_keras2() -> dict[str, Any]:
    """tf.keras 2.x ``model_config`` as stored in ``.h5`` (no ``module`` keys)."""
    return {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 28, 28, 1], "dtype": "float32",
                                                        "sparse": False, "ragged": False, "name": "input_1"}},
                {"class_name": "Conv2D", "config": {"name": "conv2d", "trainable": True, "dtype": "float32",
                                                    "filters": 32, "kernel_size": [3, 3], "activation": "relu",
                                                    "kernel_initializer": {"class_name": "GlorotUniform",
                                                                           "config": {"seed": None}}}},
                {"class_name": "MaxPooling2D", "config": {"name": "max_pooling2d", "pool_size": [2, 2]}},
                {"class_name": "Flatten", "config": {"name": "flatten"}},
                {"class_name": "Dense", "config": {"name": "dense", "units": 10, "activation": "softmax"}},
            ],
        },
        "keras_version": "2.15.0",
        "backend": "tensorflow",
    }


TRAINING_CONFIG_KERAS2 = {
    "loss": "sparse_categorical_crossentropy",
    "metrics": [[{"class_name": "MeanMetricWrapper", "config": {"name": "accuracy", "dtype": "float32",
                                                                "fn": "sparse_categorical_accuracy"}}]],
    "optimizer_config": {"class_name": "Adam", "config": {"name": "Adam", "learning_rate": 0.001}},
}

# Marshalled bytecode looks like this in a Keras 2 Lambda: base64 of a marshal dump (first byte 0xe3).
# The bytes here are inert filler with the same prefix; nothing is unmarshalled.
FAKE_BYTECODE_B64 = base64.b64encode(b"\xe3" + b"\x00" * 63).decode()


def lambda_keras2(name: str = "lambda") -> dict[str, Any]:
    return {"class_name": "Lambda", "config": {
        "name": name, "trainable": True, "dtype": "float32",
        "function": [FAKE_BYTECODE_B64, None, None], "function_type": "lambda", "module": "__main__",
        "output_shape": None, "output_shape_type": "raw", "output_shape_module": None, "arguments": {}}}


def lambda_keras3(name: str = "lambda") -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": name, "trainable": True, "dtype": DTYPE,
        "function": {"class_name": "__lambda__", "config": {"value": FAKE_BYTECODE_B64}},
        "arguments": {}}, "registered_name": None}


def with_layer(model: dict[str, Any], extra: dict[str, Any], index: int = 2) -> dict[str, Any]:
    m = copy.deepcopy(model)
    m["config"]["layers"].insert(index, extra)
    return m
