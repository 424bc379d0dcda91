"""The contract between mlgate and a team's training function.

The training function is named by import path in the pipeline config
(``training.function: package.module:function``) and is called as ``function(inputs)`` with a
:class:`TrainInputs`. It must write its model into ``inputs.output_dir`` (for example with
``mlflow.sklearn.save_model``) and may return a different folder inside it. It receives only local
copies of exactly the bytes the pre-train checkpoint checked (re-verified just before the call).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.errors import PolicyError


@dataclass(frozen=True)
class TrainInputs:
    datasets: dict[str, Path]  # dataset name -> local file or folder (verified copy)
    dataset_fingerprints: dict[str, str]  # dataset name -> sha256 fingerprint checked by the data gate
    base_models: dict[str, Path]  # base model name -> local folder (verified copy)
    output_dir: Path  # write the model here
    params: dict[str, Any] = field(default_factory=dict)


TrainFunction = Callable[[TrainInputs], "Path | None"]


def import_training_function(spec: str, config_file: str = "<pipeline>") -> TrainFunction:
    mod_name, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise PolicyError(config_file, "training.function", f"cannot import {mod_name!r}: {e}") from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise PolicyError(config_file, "training.function", f"{spec!r} is not a callable")
    return fn  # type: ignore[no-any-return]
