"""Deny by default: every route and every Dash callback needs an explicit access decision.

A route states its decision with `@route_access(...)` (Dash's own routes are listed here);
a callback is registered through `guarded_callback(...)`. A request to a route or callback
without a decision is refused, so forgetting a check fails closed, and the access-matrix
test fails until the new route or callback is given a decision.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import dash
import flask

from data_access.access import AccessScope
from data_access.audit import record_event
from portal.auth.identity import (
    api_client_known,
    current_actor,
    current_scope,
    current_user,
    database,
)

Requirement = Literal["public", "authenticated", "admin", "installation_admin"]
F = TypeVar("F", bound=Callable[..., Any])

DASH_UPDATE_ENDPOINT = "/_dash-update-component"

# Dash's own routes: the page shell, scripts and layout structure hold no data.
DASH_ROUTES: dict[str, Requirement] = {
    "_dash_assets.static": "public",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": "public",
    "/_dash-layout": "public",
    "/_dash-dependencies": "public",
    DASH_UPDATE_ENDPOINT: "public",  # each callback is then checked on its own, below
    "/_reload-hash": "public",
    "/_favicon.ico": "public",
    "/": "public",
    "/<path:path>": "public",
}

# Dash's page router and title callbacks: what they return is decided by each page's layout.
DASH_PUBLIC_CALLBACKS = frozenset(
    {".._pages_content.children..._pages_store.data..", "_pages_dummy.children"}
)

# Access decisions of the portal's own callbacks, keyed by Dash's output id. Filled when the
# page modules are imported (like Dash's own callback registry), never changed afterwards.
CALLBACK_ACCESS: dict[str, Requirement] = {}
CLIENTSIDE_OUTPUTS: set[str] = set()
"""Outputs of callbacks that run in the browser: the server has no function to answer a POST
for them (Dash would fail with a 500), so such a request is refused as malformed."""


def route_access(requirement: Requirement) -> Callable[[F], F]:
    def mark(view: F) -> F:
        view.portal_access = requirement  # type: ignore[attr-defined]
        return view

    return mark


def guarded_callback(requirement: Requirement, *args: Any, **kwargs: Any) -> Callable[[F], F]:
    """`dash.callback` with an access decision; the callback must still check scope itself."""

    def register(function: F) -> F:
        registered = dash.callback(*args, **kwargs)(function)
        output_id = _last_registered_output()
        CALLBACK_ACCESS[output_id] = requirement
        return registered  # type: ignore[no-any-return]

    return register


def guarded_clientside_callback(
    requirement: Requirement,
    function: Any,
    *args: Any,
    app: dash.Dash | None = None,
    **kwargs: Any,
) -> None:
    """`dash.clientside_callback` (or `app.clientside_callback` for one application) with an
    access decision: it runs in the browser, but the decision keeps the access matrix
    complete (and refuses a forged POST all the same)."""
    if app is None:
        dash.clientside_callback(function, *args, **kwargs)
        output_id = _last_registered_output()
    else:
        app.clientside_callback(function, *args, **kwargs)
        output_id = app._callback_list[-1]["output"]
    CALLBACK_ACCESS[output_id] = requirement
    CLIENTSIDE_OUTPUTS.add(output_id)


def satisfies(scope: AccessScope, requirement: Requirement) -> bool:
    if requirement == "public":
        return True
    if requirement == "authenticated":
        return scope.authenticated
    if requirement == "installation_admin":
        return scope.is_installation_admin()
    return any(scope.may_administer(registry) for registry in scope.roles)


def route_requirement(app: flask.Flask, endpoint: str | None) -> Requirement | None:
    if endpoint is None:
        return None
    if endpoint in DASH_ROUTES:
        return DASH_ROUTES[endpoint]
    view = app.view_functions.get(endpoint)
    requirement: Requirement | None = getattr(view, "portal_access", None)
    return requirement


def callback_requirement(output_id: str) -> Requirement | None:
    if output_id in DASH_PUBLIC_CALLBACKS:
        return "public"
    return CALLBACK_ACCESS.get(output_id)


def enforce_access() -> flask.Response | None:
    """`before_request`: refuse what has no decision, and what the caller's scope does not meet."""
    if flask.request.endpoint is None:
        return None  # no such route: Flask answers 404
    requirement = route_requirement(flask.current_app, flask.request.endpoint)
    if requirement is None:
        return _refuse(403, "no access decision for this route")
    if flask.request.endpoint == DASH_UPDATE_ENDPOINT and flask.request.method == "POST":
        body = flask.request.get_json(silent=True)
        output_id = body.get("output") if isinstance(body, dict) else None
        if not isinstance(output_id, str):
            return _refuse(400, "malformed callback request")
        requirement = callback_requirement(output_id)
        if requirement is None:
            return _refuse(403, "no access decision for this callback")
    if requirement == "public":
        # No session lookup for assets and public pages: they are most requests.
        return _browser_only()
    scope = current_scope()
    if satisfies(scope, requirement) or (requirement == "authenticated" and api_client_known()):
        return _browser_only()  # a system's API token has no user, yet is a known caller
    user = current_user()
    if scope.authenticated or user is not None:
        # A known user reaching for what their grants (or a missing second factor) do not
        # allow is worth tracing; anonymous visitors are not logged, to keep the log useful.
        details = {"path": flask.request.path, "requirement": requirement}
        if not scope.authenticated:
            details["reason"] = "second factor missing"
        record_event(database(), "access.denied", current_actor(), details=details)
        return _refuse(403 if scope.authenticated else 401, "not allowed")
    return _refuse(401, "not allowed")


def _browser_only() -> flask.Response | None:
    """A POST for a clientside callback has no server function: refuse it (once access is
    decided, so an anonymous caller still gets 401) instead of letting Dash fail with 500."""
    if flask.request.endpoint == DASH_UPDATE_ENDPOINT and flask.request.method == "POST":
        body = flask.request.get_json(silent=True)
        if isinstance(body, dict) and body.get("output") in CLIENTSIDE_OUTPUTS:
            return _refuse(400, "this callback runs in the browser")
    return None


def _refuse(status: int, message: str) -> flask.Response:
    if flask.request.path.startswith("/api/"):
        # The REST API's error shape, in the caller's language; imported here because
        # portal.api imports this module.
        from portal.api.errors import ApiError, error_response

        code = "unauthorized" if status == 401 else "forbidden"
        return error_response(ApiError(status, code, f"api.error.{code}"))
    return flask.Response(
        json.dumps({"error": message}), status=status, mimetype="application/json"
    )


def _last_registered_output() -> str:
    from dash._callback import GLOBAL_CALLBACK_LIST

    output: str = GLOBAL_CALLBACK_LIST[-1]["output"]
    return output
