"""Writes Keras 2 SavedModel fixtures under keras2/ with the real tf-keras (throwaway venv, e.g.
``/tmp/tf/bin/pip install tensorflow-cpu==2.21.0 tf-keras==2.21.0``). Committed outputs were written by
tf-keras 2.21.0 on tensorflow-cpu 2.21.0, Python 3.11. Only keras_metadata.pb and saved_model.pb are kept
(the variables are not needed by the tests).

benign/   a Sequential Dense model, model.save(path, save_format="tf")
lambda/   the same with a Lambda layer (marshalled Python bytecode in the metadata: runs at load)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import tf_keras as keras

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("keras2"))


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    benign = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(2, activation="relu")])
    lam = keras.Sequential([keras.layers.Input((4,)), keras.layers.Lambda(lambda x: x * 2),
                            keras.layers.Dense(2)])
    for name, model in (("benign", benign), ("lambda", lam)):
        tmp = OUT / (name + ".full")
        model.save(str(tmp), save_format="tf")
        (OUT / name).mkdir(parents=True)
        for f in ("keras_metadata.pb", "saved_model.pb"):
            shutil.copy(tmp / f, OUT / name / f)
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
