"""The tables of the REST API: tokens that let systems and users call it without a browser.

Kept apart from `models.py` so the API's schema reads on its own; `models.py` imports this
module at its end, so `Base.metadata` always holds these tables too (migrations, tests).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from data_access.models import Base, UtcDateTime, utc_now

TOKEN_ROLES = ("clinician", "registrar", "analyst")
"""Roles a token may carry. No admin: managing users and grants is done in the portal."""


class ApiToken(Base):
    """A bearer token for the REST API: a role in one registry on some units, until it expires.

    Only the SHA-256 of the secret is stored (the secret is shown once, at creation).
    `user_id` is the owner: a token of a user never reaches beyond that user's grants at the
    moment of use; a token without owner belongs to a system and carries exactly the scope an
    administrator gave it. `unit_ids` are the units named at creation; each covers the units
    below it, as a grant does.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(f"role IN ({', '.join(repr(r) for r in TOKEN_ROLES)})", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the secret ("nkr_AbCd12"), so an owner can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id"))
    role: Mapped[str] = mapped_column(String(12))
    unit_ids: Mapped[list[int]] = mapped_column(default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
