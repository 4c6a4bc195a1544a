"""Filters and small shared pieces of the public overview and unit profile pages.

Every choice a reader makes is a query parameter of the page's address: a dropdown's
change only rewrites the URL (through `url_callback`), and the page then renders from the
query, so the back button, a shared link and a reload all show the same view. The pieces
here read nothing but the public frame they are handed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import polars as pl
from dash import Input, Output, State, dcc, html
from dash.development.base_component import Component

from indicators import Indicator
from portal import urls
from portal.auth.guard import guarded_callback
from portal.auth.identity import now
from portal.components.result_figures import interval_text, note_text, value_text
from portal.i18n import normalise_language, translate

LEVELS = ("region", "trust", "hospital", "department")
DEFAULT_LEVEL = "hospital"
OSLO = ZoneInfo("Europe/Oslo")
SECONDARY_NOTE = ":"
PAGES_LOCATION = "_pages_location"


def today() -> date:
    """Today in Norway, read at request time (the current year's figures are preliminary)."""
    return now().astimezone(OSLO).date()


def query_of(search: object) -> dict[str, str]:
    """The first value of each parameter of a `?a=1&b=2` string; anything else gives {}."""
    if not isinstance(search, str):
        return {}
    return {k: v[0] for k, v in parse_qs(search.lstrip("?")).items() if v}


def years_of(frame: pl.DataFrame) -> list[int]:
    return sorted(int(y) for y in frame["period"].unique().to_list()) if frame.height else []


def chosen_year(value: object, years: Sequence[int], preliminary: int) -> int | None:
    """The year asked for if it has results, else the newest finished year (or the newest)."""
    if not years:
        return None
    try:
        asked = int(str(value))
    except ValueError:
        asked = None
    if asked in years:
        return asked
    finished = [y for y in years if y < preliminary]
    return finished[-1] if finished else years[-1]


def chosen_level(value: object) -> str:
    return str(value) if value in LEVELS else DEFAULT_LEVEL


def year_label(year: int, preliminary: int, language: str) -> str:
    if year >= preliminary:
        return translate("resultfilter.preliminary", language, year=year)
    return str(year)


def level_name(level: str, language: str, *, plural: bool = True) -> str:
    prefix = "resultfilter.level" if plural else "resultfilter.level_one"
    return translate(f"{prefix}.{level}", language)


def dropdown(
    component_id: str,
    label: str,
    options: Sequence[Mapping[str, Any]],
    value: str | int | None,
    *,
    searchable: bool = False,
    placeholder: str | None = None,
) -> html.Fieldset | html.Div:
    """A labelled choice of a few options, as radio buttons in a fieldset with a legend.

    Not `dcc.Dropdown`: Dash 4.4's dropdown puts its keyboard focus on an input hidden with
    `aria-hidden` and names its button by the chosen value instead of the label, which axe
    reports (aria-hidden-focus) and screen readers read without the question. Native radio
    buttons need no script to be accessible; `value` is the chosen option's value, so the
    URL callback is the same. After the page re-renders, `assets/results_pages.js` puts the
    focus back on the chosen button.

    `searchable=True` (many options) still gives a `dcc.Dropdown` with a label, for callers
    that need a value other than the text; prefer `name_search` on public pages.
    """
    if searchable:
        return html.Div(
            className="result-filter",
            children=[
                html.Label(label, htmlFor=component_id, id=f"{component_id}-label"),
                dcc.Dropdown(
                    id=component_id,
                    options=list(options),
                    value=value,
                    clearable=False,
                    searchable=True,
                    placeholder=placeholder,
                ),
            ],
        )
    return html.Fieldset(
        className="result-filter",
        children=[
            html.Legend(label, id=f"{component_id}-label"),
            dcc.RadioItems(
                id=component_id,
                options=list(options),
                value=value,
                inline=True,
                className="choice-group",
                labelClassName="choice",
            ),
        ],
    )


choice_group = dropdown


def name_search(
    component_id: str, label: str, names: Sequence[str], value: str | None, placeholder: str
) -> html.Div:
    """A text field that suggests names from a list (a native `<datalist>`), for choosing
    one of many units by typing; its value is sent when the reader presses Enter or leaves
    the field, and the page's URL builder turns the name into the unit's number."""
    return html.Div(
        className="result-filter name-search",
        children=[
            html.Label(label, htmlFor=component_id, id=f"{component_id}-label"),
            dcc.Input(
                id=component_id,
                type="search",
                list=f"{component_id}-names",
                value=value or "",
                placeholder=placeholder,
                debounce=True,
                autoComplete="off",
                className="name-search-input",
            ),
            html.Datalist(
                id=f"{component_id}-names", children=[html.Option(value=n) for n in names]
            ),
        ],
    )


def year_dropdown(
    component_id: str, years: Sequence[int], year: int | None, preliminary: int, language: str
) -> html.Fieldset:
    options = [{"label": year_label(y, preliminary, language), "value": y} for y in reversed(years)]
    return dropdown(component_id, translate("resultfilter.year", language), options, year)


def level_dropdown(component_id: str, level: str, language: str) -> html.Fieldset:
    options = [{"label": level_name(lv, language), "value": lv} for lv in LEVELS]
    return dropdown(component_id, translate("resultfilter.level", language), options, level)


def url_callback(
    location_id: str, inputs: Sequence[str], build: Callable[[dict[str, str], str], str]
) -> None:
    """Register the public callback that turns a page's dropdowns into its URL.

    `inputs` are the dropdown ids, whose last part after the page prefix names the query
    parameter (`overview-year` sets `year`); `build(query, language)` makes the address from
    the merged query. The callback returns an address only, never data, so it needs no scope.
    """

    @guarded_callback(
        "public",
        Output(location_id, "href"),
        *(Input(component, "value") for component in inputs),
        State(PAGES_LOCATION, "search"),
        prevent_initial_call=True,
    )
    def follow(*values: object) -> str:
        *chosen, search = values
        query = query_of(search)
        language = normalise_language(query.pop("lang", None))
        for component, value in zip(inputs, chosen, strict=True):
            if isinstance(value, str | int) and not isinstance(value, bool):
                query[component.rsplit("-", 1)[-1]] = str(value)
        return build(query, language)

    del follow


def location(location_id: str) -> dcc.Location:
    """The page's own location: a filter's new address is pushed without a reload, and
    Dash's page router (which listens to every pushed address) renders the new view."""
    return dcc.Location(id=location_id, refresh="callback-nav")


def shown_value(
    estimate: float | None, note: str | None, indicator: Indicator, language: str
) -> str | Component:
    """The estimate, or why there is none: "færre enn 10" (primary suppression) or the
    symbol ":" (secondary), whose words screen readers get instead of the bare colon."""
    if note:
        return note_mark(note, language)
    return value_text(estimate, indicator, language)


def note_mark(note: str, language: str) -> str | Component:
    """A suppressed number's place: "færre enn 10", or ":" with its words for screen readers."""
    return secondary_mark(language) if note == SECONDARY_NOTE else note_text(note, language)


def secondary_mark(language: str) -> html.Span:
    return html.Span(
        className="secondary-mark",
        children=[
            html.Span(SECONDARY_NOTE, **{"aria-hidden": "true"}),
            html.Span(translate("resultfilter.secondary", language), className="visually-hidden"),
        ],
    )


def interval_words(lower: float | None, upper: float | None, ind: Indicator, lang: str) -> str:
    """ "95 % konfidensintervall 70,1–85,0 %", or "" where there is no interval."""
    interval = interval_text(lower, upper, ind, lang)
    return translate("overview.interval", lang, interval=interval) if interval else ""


def sparkline(
    points: Sequence[tuple[int, float | None, str | None]],
    indicator: Indicator,
    language: str,
    preliminary: int,
) -> html.Div:
    """A compact trend: one bar per year (hidden from screen readers) and the same values as
    a visually hidden list. The preliminary year's bar is hatched and its label says so."""
    if not points:
        return html.Div()
    values = [v for _, v, _ in points if v is not None]
    top = 1.0 if indicator.type == "proportion" else max(values, default=0.0) or 1.0
    bars: list[Component] = []
    words: list[Component] = []
    for year, value, note in points:
        text = (
            translate("resultfilter.secondary", language)
            if note == SECONDARY_NOTE
            else shown_value(value, note, indicator, language)
        )
        label = year_label(year, preliminary, language)
        classes = "spark-bar" + (" preliminary" if year >= preliminary else "")
        if value is None:
            classes += " missing"
        height = 0.0 if value is None else max(min(value / top, 1.0), 0.0) * 100
        bars.append(html.Span(className=classes, style={"height": f"{max(height, 4):.0f}%"}))
        words.append(html.Li(f"{label}: {text}"))
    first, last = points[0][0], points[-1][0]
    return html.Div(
        className="sparkline-block",
        children=[
            html.Span(
                translate("resultfilter.trend", language, first=first, last=last),
                className="spark-caption",
            ),
            html.Div(bars, className="sparkline", **{"aria-hidden": "true"}),
            html.Ol(words, className="visually-hidden"),
        ],
    )


def about_links(registry_key: str, language: str, section: str) -> html.P:
    """The methods page (at `section`) and the codebook: linked from every chart."""
    return html.P(
        className="about-links",
        children=[
            dcc.Link(
                translate("resultfilter.methods_link", language),
                href=urls.methods(language, section),
            ),
            " · ",
            dcc.Link(
                translate("resultfilter.codebook_link", language),
                href=urls.codebook(registry_key, language),
            ),
        ],
    )


def suppression_legend(language: str) -> html.Div:
    return html.Div(
        className="suppression-legend",
        children=[
            html.P(translate("resultfilter.fewer_explained", language)),
            html.P(translate("resultfilter.secondary_explained", language)),
            html.P(
                dcc.Link(
                    translate("resultfilter.suppression_link", language),
                    href=urls.methods(language, "suppression"),
                )
            ),
        ],
    )
