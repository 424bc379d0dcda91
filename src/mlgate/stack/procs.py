"""Moved to :mod:`mlgate.integrations.servers` (this name stays importable for one release)."""

import sys

from mlgate.integrations import servers as _moved

sys.modules[__name__] = _moved
