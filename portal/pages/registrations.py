"""Registreringer: the registrations of the user's units, filtered, sorted and paged.

For clinicians and registrars (issue 4, "Registrar's list"). The whole view lives in the URL
query (`?year=&from=&to=&status=&unit=&form=&missing=&sort=&order=&page=`), so every view is
a permalink. Status, unit, form and "missing required fields" are lists of links (each
option is the address of its view); the period fields build the address through one guarded
callback that navigates; sorting and paging are links too. The layout reads the rows through
`data_access` with the caller's scope, which audits the read; a unit outside the scope finds
nothing. Anonymous visitors get a login prompt; users without a clinician or registrar
grant a refusal.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import dash
from dash import Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component

from data_access.access import Role
from data_access.models import REGISTRATION_STATUSES, UNIT_LEVELS
from entry.registry_folder import RegistryFolder
from portal import urls
from portal.auth.guard import guarded_callback
from portal.auth.identity import current_scope, database, settings
from portal.catalogue import installed_registries
from portal.components.admin_tables import (
    LOCAL_TIME,
    button,
    outcome,
    section,
    status_region,
    text_field,
)
from portal.components.login_prompt import login_prompt
from portal.components.registration_list import (
    ListQuery,
    completeness_section,
    pagination,
    parse_query,
    read_list,
    registrations_table,
    subtree,
)
from portal.components.shell import page_frame
from portal.i18n import normalise_language, request_language, translate
from portal.public_data import units

PATH = "/registrations"
READER_ROLES: tuple[Role, ...] = ("clinician", "registrar")

CONTEXT = "registrations-context"
NAVIGATE = "registrations-navigate"
YEAR = "registrations-year"
FROM = "registrations-from"
TO = "registrations-to"
APPLY = "registrations-apply"
FILTER_STATUS = "registrations-filter-status"

dash.register_page(
    __name__, path=PATH, title=lambda: translate("registrations.title", request_language())
)


def layout(lang: str | None = None, registry: str | None = None, **query: str) -> html.Div:
    language = normalise_language(lang)
    scope = current_scope()
    title = html.H1(translate("registrations.title", language))
    if not scope.authenticated:
        return page_frame(language, PATH, [title, login_prompt(language, PATH)])
    readable = [r for r in installed_registries() if scope.units(r.key, *READER_ROLES)]
    if registry:
        chosen = next((r for r in readable if r.key == registry), None)
    else:
        chosen = readable[0] if readable else None
    if chosen is None:
        key = "registrations.no_registry" if registry else "registrations.not_allowed"
        refusal = html.P(
            translate(key, language, registry=registry or ""), id="registrations-not-allowed"
        )
        return page_frame(language, PATH, [title, refusal, _registry_links(readable, language)])
    forms = [f.key for f in chosen.forms if f.key in chosen.dictionary.forms]
    parsed, problems = parse_query(query, forms)
    page_query = {"registry": chosen.key, **_as_text(parsed.url_filters())}
    return page_frame(
        language, PATH, [title, *_content(chosen, parsed, problems, readable, language)], page_query
    )


def _content(
    registry: RegistryFolder,
    query: ListQuery,
    problems: list[str],
    readable: list[RegistryFolder],
    language: str,
) -> list[Component]:
    t = partial(translate, language=language)
    scope = current_scope()
    tree = units()
    names = dict(tree.select("unit_id", "name").iter_rows())
    mine = scope.units(registry.key, *READER_ROLES)
    if query.unit is not None and query.unit not in mine:
        problems = [*problems, "registrations.not_your_unit"]
    # A unit outside the scope is passed on as asked: data_access finds nothing for it and
    # writes the attempt into the audit log.
    unit_ids: frozenset[int] | None = None
    if query.unit is not None:
        inside = query.unit in mine
        unit_ids = subtree(tree, query.unit) & mine if inside else frozenset({query.unit})
    notes: list[Component] = [html.P(t(key), className="message") for key in problems]
    if "registrations.bad_period" in problems:
        results: list[Component] = []
        summary: list[Component] = []
    else:
        result = read_list(
            database(),
            scope,
            registry,
            query,
            unit_ids,
            national_id_key=settings().national_id_key,
            today=datetime.now(LOCAL_TIME).date(),
            unit_names=names,
        )
        counts = t("registrations.matching", n=result.matching)
        if result.truncated:
            counts += " " + t("registrations.truncated", n=result.read)
        results = [
            html.P(counts, role="status", id="registrations-count"),
            registrations_table(result, registry, query, language, names),
            pagination(result, registry.key, query, language),
        ]
        summary = completeness_section(result, registry, language)
    return [
        html.P(t("registrations.intro"), className="lead"),
        dcc.Location(id=NAVIGATE, refresh="callback-nav"),
        dcc.Store(
            id=CONTEXT,
            # The view's other filters, which the period fields keep when they navigate.
            data={"registry": registry.key, "language": language, **_as_text(query.url_filters())},
        ),
        _registry_links(readable, language, registry.key),
        section(
            "registrations-filter",
            t("registrations.filters"),
            _filters(registry, query, sorted(mine), names, tree, language),
        ),
        section("registrations-list", t("registrations.list"), [*notes, *results]),
        section("registrations-completeness", t("registrations.completeness"), summary),
    ]


def _filters(
    registry: RegistryFolder,
    query: ListQuery,
    mine: list[int],
    names: dict[int, str],
    tree: Any,
    language: str,
) -> list[Component]:
    t = partial(translate, language=language)
    levels = dict(tree.select("unit_id", "level").iter_rows())
    rank = {level: n for n, level in enumerate(UNIT_LEVELS)}
    ordered_units = sorted(
        mine, key=lambda u: (rank.get(levels.get(u, ""), 99), names.get(u, str(u)))
    )
    return [
        html.Div(
            className="registrations-period",
            children=[
                html.Fieldset(
                    className="portal-form",
                    children=[
                        html.Legend(t("registrations.period")),
                        text_field(
                            YEAR,
                            t("registrations.year"),
                            value=_text(query.year),
                            hint=t("registrations.year_hint"),
                        ),
                        text_field(
                            FROM,
                            t("registrations.from"),
                            value=_text(query.first_day),
                            hint=t("registrations.date_hint"),
                        ),
                        text_field(
                            TO,
                            t("registrations.to"),
                            value=_text(query.last_day),
                            hint=t("registrations.date_hint"),
                        ),
                    ],
                ),
            ],
        ),
        html.Div(
            className="registrations-actions",
            children=[
                button(APPLY, t("registrations.apply")),
                dcc.Link(t("registrations.reset"), href=urls.registrations(registry.key, language)),
            ],
        ),
        status_region(FILTER_STATUS),
        html.Div(
            className="registrations-choices",
            children=[
                _choices(
                    "status",
                    t("registrations.status"),
                    [(None, t("registrations.any_status"))]
                    + [(s, t(f"registrations.status.{s}")) for s in REGISTRATION_STATUSES],
                    registry.key,
                    query,
                    language,
                ),
                _choices(
                    "unit",
                    t("registrations.unit"),
                    [(None, t("registrations.all_units"))]
                    + [(u, names.get(u, str(u))) for u in ordered_units],
                    registry.key,
                    query,
                    language,
                ),
                _choices(
                    "form",
                    t("registrations.form"),
                    [(None, t("registrations.all_forms"))]
                    + [(f.key, f.title.in_language(language)) for f in registry.forms],
                    registry.key,
                    query,
                    language,
                ),
                _choices(
                    "missing",
                    t("registrations.missing"),
                    [
                        (None, t("registrations.missing_any")),
                        ("yes", t("registrations.missing_yes")),
                        ("no", t("registrations.missing_no")),
                    ],
                    registry.key,
                    query,
                    language,
                ),
            ],
        ),
    ]


def _choices(
    key: str,
    heading: str,
    options: list[tuple[str | int | None, str]],
    registry_key: str,
    query: ListQuery,
    language: str,
) -> html.Div:
    """One filter as a list of links, each the address of the view with that choice.

    The current choice is marked for everyone (a tick and bold text, not colour alone) and
    for screen readers (aria-current); dcc.Link cannot carry aria-current, so it is a plain
    link. Choosing anything goes back to the first page.
    """
    current = query.url_filters().get(key)
    heading_id = f"registrations-{key}-heading"
    items = []
    for value, label in options:
        href = urls.registrations(
            registry_key, language, **{**query.url_filters(page=1), key: value}
        )
        if value == current:
            link: Component = html.A(
                ["✓ ", label], href=href, className="current", **{"aria-current": "true"}
            )
        else:
            link = dcc.Link(label, href=href)
        items.append(html.Li(link))
    return html.Div(
        className="filter-choices",
        id=f"registrations-{key}",
        children=[
            html.H3(heading, id=heading_id),
            html.Ul(items, **{"aria-labelledby": heading_id}),
        ],
    )


def _registry_links(
    registries: list[RegistryFolder], language: str, current: str | None = None
) -> Component:
    if len(registries) < 2 and current is not None:
        return html.Div()
    items = []
    for registry in registries:
        name = registry.name.in_language(language)
        if registry.key == current:
            items.append(html.Li(html.Span(name, **{"aria-current": "page"})))
        else:
            items.append(html.Li(dcc.Link(name, href=urls.registrations(registry.key, language))))
    return html.Nav(
        **{"aria-label": translate("registrations.registries", language)},
        className="registry-menu",
        children=html.Ul(items),
    )


@guarded_callback(
    "authenticated",
    output={"href": Output(NAVIGATE, "href"), "status": Output(FILTER_STATUS, "children")},
    inputs={
        "submitted": [Input(APPLY, "n_clicks"), *(Input(f, "n_submit") for f in (YEAR, FROM, TO))],
        "period": {
            "year": State(YEAR, "value"),
            "from": State(FROM, "value"),
            "to": State(TO, "value"),
        },
        "context": State(CONTEXT, "data"),
    },
    prevent_initial_call=True,
)
def apply_period(
    submitted: list[int | None], period: dict[str, object], context: object
) -> dict[str, Any]:
    """The address of the view with the period typed in and the view's other filters kept;
    nothing for a registry or unit outside the caller's scope."""
    scope = current_scope()
    if not scope.authenticated or not isinstance(context, dict):
        return {"href": no_update, "status": no_update}
    language = normalise_language(context.get("language"))
    registry = next(
        (
            r
            for r in installed_registries()
            if r.key == context.get("registry") and scope.units(r.key, *READER_ROLES)
        ),
        None,
    )
    if registry is None:
        return _refused("registrations.not_allowed", language)
    forms = [f.key for f in registry.forms if f.key in registry.dictionary.forms]
    query, problems = parse_query({**context, **period}, forms)
    if problems:
        return _refused(problems[0], language)
    if query.unit is not None and query.unit not in scope.units(registry.key, *READER_ROLES):
        return _refused("registrations.not_your_unit", language)
    return {
        "href": urls.registrations(registry.key, language, **query.url_filters(page=1)),
        "status": outcome(translate("registrations.applying", language), ok=True),
    }


def _refused(key: str, language: str) -> dict[str, Any]:
    return {"href": no_update, "status": outcome(translate(key, language), ok=False)}


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _as_text(query: dict[str, str | int | None]) -> dict[str, str | None]:
    return {key: _text(value) for key, value in query.items()}
