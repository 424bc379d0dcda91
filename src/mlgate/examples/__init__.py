"""Moved to :mod:`mlgate._dev.examples` (this name stays importable for one release)."""
