"""Test-only libraries that some supported Pythons lack (torch's CPU wheel is on this machine for
Python 3.11 only; docs/ci.md): a test that needs one skips, saying so, where it is not installed.
Where the library is installed nothing changes (a ModuleNotFoundError then still fails)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

OPTIONAL_TEST_MODULES = ("torch",)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    outcome: Any = yield
    exc = outcome.excinfo
    if exc is None or not issubclass(exc[0], ModuleNotFoundError):
        return
    name = (exc[1].name or "").split(".")[0]
    if name in OPTIONAL_TEST_MODULES and importlib.util.find_spec(name) is None:
        outcome.force_exception(pytest.skip.Exception(f"{name} is not installed (a test-only dependency)", _use_item_location=True))
