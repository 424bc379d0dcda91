"""Writes the TensorFlow fixtures under tf/ with the real TensorFlow (not a test dependency: run it in a
throwaway venv, e.g. ``python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.0``).
Committed outputs were written by tensorflow-cpu 2.21.0 (keras 3.15.1, numpy 2.4.6), Python 3.11.

benign/       tf.saved_model.save of a tf.Module (variables, a serving signature)
benign.pb     a frozen GraphDef (concrete function graph, as_graph_def().SerializeToString())
read_file/    a SavedModel whose signature reads a file (tf.io.read_file): the classic file-read gadget
write_file/   a SavedModel whose signature writes a file (tf.io.write_file)
py_func/      a SavedModel whose function calls Python (tf.numpy_function -> PyFunc)
matching.pb   a GraphDef listing files (tf.io.matching_files)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import tensorflow as tf

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("tf"))


class Dense(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = tf.Variable(tf.ones([4, 2]), name="w")
        self.b = tf.Variable(tf.zeros([2]), name="b")

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu(tf.matmul(x, self.w) + self.b)


class ReadFile(Dense):
    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        leaked = tf.io.read_file("/etc/passwd")
        return tf.matmul(x, self.w) + tf.cast(tf.strings.length(leaked), tf.float32)


class WriteFile(Dense):
    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        tf.io.write_file("/tmp/mlgate-canary", tf.strings.as_string(tf.reduce_sum(x)))
        return tf.matmul(x, self.w)


def _noop(a):  # type: ignore[no-untyped-def]
    return a


class PyFunc(Dense):
    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        y = tf.numpy_function(_noop, [x], tf.float32)
        return tf.matmul(tf.reshape(y, [-1, 4]), self.w)


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    for name, cls in (("benign", Dense), ("read_file", ReadFile), ("write_file", WriteFile), ("py_func", PyFunc)):
        m = cls()
        tf.saved_model.save(m, str(OUT / name), signatures={"serving_default": m.__call__})
    dense = Dense()
    fn = dense.__call__.get_concrete_function()
    (OUT / "benign.pb").write_bytes(fn.graph.as_graph_def().SerializeToString())

    @tf.function(input_signature=[])
    def listing() -> tf.Tensor:
        return tf.io.matching_files("/home/*/.ssh/*")

    (OUT / "matching.pb").write_bytes(listing.get_concrete_function().graph.as_graph_def().SerializeToString())


if __name__ == "__main__":
    main()
