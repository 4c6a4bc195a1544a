"""The hip-fracture registry's own page: time to surgery (tid til operasjon) per hospital.

Registered through the portal's extension interface (docs/extensions.md). The page is public
and reads nothing but the registry's public results (`portal.public_data.public_frame`), so
a hospital whose numbers are suppressed shows "fewer than N" and no share: no suppressed
number can reach it. The figure function is registered too, for the registry's reports.
"""

from __future__ import annotations

import polars as pl
from dash import dcc, html
from dash.development.base_component import Component

from indicators import Indicator
from indicators.definition import Text
from portal import urls
from portal.components import result_figures as figures
from portal.components import result_filters as filters
from portal.extensions import PageRequest, RegistryExtension
from portal.i18n import translate
from portal.public_data import find_indicator, public_frame

INDICATOR = "surgery_48h"
"""Operated within 48 hours of admission: the registry's measure of time to surgery."""
TITLE = Text(nb="Tid til operasjon", en="Time to surgery")
LEAD = Text(
    nb=(
        "Hvor stor andel av pasientene med hoftebrudd hvert sykehus opererer innen 48 timer "
        "etter innleggelse. Rask operasjon gir mindre smerte, færre komplikasjoner og lavere "
        "dødelighet."
    ),
    en=(
        "The share of hip-fracture patients each hospital operates on within 48 hours of "
        "admission. Early surgery means less pain, fewer complications and lower mortality."
    ),
)
NO_RESULTS = Text(nb="Det finnes ingen resultater ennå.", en="There are no results yet.")
GRAPH_ID = "hipfracture-time-to-surgery"


def register(registry: RegistryExtension) -> None:
    registry.page("tid-til-operasjon", time_to_surgery_page, title=TITLE, access="public")
    registry.figure("time_to_surgery", time_to_surgery_figure)


def time_to_surgery_page(request: PageRequest) -> list[Component]:
    language = request.language
    indicator = find_indicator(request.registry, INDICATOR)
    heading = [html.H1(TITLE.in_language(language)), html.P(LEAD.in_language(language))]
    if indicator is None:
        return [*heading, html.P(NO_RESULTS.in_language(language), id="hipfracture-empty")]
    results = public_frame(request.registry).filter(pl.col("indicator") == indicator.key)
    year = filters.chosen_year(
        request.query.get("year"), filters.years_of(results), filters.today().year
    )
    if year is None:
        return [*heading, html.P(NO_RESULTS.in_language(language), id="hipfracture-empty")]
    period = results.filter(pl.col("period") == year)
    hospitals = hospital_rows(period, indicator)
    national = _national(period)
    caption = f"{indicator.title.in_language(language)}, {year}"
    return [
        *heading,
        figures.chart_block(
            GRAPH_ID,
            time_to_surgery_figure(hospitals, indicator, language, national),
            caption=caption,
            summary=figures.chart_summary(
                hospitals, indicator, language, kind="bars", level="hospital", national=national
            ),
            language=language,
            notes=[
                html.P(
                    translate("indicatorpage.bars_note", language, n=indicator.min_denominator),
                    className="chart-note",
                )
            ],
        ),
        filters.suppression_legend(language),
        html.P(
            dcc.Link(
                indicator.title.in_language(language),
                href=urls.indicator(request.registry.key, indicator.key, language, year=year),
            )
        ),
    ]


def hospital_rows(period: pl.DataFrame, indicator: Indicator) -> pl.DataFrame:
    """The hospitals of one period of public results, best first (by the indicator's
    direction), the suppressed last."""
    return period.filter(pl.col("level") == "hospital").sort(
        ["estimate", "name"], descending=[indicator.direction == "higher", False], nulls_last=True
    )


def time_to_surgery_figure(
    hospitals: pl.DataFrame, indicator: Indicator, language: str, national: float | None
) -> figures.Figure:
    """One bar per hospital with its interval, the nation as a line: the portal's own bars."""
    return figures.unit_bars(hospitals, indicator, language, national=national)


def _national(period: pl.DataFrame) -> float | None:
    nation = period.filter(pl.col("level") == "nation")["estimate"].drop_nulls()
    return float(nation[0]) if nation.len() else None
