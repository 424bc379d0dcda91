"""The registry-guard plugin installs wherever mlgate does: the same supported Pythons."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_plugin_supports_the_pythons_the_core_supports() -> None:
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    for plugin in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        declared = tomllib.loads(plugin.read_text())["project"]["requires-python"]
        assert declared == core, f"{plugin.relative_to(ROOT)}: requires-python {declared!r}, the core {core!r}"
