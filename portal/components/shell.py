"""The frame around every page: skip link, navigation bar, language switch, footer.

Each page wraps its content in `page_frame`, so the frame is rendered in the page's own
language and the landmarks (banner, navigation, main, contentinfo) are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

from dash import dcc, html
from dash.development.base_component import Component
from flask_wtf.csrf import generate_csrf

from portal import urls
from portal.auth.identity import current_scope, current_user
from portal.catalogue import installed_registries
from portal.i18n import translate

MAIN_ID = "main-content"


def page_frame(
    language: str,
    path: str,
    children: list[Component] | Component,
    query: Mapping[str, str | None] | None = None,
) -> html.Div:
    """`query` is the page's own filters, kept when the reader switches language."""
    other = "en" if language == "nb" else "nb"
    return html.Div(
        className="portal",
        lang=language,
        children=[
            html.A(
                translate("shell.skip_to_content", language),
                href=f"#{MAIN_ID}",
                className="skip-link",
            ),
            html.Header(
                className="portal-header",
                children=[
                    dcc.Link(
                        translate("app.title", language),
                        href=urls.home(language),
                        className="portal-brand",
                    ),
                    html.Nav(
                        **{"aria-label": translate("shell.navigation", language)},
                        children=html.Ul(className="portal-nav", children=_menu(language, path)),
                    ),
                    # A full page load on purpose: the <html lang> must change with the language.
                    html.A(
                        translate("shell.switch_language", language),
                        href=urls.page_url(path, other, **(query or {})),
                        lang=other,
                        hrefLang=other,
                        className="language-switch",
                        title=translate("shell.switch_language_label", language),
                        id="language-switch",
                    ),
                    _account(language, path),
                ],
            ),
            *_registry_switch(language, path, query or {}),
            html.Main(id=MAIN_ID, tabIndex="-1", className="portal-main", children=children),
            html.Footer(
                className="portal-footer",
                children=[
                    html.P(translate("shell.footer_synthetic", language)),
                    html.P(translate("shell.footer_licence", language)),
                ],
            ),
        ],
    )


def _registry_switch(language: str, path: str, query: Mapping[str, str | None]) -> list[Component]:
    """On a page of one registry, when the installation has several: the same page of each
    of the others (its filters dropped, since units and indicators differ by registry)."""
    current, registries = query.get("registry"), installed_registries()
    if not current or len(registries) < 2:
        return []
    items = []
    for registry in registries:
        name = registry.name.in_language(language)
        href = urls.page_url(path, language, registry=registry.key)
        link = (
            html.A(name, href=href, **{"aria-current": "page"})
            if registry.key == current
            else dcc.Link(name, href=href)
        )
        items.append(html.Li(link))
    return [
        html.Nav(
            **{"aria-label": translate("shell.registry_switch", language)},
            className="registry-switch",
            id="registry-switch",
            children=html.Ul(items),
        )
    ]


def _account(language: str, path: str) -> Component:
    """Log in, or who is logged in and a logout button (a POST form, so it carries CSRF)."""
    user = current_user()
    if user is None:
        return html.A(
            translate("shell.login", language),
            href=urls.page_url("/login", language, next=path),
            className="account-link",
            id="login-link",
        )
    return html.Form(
        method="post",
        action=urls.page_url("/logout", language),
        className="logout-form",
        children=[
            html.Span(translate("shell.logged_in_as", language, name=user.display_name)),
            " ",
            dcc.Input(type="hidden", name="csrf_token", value=generate_csrf()),
            html.Button(translate("shell.logout", language), type="submit", id="logout-button"),
        ],
    )


def _menu(language: str, path: str) -> list[Component]:
    """Public pages for everyone; record and export pages only for users with a role that
    uses them (the pages and their callbacks check again themselves)."""
    items = [
        ("shell.home", urls.home(language), "/"),
        ("shell.results", urls.page_url("/results", language), "/results"),
        ("codebook.nav", urls.codebook(None, language), "/codebook"),
        ("shell.methods", urls.methods(language), "/methods"),
    ]
    scope = current_scope()
    roles = {role for granted in scope.roles.values() for role in granted}
    if roles & {"clinician", "registrar"}:
        items.append(("shell.my_unit", urls.page_url("/my-unit", language), "/my-unit"))
        items.append(
            ("shell.registrations", urls.page_url("/registrations", language), "/registrations")
        )
    if "registrar" in roles:
        items.append(("shell.import", urls.import_file(None, language), "/import"))
    if roles & {"clinician", "registrar", "analyst"}:
        items.append(("shell.export", urls.page_url("/export", language), "/export"))
    if any(scope.may_administer(registry) for registry in scope.roles):
        first = "/admin/users" if scope.is_installation_admin() else "/admin/grants"
        items.append(("shell.admin", urls.page_url(first, language), "/admin"))
    return [
        _menu_item(translate(key, language), href, section, path) for key, href, section in items
    ]


def _menu_item(text: str, href: str, section: str, path: str) -> html.Li:
    """`aria-current="page"` tells screen readers (and the stylesheet) where the reader is;
    dcc.Link cannot carry it, so the current page's entry is a plain link."""
    here = path == section if section == "/" else path == section or path.startswith(section + "/")
    if here:
        return html.Li(html.A(text, href=href, **{"aria-current": "page"}))
    return html.Li(dcc.Link(text, href=href))
