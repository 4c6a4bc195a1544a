"""Transactions behave as units on both databases, savepoints included."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from data_access.database import Database
from data_access.models import User


def _users(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count(User.id))) or 0)


def test_a_rolled_back_unit_of_work_keeps_nothing_written_under_a_savepoint(
    database: Database,
) -> None:
    """SQLite's Python module once let a released savepoint commit on its own."""
    with pytest.raises(RuntimeError), database.transaction() as session:
        with session.begin_nested():
            session.add(User(username="kari", display_name="Kari"))
        raise RuntimeError("the rest of the unit of work failed")
    assert _users(database) == 0
    with database.transaction() as session, session.begin_nested():
        session.add(User(username="kari", display_name="Kari"))
    assert _users(database) == 1
