"""Moved to :mod:`mlgate._dev.examples` (``mlgate.examples.train_sklearn:train`` in existing pipeline
configs keeps working for one release)."""

import sys

from mlgate._dev.examples import train_sklearn

sys.modules[f"{__name__}.train_sklearn"] = train_sklearn
