"""The PostgreSQL fixture's behaviour without PostgreSQL (no server started here: fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.plugins import postgres as pg


def test_without_binaries_it_skips_with_the_apt_command_or_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg, "find_bindir", lambda: None)
    with pytest.raises(pg.PostgresUnavailable, match="apt-get install postgresql") as e:
        pg.start_postgres()
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        pg.skip_or_fail(e.value)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"PostgreSQL is not installed.*CI installs it"):
        pg.skip_or_fail(e.value)


def test_names_of_databases_are_plain(tmp_path: Path) -> None:
    server = pg.PostgresServer(bindir=tmp_path, root=tmp_path, port=1, user="u", password="p", run_as=[])
    with pytest.raises(ValueError, match="lower-case letters"):
        server.create_database("x; DROP")
    assert server.url("db", "mlgate+postgresql", password=False) == "mlgate+postgresql://u@127.0.0.1:1/db"
