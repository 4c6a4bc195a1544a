"""aggregate uploads: indicator counts of registries that capture their data elsewhere

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aggregate_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("file_rows", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('checked', 'published')", name=op.f("ck_aggregate_uploads_status")
        ),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            name=op.f("fk_aggregate_uploads_registry_id_registries"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["users.id"],
            name=op.f("fk_aggregate_uploads_uploaded_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["users.id"],
            name=op.f("fk_aggregate_uploads_published_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aggregate_uploads")),
        sa.UniqueConstraint(
            "registry_id", "content_hash", name=op.f("uq_aggregate_uploads_registry_id")
        ),
    )
    op.create_table(
        "aggregate_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.Integer(), nullable=False),
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("numerator", sa.BigInteger(), nullable=False),
        sa.Column("denominator", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["aggregate_uploads.id"],
            name=op.f("fk_aggregate_counts_upload_id_aggregate_uploads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.unit_id"], name=op.f("fk_aggregate_counts_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aggregate_counts")),
        sa.UniqueConstraint(
            "upload_id", "indicator", "year", "unit_id", name=op.f("uq_aggregate_counts_upload_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("aggregate_counts")
    op.drop_table("aggregate_uploads")
