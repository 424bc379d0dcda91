"""Moved to :mod:`mlgate._dev.stack.local` (this name stays importable for one release)."""

import sys

from mlgate._dev.stack import local as _moved

sys.modules[__name__] = _moved
