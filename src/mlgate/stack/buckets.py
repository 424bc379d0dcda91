"""Moved to :mod:`mlgate._dev.stack.buckets` (this name stays importable for one release)."""

import sys

from mlgate._dev.stack import buckets as _moved

sys.modules[__name__] = _moved
