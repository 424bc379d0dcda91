"""Moved to :mod:`mlgate._dev.samples` (this name stays importable for one release)."""

import sys

from mlgate._dev import samples as _samples

sys.modules[__name__] = _samples
