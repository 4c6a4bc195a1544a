"""One indicator's public results: every unit of a level against the nation, over time.

The page is a pure function of its address (`?registry=stroke&indicator=thrombolysis&
year=2025&level=trust&sort=name&view=crude&lang=en`): each dropdown only rewrites the URL
(`result_filters.url_callback`), and Dash's page router renders the new view from it, so a
shared link, a reload and the back button all show the same thing. Everything comes from
`public_frame`, so a suppressed number is gone before this page sees it; such units are
drawn as "færre enn N".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import dash
import polars as pl
from dash import html
from dash.development.base_component import Component

from entry.registry_folder import RegistryFolder
from indicators import Indicator
from portal import urls
from portal.catalogue import find_registry
from portal.components import result_figures as figures
from portal.components import result_filters as filters
from portal.components.achievement_marks import achievement_mark
from portal.components.admin_tables import section
from portal.components.permalink import copy_link_button
from portal.components.shell import page_frame
from portal.i18n import normalise_language, number, request_language, translate
from portal.public_data import public_frame

PATH = "/results/indicator"
LOCATION = "indicator-location"
VIEW_LOCATION = "indicator-view-location"
FILTERS = ("indicator-year", "indicator-level", "indicator-sort")
SORTS = ("value", "name")
VIEWS = ("adjusted", "crude")
BAR_COLUMNS = (
    "name",
    "estimate",
    "interval",
    "numerator",
    "denominator",
    "achievement",
    "coverage",
)
ADJUSTED_COLUMNS = (
    "name",
    "risk_standardised",
    "rs_interval",
    "estimate",
    "observed",
    "expected",
    "oe_ratio",
    "oe_interval",
    "denominator",
    "coverage",
)
TREND_COLUMNS = ("name", "period", "estimate", "interval", "denominator")
FUNNEL_COLUMNS = ("name", "expected", "observed", "oe_ratio", "oe_interval", "funnel_position")
NORWEGIAN_ORDER = str.maketrans({"æ": "{", "ø": "|", "å": "}"})
"""Æ, Ø and Å after Z and in that order (code-point order would put Å first)."""

dash.register_page(
    __name__, path=PATH, title=lambda: translate("indicatorpage.title", request_language())
)


class View(NamedTuple):
    """The view an address asks for, with every unknown or missing value replaced.

    A NamedTuple, not a dataclass: Dash's page loader runs this module before it is in
    `sys.modules`, where `dataclass` looks for it."""

    registry: RegistryFolder
    indicator: Indicator
    year: int | None
    level: str
    sort: str
    view: str
    preliminary: int

    @property
    def adjusted(self) -> bool:
        return self.indicator.risk_model is not None and self.view == "adjusted"

    def query(self) -> dict[str, str | None]:
        return {
            "registry": self.registry.key,
            "indicator": self.indicator.key,
            "year": str(self.year) if self.year is not None else None,
            "level": self.level,
            "sort": self.sort,
            "view": self.view if self.indicator.risk_model is not None else None,
        }


def layout(
    lang: str | None = None,
    registry: str | None = None,
    indicator: str | None = None,
    year: str | None = None,
    level: str | None = None,
    sort: str | None = None,
    view: str | None = None,
    **_query: str,
) -> html.Div:
    language = normalise_language(lang)
    chosen = find_registry(registry)
    found = chosen and next((i for i in chosen.indicators if i.key == indicator), None)
    if chosen is None or not found:
        return page_frame(
            language,
            PATH,
            _not_found(chosen, registry, indicator, language),
            {"registry": registry, "indicator": indicator},
        )
    frame = public_frame(chosen).filter(pl.col("indicator") == found.key)
    preliminary = filters.today().year
    years = filters.years_of(frame)
    shown = View(
        registry=chosen,
        indicator=found,
        year=filters.chosen_year(year, years, preliminary),
        level=filters.chosen_level(level),
        sort=sort if sort in SORTS else "value",
        view=view if view in VIEWS else "adjusted",
        preliminary=preliminary,
    )
    return page_frame(language, PATH, _page(shown, frame, years, language), shown.query())


def _not_found(
    registry: RegistryFolder | None, registry_key: str | None, key: str | None, language: str
) -> list[Component]:
    content: list[Component] = [html.H1(translate("indicatorpage.title", language))]
    if registry is None:
        content.append(
            html.P(translate("indicatorpage.no_registry", language, registry=registry_key or ""))
        )
        return content
    if key:
        content.append(html.P(translate("indicatorpage.no_indicator", language, indicator=key)))
    content.append(html.H2(translate("indicatorpage.choose", language)))
    content.append(
        html.Ul(
            [
                html.Li(
                    html.A(
                        item.title.in_language(language),
                        href=urls.indicator(registry.key, item.key, language),
                    )
                )
                for item in registry.indicators
            ]
        )
    )
    return content


def _page(view: View, frame: pl.DataFrame, years: list[int], language: str) -> list[Component]:
    indicator = view.indicator
    content: list[Component] = [
        filters.location(LOCATION),
        filters.location(VIEW_LOCATION),
        html.P(
            html.A(
                translate("indicatorpage.back", language),
                href=urls.results(view.registry.key, language, year=view.year, level=view.level),
            ),
            className="breadcrumb",
        ),
        html.H1(indicator.title.in_language(language)),
        html.P(indicator.description.in_language(language), className="lead"),
        _facts(view, frame, language),
        _controls(view, years, language),
        copy_link_button(language),
    ]
    if view.year is None:
        content.append(html.P(translate("indicatorpage.no_results", language)))
        return content
    content.append(_bars_section(view, frame, language))
    content.append(_trend_section(view, frame, language))
    if indicator.risk_model is not None:
        content.append(_funnel_section(view, frame, language))
    return content


# --- facts --------------------------------------------------------------------------------


def _facts(view: View, frame: pl.DataFrame, language: str) -> html.Section:
    indicator = view.indicator
    items: list[tuple[str, Component | str]] = [
        (translate("indicatorpage.targets", language), _targets_text(indicator, language)),
        (
            translate("indicatorpage.direction", language),
            translate(f"indicatorpage.direction.{indicator.direction}", language),
        ),
        (
            translate("indicatorpage.source", language),
            translate(
                "indicatorpage.source_text",
                language,
                registry=view.registry.name.in_language(language),
                patients=_national_patients(view, frame, language),
                year=view.year or "",
            ),
        ),
        (
            translate("indicatorpage.minimum", language),
            translate("indicatorpage.minimum_text", language, n=indicator.min_denominator),
        ),
    ]
    if indicator.risk_model is not None:
        items.append(
            (
                translate("indicatorpage.risk", language),
                translate("indicatorpage.risk_text", language),
            )
        )
    links = [
        ("indicatorpage.link_interval", urls.methods(language, "interval")),
        ("indicatorpage.link_achievement", urls.methods(language, "achievement")),
        ("indicatorpage.link_suppression", urls.methods(language, "suppression")),
        ("indicatorpage.link_coverage", urls.methods(language, "coverage")),
        ("indicatorpage.link_codebook", urls.codebook(view.registry.key, language)),
    ]
    return html.Section(
        **{"aria-labelledby": "indicator-facts"},
        className="indicator-facts-box",
        children=[
            html.H2(translate("indicatorpage.about", language), id="indicator-facts"),
            html.Dl(
                [part for term, value in items for part in (html.Dt(term), html.Dd(value))],
                className="facts",
            ),
            html.Ul(
                [html.Li(html.A(translate(key, language), href=href)) for key, href in links],
                className="method-links",
            ),
        ],
    )


def _targets_text(indicator: Indicator, language: str) -> str:
    if indicator.targets is None:
        return translate("indicatorpage.no_targets", language)
    sign = "≥" if indicator.direction == "higher" else "≤"
    other = "<" if indicator.direction == "higher" else ">"
    high = figures.value_text(indicator.targets.high, indicator, language)
    moderate = figures.value_text(indicator.targets.moderate, indicator, language)
    return translate(
        "indicatorpage.targets_text",
        language,
        high=f"{sign} {high}",
        moderate=f"{sign} {moderate}",
        low=f"{other} {moderate}",
    )


def _national_patients(view: View, frame: pl.DataFrame, language: str) -> str:
    nation = _nation(frame, view.year)
    if nation is None or nation["denominator"] is None:
        return translate("figures.no_value", language)
    return number(float(str(nation["denominator"])), language, 0)


def _nation(frame: pl.DataFrame, year: int | None) -> dict[str, object] | None:
    if year is None:
        return None  # no results yet (a new registry): there is no national row
    rows = frame.filter(pl.col("level") == "nation", pl.col("period") == year)
    return rows.row(0, named=True) if rows.height else None


# --- controls -----------------------------------------------------------------------------


def _controls(view: View, years: list[int], language: str) -> html.Section:
    sort_options = [
        {"label": translate(f"indicatorpage.sort.{s}", language), "value": s} for s in SORTS
    ]
    controls: list[Component] = [
        filters.year_dropdown(FILTERS[0], years, view.year, view.preliminary, language),
        filters.level_dropdown(FILTERS[1], view.level, language),
        filters.dropdown(
            FILTERS[2], translate("indicatorpage.sort", language), sort_options, view.sort
        ),
    ]
    if view.indicator.risk_model is not None:
        view_options = [
            {"label": translate(f"indicatorpage.view.{v}", language), "value": v} for v in VIEWS
        ]
        controls.append(
            filters.dropdown(
                "indicator-view",
                translate("indicatorpage.view", language),
                view_options,
                view.view,
            )
        )
    return html.Section(
        **{"aria-labelledby": "indicator-controls"},
        className="result-filters",
        children=[
            html.H2(translate("indicatorpage.controls", language), id="indicator-controls"),
            html.Div(controls, className="result-filter-row"),
        ],
    )


def _address(query: dict[str, str], language: str) -> str:
    registry = query.pop("registry", "")
    indicator = query.pop("indicator", "")
    return urls.indicator(registry, indicator, language, **query)


filters.url_callback(LOCATION, FILTERS, _address)
filters.url_callback(VIEW_LOCATION, ("indicator-view",), _address)


# --- sections -----------------------------------------------------------------------------


def sorted_units(frame: pl.DataFrame, view: View, value_column: str) -> pl.DataFrame:
    """Units by name (Norwegian alphabet) or by value, best first; hidden units last."""
    keyed = frame.with_columns(
        _name_key=pl.col("name")
        .str.to_lowercase()
        .map_elements(lambda name: name.translate(NORWEGIAN_ORDER), return_dtype=pl.String),
        _hidden=pl.col(value_column).is_null(),
    )
    if view.sort == "name":
        ordered = keyed.sort("_name_key")
    else:
        ordered = keyed.sort(
            ["_hidden", value_column, "_name_key"],
            descending=[False, view.indicator.direction == "higher", False],
            nulls_last=True,
        )
    return ordered.drop("_name_key", "_hidden")


def _level_rows(view: View, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("period") == view.year, pl.col("level") == view.level)


def _bars_section(view: View, frame: pl.DataFrame, language: str) -> html.Section:
    indicator = view.indicator
    value_column = "risk_standardised" if view.adjusted else "estimate"
    rows = sorted_units(_level_rows(view, frame), view, value_column)
    nation = _nation(frame, view.year)
    national = figures._float(nation["estimate"]) if nation else None
    level_words = translate(f"figures.level_plural.{view.level}", language)
    caption = translate(
        "indicatorpage.bars_caption_adjusted" if view.adjusted else "indicatorpage.bars_caption",
        language,
        indicator=indicator.title.in_language(language),
        level=level_words,
        year=_year_text(view, view.year or 0, language),
    )
    notes: list[Component] = [
        html.P(
            translate("indicatorpage.bars_note", language, n=indicator.min_denominator),
            className="chart-note",
        )
    ]
    if rows.filter(pl.col("coverage") < figures.LOW_COVERAGE).height:
        notes.append(figures.coverage_note(language))
    if indicator.targets is not None:
        notes.append(_band_legend(indicator, language))
    return _chart_section(
        view,
        "indicator-bars",
        language,
        heading_key="indicatorpage.units_heading",
        figure=figures.unit_bars(
            rows, indicator, language, value_column=value_column, national=national
        ),
        caption=caption,
        summary=figures.chart_summary(
            rows,
            indicator,
            language,
            kind="bars",
            level=view.level,
            national=national,
            value_column=value_column,
        ),
        rows=rows,
        columns=ADJUSTED_COLUMNS if view.adjusted else BAR_COLUMNS,
        notes=notes,
        year=view.year,
        level=view.level,
    )


def _band_legend(indicator: Indicator, language: str) -> html.P:
    return html.P(
        className="band-legend",
        children=[
            translate("indicatorpage.bands", language),
            " ",
            *[
                part
                for level in ("high", "moderate", "low")
                for part in (achievement_mark(level, language), " ")
            ],
            translate(
                "indicatorpage.targets_inline", language, targets=_targets_text(indicator, language)
            ),
        ],
    )


def _trend_section(view: View, frame: pl.DataFrame, language: str) -> html.Section:
    indicator = view.indicator
    rows = frame.filter(pl.col("level").is_in(["nation", "region"])).sort("level", "name", "period")
    caption = translate(
        "indicatorpage.trend_caption", language, indicator=indicator.title.in_language(language)
    )
    notes: list[Component] = []
    if view.preliminary in rows["period"].to_list():
        notes.append(
            html.P(
                translate("indicatorpage.preliminary_note", language, year=view.preliminary),
                className="chart-note",
            )
        )
    return _chart_section(
        view,
        "indicator-trend",
        language,
        heading_key="indicatorpage.trend_heading",
        figure=figures.trend_chart(rows, indicator, language, preliminary_period=view.preliminary),
        caption=caption,
        summary=figures.chart_summary(
            rows, indicator, language, kind="trend", preliminary_period=view.preliminary
        ),
        rows=rows,
        columns=TREND_COLUMNS,
        notes=notes,
        level="nation,region",
    )


def _funnel_section(view: View, frame: pl.DataFrame, language: str) -> html.Section:
    indicator = view.indicator
    rows = sorted_units(_level_rows(view, frame), view, "oe_ratio")
    level_words = translate(f"figures.level_plural.{view.level}", language)
    caption = translate(
        "indicatorpage.funnel_caption",
        language,
        level=level_words,
        year=_year_text(view, view.year or 0, language),
    )
    intro = html.P(
        [
            translate("indicatorpage.funnel_intro", language),
            " ",
            html.A(
                translate("indicatorpage.link_funnel", language),
                href=urls.methods(language, "funnel"),
            ),
            " · ",
            html.A(
                translate("indicatorpage.link_oe", language),
                href=urls.methods(language, "oe-ratio"),
            ),
        ]
    )
    return _chart_section(
        view,
        "indicator-funnel",
        language,
        heading_key="indicatorpage.funnel_heading",
        intro=intro,
        figure=figures.funnel_plot(rows, indicator, language),
        caption=caption,
        summary=figures.chart_summary(rows, indicator, language, kind="funnel", level=view.level),
        rows=rows,
        columns=FUNNEL_COLUMNS,
        year=view.year,
        level=view.level,
    )


def _chart_section(
    view: View,
    graph_id: str,
    language: str,
    *,
    heading_key: str,
    figure: figures.Figure,
    caption: str,
    summary: str,
    rows: pl.DataFrame,
    columns: Sequence[str],
    notes: Sequence[Component] = (),
    intro: Component | None = None,
    **download_filters: str | int | None,
) -> html.Section:
    """One titled chart section of the page: heading, optional intro, and the chart block
    with its table alternative and downloads, all named after `graph_id` so the heading,
    table and links of the three charts (bars, trend, funnel) cannot drift apart."""
    indicator = view.indicator
    return section(
        graph_id,
        translate(heading_key, language),
        [
            *([intro] if intro is not None else []),
            figures.chart_block(
                graph_id,
                figure,
                caption=caption,
                summary=summary,
                language=language,
                notes=notes,
                table=figures.results_grid(
                    rows, columns, language, f"{graph_id}-table", indicator=indicator
                ),
                downloads=figures.downloads(
                    graph_id, view.registry.key, indicator.key, language, **download_filters
                ),
            ),
        ],
    )


def _year_text(view: View, year: int, language: str) -> str:
    return filters.year_label(year, view.preliminary, language)
