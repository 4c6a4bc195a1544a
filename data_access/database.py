"""Engines and transactions: the one place that knows how to talk to SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

CONNECT_SECONDS = 5


class Database:
    """An engine plus a session factory; the application keeps one per process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # On SQLite a unit of work takes the write lock as it begins, waiting its turn, so no
        # other writer can commit between its reads and its writes (which SQLite refuses).
        self._units_of_work = sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )
        # On PostgreSQL a lookup runs outside any transaction, so it costs no BEGIN and no
        # ROLLBACK; SQLite's round trips are in-process, and its reads keep their BEGIN.
        lookups = self.engine
        if self.dialect == "postgresql":
            lookups = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._lookups = sessionmaker(lookups, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed if the block succeeds, rolled back if it raises."""
        with self._units_of_work.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for queries only; nothing it does is committed."""
        with self._sessions() as session:
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """A session for a few short reads that need no common snapshot, such as who is
        behind a session token: every logged-in request makes one, so each round trip to
        the server counts (two of its five were BEGIN and ROLLBACK). Not for streaming
        results: a server-side cursor lives only inside a transaction."""
        with self._lookups() as session:
            yield session

    @contextmanager
    def statement_by_statement(self) -> Iterator[Session]:
        """A session whose every statement commits by itself on PostgreSQL (autocommit: no
        BEGIN, no COMMIT), for a write that is one statement alone, such as an audit event
        of a read (`audit.record_event`); a unit of work on SQLite."""
        if self.dialect != "postgresql":
            with self.transaction() as session:
                yield session
            return
        with self._lookups() as session:
            yield session

    def ping(self) -> None:
        """Raise unless the database answers `SELECT 1` (the health check's question)."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """`hide_parameters`: a failed statement's message (which reaches the logs) must not carry
    the values it was given, such as names, e-mail addresses or encrypted national ids."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": 30})
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    # A server that cannot be reached fails a request (and /healthz) in seconds, unless the
    # URL says otherwise (`?connect_timeout=`).
    given = "connect_timeout" in make_url(url).query
    return create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=True,
        connect_args={} if given else {"connect_timeout": CONNECT_SECONDS},
    )


def _configure_sqlite(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """WAL lets readers run beside a writer; foreign keys are off in SQLite unless asked for."""
    # The sqlite3 module's legacy transaction control is off (`_begin_sqlite` begins instead).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    """Begin every transaction with BEGIN, as SQLAlchemy's SQLite notes advise.

    The sqlite3 module (legacy transaction control, Python < 3.16) sends BEGIN only before
    INSERT, UPDATE and DELETE: a SAVEPOINT before them opened a transaction of its own, and
    its release committed it, so a rolled-back unit of work kept what it wrote under the
    savepoint (a patient without the registration it was created for).
    """
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")
