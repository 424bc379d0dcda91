"""Moved to :mod:`mlgate._dev.examples.train_sklearn` (``mlgate.examples.train_sklearn:train`` in
existing pipeline configs keeps working for one release)."""

import sys

from mlgate._dev.examples import train_sklearn as _moved

sys.modules[__name__] = _moved
