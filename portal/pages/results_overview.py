"""The public overview of a registry's results: every indicator on one page.

For each indicator the nation's result of the chosen year with its interval, its trend over
the years (the current calendar year marked preliminary), and how many units of the chosen
level reach high, moderate and low achievement, with a link to the indicator's own page.
Everything comes from `public_frame`, so suppressed numbers are gone before this page sees
them; the year and level are query parameters (`?year=2025&level=trust`).
"""

from __future__ import annotations

import dash
import polars as pl
from dash import dcc, html
from dash.development.base_component import Component

from entry.registry_folder import RegistryFolder
from indicators import Indicator
from portal import urls
from portal.catalogue import find_registry
from portal.components import result_filters as rf
from portal.components.achievement_marks import COLOURS, LEVELS, SYMBOLS, achievement_words
from portal.components.permalink import copy_link_button
from portal.components.result_figures import downloads
from portal.components.shell import page_frame
from portal.i18n import normalise_language, request_language, translate
from portal.public_data import public_frame

PATH = "/results"
LOCATION = "overview-location"
FILTERS = ("overview-year", "overview-level")

dash.register_page(
    __name__, path=PATH, title=lambda: translate("overview.title", request_language())
)


def layout(
    lang: str | None = None,
    registry: str | None = None,
    year: str | None = None,
    level: str | None = None,
    **_query: str,
) -> html.Div:
    language = normalise_language(lang)
    chosen = find_registry(registry)
    if chosen is None:
        message = (
            translate("overview.no_registry", language, registry=registry)
            if registry
            else translate("home.no_registries", language)
        )
        content = [html.H1(translate("overview.title", language)), html.P(message)]
        return page_frame(language, PATH, content, {"registry": registry})
    frame = public_frame(chosen)
    preliminary = rf.today().year
    years = rf.years_of(frame)
    shown_year = rf.chosen_year(year, years, preliminary)
    shown_level = rf.chosen_level(level)
    query = {"registry": chosen.key, "year": str(shown_year or ""), "level": shown_level}
    return page_frame(
        language,
        PATH,
        _overview(chosen, frame, years, shown_year, shown_level, preliminary, language),
        query,
    )


def _overview(
    registry: RegistryFolder,
    frame: pl.DataFrame,
    years: list[int],
    year: int | None,
    level: str,
    preliminary: int,
    language: str,
) -> list[Component]:
    name = registry.name.in_language(language)
    content: list[Component] = [
        rf.location(LOCATION),
        html.H1(translate("overview.heading", language, registry=name)),
        html.P(translate("overview.intro", language), className="lead"),
        copy_link_button(language),
    ]
    if year is None:
        content.append(html.P(translate("overview.no_results", language)))
        return content
    content += [
        html.Section(
            className="result-filters",
            **{"aria-labelledby": "overview-filters-heading"},
            children=[
                html.H2(translate("overview.filters", language), id="overview-filters-heading"),
                html.Div(
                    className="result-filter-row",
                    children=[
                        rf.year_dropdown(FILTERS[0], years, year, preliminary, language),
                        rf.level_dropdown(FILTERS[1], level, language),
                    ],
                ),
                html.P(
                    className="download-links",
                    children=[
                        translate("overview.download", language),
                        " ",
                        *downloads(
                            "overview", registry.key, "all", language, year=year, level=level
                        ),
                    ],
                ),
            ],
        ),
        html.P(
            dcc.Link(
                translate("overview.profile_link", language),
                # No unit yet: the profile page opens with its unit chooser.
                href=urls.page_url("/results/unit", language, registry=registry.key, year=year),
                id="overview-profile-link",
            )
        ),
    ]
    if preliminary in years:
        content.append(
            html.P(
                translate("overview.preliminary_note", language, year=preliminary),
                className="preliminary-note",
            )
        )
    counts = _achievement_counts(frame, year, level)
    content.append(
        html.Ul(
            id="overview-indicators",
            className="overview-list",
            children=[
                _indicator_card(
                    registry, indicator, frame, counts, year, level, preliminary, language
                )
                for indicator in registry.indicators
            ],
        )
    )
    content.append(rf.suppression_legend(language))
    return content


def _achievement_counts(frame: pl.DataFrame, year: int, level: str) -> dict[str, dict[str, int]]:
    """indicator -> {"high": n, "moderate": n, "low": n, "none": n, "total": n}."""
    rows = (
        frame.filter((pl.col("period") == year) & (pl.col("level") == level))
        .group_by("indicator", "achievement")
        .len()
        .to_dicts()
    )
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        entry = counts.setdefault(row["indicator"], {"total": 0})
        key = row["achievement"] if row["achievement"] in LEVELS else "none"
        entry[key] = entry.get(key, 0) + int(row["len"])
        entry["total"] += int(row["len"])
    return counts


def _indicator_card(
    registry: RegistryFolder,
    indicator: Indicator,
    frame: pl.DataFrame,
    counts: dict[str, dict[str, int]],
    year: int,
    level: str,
    preliminary: int,
    language: str,
) -> html.Li:
    title = indicator.title.in_language(language)
    heading_id = f"overview-{indicator.key}"
    nation = frame.filter(
        (pl.col("indicator") == indicator.key) & (pl.col("level") == "nation")
    ).sort("period")
    current = nation.filter(pl.col("period") == year).to_dicts()
    row = current[0] if current else {}
    points = [
        (int(r["period"]), r["estimate"], r["note"])
        for r in nation.select("period", "estimate", "note").to_dicts()
    ]
    return html.Li(
        className="overview-card",
        id=f"overview-card-{indicator.key}",
        children=html.Article(
            **{"aria-labelledby": heading_id},
            children=[
                html.H2(
                    dcc.Link(
                        title,
                        href=urls.indicator(
                            registry.key, indicator.key, language, year=year, level=level
                        ),
                    ),
                    id=heading_id,
                ),
                html.P(indicator.description.in_language(language), className="card-description"),
                html.P(
                    className="national-result",
                    children=[
                        html.Span(
                            translate("overview.national", language, year=year) + ": ",
                            className="national-label",
                        ),
                        html.Strong(
                            rf.shown_value(
                                row.get("estimate"), row.get("note"), indicator, language
                            ),
                            className="national-value",
                        ),
                        " ",
                        html.Span(
                            rf.interval_words(
                                row.get("lower"), row.get("upper"), indicator, language
                            ),
                            className="national-interval",
                        ),
                    ],
                ),
                rf.sparkline(points, indicator, language, preliminary),
                _counts_block(indicator, counts.get(indicator.key, {}), year, level, language),
                rf.about_links(registry.key, language, "achievement"),
            ],
        ),
    )


def _counts_block(
    indicator: Indicator, counts: dict[str, int], year: int, level: str, language: str
) -> Component:
    heading = translate(
        "overview.units_heading", language, level=rf.level_name(level, language).lower(), year=year
    )
    if indicator.targets is None:
        return html.Div(
            className="achievement-counts",
            children=[html.H3(heading), html.P(translate("overview.no_targets", language))],
        )
    total = counts.get("total", 0)
    items: list[Component] = [
        html.Li(
            className=f"achievement-count {key}",
            children=[
                html.Span(
                    SYMBOLS[key],
                    className="achievement-symbol",
                    style={"color": COLOURS[key]},
                    **{"aria-hidden": "true"},
                ),
                " ",
                achievement_words(key, language),
                ": ",
                html.Strong(
                    translate("overview.units_count", language, n=counts.get(key, 0), total=total)
                ),
            ],
        )
        for key in LEVELS
    ]
    items.append(
        html.Li(
            translate("overview.units_none", language, n=counts.get("none", 0)),
            className="achievement-count none",
        )
    )
    return html.Div(className="achievement-counts", children=[html.H3(heading), html.Ul(items)])


def _url(query: dict[str, str], language: str) -> str:
    registry = query.pop("registry", "")
    return urls.results(registry, language, **query)


rf.url_callback(LOCATION, FILTERS, _url)
