"""Reading who a user is, for the login flow and the page frame (no secrets leave here)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select

from data_access.database import Database
from data_access.models import Grant, User


@dataclass(frozen=True)
class UserSummary:
    id: int
    username: str
    display_name: str
    is_active: bool
    language: str
    has_grants: bool
    has_two_factor: bool


def get_user(database: Database, user_id: int) -> UserSummary | None:
    with database.lookup() as session:
        user = session.get(User, user_id)
        if user is None:
            return None
        has_grants = bool(session.scalar(select(exists().where(Grant.user_id == user_id))))
        return summary(user, has_grants)


def summary(user: User, has_grants: bool) -> UserSummary:
    """What the portal may know of a user read from the table (no password hash, no TOTP
    secret)."""
    return UserSummary(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        is_active=user.is_active,
        language=user.language,
        has_grants=has_grants,
        has_two_factor=user.totp_enabled_at is not None,
    )
