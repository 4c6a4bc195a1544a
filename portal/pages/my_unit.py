"""My unit (min enhet): a clinician's or registrar's own results against nation, region, peers.

Behind login. The unit is one of those the user's clinician or registrar grants cover (a
grant on a hospital covers its departments); a unit id of anyone else's in the address
gets a refusal and no number. The own unit's results are shown unsuppressed; the nation,
region and peer group beside them come from the public results only
(`portal.components.my_unit_data` has the peer rule). Below them: one indicator in detail
and the unit's data quality, and last the user's e-mail report subscription for the unit
(`portal.components.subscription_section`). Every choice is a query parameter (`registry`,
`unit`, `year`, `indicator`), rewritten by an authenticated callback that checks the unit again.
"""

from __future__ import annotations

from typing import Any

import dash
import polars as pl
from dash import Input, Output, State, html, no_update
from dash.development.base_component import Component

from data_access.access import AccessScope
from data_access.unit_records import unit_data_quality
from entry.registry_folder import RegistryFolder
from portal import urls
from portal.auth.guard import guarded_callback
from portal.auth.identity import current_scope, database, now, settings
from portal.catalogue import installed_registries
from portal.components import my_unit_data as data
from portal.components import my_unit_views as views
from portal.components import result_filters as rf
from portal.components.login_prompt import login_prompt
from portal.components.shell import page_frame
from portal.components.subscription_section import register_callbacks, subscription_section
from portal.i18n import normalise_language, request_language, translate
from portal.public_data import find_indicator, public_frame, units
from portal.results_cache import cached_results

PATH = "/my-unit"

dash.register_page(__name__, path=PATH, title=lambda: translate("myunit.title", request_language()))


def readable_registries(scope: AccessScope) -> list[RegistryFolder]:
    """The installed registries where the user may read some unit's records."""
    return [r for r in installed_registries() if scope.units(r.key, "clinician", "registrar")]


def layout(
    lang: str | None = None,
    registry: str | None = None,
    unit: str | None = None,
    year: str | None = None,
    indicator: str | None = None,
    **_query: str,
) -> html.Div:
    language = normalise_language(lang)
    query = {"registry": registry, "unit": unit, "year": year, "indicator": indicator}
    title = html.H1(translate("myunit.title", language))
    scope = current_scope()
    if not scope.authenticated:
        return page_frame(language, PATH, [title, login_prompt(language, PATH)], query)
    registries = readable_registries(scope)
    if not registries:
        refusal = html.P(translate("myunit.no_units", language), id="my-unit-not-allowed")
        return page_frame(language, PATH, [title, refusal], query)
    chosen = next((r for r in registries if r.key == registry), registries[0])
    content = _content(scope, registries, chosen, unit, year, indicator, language)
    return page_frame(language, PATH, content, query)


def _content(
    scope: AccessScope,
    registries: list[RegistryFolder],
    registry: RegistryFolder,
    unit: str | None,
    year: str | None,
    indicator_key: str | None,
    language: str,
) -> list[Component]:
    tree = units()
    mine = data.user_units(scope, registry.key, tree)
    unit_id = data.chosen_unit(unit, mine) if unit else int(mine[0]["unit_id"])
    preliminary = rf.today().year
    indicator = find_indicator(registry, indicator_key) or registry.indicators[0]
    if unit_id is None:
        return [
            rf.location(views.LOCATION),
            html.H1(translate("myunit.title", language)),
            views.filters(
                registries, registry, mine, None, [], None, indicator, preliminary, language
            ),
            html.P(
                translate("myunit.not_your_unit", language), id="my-unit-not-allowed", role="status"
            ),
        ]
    results = cached_results(settings(), database(), registry)
    own = data.with_names(data.own_results(scope, registry.key, results, unit_id), tree)
    public = public_frame(registry)
    years = data.years_with_results(own)
    shown_year = rf.chosen_year(year, years, preliminary)
    this = next(u for u in mine if u["unit_id"] == unit_id)
    region = data.region_of(unit_id, tree)
    content: list[Component] = [
        rf.location(views.LOCATION),
        html.H1(translate("myunit.heading", language, unit=this["name"])),
        html.P(_facts(this, region, language), className="lead", id="my-unit-facts"),
        views.filters(
            registries, registry, mine, unit_id, years, shown_year, indicator, preliminary, language
        ),
        html.P(translate("myunit.own_unsuppressed", language), className="chart-note"),
    ]
    subscription = subscription_section(scope, registry.key, this, language)
    if shown_year is None:
        content.append(html.P(translate("myunit.no_results", language), id="my-unit-empty"))
        return [*content, subscription]
    if shown_year >= preliminary:
        content.append(
            html.P(
                translate("overview.preliminary_note", language, year=shown_year),
                className="preliminary-note",
            )
        )
    peers = data.peer_group(
        public, tree, unit_id, shown_year, data.configured_peer_groups(registry)
    )
    quality = unit_data_quality(
        database(),
        scope,
        registry.key,
        registry.dictionary,
        unit_id,
        shown_year,
        today=now().date(),
    )
    content += [
        html.Section(
            **{"aria-labelledby": "my-unit-overview-heading"},
            children=[
                html.H2(
                    translate("myunit.overview_heading", language, year=shown_year),
                    id="my-unit-overview-heading",
                ),
                views.peer_text(peers, tree, language),
                views.overview_table(
                    registry, own, public, this, region, peers, shown_year, preliminary, language
                ),
                rf.suppression_legend(language),
            ],
        ),
        html.Section(
            **{"aria-labelledby": "my-unit-detail-heading"},
            children=[
                html.H2(
                    translate(
                        "myunit.detail_heading",
                        language,
                        indicator=indicator.title.in_language(language),
                    ),
                    id="my-unit-detail-heading",
                ),
                html.P(indicator.description.in_language(language)),
                *views.detail(
                    registry,
                    indicator,
                    own,
                    public,
                    this,
                    region,
                    peers,
                    shown_year,
                    preliminary,
                    language,
                ),
            ],
        ),
        views.quality_section(registry, quality, _coverage(own, shown_year), shown_year, language),
        subscription,
    ]
    return content


def _facts(unit: dict[str, Any], region: dict[str, Any] | None, language: str) -> str:
    level = rf.level_name(str(unit["level"]), language, plural=False)
    if region is None or region["unit_id"] == unit["unit_id"]:
        return level.capitalize()
    return translate("profile.facts", language, level=level.capitalize(), region=region["name"])


def _coverage(own: pl.DataFrame, year: int) -> float | None:
    """Coverage (dekningsgrad) of the unit in the year: the same on every indicator's row."""
    found = own.filter(pl.col("period") == year)["coverage"].drop_nulls()
    return float(found[0]) if found.len() else None


register_callbacks()


@guarded_callback(
    "authenticated",
    # A list of one output (as the access matrix forges every callback), returned as a list.
    [Output(views.LOCATION, "href")],
    *(Input(component, "value") for component in views.FILTER_IDS),
    State(rf.PAGES_LOCATION, "search"),
    prevent_initial_call=True,
)
def follow_filters(
    registry: object, unit: object, year: object, indicator: object, search: object
) -> list[Any]:
    """The address of the chosen view; nothing for a unit outside the user's scope."""
    return [_address(registry, unit, year, indicator, search)]


def _address(
    registry: object, unit: object, year: object, indicator: object, search: object
) -> Any:
    scope = current_scope()
    language = normalise_language(rf.query_of(search).get("lang"))
    if not isinstance(registry, str) or not scope.units(registry, "clinician", "registrar"):
        return no_update
    if dash.ctx.triggered_id == views.FILTER_IDS[0]:
        return urls.my_unit(registry, language)
    if not isinstance(unit, int) or isinstance(unit, bool):
        return no_update
    if not scope.may_read_records(registry, unit):
        return no_update
    return urls.my_unit(
        registry,
        language,
        unit=unit,
        year=year if isinstance(year, int) and not isinstance(year, bool) else None,
        indicator=indicator if isinstance(indicator, str) else None,
    )
