"""Login, second factor, enrolment and logout: plain Flask form routes, CSRF-protected.

The password and the second factor are separate steps on separate pages: a session that
has passed only the password is not authenticated for anything but the next step.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import flask
from flask_limiter import Limiter

from data_access import two_factor
from data_access.audit import Actor, record_event
from data_access.login import authenticate_password
from data_access.user_sessions import end_session, mark_two_factor_done, renew
from data_access.users import get_user
from portal import urls
from portal.auth.guard import route_access
from portal.auth.identity import (
    TOKEN_KEY,
    current_actor,
    current_session,
    current_user,
    database,
    forget_identity,
    now,
    remote_addr,
    settings,
    two_factor_required,
)
from portal.i18n import normalise_language, translate

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
ENROL_SECRET_KEY = "totp_enrolment_secret"
ISSUER = "Kvalitetsregisterportalen"


def make_blueprint(limiter: Limiter) -> flask.Blueprint:
    """The routes, with per-address and per-account rate limits on every guess."""
    blueprint = flask.Blueprint("auth", __name__, template_folder=str(TEMPLATES))
    per_address = limiter.limit("20 per minute", methods=["POST"])
    per_account = limiter.limit(
        "10 per minute",
        methods=["POST"],
        key_func=lambda: "account:" + flask.request.form.get("username", "").strip().lower(),
    )
    # Code guesses count per account, whichever session or address they come from.
    per_user = limiter.limit(
        "10 per minute", methods=["POST"], key_func=lambda: "user:" + _user_key()
    )
    blueprint.add_url_rule(
        "/login", "login", per_account(per_address(login)), methods=["GET", "POST"]
    )
    blueprint.add_url_rule(
        "/login/totp", "totp", per_user(per_address(totp)), methods=["GET", "POST"]
    )
    blueprint.add_url_rule(
        "/login/enrol", "enrol", per_user(per_address(enrol)), methods=["GET", "POST"]
    )
    blueprint.add_url_rule("/logout", "logout", logout, methods=["POST"])
    return blueprint


def render(template: str, title_key: str, status: int = 200, **context: object) -> flask.Response:
    language = _language()
    path = flask.request.path
    page = flask.render_template(
        template,
        language=language,
        other_language="en" if language == "nb" else "nb",
        other_language_url=urls.page_url(path, "en" if language == "nb" else "nb"),
        home_url=urls.home(language),
        title=translate(title_key, language),
        t=lambda key, **values: translate(key, language, **values),
        **context,
    )
    return flask.Response(page, status=status)


@route_access("public")
def login() -> flask.Response:
    next_url = _safe_next(flask.request.values.get("next"))
    current_session()  # notices (and audits) a session that ran out since the last request
    message_key = "login.expired" if flask.g.get("session_expired") else None
    if flask.request.method == "GET":
        return login_page(next_url, message_key)
    username = flask.request.form.get("username", "").strip().lower()
    password = flask.request.form.get("password", "")
    result = authenticate_password(database(), username, password, remote_addr(), now())
    if result.outcome != "ok" or result.user_id is None:
        message = "login.locked" if result.outcome == "locked" else "login.failed"
        return login_page(next_url, message, username=username, status=401)
    user = get_user(database(), result.user_id)
    assert user is not None
    needs_second_factor = two_factor_required(user)
    _begin_session(user.id, two_factor_done=not needs_second_factor)
    actor = Actor(user_id=user.id, username=user.username, remote_addr=remote_addr())
    if not needs_second_factor:
        record_event(database(), "login.success", actor, details={"two_factor": "not required"})
        return flask.redirect(next_url)
    flask.session["next"] = next_url
    step = "auth.totp" if user.has_two_factor else "auth.enrol"
    return flask.redirect(flask.url_for(step, **_language_query()))


@route_access("public")
def totp() -> flask.Response:
    user = current_user()
    if user is None:
        return _to_login()
    if user.fully_authenticated:
        return flask.redirect(_safe_next(flask.session.get("next")))
    if flask.request.method == "GET":
        return render("totp.html", "totp.heading", action=flask.request.full_path)
    code = flask.request.form.get("code", "")
    actor = current_actor()
    key = settings().national_id_key
    ok = two_factor.verify_totp(database(), actor, user.id, code, key, now())
    if not ok and len(code.strip()) > 8:
        ok = two_factor.use_recovery_code(database(), actor, user.id, code, now())
    if not ok:
        return render(
            "totp.html",
            "totp.heading",
            status=401,
            action=flask.request.full_path,
            message=translate("totp.failed", _language()),
        )
    return _complete_login(actor)


@route_access("public")
def enrol() -> flask.Response:
    user = current_user()
    if user is None:
        return _to_login()
    if not user.needs_enrolment:
        return flask.redirect(flask.url_for("auth.totp", **_language_query()))
    language = _language()
    qr_title = translate("enrol.qr_title", language)
    if flask.request.method == "GET" or ENROL_SECRET_KEY not in flask.session:
        # A reload shows the same secret, so a code already scanned keeps working.
        pending = flask.session.get(ENROL_SECRET_KEY)
        enrolment = (
            two_factor.enrolment_for_secret(user.username, ISSUER, pending, title=qr_title)
            if isinstance(pending, str)
            else two_factor.begin_enrolment(user.username, ISSUER, title=qr_title)
        )
        flask.session[ENROL_SECRET_KEY] = enrolment.secret
        return render(
            "enrol.html",
            "enrol.heading",
            action=flask.request.full_path,
            qr_svg=enrolment.qr_svg,
            secret=enrolment.secret,
        )
    secret = str(flask.session[ENROL_SECRET_KEY])
    actor = current_actor()
    try:
        codes = two_factor.confirm_enrolment(
            database(),
            actor,
            user.id,
            secret,
            flask.request.form.get("code", ""),
            settings().national_id_key,
            now(),
        )
    except two_factor.TwoFactorError:
        enrolment = two_factor.enrolment_for_secret(user.username, ISSUER, secret, title=qr_title)
        return render(
            "enrol.html",
            "enrol.heading",
            status=401,
            action=flask.request.full_path,
            qr_svg=enrolment.qr_svg,
            secret=secret,
            message=translate("totp.failed", language),
        )
    flask.session.pop(ENROL_SECRET_KEY, None)
    _complete_login(actor)
    return render(
        "enrol.html",
        "enrol.heading",
        recovery_codes=codes,
        next_url=_safe_next(flask.session.pop("next", None)),
    )


@route_access("public")
def logout() -> flask.Response:
    token = flask.session.get(TOKEN_KEY)
    if isinstance(token, str):
        end_session(database(), token, now(), current_actor())
    flask.session.clear()
    return flask.redirect(urls.home(_language()))


def _begin_session(user_id: int, *, two_factor_done: bool) -> None:
    """A new session id at every login, so a token planted before login is worth nothing."""
    old = flask.session.get(TOKEN_KEY)
    flask.session.clear()
    lifetime = timedelta(hours=settings().session_lifetime_hours)
    token = renew(
        database(),
        old if isinstance(old, str) else None,
        user_id,
        remote_addr(),
        now(),
        lifetime,
        two_factor_done,
    )
    flask.session[TOKEN_KEY] = token
    flask.session.permanent = True
    forget_identity()


def _complete_login(actor: Actor) -> flask.Response:
    token = flask.session.get(TOKEN_KEY)
    assert isinstance(token, str)
    mark_two_factor_done(database(), token, now())
    record_event(database(), "login.success", actor, details={"two_factor": "passed"})
    return flask.redirect(_safe_next(flask.session.pop("next", None)))


def login_page(
    next_url: str, message_key: str | None, username: str = "", status: int = 200
) -> flask.Response:
    language = _language()
    return render(
        "login.html",
        "login.heading",
        status=status,
        action=flask.url_for("auth.login", **_language_query()),
        next_url=next_url,
        username=username,
        message=translate(message_key, language) if message_key else None,
    )


def _to_login() -> flask.Response:
    return flask.redirect(flask.url_for("auth.login", **_language_query()))


def _safe_next(value: object) -> str:
    """Only a path on this site: an open redirect would make the login page a phishing tool."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return urls.home(_language())
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value:
        return urls.home(_language())
    return value


def _language() -> str:
    return normalise_language(flask.request.args.get("lang"))


def _language_query() -> dict[str, str]:
    return {"lang": "en"} if _language() == "en" else {}


def _user_key() -> str:
    user = current_user()
    return str(user.id) if user is not None else f"anonymous:{flask.request.remote_addr}"
