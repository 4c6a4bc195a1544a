"""Who is behind a session token: the session, its user and the user's grants, in one read.

Every logged-in request asks this before anything else (the access guard), so it is the
read every click pays for, a form's Save included. Asked one by one (`validate_session`,
`users.get_user`, `access.scope_for_user`), the three took three connections from the pool
and three transactions around six statements: fifteen round trips to PostgreSQL. Under
load each round trip also waits for the worker's interpreter, which a page being drawn in
another thread holds for up to its switch interval, so round trips, not work, made the tail
of a save's time. Here one query reads the session, the user, whether the user has any
grant and the root of the unit tree, and a second walks the grants (skipped for a user
without any), outside a transaction (`Database.lookup`): three round trips in all.

What a session's validity means (idle time, lifetime, a disabled user, the once-a-minute
touch) stays in `data_access.user_sessions`, and how grants become a scope in
`data_access.access`; this module only reads for both at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select

from data_access.access import NATION_UNIT_ID, AccessScope, granted_scope
from data_access.database import Database
from data_access.models import Grant, User, UserSession
from data_access.user_sessions import SessionInfo, hash_token, still_good
from data_access.users import UserSummary, summary


@dataclass(frozen=True)
class Identity:
    """A valid session, its user, and the scope of the user's grants.

    The scope is what the grants allow; whether it applies yet (a second factor still to be
    given) is the caller's decision.
    """

    session: SessionInfo
    user: UserSummary
    scope: AccessScope


def identify(
    database: Database,
    token: str,
    now: datetime,
    idle_timeout: timedelta,
    remote_addr: str | None = None,
) -> Identity | None:
    """The identity behind `token`, or None if the session is unknown, ended or expired
    (an expiry noticed here is ended and audited, as by `validate_session`)."""
    if not token:
        return None
    has_grants = exists().where(Grant.user_id == User.id)
    with database.lookup() as session:
        found = session.execute(
            select(UserSession, User, has_grants, NATION_UNIT_ID.scalar_subquery())
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.token_hash == hash_token(token))
        ).first()
        if found is None:
            return None
        row, user, any_grant, nation_unit_id = found
        scope = granted_scope(
            session, user, nation_unit_id, remote_addr, has_grants=bool(any_grant)
        )
    info = still_good(database, row, user.username, user.is_active, now, idle_timeout)
    if info is None:
        return None
    return Identity(session=info, user=summary(user, bool(any_grant)), scope=scope)
