"""The registry guard inside a real ``mlflow server`` whose stores are a real PostgreSQL (the
production setup): ``--backend-store-uri postgresql://...`` and ``--registry-store-uri
mlgate+postgresql://...`` exactly as docs/registry-hooks.md writes them, the server (PostgreSQL 15
from Debian) started by the ``postgres`` fixture. SQLAlchemy 2.1 reads ``postgresql://`` as the
psycopg (3) driver, so that is the driver installed (``psycopg[binary]``, the dev extra). The scenarios are test_guard_server.py's own, run here
against this stack; the password reaches the MLflow server as ``PGPASSWORD``, never in its argv."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.plugins import test_guard_server as guard_server
from tests.plugins.postgres import PostgresServer
from tests.plugins.test_guard_server import Stack, hand_register, running_stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(moto_server: str, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    postgres.create_database("mlflow_guard")
    with running_stack(moto_server, tmp_path_factory.mktemp("guard-postgres"),
                       backend_store_uri=postgres.url("mlflow_guard", password=False),
                       registry_store_uri=postgres.url("mlflow_guard", "mlgate+postgresql", password=False),
                       extra_env=postgres.env()) as st:
        yield st


# test_guard_server.py's scenarios, collected again in this module (so with the stack above):
# (a) an unsigned version cannot take a protected alias: HTTP 403 PERMISSION_DENIED
test_unsigned_promotion_is_refused_by_the_server = guard_server.test_unsigned_promotion_is_refused_by_the_server
# (b) mlgate.verdict=pass over an envelope signed by another key is refused
test_forged_verdict_tag_is_refused = guard_server.test_forged_verdict_tag_is_refused
# hook-signed versions are not promotable; pipeline-signed ones whose S3 bytes changed are refused
test_hook_signed_version_is_usable_not_promotable_and_changed_bytes_are_not = \
    guard_server.test_hook_signed_version_is_usable_not_promotable_and_changed_bytes_are_not
# (c) a correctly signed version is registered and promoted to production
test_created_with_evidence_from_a_logged_model = guard_server.test_created_with_evidence_from_a_logged_model
test_everything_else_is_stock_mlflow = guard_server.test_everything_else_is_stock_mlflow


def test_the_registry_lives_in_postgresql(stack: Stack, postgres: PostgresServer) -> None:
    """The rows are PostgreSQL's (no sqlite file next to the server): the refused alias is not
there, the allowed one is, and the tracking store shares the database."""
    import psycopg

    version, _ = hand_register(stack, "pg-resident")
    with pytest.raises(Exception, match="PERMISSION_DENIED"):
        stack.client.set_registered_model_alias("pg-resident", "production", version)
    stack.client.set_registered_model_alias("pg-resident", "staging", version)
    with psycopg.connect(postgres.url("mlflow_guard"), connect_timeout=30) as conn, conn.cursor() as cur:
        cur.execute("SELECT version FROM model_versions WHERE name = %s", ("pg-resident",))
        assert cur.fetchall() == [(int(version),)]
        cur.execute("SELECT alias FROM registered_model_aliases WHERE name = %s ORDER BY alias", ("pg-resident",))
        assert cur.fetchall() == [("staging",)]
        cur.execute("SELECT count(*) FROM experiments WHERE name = 'notebooks'")
        assert cur.fetchone() == (1,)  # the tracking store is the same database
    assert not list((stack.work / "mlflow").glob("*.db"))
    log = stack.log.read_text()
    assert "refused set the protected alias 'production' on pg-resident" in log
    assert postgres.password not in log
