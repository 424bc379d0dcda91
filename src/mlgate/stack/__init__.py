"""Moved to :mod:`mlgate._dev.stack` (and the process helpers to :mod:`mlgate.integrations.servers`).
The old module names stay importable for one release (each is the moved module itself)."""
