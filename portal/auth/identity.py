"""Who is asking: the logged-in user of this request and the access scope of their grants.

The browser holds only a random session token (inside Flask's signed cookie); the session
itself lives in the database, so idle timeout, lifetime, logout and an administrator's
"disable" take effect on every worker at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import flask
from flask_login import UserMixin
from flask_login import current_user as login_current_user

from data_access.access import ANONYMOUS, AccessScope
from data_access.api_tokens import TokenUse, authenticate
from data_access.audit import Actor
from data_access.database import Database
from data_access.request_identity import Identity, identify
from data_access.user_sessions import SessionInfo
from data_access.users import UserSummary
from portal.settings import Settings

TOKEN_KEY = "session_token"
IDENTITY_KEY = "portal_identity"  # in flask.g
API_PREFIX = "/api/"  # the only paths where a bearer token (API token) is honoured


@dataclass(frozen=True)
class PortalUser(UserMixin):  # type: ignore[misc]
    """The user behind a valid session; `fully_authenticated` once any second factor is given."""

    id: int
    username: str
    display_name: str
    fully_authenticated: bool
    needs_enrolment: bool


def now() -> datetime:
    return datetime.now(UTC)


def settings() -> Settings:
    value: Settings = flask.current_app.config["PORTAL_SETTINGS"]
    return value


def database() -> Database:
    value: Database = flask.current_app.extensions["database"]
    return value


def remote_addr() -> str | None:
    return flask.request.remote_addr if flask.has_request_context() else None


def two_factor_required(user: UserSummary) -> bool:
    """Everyone with a grant may reach patient-level data or hand out access, so all need it."""
    return settings().require_two_factor and user.has_grants


def load_user_from_request(_request: flask.Request) -> PortalUser | None:
    """Flask-Login's request loader: the session token, checked against the database."""
    found = current_identity()  # None for a disabled user: that ends the session
    if found is None:
        return None
    user = found.user
    needs_two_factor = two_factor_required(user)
    return PortalUser(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        fully_authenticated=found.session.two_factor_done or not needs_two_factor,
        needs_enrolment=needs_two_factor and not user.has_two_factor,
    )


def current_identity() -> Identity | None:
    """The session, user and grants behind this request's cookie, read once per request."""
    if IDENTITY_KEY in flask.g:
        cached: Identity | None = flask.g.get(IDENTITY_KEY)
        return cached
    token = flask.session.get(TOKEN_KEY)
    found = None
    if isinstance(token, str):
        idle = timedelta(minutes=settings().session_idle_minutes)
        found = identify(database(), token, now(), idle, remote_addr())
        if found is None:
            flask.session.pop(TOKEN_KEY, None)
            flask.g.session_expired = True
    setattr(flask.g, IDENTITY_KEY, found)
    return found


def forget_identity() -> None:
    """After a login: the request's next question about its session reads the new one."""
    flask.g.pop(IDENTITY_KEY, None)


def current_session() -> SessionInfo | None:
    found = current_identity()
    return None if found is None else found.session


def current_user() -> PortalUser | None:
    if not flask.has_request_context():
        return None
    user = login_current_user._get_current_object()
    return user if isinstance(user, PortalUser) else None


def bearer_secret() -> str | None:
    """The secret of `Authorization: Bearer <secret>` on an API path; None without one."""
    if not flask.has_request_context() or not flask.request.path.startswith(API_PREFIX):
        return None
    scheme, _, secret = flask.request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else None


def current_api_token() -> TokenUse | None:
    """The API token this request presents (valid or refused), once per request; None if none."""
    if not flask.has_request_context():
        return None
    if "api_token" not in flask.g:
        secret = bearer_secret()
        flask.g.api_token = (
            None if secret is None else authenticate(database(), secret, now(), remote_addr())
        )
    use: TokenUse | None = flask.g.api_token
    return use


def api_client_known() -> bool:
    """A valid API token is behind this request (a system token has no user, yet is known)."""
    use = current_api_token()
    return use is not None and use.scope is not None


def identified_user_id() -> int | None:
    """The user this request has already been found to act for (API token or session), or
    None; never a lookup of its own, so that logging a request costs nothing."""
    use: TokenUse | None = flask.g.get("api_token")
    if use is not None:
        return use.scope.actor.user_id if use.scope is not None else None
    found: Identity | None = flask.g.get(IDENTITY_KEY)
    return found.session.user_id if found is not None else None


def current_actor() -> Actor:
    use = current_api_token()
    if use is not None and use.scope is not None:
        return use.scope.actor
    user = current_user()
    if user is None:
        return Actor(user_id=None, username=None, remote_addr=remote_addr())
    return Actor(user_id=user.id, username=user.username, remote_addr=remote_addr())


def current_scope() -> AccessScope:
    """The grants of a fully logged-in user or of an API token; anonymous otherwise. Cached."""
    if not flask.has_request_context():
        return ANONYMOUS
    if "portal_scope" not in flask.g:
        user = current_user()
        use = current_api_token()
        if use is not None:  # a bearer token speaks for the request, whatever cookie comes along
            flask.g.portal_scope = use.scope or ANONYMOUS
        elif user is None or not user.fully_authenticated:
            flask.g.portal_scope = ANONYMOUS
        else:
            found = current_identity()
            flask.g.portal_scope = ANONYMOUS if found is None else found.scope
    scope: AccessScope = flask.g.portal_scope
    return scope
