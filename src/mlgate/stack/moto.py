"""Moved to :mod:`mlgate._dev.stack.moto` (this name stays importable for one release)."""

import sys

from mlgate._dev.stack import moto as _moved

sys.modules[__name__] = _moved
