"""The migrations build the schema the models describe and take it down again, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from data_access import migrate
from data_access.database import Database
from data_access.models import Base

TABLES = {
    "user_sessions",
    "recovery_codes",
    "units",
    "registries",
    "patients",
    "registrations",
    "users",
    "grants",
    "audit_events",
    "audit_chain_head",
    "coverage_counts",
    "api_tokens",
    "import_keys",
    "prom_invitations",
    "prom_responses",
    "outbox",
    "report_subscriptions",
    "report_sends",
    "aggregate_uploads",
    "aggregate_counts",
}


def _tables(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_table_and_matches_the_models(database_url: str) -> None:
    database = Database(database_url)
    assert migrate.current_revision(database) is None
    migrate.upgrade(database)
    assert _tables(database) == TABLES
    assert migrate.is_current(database)
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    database.dispose()


def test_downgrade_to_base_removes_everything_and_upgrade_again_works(database_url: str) -> None:
    database = Database(database_url)
    migrate.upgrade(database)
    migrate.downgrade(database, "base")
    assert _tables(database) == set()
    assert migrate.current_revision(database) is None
    migrate.upgrade(database)
    assert _tables(database) == TABLES
    database.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'pragmas.sqlite3'}")
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    database.dispose()
