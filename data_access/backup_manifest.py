"""What a backup promises about its database, and how a database is measured against it.

The manifest travels inside the backup file, sealed with it (`backup_file`), so it cannot
be edited to fit a changed payload. It names the database kind, the schema revision, the
audit chain head and, per table, the row count and a SHA-256 of the rows' contents. A
restore measures the restored database the same way; any difference means the restore
did not reproduce the backup.

A table's checksum is the SHA-256 of its rows in primary-key order, each row as the
database itself prints it, followed by a newline: PostgreSQL's row text (`t::text`, under
fixed output settings, so the server's time zone or date style cannot change it), SQLite's
`quote()` of each column joined by commas. The text differs between the two kinds, which
is fine: a backup is restored into the kind it came from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, inspect, text

MANIFEST_VERSION: Final = 1
# Output settings for PostgreSQL's row text: the same on every server and session.
_POSTGRES_OUTPUT: Final = (
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'postgres'",
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL bytea_output = 'hex'",
)
_ROWS_PER_FETCH: Final = 5000


@dataclass(frozen=True)
class TableContent:
    rows: int
    sha256: str


@dataclass(frozen=True)
class ChainHead:
    """The audit log's head row (`audit_chain_head`) as the backup saw it."""

    last_event_id: int | None
    last_hash: str
    event_count: int


@dataclass(frozen=True)
class DatabaseContents:
    """One consistent view of a database: kind, revision, audit chain head, every table."""

    kind: str
    server_version: str
    alembic_revision: str | None
    audit_chain_head: ChainHead | None
    tables: Mapping[str, TableContent] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables.values())

    def differences(self, other: DatabaseContents) -> list[str]:
        """What `other` (a restored database) does not share with this one, in words.

        The server version may differ: a backup may be restored on a newer server.
        """
        found = [
            f"{what}: expected {mine!r}, found {theirs!r}"
            for what, mine, theirs in (
                ("database kind", self.kind, other.kind),
                ("schema revision", self.alembic_revision, other.alembic_revision),
                ("audit chain head", self.audit_chain_head, other.audit_chain_head),
            )
            if mine != theirs
        ]
        for name in sorted(set(self.tables) | set(other.tables)):
            mine_table, theirs_table = self.tables.get(name), other.tables.get(name)
            if mine_table is None or theirs_table is None:
                found.append(f"table {name}: {'missing' if theirs_table is None else 'extra'}")
            elif mine_table.rows != theirs_table.rows:
                found.append(
                    f"table {name}: expected {mine_table.rows} rows, found {theirs_table.rows}"
                )
            elif mine_table.sha256 != theirs_table.sha256:
                found.append(f"table {name}: the rows' contents differ (checksum)")
        return found


@dataclass(frozen=True)
class Manifest:
    """A backup's description: when, what, and the digest of its sealed payload."""

    created_at: datetime
    contents: DatabaseContents
    payload_sha256: str
    payload_bytes: int
    format_version: int = MANIFEST_VERSION

    def to_json(self) -> bytes:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data, sort_keys=True, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """The manifest of an authenticated backup; refuses a newer format it cannot read."""
        raw: dict[str, Any] = json.loads(data)
        if raw.get("format_version") != MANIFEST_VERSION:
            raise ValueError(
                f"the backup's manifest has format {raw.get('format_version')}; "
                f"this version reads only {MANIFEST_VERSION}"
            )
        contents = raw["contents"]
        head = contents["audit_chain_head"]
        return cls(
            created_at=datetime.fromisoformat(raw["created_at"]),
            contents=DatabaseContents(
                kind=contents["kind"],
                server_version=contents["server_version"],
                alembic_revision=contents["alembic_revision"],
                audit_chain_head=None if head is None else ChainHead(**head),
                tables={name: TableContent(**table) for name, table in contents["tables"].items()},
            ),
            payload_sha256=raw["payload_sha256"],
            payload_bytes=raw["payload_bytes"],
        )


def read_contents(connection: Connection) -> DatabaseContents:
    """Measure the database `connection` sees, inside its current transaction.

    The caller chooses the view: a backup passes the transaction its snapshot was taken in,
    so the manifest describes exactly the rows the payload holds.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        for statement in _POSTGRES_OUTPUT:
            connection.execute(text(statement))
        version = str(connection.scalar(text("SHOW server_version")))
    else:
        version = str(connection.scalar(text("SELECT sqlite_version()")))
    inspector = inspect(connection)
    names = sorted(inspector.get_table_names())
    tables = {name: _table_content(connection, name) for name in names}
    revision = (
        connection.scalar(text("SELECT version_num FROM alembic_version"))
        if "alembic_version" in names
        else None
    )
    head = (
        connection.execute(
            text("SELECT last_event_id, last_hash, event_count FROM audit_chain_head WHERE id = 1")
        ).one_or_none()
        if "audit_chain_head" in names
        else None
    )
    return DatabaseContents(
        kind=dialect,
        server_version=version,
        alembic_revision=revision,
        audit_chain_head=None if head is None else ChainHead(*head),
        tables=tables,
    )


def _table_content(connection: Connection, name: str) -> TableContent:
    """Row count and checksum of one table, streamed: the table never sits in memory whole."""
    quote = connection.dialect.identifier_preparer.quote
    inspector = inspect(connection)
    columns = [quote(column["name"]) for column in inspector.get_columns(name)]
    key = inspector.get_pk_constraint(name).get("constrained_columns") or []
    order = ", ".join(quote(column) for column in key) if key else ", ".join(columns)
    if connection.dialect.name == "postgresql":
        row_text = "t::text"
    else:
        row_text = " || ',' || ".join(f"quote(t.{column})" for column in columns)
    statement = text(f"SELECT {row_text} FROM {quote(name)} AS t ORDER BY {order}")
    digest = hashlib.sha256()
    rows = 0
    result = connection.execute(statement, execution_options={"yield_per": _ROWS_PER_FETCH})
    for line in result.scalars():
        digest.update(str(line).encode("utf-8"))
        digest.update(b"\n")
        rows += 1
    return TableContent(rows=rows, sha256=digest.hexdigest())
