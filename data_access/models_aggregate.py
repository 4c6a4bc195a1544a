"""The tables of aggregate uploads: indicator counts delivered by registries that capture
their data elsewhere (see `entry.aggregate_file`).

Kept apart from `models.py` so the schema reads on its own; `models.py` imports this module
at its end, so `Base.metadata` always holds these tables too (migrations, tests).

An upload is stored once its file has passed every check (`checked`), and counts in public
results only once an admin has seen them and published it (`published`). A file is known by
its SHA-256 within its registry, so the same file is never taken twice. Its rows are the
file's counts summed per indicator, year and unit; a later published upload replaces an
earlier one for the (indicator, year) pairs it holds, and the earlier rows are kept as the
history of what was shown.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from data_access.models import Base, UtcDateTime, _in, utc_now

UPLOAD_STATUSES = ("checked", "published")


class AggregateUpload(Base):
    """One file of indicator counts that passed its checks."""

    __tablename__ = "aggregate_uploads"
    __table_args__ = (
        CheckConstraint(_in("status", UPLOAD_STATUSES), name="status"),
        UniqueConstraint("registry_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    file_rows: Mapped[int]
    status: Mapped[str] = mapped_column(String(9), default="checked")
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AggregateCount(Base):
    """An upload's count for one indicator, year and unit."""

    __tablename__ = "aggregate_counts"
    __table_args__ = (UniqueConstraint("upload_id", "indicator", "year", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("aggregate_uploads.id", ondelete="CASCADE"))
    indicator: Mapped[str] = mapped_column(String(64))
    year: Mapped[int]
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.unit_id"))
    numerator: Mapped[int] = mapped_column(BigInteger)
    denominator: Mapped[int] = mapped_column(BigInteger)
