"""The importer's table: which registration a row of an outside system became.

Kept apart from `models.py` so the importer's schema reads on its own; `models.py` imports
this module at its end, so `Base.metadata` always holds the table (migrations, tests).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from data_access.models import Base, UtcDateTime, utc_now


class ImportKey(Base):
    """(registry, source, source key) → registration: a re-import updates, never duplicates.

    `source` names the outside system (the mapping's `source`), `source_key` the row's own
    key there (an episode or case number). Deleting the registration deletes its key, so a
    later import of that row creates the record again.
    """

    __tablename__ = "import_keys"
    __table_args__ = (UniqueConstraint("registry_id", "source", "source_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id"))
    source: Mapped[str] = mapped_column(String(64))
    source_key: Mapped[str] = mapped_column(String(200))
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
