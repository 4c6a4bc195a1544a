"""Login, sessions, CSRF, rate limits, security headers and the deny-by-default guard."""

from __future__ import annotations

from datetime import timedelta

import dash
import flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from data_access.audit import record_event
from portal.auth import guard, identity, views
from portal.settings import Settings

CSRF_COOKIE = "_csrf_token"  # the cookie Dash's renderer sends back as the X-CSRFToken header


def init_app(server: flask.Flask, settings: Settings, dash_app: dash.Dash) -> None:
    production = settings.environment == "production"
    server.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_lifetime_hours),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session that holds it
        RATELIMIT_HEADERS_ENABLED=True,
    )
    login_manager = LoginManager()
    login_manager.request_loader(identity.load_user_from_request)
    login_manager.init_app(server)
    CSRFProtect(server)
    Talisman(
        server,
        force_https=False,  # TLS ends at the proxy; HSTS is still sent on HTTPS requests
        strict_transport_security=True,
        session_cookie_secure=production,
        content_security_policy=None,  # set below, with the hashes of Dash's inline scripts
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
    )
    limiter = Limiter(
        get_remote_address,
        app=server,
        storage_uri=_limiter_storage(settings),
        strategy="moving-window",
    )
    server.register_blueprint(views.make_blueprint(limiter))
    server.before_request(guard.enforce_access)
    server.after_request(_content_security_policy(dash_app))
    server.after_request(_csrf_cookie(production))
    server.register_error_handler(CSRFError, _csrf_refused)
    server.register_error_handler(429, _too_many)


def _limiter_storage(settings: Settings) -> str:
    """Shared counters across workers when Redis is configured; in memory otherwise."""
    return settings.redis_url or "memory://"


def _content_security_policy(dash_app: dash.Dash):  # type: ignore[no-untyped-def]
    """Scripts only from this site plus Dash's own inline scripts, allowed by their hashes."""

    def add_header(response: flask.Response) -> flask.Response:
        # Recomputed per response: Dash's page router adds its inline script on first use.
        scripts = " ".join(dash_app.csp_hashes())
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; "
            f"script-src 'self' {scripts}; "
            "style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        )
        return response

    return add_header


def _csrf_cookie(production: bool):  # type: ignore[no-untyped-def]
    def set_cookie(response: flask.Response) -> flask.Response:
        if response.mimetype == "text/html":
            response.set_cookie(
                CSRF_COOKIE, generate_csrf(), secure=production, samesite="Strict", httponly=False
            )
        return response

    return set_cookie


def _csrf_refused(error: CSRFError) -> flask.Response:
    record_event(
        identity.database(),
        "request.csrf_refused",
        identity.current_actor(),
        details={"path": flask.request.path, "reason": error.description},
    )
    if flask.request.path == guard.DASH_UPDATE_ENDPOINT:
        return flask.jsonify(error=error.description), 400  # type: ignore[return-value]
    return views.login_page("/", "login.csrf", status=400)


def _too_many(error: Exception) -> flask.Response:
    record_event(
        identity.database(),
        "login.rate_limited",
        identity.current_actor(),
        details={
            "path": flask.request.path,
            "username": flask.request.form.get("username", "")[:80] or None,
            "limit": str(getattr(error, "description", "")),
        },
    )
    return views.login_page("/", "login.too_many", status=429)
