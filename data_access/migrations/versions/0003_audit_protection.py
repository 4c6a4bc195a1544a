"""audit protection: chain head, and triggers that refuse UPDATE and DELETE of audit events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 09:00:00.000000

The head row starts where any events already stored end, so a database that logged events
before this revision keeps a verifiable chain. The triggers are not part of the models'
metadata; on SQLite a future `batch_alter_table("audit_events")` recreates the table and
drops them, so such a migration must create them again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64

POSTGRES_UPGRADE = (
    """
    CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING HINT = 'The audit log may only grow; see data_access/audit.py.';
    END;
    $$
    """,
    """
    CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()
    """,
    """
    CREATE TRIGGER audit_chain_head_keep
    BEFORE DELETE OR TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()
    """,
)
POSTGRES_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS audit_chain_head_keep ON audit_chain_head",
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    "DROP FUNCTION IF EXISTS audit_refuse_change()",
)
SQLITE_UPGRADE = (
    """
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END
    """,
    """
    CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    BEGIN SELECT RAISE(ABORT, 'audit_chain_head is append-only: DELETE refused'); END
    """,
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS audit_chain_head_no_delete",
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    "DROP TRIGGER IF EXISTS audit_events_no_update",
)


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=True),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.execute(
        sa.text(
            """
            INSERT INTO audit_chain_head (id, last_event_id, last_hash, event_count)
            SELECT 1, newest.id, COALESCE(newest.hash, :genesis),
                   (SELECT COUNT(*) FROM audit_events)
            FROM (SELECT 1 AS one) AS anchor
            LEFT JOIN audit_events AS newest
                ON newest.id = (SELECT MAX(id) FROM audit_events)
            """
        ).bindparams(genesis=GENESIS_HASH)
    )
    is_postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_UPGRADE if is_postgres else SQLITE_UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    is_postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_DOWNGRADE if is_postgres else SQLITE_DOWNGRADE:
        op.execute(statement)
    op.drop_table("audit_chain_head")
