"""The unit profile (sykehusprofil): one unit's results on every indicator.

Each indicator's row sets the unit against its region (the unit's ancestor of level region)
and the nation, with the achievement symbol and the unit's trend over the years. The unit
is chosen in a searchable dropdown that only rewrites the address (`?unit=`), so a profile
can be shared and bookmarked. Numbers come from `public_frame` only.
"""

from __future__ import annotations

from typing import Any

import dash
import polars as pl
from dash import dcc, html
from dash.development.base_component import Component

from entry.registry_folder import RegistryFolder
from indicators import Indicator
from portal import urls
from portal.catalogue import find_registry
from portal.components import result_filters as rf
from portal.components.achievement_marks import achievement_mark
from portal.components.permalink import copy_link_button
from portal.components.result_figures import with_standardised_interval
from portal.components.scroll_table import scroll_table
from portal.components.shell import page_frame
from portal.i18n import normalise_language, number, request_language, translate
from portal.public_data import public_frame, units

PATH = "/results/unit"
LOCATION = "profile-location"
FILTERS = ("profile-unit", "profile-year")

dash.register_page(
    __name__, path=PATH, title=lambda: translate("profile.title", request_language())
)


def layout(
    lang: str | None = None,
    registry: str | None = None,
    unit: str | None = None,
    year: str | None = None,
    **_query: str,
) -> html.Div:
    language = normalise_language(lang)
    chosen = find_registry(registry)
    query = {"registry": registry, "unit": unit, "year": year}
    if chosen is None:
        message = (
            translate("overview.no_registry", language, registry=registry)
            if registry
            else translate("home.no_registries", language)
        )
        refusal = [html.H1(translate("profile.title", language)), html.P(message)]
        return page_frame(language, PATH, refusal, query)
    tree = units()
    frame = public_frame(chosen)
    preliminary = rf.today().year
    years = rf.years_of(frame)
    shown_year = rf.chosen_year(year, years, preliminary)
    unit_id = _unit_id(unit, tree)
    query = {"registry": chosen.key, "unit": str(unit_id or ""), "year": str(shown_year or "")}
    content: list[Component] = [rf.location(LOCATION)]
    if unit_id is None:
        content += [
            html.H1(translate("profile.choose_heading", language)),
            html.P(translate("profile.choose_intro", language), className="lead"),
        ]
        if unit:
            content.append(
                html.P(translate("profile.unknown_unit", language, unit=unit), role="status")
            )
        content.append(_filters(tree, None, years, shown_year, preliminary, language))
        return page_frame(language, PATH, content, query)
    content += _profile(chosen, frame, tree, unit_id, years, shown_year, preliminary, language)
    return page_frame(language, PATH, content, query)


def _unit_id(value: object, tree: pl.DataFrame) -> int | None:
    """The asked-for unit if it is a region, trust, hospital or department of the tree."""
    try:
        asked = int(str(value))
    except ValueError:
        return None
    found = tree.filter((pl.col("unit_id") == asked) & pl.col("level").is_in(rf.LEVELS))
    return asked if found.height else None


def _filters(
    tree: pl.DataFrame,
    unit_id: int | None,
    years: list[int],
    year: int | None,
    preliminary: int,
    language: str,
) -> html.Section:
    order = {level: i for i, level in enumerate(rf.LEVELS)}
    choices = sorted(
        (r for r in tree.to_dicts() if r["level"] in order),
        key=lambda r: (order[r["level"]], r["name"]),
    )
    names = [unit_label(r, language) for r in choices]
    current = next((unit_label(r, language) for r in choices if r["unit_id"] == unit_id), None)
    controls: list[Component] = [
        rf.name_search(
            FILTERS[0],
            translate("resultfilter.unit", language),
            names,
            current,
            translate("resultfilter.unit_placeholder", language),
        )
    ]
    controls.append(rf.year_dropdown(FILTERS[1], years, year, preliminary, language))
    return html.Section(
        className="result-filters",
        **{"aria-labelledby": "profile-filters-heading"},
        children=[
            html.H2(translate("profile.filters", language), id="profile-filters-heading"),
            html.Div(className="result-filter-row", children=controls),
        ],
    )


def unit_label(unit: dict[str, Any], language: str) -> str:
    """What the unit chooser lists and a reader types: "Haukeland universitetssykehus (sykehus)"."""
    return f"{unit['name']} ({rf.level_name(unit['level'], language, plural=False)})"


def _region_of(unit_id: int, tree: pl.DataFrame) -> dict[str, Any] | None:
    rows = {r["unit_id"]: r for r in tree.to_dicts()}
    current = rows.get(unit_id)
    while current is not None and current["level"] != "region":
        current = rows.get(current["parent_id"])
    return current


def _profile(
    registry: RegistryFolder,
    frame: pl.DataFrame,
    tree: pl.DataFrame,
    unit_id: int,
    years: list[int],
    year: int | None,
    preliminary: int,
    language: str,
) -> list[Component]:
    unit = tree.filter(pl.col("unit_id") == unit_id).to_dicts()[0]
    region = _region_of(unit_id, tree) or unit
    level_words = rf.level_name(unit["level"], language, plural=False)
    facts = (
        translate("profile.facts_region", language)
        if unit["level"] == "region"
        else translate(
            "profile.facts", language, level=level_words.capitalize(), region=region["name"]
        )
    )
    content: list[Component] = [
        html.H1(translate("profile.heading", language, unit=unit["name"])),
        html.P(facts, className="lead", id="profile-facts"),
        copy_link_button(language),
        _filters(tree, unit_id, years, year, preliminary, language),
        html.P(
            dcc.Link(
                translate("profile.back_to_overview", language),
                href=urls.results(registry.key, language, year=year, level=unit["level"]),
            )
        ),
    ]
    if year is None:
        content.append(html.P(translate("overview.no_results", language)))
        return content
    if preliminary in years:
        content.append(
            html.P(
                translate("overview.preliminary_note", language, year=preliminary),
                className="preliminary-note",
            )
        )
    content += [
        _table(registry, frame, unit, region, year, preliminary, language),
        rf.about_links(registry.key, language, "achievement"),
        rf.suppression_legend(language),
    ]
    return content


def _table(
    registry: RegistryFolder,
    frame: pl.DataFrame,
    unit: dict[str, Any],
    region: dict[str, Any],
    year: int,
    preliminary: int,
    language: str,
) -> html.Div:
    ids = [unit["unit_id"], region["unit_id"]]
    mine = with_standardised_interval(
        frame.filter(pl.col("unit_id").is_in(ids) | (pl.col("level") == "nation"))
    )
    rows = {
        (r["indicator"], r["unit_id"] if r["level"] != "nation" else "nation"): r
        for r in mine.filter(pl.col("period") == year).to_dicts()
    }
    trends = (
        mine.filter(pl.col("unit_id") == unit["unit_id"])
        .sort("period")
        .group_by("indicator", maintain_order=True)
        .agg("period", "estimate", "note")
        .to_dicts()
    )
    trend_of = {
        t["indicator"]: list(zip(t["period"], t["estimate"], t["note"], strict=True))
        for t in trends
    }
    headers = [
        translate("profile.column.indicator", language),
        unit["name"],
        translate("profile.column.patients", language),
        translate("profile.column.achievement", language),
        translate("profile.column.region", language, region=region["name"]),
        translate("profile.column.nation", language),
        translate("profile.column.trend", language),
    ]
    body = [
        _row(
            registry,
            indicator,
            rows.get((indicator.key, unit["unit_id"])),
            rows.get((indicator.key, region["unit_id"])),
            rows.get((indicator.key, "nation")),
            trend_of.get(indicator.key, []),
            unit["level"],
            year,
            preliminary,
            language,
        )
        for indicator in registry.indicators
    ]
    caption = translate(
        "profile.caption", language, unit=unit["name"], year=year, region=region["name"]
    )
    return scroll_table(
        "profile-table",
        "profile-table",
        caption,
        html.Tr([html.Th(h, scope="col") for h in headers]),
        body,
        region_label=translate("profile.scroll_region", language),
    )


def _lead_value(
    row: dict[str, Any] | None, indicator: Indicator, language: str
) -> list[str | Component]:
    """The value a row leads with: risk-standardised for risk-adjusted indicators."""
    if row is None:
        return [translate("resultfilter.no_result", language)]
    adjusted = indicator.risk_model is not None and row.get("risk_standardised") is not None
    value = row["risk_standardised"] if adjusted else row.get("estimate")
    shown: list[str | Component] = [rf.shown_value(value, row.get("note"), indicator, language)]
    if adjusted:
        shown += [
            " (",
            dcc.Link(
                translate("resultfilter.risk_standardised", language),
                href=urls.methods(language, "risk-standardised"),
            ),
            ")",
        ]
    low, high = ("_rs_lower", "_rs_upper") if adjusted else ("lower", "upper")
    interval = rf.interval_words(row.get(low), row.get(high), indicator, language)
    if interval:
        shown += [html.Br(), html.Span(interval, className="interval")]
    return shown


def _patients(row: dict[str, Any] | None, language: str) -> str | Component:
    if row is None:
        return translate("resultfilter.no_result", language)
    note = row.get("note")
    if note:
        return rf.note_mark(note, language)
    denominator = row.get("denominator")
    return number(denominator, language, 0) if denominator is not None else ""


def _row(
    registry: RegistryFolder,
    indicator: Indicator,
    unit_row: dict[str, Any] | None,
    region_row: dict[str, Any] | None,
    nation_row: dict[str, Any] | None,
    trend: list[tuple[int, float | None, str | None]],
    level: str,
    year: int,
    preliminary: int,
    language: str,
) -> html.Tr:
    return html.Tr(
        id=f"profile-row-{indicator.key}",
        children=[
            html.Th(
                dcc.Link(
                    indicator.title.in_language(language),
                    href=urls.indicator(
                        registry.key, indicator.key, language, year=year, level=level
                    ),
                ),
                scope="row",
            ),
            html.Td(_lead_value(unit_row, indicator, language), className="unit-value"),
            html.Td(_patients(unit_row, language)),
            html.Td(achievement_mark((unit_row or {}).get("achievement"), language)),
            html.Td(_lead_value(region_row, indicator, language)),
            html.Td(_lead_value(nation_row, indicator, language)),
            html.Td(rf.sparkline(trend, indicator, language, preliminary)),
        ],
    )


def _url(query: dict[str, str], language: str) -> str:
    """The profile's address; the chooser sends a unit's label (or its number)."""
    registry = query.pop("registry", "")
    text = query.pop("unit", "")
    unit = _unit_from_text(text, language)
    if unit is None:  # the page then says that no unit has this name
        return urls.page_url(PATH, language, registry=registry, unit=text.strip(), **query)
    return urls.unit_profile(registry, unit, language, **query)


def _unit_from_text(text: str, language: str) -> int | None:
    if text.strip().isdigit():
        return int(text)
    wanted = text.strip().casefold()
    for unit in units().filter(pl.col("level").is_in(rf.LEVELS)).to_dicts():
        if wanted in (unit_label(unit, language).casefold(), str(unit["name"]).casefold()):
            return int(unit["unit_id"])
    return None


rf.url_callback(LOCATION, FILTERS, _url)
