"""Unsubscribing from a report e-mail, without logging in: a signed link, and one-click POST.

Every subscribed report carries a link `/reports/unsubscribe/<id>.<signature>`, where the
signature is an HMAC-SHA256 of the subscription id under the portal's `SECRET_KEY`: it
cannot be guessed for another subscription, and an altered link is refused with a 404
that says nothing about any subscription. The same address goes in the `List-Unsubscribe`
header with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), so a mail
program's own "unsubscribe" button ends the subscription with one POST.

Opening the link (GET) only asks; the button on that page (a POST) unsubscribes. Mail
scanners open every link in a message to check it, and would otherwise end subscriptions
nobody asked to end. The POST needs no CSRF token: the signed link is the credential, and
a mail program's one-click POST could never carry a token. Rate-limited per address; not
cached, not indexed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import flask
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFProtect

from data_access.audit import Actor
from data_access.report_subscriptions import end_subscription, subscription_active
from portal import urls
from portal.auth.guard import route_access
from portal.auth.identity import database, remote_addr, settings
from portal.auth.views import render

RULE = "/reports/unsubscribe/<token>"
_PURPOSE = b"report-unsubscribe:"


def init_app(server: flask.Flask) -> None:
    """Register the route; call after `portal.auth.init_app` (CSRF and the rate limiter)."""
    limiter: Limiter = next(iter(server.extensions["limiter"]))
    blueprint = flask.Blueprint("report_unsubscribe", __name__)
    limited = limiter.limit("30 per minute")
    blueprint.add_url_rule(RULE, "unsubscribe", limited(unsubscribe), methods=["GET", "POST"])
    blueprint.after_request(_private)
    csrf: CSRFProtect = server.extensions["csrf"]
    csrf.exempt(blueprint)
    server.register_blueprint(blueprint)


def link_token(secret_key: str, subscription_id: int) -> str:
    """`<id>.<signature>`: the path part of the subscription's unsubscribe link."""
    return f"{subscription_id}.{_signature(secret_key, subscription_id)}"


def verified_id(secret_key: str, token: str) -> int | None:
    """The subscription id a token was signed for; None for anything altered or malformed."""
    number, _, signature = token.partition(".")
    if not number.isdigit() or len(number) > 12:
        return None
    subscription_id = int(number)
    expected = _signature(secret_key, subscription_id)
    return subscription_id if hmac.compare_digest(signature, expected) else None


def _signature(secret_key: str, subscription_id: int) -> str:
    digest = hmac.new(
        secret_key.encode(), _PURPOSE + str(subscription_id).encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@route_access("public")
def unsubscribe(token: str) -> flask.Response:
    subscription_id = verified_id(settings().secret_key, token)
    active = subscription_active(database(), subscription_id) if subscription_id else None
    if subscription_id is None or active is None:
        return _page("subscriptions.unsubscribe.invalid", status=404)
    if flask.request.method == "GET":
        if not active:
            return _page("subscriptions.unsubscribe.already")
        language = flask.request.args.get("lang")
        return render(
            "report_unsubscribe.html",
            "subscriptions.unsubscribe.title",
            action=urls.report_unsubscribe(token, language),
        )
    actor = Actor(user_id=None, username="unsubscribe-link", remote_addr=remote_addr())
    ended = end_subscription(database(), subscription_id, actor, via="link")
    return _page("subscriptions.unsubscribe.done" if ended else "subscriptions.unsubscribe.already")


def _page(message_key: str, status: int = 200) -> flask.Response:
    return render(
        "report_unsubscribe.html", "subscriptions.unsubscribe.title", status, notice=message_key
    )


def _private(response: flask.Response) -> flask.Response:
    """The path holds the link's signature: never cached or indexed. (Its links lead only to
    this site, so the site-wide referrer policy never sends the path elsewhere.)"""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
