"""Analysers for model formats other than pickle. Each reads headers, JSON or metadata only and
never loads the model: safetensors headers, GGUF metadata, chat templates (parsed into an AST,
never rendered), Keras configs (JSON and HDF5 attributes), skops schemas, Hugging Face folder
documents and MLflow ``MLmodel`` files.

The dispatcher (:mod:`mlgate.gates.model_scan`) decides which analyser runs on which blob; the
analysers only report through the :class:`~mlgate.gates.model_scan.context.ScanContext`.
See ``docs/formats.md`` for the table of checks and rule ids.
"""

from __future__ import annotations

from mlgate.gates.model_scan.formats.gguf import analyze_gguf, looks_like_gguf
from mlgate.gates.model_scan.formats.hf import (
    check_code_file,
    check_json_document,
    check_mlflow_mlmodel,
    check_template_file,
)
from mlgate.gates.model_scan.formats.keras import analyze_hdf5, analyze_keras_config
from mlgate.gates.model_scan.formats.safetensors import analyze_safetensors, looks_like_safetensors
from mlgate.gates.model_scan.formats.skops import analyze_skops_schema
from mlgate.gates.model_scan.formats.templates import check_jinja_template

__all__ = [
    "analyze_gguf",
    "analyze_hdf5",
    "analyze_keras_config",
    "analyze_safetensors",
    "analyze_skops_schema",
    "check_code_file",
    "check_jinja_template",
    "check_json_document",
    "check_mlflow_mlmodel",
    "check_template_file",
    "looks_like_gguf",
    "looks_like_safetensors",
]
