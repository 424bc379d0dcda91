"""Fixtures of the plugin tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.plugins.postgres import PostgresServer, PostgresUnavailable, skip_or_fail, start_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (127.0.0.1, a free port, password auth) for the session, stopped
    at teardown even when tests fail. A module makes its own database with
    ``postgres.create_database(name)``. Without PostgreSQL: skip, or fail under ``CI=true``."""
    try:
        server = start_postgres()
    except PostgresUnavailable as e:
        skip_or_fail(e)
    try:
        yield server
    finally:
        server.stop()
