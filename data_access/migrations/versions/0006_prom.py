"""prom: questionnaire invitations by one-time link, responses and the outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "prom_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_key", sa.String(length=60), nullable=False),
        sa.Column("questionnaire_version", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=5), nullable=False),
        sa.Column("recipient_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_reminder_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f("ck_prom_invitations_channel")),
        sa.CheckConstraint(
            "language IN ('nb', 'nn', 'en')", name=op.f("ck_prom_invitations_language")
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_prom_invitations_registration_id_registrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_prom_invitations_registry_id_registries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prom_invitations")),
        sa.UniqueConstraint(
            "registration_id",
            "questionnaire_key",
            name=op.f("uq_prom_invitations_registration_id"),
        ),
        sa.UniqueConstraint("token_hash", name=op.f("uq_prom_invitations_token_hash")),
    )
    with op.batch_alter_table("prom_invitations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prom_invitations_next_reminder_at"), ["next_reminder_at"], unique=False
        )

    op.create_table(
        "prom_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("answers", _json(), nullable=False),
        sa.Column("scores", _json(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["prom_invitations.id"],
            name=op.f("fk_prom_responses_invitation_id_prom_invitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_prom_responses_registration_id_registrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prom_responses")),
        sa.UniqueConstraint("invitation_id", name=op.f("uq_prom_responses_invitation_id")),
    )
    with op.batch_alter_table("prom_responses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prom_responses_registration_id"), ["registration_id"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=5), nullable=False),
        sa.Column("recipient_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=6), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f("ck_outbox_channel")),
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name=op.f("ck_outbox_status")),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["prom_invitations.id"],
            name=op.f("fk_outbox_invitation_id_prom_invitations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_invitation_id"), ["invitation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_outbox_invitation_id"))
    op.drop_table("outbox")
    with op.batch_alter_table("prom_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prom_responses_registration_id"))
    op.drop_table("prom_responses")
    with op.batch_alter_table("prom_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prom_invitations_next_reminder_at"))
    op.drop_table("prom_invitations")
