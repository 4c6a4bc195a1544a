"""The database commands an operator runs, through Flask's CLI runner on both databases."""

from __future__ import annotations

import flask
from sqlalchemy import func, inspect, select

from data_access import migrate
from data_access.database import Database
from data_access.models import Registry, Unit


def _invoke(app: flask.Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_db_commands_walk_the_schema_down_and_up(app: flask.Flask) -> None:
    database: Database = app.extensions["database"]
    assert "(current)" in _invoke(app, "db", "current")
    assert "at revision base" in _invoke(app, "db", "downgrade", "base")
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    assert "behind" in _invoke(app, "db", "current")
    assert f"at revision {migrate.head_revision()}" in _invoke(app, "db", "upgrade")
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Unit)) > 100
        assert set(session.scalars(select(Registry.key))) == {"stroke", "hipfracture"}
