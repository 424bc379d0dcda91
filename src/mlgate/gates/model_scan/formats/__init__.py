"""Analysers for model formats other than pickle. Each reads headers, JSON or metadata only and
never loads the model: safetensors headers, GGUF metadata, chat templates (parsed into an AST,
never rendered), Keras configs (JSON and HDF5 attributes), skops schemas, Hugging Face folder
documents and MLflow ``MLmodel`` files.

The dispatcher (:mod:`mlgate.gates.model_scan`) decides which analyser runs on which blob; the
analysers only report through the :class:`~mlgate.gates.model_scan.context.ScanContext`.
See ``docs/formats.md`` for the table of checks and rule ids.
"""

from __future__ import annotations
