"""Moved to :mod:`mlgate._dev.stack.mlflow_server` (this name stays importable for one release)."""

import sys

from mlgate._dev.stack import mlflow_server as _moved

sys.modules[__name__] = _moved
