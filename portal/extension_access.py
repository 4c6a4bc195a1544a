"""Serving extension pages and callbacks under the portal's access rules.

Each extension page is one entry in Dash's page registry whose layout is `serve_page`: it
finds the page among the current application's extensions, applies the page's access
decision and frames the content like every other page. Callbacks are registered through
`guarded_callback` (the deny-by-default guard then knows them) and check the registry role
themselves, as every protected callback must.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import dash
import flask
from dash import html
from dash.development.base_component import Component

from data_access.access import Role
from data_access.audit import record_event
from portal.auth.identity import current_actor, current_scope, database
from portal.components.login_prompt import login_prompt
from portal.components.shell import page_frame
from portal.extensions import PageRequest, allowed, installed_extension
from portal.i18n import normalise_language, translate


def serve_page(
    registry_key: str, suffix: str, /, lang: str | None = None, **query: str
) -> Component:
    """The page for `/registries/<registry_key>/<suffix>`, or the portal's "not found" page
    when this application does not serve that extension."""
    extension = installed_extension(registry_key)
    page = extension.pages.get(suffix) if extension else None
    if extension is None or page is None:
        return _not_found(lang)
    language = normalise_language(lang)
    scope = current_scope()
    content: Component | list[Component]
    if allowed(scope, registry_key, page.roles):
        given = page.layout(PageRequest(extension.registry, language, dict(query), scope))
        content = given if isinstance(given, Component) else list(given)
    else:
        reason = (
            html.P(translate("extension.not_allowed", language), id="extension-not-allowed")
            if scope.authenticated
            else login_prompt(language, page.path)
        )
        content = [html.H1(page.title.in_language(language)), reason]
    return page_frame(language, page.path, content, {**query})


def _not_found(lang: str | None) -> Component:
    found = next(p for m, p in dash.page_registry.items() if m.endswith(".not_found_404"))
    layout: Component = found["layout"](lang=lang)
    return layout


def guard_callback(
    registry_key: str, roles: tuple[Role, ...] | None, function: Callable[..., Any]
) -> Callable[..., Any]:
    """`function`, run only for callers the extension's access decision admits; others get
    403 (404 where this application does not serve the extension)."""

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if installed_extension(registry_key) is None:
            flask.abort(404)
        scope = current_scope()
        if not allowed(scope, registry_key, roles):
            details = {
                "path": flask.request.path,
                "requirement": f"{registry_key}: {', '.join(roles or ())}",
            }
            record_event(database(), "access.denied", current_actor(), details=details)
            flask.abort(flask.make_response(flask.jsonify(error="not allowed"), 403))
        return function(*args, **kwargs)

    return checked
