"""Drill-down: the registrations behind one result of the user's own unit.

From an indicator of "my unit", the unit's registrations of the year in the indicator's
denominator, each marked in or out of the numerator, with the variables the indicator
uses. The page's frame and filters are rendered from the address (`registry`, `unit`,
`indicator`, `year`, `numerator`, `status`, `sort`, `order`, `page`); the list itself, a
page of `my_unit_records.PAGE_ROWS` records at a time, comes from an
authenticated callback that runs when the page opens, reads through
`data_access.unit_records.denominator_records` (which checks the unit against the user's
scope and audits the ids it returns) and so records every look at the list. A forged unit,
in the address or in the callback's input, gets a refusal and no record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
from dash import Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component

from data_access.access import AccessDenied
from data_access.unit_records import (
    NUMERATOR_FILTERS,
    STATUS_FILTERS,
    denominator_records,
    indicator_variables,
)
from entry.registry_folder import RegistryFolder
from indicators import Indicator
from portal import urls
from portal.auth.guard import guarded_callback
from portal.auth.identity import current_scope, database, settings
from portal.components import my_unit_records as records
from portal.components import result_filters as rf
from portal.components.admin_tables import outcome, status_region
from portal.components.login_prompt import login_prompt
from portal.components.page_nav import page_nav
from portal.components.shell import page_frame
from portal.i18n import normalise_language, request_language, translate
from portal.pages.my_unit import readable_registries
from portal.public_data import find_indicator, units

PATH = "/my-unit/patients"

dash.register_page(
    __name__, path=PATH, title=lambda: translate("drilldown.title", request_language())
)


def layout(
    lang: str | None = None,
    registry: str | None = None,
    unit: str | None = None,
    indicator: str | None = None,
    year: str | None = None,
    numerator: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    page: str | None = None,
    **_query: str,
) -> html.Div:
    language = normalise_language(lang)
    query = {
        "registry": registry,
        "unit": unit,
        "indicator": indicator,
        "year": year,
        "numerator": numerator,
        "status": status,
        "sort": sort,
        "order": order,
        "page": page,
    }
    title = html.H1(translate("drilldown.title", language))
    scope = current_scope()
    if not scope.authenticated:
        return page_frame(language, PATH, [title, login_prompt(language, PATH)], query)
    chosen = next((r for r in readable_registries(scope) if r.key == registry), None)
    unit_id = _integer(unit)
    found = find_indicator(chosen, indicator) if chosen is not None else None
    asked_year = _integer(year)
    if (
        chosen is None
        or unit_id is None
        or not scope.may_read_records(chosen.key, unit_id)
        or found is None
        or asked_year is None
    ):
        refusal = html.P(translate("drilldown.not_allowed", language), id="drill-down-not-allowed")
        back = html.P(
            dcc.Link(translate("drilldown.back", language), href=urls.my_unit(None, language))
        )
        return page_frame(language, PATH, [title, refusal, back], query)
    request = _request(
        chosen, found, unit_id, asked_year, numerator, status, sort, order, page, language
    )
    return page_frame(language, PATH, _content(chosen, found, request, language), query)


def _integer(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _request(
    registry: RegistryFolder,
    indicator: Indicator,
    unit_id: int,
    year: int,
    numerator: str | None,
    status: str | None,
    sort: str | None,
    order: str | None,
    page: str | None,
    language: str,
) -> dict[str, Any]:
    """What the list callback is asked for, with unknown filter values set to the default."""
    variables = indicator_variables(indicator, registry.dictionary)
    sorts = [
        o["value"]
        for o in records.filter_options(indicator, variables, registry.dictionary, language)["sort"]
    ]
    return {
        "registry": registry.key,
        "unit": unit_id,
        "indicator": indicator.key,
        "year": year,
        "numerator": numerator
        if numerator in NUMERATOR_FILTERS and indicator.type == "proportion"
        else "all",
        "status": status if status in STATUS_FILTERS else "finished",
        "sort": sort if sort in sorts else "event_date",
        "order": "desc" if order == "desc" else "asc",
        "page": max(_integer(page) or 1, 1),
        "lang": language,
    }


def _content(
    registry: RegistryFolder, indicator: Indicator, request: dict[str, Any], language: str
) -> list[Component]:
    tree = units()
    names = dict(zip(tree["unit_id"].to_list(), tree["name"].to_list(), strict=True))
    unit_name = names.get(request["unit"], str(request["unit"]))
    title = indicator.title.in_language(language)
    variables = indicator_variables(indicator, registry.dictionary)
    options = records.filter_options(indicator, variables, registry.dictionary, language)
    controls: list[Component] = []
    for component_id, key in zip(records.FILTER_IDS, records.QUERY_KEYS, strict=True):
        controls.append(
            rf.dropdown(
                component_id,
                translate(f"drilldown.filter.{key}", language),
                options[key],
                request[key],
            )
        )
    back = urls.my_unit(
        registry.key, language, unit=request["unit"], year=request["year"], indicator=indicator.key
    )
    return [
        rf.location(records.LOCATION),
        dcc.Store(id=records.REQUEST, data=request),
        html.H1(translate("drilldown.heading", language, indicator=title)),
        html.P(
            translate("drilldown.lead", language, unit=unit_name, year=request["year"]),
            className="lead",
            id="drill-down-lead",
        ),
        html.P(dcc.Link(translate("drilldown.back_to_unit", language, unit=unit_name), href=back)),
        html.Details(
            className="drill-down-definition",
            children=[
                html.Summary(translate("drilldown.definition", language)),
                html.Dl(
                    [
                        html.Dt(translate("drilldown.denominator", language)),
                        html.Dd(
                            html.Code(
                                indicator.denominator or translate("drilldown.everyone", language)
                            )
                        ),
                        *(
                            [
                                html.Dt(translate("drilldown.numerator", language)),
                                html.Dd(html.Code(indicator.numerator)),
                            ]
                            if indicator.numerator
                            else [
                                html.Dt(translate("drilldown.value", language)),
                                html.Dd(html.Code(indicator.value or "")),
                            ]
                        ),
                    ]
                ),
            ],
        ),
        html.Section(
            className="result-filters",
            **{"aria-labelledby": "drill-down-filters-heading"},
            children=[
                html.H2(translate("drilldown.filters", language), id="drill-down-filters-heading"),
                html.Div(className="result-filter-row", children=controls),
            ],
        ),
        html.Section(
            **{"aria-labelledby": "drill-down-list-heading"},
            children=[
                html.H2(
                    translate("drilldown.list_heading", language), id="drill-down-list-heading"
                ),
                html.P(translate("drilldown.masked_note", language), className="chart-note"),
                status_region(records.STATUS),
                html.Div(id=records.TABLE),
            ],
        ),
    ]


@guarded_callback(
    "authenticated",
    output={
        "table": Output(records.TABLE, "children"),
        "status": Output(records.STATUS, "children"),
    },
    inputs={"request": Input(records.REQUEST, "data")},
)
def show_records(request: object) -> dict[str, Any]:
    """The list, read (and audited) for a unit the user may read; a refusal otherwise."""
    asked: dict[str, Any] = request if isinstance(request, dict) else {}
    language = normalise_language(asked.get("lang"))
    refused = {
        "table": None,
        "status": outcome(translate("drilldown.not_allowed", language), ok=False),
    }
    scope = current_scope()
    registry = next((r for r in readable_registries(scope) if r.key == asked.get("registry")), None)
    indicator = find_indicator(registry, asked.get("indicator")) if registry else None
    year = asked.get("year")
    if registry is None or indicator is None or not isinstance(year, int) or isinstance(year, bool):
        return refused
    numerator, statuses = asked.get("numerator", "all"), asked.get("status", "finished")
    page = asked.get("page", 1)
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        return refused
    try:
        found = denominator_records(
            database(),
            scope,
            registry.key,
            registry.dictionary,
            indicator,
            asked.get("unit"),
            year,
            national_id_key=settings().national_id_key,
            statuses=statuses,
            numerator=numerator,
            sort=str(asked.get("sort", "event_date")),
            descending=asked.get("order") == "desc",
            offset=(page - 1) * records.PAGE_ROWS,
            limit=records.PAGE_ROWS,
        )
    except (AccessDenied, ValueError):
        return refused
    unit_id = int(asked["unit"])
    caption = translate(
        "drilldown.caption",
        language,
        indicator=indicator.title.in_language(language),
        year=year,
    )
    table = records.records_table(
        registry,
        indicator,
        found,
        editable=scope.may_edit_records(registry.key, unit_id),
        caption=caption,
        language=language,
    )
    shown, pages = records.page_position(found)
    if pages > 1:
        table = html.Div([table, page_nav(shown, pages, _page_address(asked), language)])
    return {
        "table": table,
        "status": html.P(records.summary_text(found, indicator, numerator, statuses, language)),
    }


def _page_address(asked: dict[str, Any]) -> Callable[[int], str]:
    """Addresses of the list's pages with the filters of `asked` (checked by the caller)."""
    filters = {key: asked.get(key) for key in records.QUERY_KEYS}

    def href(page: int) -> str:
        return urls.drill_down(
            asked["registry"],
            asked["unit"],
            asked["indicator"],
            asked["year"],
            normalise_language(asked.get("lang")),
            **filters,
            page=page,
        )

    return href


@guarded_callback(
    "authenticated",
    [Output(records.LOCATION, "href")],
    *(Input(component, "value") for component in records.FILTER_IDS),
    State(records.REQUEST, "data"),
    prevent_initial_call=True,
)
def follow_filters(*values: object) -> list[Any]:
    """The address of the list with the chosen filters, for a unit the user may read."""
    return [_address(*values)]


def _address(*values: object) -> Any:
    *chosen, request = values
    asked: dict[str, Any] = request if isinstance(request, dict) else {}
    registry, unit, indicator, year = (
        asked.get(k) for k in ("registry", "unit", "indicator", "year")
    )
    if (
        not isinstance(registry, str)
        or not isinstance(unit, int)
        or isinstance(unit, bool)
        or not current_scope().may_read_records(registry, unit)
        or not isinstance(indicator, str)
        or not isinstance(year, int)
    ):
        return no_update
    filters = {
        key: value
        for key, value in zip(records.QUERY_KEYS, chosen, strict=True)
        if isinstance(value, str)
    }
    return urls.drill_down(
        registry, unit, indicator, year, normalise_language(asked.get("lang")), **filters
    )
