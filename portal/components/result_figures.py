"""Figures of public results: unit bars, trends, funnel plots, their words and their tables.

Small pure functions from a frame of *public* results (`portal.public_data.public_frame`)
to a figure (plotly's JSON, as plain data: `Figure`), a sentence or a grid, so every results
page draws the same charts and tests need no browser. Numbers in hover texts and on the
value axis are written on the server with Babel (`portal.i18n.number` / `percent`): plotly's
own number formatting would need its locale script, and the layout's `separators` alone
would still leave "%" without the Norwegian space. Suppressed rows arrive with their numbers
already null; they are drawn as the words "fewer than N", never as a bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, Literal

import dash_ag_grid
import plotly.io as pio
import polars as pl
from dash import dcc, html
from dash.development.base_component import Component

from indicators import Indicator
from portal import urls
from portal.catalogue import installed_registries
from portal.components.achievement_marks import (
    BAND_COLOURS,
    COLOURS,
    LEVELS,
    SYMBOLS,
    achievement_words,
)
from portal.i18n import normalise_language, number, percent, translate

LOW_COVERAGE = 0.6
"""Below this coverage (dekningsgrad) a unit's result may not represent its patients."""
GRAPH_CONFIG: dict[str, Any] = {"displaylogo": False, "responsive": True}
BAR_COLOUR = "#3d5a80"
INTERVAL_COLOUR = "#1a1a1a"
NATION_COLOUR = "#1a1a1a"
LINE_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
"""Okabe–Ito hues for the lines of a trend chart; each line also has its own dash and marker."""
LINE_DASHES = ("dash", "dot", "dashdot", "longdash", "longdashdot", "solid")
LINE_MARKERS = ("square", "diamond", "triangle-up", "triangle-down", "cross", "x")
ROW_HEIGHT = 26
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif", "size": 13}
UNIT_WORDS = {"min": "figures.unit.min", "d": "figures.unit.d", "h": "figures.unit.h"}

ChartKind = Literal["bars", "trend", "funnel"]
Figure = dict[str, Any]
"""A plotly figure as plain data (`data`, a list of traces, and `layout`), which is what
`dcc.Graph` sends the browser. Made as plotly's figure objects, every property is checked
and converted as it is set: for the same JSON, bars took 16 times as long, trends 6 and
funnels 19, and a My unit page at a million registrations 116-139 ms of CPU against 79-97.
Tests have plotly check the figures against its schema instead."""
_EMPTY_TEMPLATE: Final = pio.templates["none"].to_plotly_json()


# --- numbers ------------------------------------------------------------------------------


def value_text(
    value: float | None, indicator: Indicator, language: str, *, with_unit: bool = True
) -> str:
    """An estimate as a reader writes it: "78,3 %" for proportions, "42,0 minutter" otherwise
    (with the indicator's `decimals`)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return translate("figures.no_value", language)
    if indicator.type == "proportion":
        return percent(value, language, 1)
    text = number(value, language, indicator.decimals)
    unit = indicator_unit(indicator, language) if with_unit else None
    return f"{text}\u00a0{unit}" if unit else text


def interval_text(
    lower: float | None, upper: float | None, indicator: Indicator, language: str
) -> str:
    """'70,1–85,0 %': the 95% interval, or '' where there is none."""
    if lower is None or upper is None:
        return ""
    if indicator.type == "proportion":
        return f"{percent(lower, language, 1)}–{percent(upper, language, 1)}"
    return f"{number(lower, language, indicator.decimals)}–{value_text(upper, indicator, language)}"


def indicator_unit(indicator: Indicator, language: str) -> str | None:
    """The unit of a mean or median, from the dictionary variable its `value` names."""
    if indicator.type == "proportion" or not indicator.value:
        return None
    for registry in installed_registries():
        if indicator not in registry.indicators:
            continue
        for variable in registry.dictionary.variables:
            if variable.name == indicator.value.strip() and variable.unit:
                key = UNIT_WORDS.get(variable.unit)
                return translate(key, language) if key else variable.unit
    return None


def note_text(note: str | None, language: str) -> str:
    """`<10` becomes "færre enn 10"/"fewer than 10"; `:` says the number is hidden."""
    if not note:
        return ""
    if note.startswith("<"):
        return translate("figures.fewer_than", language, n=note[1:])
    return translate("figures.hidden_secondary", language)


def _ticks(
    indicator: Indicator, low: float, high: float, language: str
) -> tuple[list[float], list[str]]:
    """Value-axis ticks written with Babel: the decimal comma and "40 %" in bokmål."""
    span = max(high - low, 1e-9)
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    values = [round(first + i * step, 10) for i in range(int((high - first) / step) + 2)]
    values = [v for v in values if low - 1e-9 <= v <= high + 1e-9]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if indicator.type == "proportion":
        texts = [percent(v, language, max(0, decimals - 2)) for v in values]
    else:
        texts = [number(v, language, decimals) for v in values]
    return values, texts


def _value_range(indicator: Indicator, values: Sequence[float | None]) -> tuple[float, float]:
    present = [v for v in values if v is not None and not math.isnan(v)]
    if indicator.type == "proportion":
        # A share runs from 0 to 100 %; a risk-standardised interval may pass 100 % and is
        # cut at the edge rather than stretching the axis to shares that cannot exist.
        return 0.0, 1.0
    top = max(present) if present else 1.0
    if indicator.targets is not None:
        top = max(top, indicator.targets.high, indicator.targets.moderate)
    return 0.0, top * 1.08 or 1.0


def _bands(indicator: Indicator, low: float, high: float) -> list[tuple[str, float, float]]:
    """(level, from, to) of the achievement bands across the value axis."""
    if indicator.targets is None:
        return []
    top, middle = indicator.targets.high, indicator.targets.moderate
    if indicator.direction == "higher":
        bands = [("low", low, middle), ("moderate", middle, top), ("high", top, high)]
    else:
        bands = [("high", low, top), ("moderate", top, middle), ("low", middle, high)]
    return [(level, a, b) for level, a, b in bands if b > a]


def _figure(data: list[dict[str, Any]], language: str, **layout: object) -> Figure:
    """The figure of these traces (each with its `type`), on the portal's layout with
    `layout` (axes as `xaxis=` and `yaxis=`) over it; empty lists (no shapes, no
    annotations) are left out, as plotly leaves them out. The constant parts (font,
    template) are shared by every figure: add traces, but change a layout only in a copy
    (`plotly.graph_objects.Figure(figure)` makes one)."""
    portal_layout = {
        # An empty template: plotly's default ships ~10 kB of colour scales in every figure.
        "template": _EMPTY_TEMPLATE,
        "font": FONT,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "separators": ", " if normalise_language(language) == "nb" else ".,",
        "margin": {"l": 10, "r": 20, "t": 40, "b": 50},
        "hoverlabel": {"bgcolor": "#ffffff", "font": FONT},
    }
    given = {key: value for key, value in layout.items() if value != []}
    return {"data": data, "layout": portal_layout | given}


def _value_axis(
    low: float, high: float, ticks: Sequence[float], texts: Sequence[str], **extra: object
) -> dict[str, object]:
    """The value axis of a trend or funnel plot, from `low` to `high` with its ticks written
    on the server."""
    return {
        "range": [low, high],
        "tickvals": ticks,
        "ticktext": texts,
        "gridcolor": "#d0d5da",
        **extra,
        "automargin": True,
        "fixedrange": True,
    }


def _legend_below(y: float) -> dict[str, object]:
    """A legend in a row under the plot, `y` (a share of the plot's height) below it."""
    return {"orientation": "h", "yanchor": "top", "y": y, "x": 0}


def _band(axis: Literal["x", "y"], a: float, b: float, colour: str) -> dict[str, object]:
    """A band behind the traces from `a` to `b` on `axis`, across the whole plot: what
    plotly's `add_vrect` (x) and `add_hrect` (y) draw. Those work out the subplots anew for
    each shape, 11 ms a shape: a sixth of the time of a My unit page went to its five bands
    and lines, and the same charts are on the public pages."""
    return {"type": "rect", "layer": "below", "fillcolor": colour, "line": {"width": 0}} | _span(
        axis, a, b
    )


def _line(axis: Literal["x", "y"], at: float, line: dict[str, object]) -> dict[str, object]:
    """A line across the whole plot at `at` on `axis`: `add_vline` (x) or `add_hline` (y)."""
    return {"type": "line", "line": line} | _span(axis, at, at)


def _span(axis: Literal["x", "y"], a: float, b: float) -> dict[str, object]:
    across = "y" if axis == "x" else "x"
    return {
        f"{axis}ref": axis,
        f"{axis}0": a,
        f"{axis}1": b,
        f"{across}ref": f"{across} domain",
        f"{across}0": 0,
        f"{across}1": 1,
    }


def _float(value: object) -> float | None:
    if value is None:
        return None
    number_value = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number_value) else number_value


# --- unit bars ----------------------------------------------------------------------------


def interval_columns(value_column: str) -> tuple[str, str]:
    """The interval of `estimate` is lower/upper; of the risk-standardised value, O/E's."""
    return ("lower", "upper") if value_column == "estimate" else ("_rs_lower", "_rs_upper")


def with_standardised_interval(frame: pl.DataFrame) -> pl.DataFrame:
    """The risk-standardised estimate's interval: O/E's interval times the nation's estimate."""
    if "risk_standardised" not in frame.columns:
        return frame.with_columns(_rs_lower=pl.lit(None, pl.Float64), _rs_upper=pl.lit(None))
    scale = pl.col("risk_standardised") / pl.col("oe_ratio")
    return frame.with_columns(
        _rs_lower=(pl.col("oe_lower") * scale), _rs_upper=(pl.col("oe_upper") * scale)
    )


def unit_bars(
    frame: pl.DataFrame,
    indicator: Indicator,
    language: str,
    *,
    value_column: str = "estimate",
    national: float | None,
) -> Figure:
    """One horizontal bar per unit (in the frame's order, top to bottom) with its 95% interval,
    the nation as a vertical line, and the achievement bands behind.

    `frame`: one period and level of public results (`name`, `note`, `coverage`, ...).
    A suppressed unit gets no bar, only the words; a unit with coverage below 60% gets an
    asterisk, explained under the chart.
    """
    frame = with_standardised_interval(frame)
    low_column, high_column = interval_columns(value_column)
    rows = frame.select(
        "name",
        value_column,
        low_column,
        high_column,
        "achievement",
        "coverage",
        "note",
        "numerator",
        "denominator",
    ).rows(named=True)
    positions = list(range(len(rows)))
    values = [_float(r[value_column]) for r in rows]
    lows = [_float(r[low_column]) for r in rows]
    highs = [_float(r[high_column]) for r in rows]
    start, end = _value_range(indicator, [*highs, national])
    shapes, annotations = [], []
    for level, a, b in _bands(indicator, start, end):
        shapes.append(_band("x", a, b, BAND_COLOURS[level]))
        annotations.append(
            {
                "x": (a + b) / 2,
                "y": 1,
                "yref": "paper",
                "yanchor": "bottom",
                "showarrow": False,
                "text": f"<span style='color:{COLOURS[level]}'>{SYMBOLS[level]}</span>",
            }
        )
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": values,
            "y": positions,
            "orientation": "h",
            "marker": {"color": BAR_COLOUR},
            "error_x": {
                "type": "data",
                "symmetric": False,
                "array": [_gap(h, v) for h, v in zip(highs, values, strict=True)],
                "arrayminus": [_gap(v, lo) for v, lo in zip(values, lows, strict=True)],
                "color": INTERVAL_COLOUR,
                "thickness": 1.5,
                "width": 4,
            },
            "customdata": [
                _hover(r, value_column, low_column, high_column, indicator, language) for r in rows
            ],
            "hovertemplate": "%{customdata}<extra></extra>",
            "name": translate("figures.result", language),
        }
    ]
    hidden = [
        (p, note_text(r["note"], language))
        for p, r in zip(positions, rows, strict=True)
        if r["note"]
    ]
    if hidden:
        traces.append(
            {
                "type": "scatter",
                "x": [start] * len(hidden),
                "y": [p for p, _ in hidden],
                "mode": "text",
                "text": [t for _, t in hidden],
                "textposition": "middle right",
                "textfont": {"color": "#4a4a4a"},
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
    if national is not None:
        shapes.append(_line("x", national, {"color": NATION_COLOUR, "width": 2, "dash": "dash"}))
        annotations.append(
            {
                "x": national,
                "y": 0,
                "yref": "paper",
                "yanchor": "top",
                "showarrow": False,
                "yshift": -22,
                "text": translate(
                    "figures.national_line",
                    language,
                    value=value_text(national, indicator, language),
                ),
            }
        )
    tick_values, tick_texts = _ticks(indicator, start, end, language)
    return _figure(
        traces,
        language,
        height=max(220, 90 + ROW_HEIGHT * len(rows)),
        showlegend=False,
        bargap=0.35,
        margin={"l": 10, "r": 20, "t": 30, "b": 70},
        shapes=shapes,
        annotations=annotations,
        xaxis={
            "range": [start, end],
            "tickvals": tick_values,
            "ticktext": tick_texts,
            "showgrid": True,
            "gridcolor": "#d0d5da",
            "zeroline": False,
            "fixedrange": True,
        },
        yaxis={
            "tickvals": positions,
            "ticktext": [_unit_label(r, language) for r in rows],
            "autorange": "reversed",
            "automargin": True,
            "fixedrange": True,
        },
    )


def _gap(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else max(a - b, 0.0)


def low_coverage(coverage: float | None) -> bool:
    return coverage is not None and coverage < LOW_COVERAGE


def _unit_label(row: dict[str, object], language: str) -> str:
    name = str(row["name"] or "")
    if low_coverage(_float(row["coverage"])):
        name += " *"
    level = row["achievement"]
    if isinstance(level, str) and level in LEVELS:
        name += f" <span style='color:{COLOURS[level]}'>{SYMBOLS[level]}</span>"
    return name


def _hover(
    row: dict[str, object],
    value_column: str,
    low_column: str,
    high_column: str,
    indicator: Indicator,
    language: str,
) -> str:
    lines = [f"<b>{row['name']}</b>"]
    if row["note"]:
        lines.append(note_text(str(row["note"]), language))
        return "<br>".join(lines)
    value = _float(row[value_column])
    lines.append(
        translate(
            "figures.hover_value",
            language,
            value=value_text(value, indicator, language),
            interval=interval_text(
                _float(row[low_column]), _float(row[high_column]), indicator, language
            ),
        )
    )
    if row["numerator"] is not None and row["denominator"] is not None:
        lines.append(
            translate(
                "figures.hover_counts",
                language,
                numerator=number(float(row["numerator"]), language, 0),  # type: ignore[arg-type]
                denominator=number(float(row["denominator"]), language, 0),  # type: ignore[arg-type]
            )
        )
    elif row["denominator"] is not None:
        lines.append(
            translate(
                "figures.hover_patients",
                language,
                n=number(float(row["denominator"]), language, 0),  # type: ignore[arg-type]
            )
        )
    level = row["achievement"]
    if isinstance(level, str):
        lines.append(f"{SYMBOLS.get(level, '')} {achievement_words(level, language)}")
    coverage = _float(row["coverage"])
    if coverage is not None:
        lines.append(
            translate("figures.hover_coverage", language, value=percent(coverage, language))
        )
    return "<br>".join(lines)


# --- trend --------------------------------------------------------------------------------


def trend_chart(
    frame: pl.DataFrame,
    indicator: Indicator,
    language: str,
    *,
    preliminary_period: int | None,
) -> Figure:
    """One line per unit over the periods; the nation solid and dark, others dashed in
    distinct colours and markers; the preliminary period's points hollow and labelled.

    `frame`: public results of several units (`unit_id`, `name`, `level`, `period`,
    `estimate`, `lower`, `upper`); suppressed periods are gaps.
    """
    frame = frame.sort("period")
    periods = sorted(frame["period"].unique().to_list())
    uppers = frame["upper"].to_list() + frame["estimate"].to_list()
    start, end = _value_range(indicator, uppers)
    bands = _bands(indicator, start, end)
    shapes = [_band("y", a, b, BAND_COLOURS[level]) for level, a, b in bands]
    if preliminary_period is not None and preliminary_period in periods:
        shapes.append(_band("x", preliminary_period - 0.4, preliminary_period + 0.4, "#eeeeee"))
    units = frame.select("unit_id", "name", "level").unique(maintain_order=True).rows()
    units = sorted(units, key=lambda u: (u[2] != "nation", str(u[1])))
    traces = []
    for index, (unit_id, name, level) in enumerate(units):
        rows = frame.filter(pl.col("unit_id") == unit_id)
        nation = level == "nation"
        style = index - 1 if not nation else 0
        colour = NATION_COLOUR if nation else LINE_COLOURS[style % len(LINE_COLOURS)]
        marker = "circle" if nation else LINE_MARKERS[style % len(LINE_MARKERS)]
        unit_periods = rows["period"].to_list()
        estimates = [_float(v) for v in rows["estimate"].to_list()]
        hovers = [
            _trend_hover(str(name), p, v, lo, hi, n, indicator, language, p == preliminary_period)
            for p, v, lo, hi, n in zip(
                unit_periods,
                estimates,
                rows["lower"].to_list(),
                rows["upper"].to_list(),
                rows["note"].to_list() if "note" in rows.columns else [None] * len(rows),
                strict=True,
            )
        ]
        traces.append(
            {
                "type": "scatter",
                "x": unit_periods,
                "y": estimates,
                "mode": "lines+markers",
                "name": str(name),
                "line": {
                    "color": colour,
                    "width": 3 if nation else 2,
                    "dash": "solid" if nation else LINE_DASHES[style % len(LINE_DASHES)],
                },
                "marker": {
                    "symbol": [
                        f"{marker}-open" if p == preliminary_period else marker
                        for p in unit_periods
                    ],
                    "size": 9 if nation else 7,
                    "color": colour,
                    "line": {"color": colour, "width": 2},
                },
                "customdata": hovers,
                "hovertemplate": "%{customdata}<extra></extra>",
                "connectgaps": False,
            }
        )
    tick_values, tick_texts = _ticks(indicator, start, end, language)
    return _figure(
        traces,
        language,
        height=380,
        legend=_legend_below(-0.15),
        margin={"l": 10, "r": 20, "t": 20, "b": 40},
        shapes=shapes,
        yaxis=_value_axis(start, end, tick_values, tick_texts),
        xaxis={
            "tickvals": periods,
            "ticktext": [
                translate("figures.preliminary_tick", language, period=p)
                if p == preliminary_period
                else str(p)
                for p in periods
            ],
            "range": [min(periods, default=0) - 0.5, max(periods, default=1) + 0.5],
            "fixedrange": True,
        },
    )


def _trend_hover(
    name: str,
    period: int,
    value: float | None,
    lower: float | None,
    upper: float | None,
    note: str | None,
    indicator: Indicator,
    language: str,
    preliminary: bool,
) -> str:
    heading = f"<b>{name}</b>, {period}"
    if preliminary:
        heading += f" ({translate('figures.preliminary', language)})"
    if note:
        return f"{heading}<br>{note_text(note, language)}"
    body = translate(
        "figures.hover_value",
        language,
        value=value_text(value, indicator, language),
        interval=interval_text(_float(lower), _float(upper), indicator, language),
    )
    return f"{heading}<br>{body}"


# --- funnel -------------------------------------------------------------------------------


def funnel_axes(indicator: Indicator) -> tuple[str, str]:
    """(x, y) columns: expected events and O/E for risk-adjusted indicators, else size and
    proportion, matching the scale of the engine's funnel limits."""
    if indicator.risk_model is not None:
        return "expected", "oe_ratio"
    return "denominator", "estimate"


def funnel_plot(
    frame: pl.DataFrame, indicator: Indicator, language: str, *, centre: float | None = None
) -> Figure:
    """Units as points against their size, with the 95% and 99.8% control limits as curves.

    The limits are the engine's, at each unit's own size; sorted by size they trace the
    funnel. Suppressed units have no numbers and are left out (the text says how many).
    `centre` is the target line: 1 for O/E ratios, otherwise the nation's estimate.
    """
    x_column, y_column = funnel_axes(indicator)
    shown = frame.filter(pl.col(y_column).is_not_null() & pl.col(x_column).is_not_null()).sort(
        x_column
    )
    ratio = indicator.risk_model is not None
    if ratio:
        centre = 1.0
    xs = shown[x_column].to_list()
    traces = [
        {
            "type": "scatter",
            "x": xs,
            "y": shown[column].to_list(),
            "mode": "lines",
            "line": {
                "color": "#4a4a4a" if dash == "dash" else "#8a8a8a",
                "dash": dash,
                "width": 1.5,
                "shape": "spline",
            },
            "name": translate(key or "figures.limit_95", language),
            "showlegend": key is not None,
            "legendgroup": dash,
            "hoverinfo": "skip",
        }
        for column, dash, key in (
            ("funnel_upper_998", "dot", "figures.limit_998"),
            ("funnel_upper_95", "dash", "figures.limit_95"),
            ("funnel_lower_95", "dash", None),
            ("funnel_lower_998", "dot", None),
        )
    ]
    shapes = [] if centre is None else [_line("y", centre, {"color": NATION_COLOUR, "width": 1.5})]
    positions = shown["funnel_position"].to_list()
    symbols = {
        "high_998": "triangle-up",
        "high_95": "triangle-up-open",
        "low_95": "triangle-down-open",
        "low_998": "triangle-down",
    }
    traces.append(
        {
            "type": "scatter",
            "x": xs,
            "y": shown[y_column].to_list(),
            "mode": "markers",
            "name": translate("figures.units", language),
            "marker": {
                "symbol": [symbols.get(str(p), "circle") for p in positions],
                "size": 10,
                "color": BAR_COLOUR,
                "line": {"color": BAR_COLOUR, "width": 1.5},
            },
            "customdata": [
                _funnel_hover(r, x_column, y_column, indicator, language)
                for r in shown.rows(named=True)
            ],
            "hovertemplate": "%{customdata}<extra></extra>",
        }
    )
    y_values = [
        v
        for c in (y_column, "funnel_upper_998", "funnel_lower_998")
        for v in shown[c].to_list()
        if v is not None
    ]
    low = min([0.0, *y_values]) if not ratio else 0.0
    high = max([1.0 if not ratio else 2.0, *y_values]) * (1.05 if ratio else 1.0)
    if not ratio and indicator.type == "proportion":
        high = 1.0
    tick_values, tick_texts = (
        _ratio_ticks(low, high, language) if ratio else _ticks(indicator, low, high, language)
    )
    x_ticks, x_texts = _count_ticks(max(xs, default=1.0), language)
    return _figure(
        traces,
        language,
        height=420,
        legend=_legend_below(-0.18),
        margin={"l": 10, "r": 20, "t": 20, "b": 60},
        shapes=shapes,
        yaxis=_value_axis(
            low,
            high,
            tick_values,
            tick_texts,
            title={
                "text": translate(
                    "figures.funnel_y_ratio" if ratio else "figures.funnel_y", language
                )
            },
        ),
        xaxis={
            "range": [0, max(xs, default=1.0) * 1.05],
            "tickvals": x_ticks,
            "ticktext": x_texts,
            "title": {
                "text": translate(
                    "figures.funnel_x_expected" if ratio else "figures.funnel_x", language
                )
            },
            "gridcolor": "#eeeeee",
            "fixedrange": True,
        },
    )


def _ratio_ticks(low: float, high: float, language: str) -> tuple[list[float], list[str]]:
    step = 0.25 if high <= 2.5 else 0.5
    values = [round(i * step, 4) for i in range(int(high / step) + 1) if i * step >= low]
    return values, [number(v, language, 2) for v in values]


def _count_ticks(top: float, language: str) -> tuple[list[float], list[str]]:
    raw = max(top, 1.0) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    values = [i * step for i in range(int(top / step) + 2)]
    decimals = 0 if step >= 1 else 1
    return values, [number(v, language, decimals) for v in values]


def _funnel_hover(
    row: dict[str, object], x_column: str, y_column: str, indicator: Indicator, language: str
) -> str:
    y = _float(row[y_column])
    x = _float(row[x_column])
    if y_column == "oe_ratio":
        value = translate("figures.hover_ratio", language, value=number(y or 0.0, language, 2))
        size = translate("figures.hover_expected", language, value=number(x or 0.0, language, 1))
    else:
        value = value_text(y, indicator, language)
        size = translate("figures.hover_patients", language, n=number(x or 0.0, language, 0))
    position = translate(f"figures.position.{row['funnel_position'] or 'within'}", language)
    return f"<b>{row['name']}</b><br>{value}<br>{size}<br>{position}"


# --- words --------------------------------------------------------------------------------


def chart_summary(
    frame: pl.DataFrame,
    indicator: Indicator,
    language: str,
    *,
    kind: ChartKind = "bars",
    level: str = "hospital",
    national: float | None = None,
    value_column: str = "estimate",
    preliminary_period: int | None = None,
) -> str:
    """What a screen reader gets instead of the picture: the chart's message in sentences.

    bars: how many units reach each achievement level, how many are too small, and the
    nation; trend: the nation's first and last value; funnel: how many lie outside the limits.
    """
    if kind == "trend":
        return _trend_summary(frame, indicator, language, preliminary_period)
    if kind == "funnel":
        return _funnel_summary(frame, indicator, language, level)
    units = translate(f"figures.level_plural.{level}", language)
    total = frame.height
    parts: list[str] = []
    shown = frame.filter(pl.col(value_column).is_not_null())
    if indicator.targets is not None and "achievement" in frame.columns:
        counts = {lv: shown.filter(pl.col("achievement") == lv).height for lv in LEVELS}
        parts.append(
            translate(
                "figures.summary_achievement",
                language,
                total=total,
                units=units,
                high=counts["high"],
                moderate=counts["moderate"],
                low=counts["low"],
            )
        )
    else:
        parts.append(
            translate(
                "figures.summary_count", language, total=total, units=units, shown=shown.height
            )
        )
    hidden = total - shown.height
    if hidden:
        parts.append(translate("figures.summary_hidden", language, n=hidden))
    if shown.height:
        best = shown.sort(value_column, descending=indicator.direction == "higher").row(
            0, named=True
        )
        parts.append(
            translate(
                "figures.summary_best",
                language,
                name=best["name"],
                value=value_text(_float(best[value_column]), indicator, language),
            )
        )
    low_cov = frame.filter(pl.col("coverage") < LOW_COVERAGE).height
    if low_cov:
        parts.append(translate("figures.summary_low_coverage", language, n=low_cov))
    if national is not None:
        parts.append(
            translate(
                "figures.summary_national",
                language,
                value=value_text(national, indicator, language),
            )
        )
    return " ".join(parts)


def _trend_summary(
    frame: pl.DataFrame, indicator: Indicator, language: str, preliminary_period: int | None
) -> str:
    nation = frame.filter(pl.col("level") == "nation", pl.col("estimate").is_not_null()).sort(
        "period"
    )
    if nation.height == 0:
        return translate("figures.summary_trend_empty", language)
    first, last = nation.row(0, named=True), nation.row(-1, named=True)
    text = translate(
        "figures.summary_trend",
        language,
        first_period=first["period"],
        first=value_text(first["estimate"], indicator, language),
        last_period=last["period"],
        last=value_text(last["estimate"], indicator, language),
        lines=frame["unit_id"].n_unique(),
    )
    if preliminary_period is not None and last["period"] == preliminary_period:
        text += " " + translate("figures.summary_preliminary", language, period=preliminary_period)
    return text


def _funnel_summary(frame: pl.DataFrame, indicator: Indicator, language: str, level: str) -> str:
    position = frame["funnel_position"]
    counts = {p: int((position == p).sum()) for p in ("high_998", "high_95", "low_95", "low_998")}
    return translate(
        "figures.summary_funnel",
        language,
        units=translate(f"figures.level_plural.{level}", language),
        shown=int(position.is_not_null().sum()),
        above=counts["high_95"] + counts["high_998"],
        above_998=counts["high_998"],
        below=counts["low_95"] + counts["low_998"],
        below_998=counts["low_998"],
    )


# --- tables and frames --------------------------------------------------------------------


def table_rows(
    frame: pl.DataFrame,
    columns: Sequence[str],
    indicator: Indicator,
    language: str,
) -> list[dict[str, str]]:
    """Rows of texts for a grid: numbers formatted as on the chart, suppression in words."""
    frame = with_standardised_interval(frame)
    rows = []
    for row in frame.to_dicts():
        texts: dict[str, str] = {}
        for column in columns:
            texts[column] = _cell(row, column, indicator, language)
        rows.append(texts)
    return rows


def _cell(row: dict[str, object], column: str, indicator: Indicator, language: str) -> str:
    value = row.get(column)
    if column in ("estimate", "risk_standardised"):
        if row.get("note"):
            return note_text(str(row["note"]), language)
        return value_text(_float(value), indicator, language)
    if column == "interval":
        return interval_text(
            _float(row.get("lower")), _float(row.get("upper")), indicator, language
        )
    if column == "rs_interval":
        return interval_text(
            _float(row.get("_rs_lower")), _float(row.get("_rs_upper")), indicator, language
        )
    if column == "achievement":
        level = row.get("achievement")
        return (
            ""
            if level is None
            else f"{SYMBOLS.get(str(level), '')} " + achievement_words(str(level), language)
        )
    if column == "coverage":
        coverage = _float(value)
        if coverage is None:
            return ""
        text = percent(coverage, language)
        return f"{text} *" if low_coverage(coverage) else text
    if column in ("numerator", "denominator", "observed"):
        if value is None:
            return (
                note_text(str(row.get("note") or ""), language) if column == "denominator" else ""
            )
        return number(float(value), language, 0)  # type: ignore[arg-type]
    if column in ("expected",):
        return "" if value is None else number(float(value), language, 1)  # type: ignore[arg-type]
    if column in ("oe_ratio",):
        return "" if value is None else number(float(value), language, 2)  # type: ignore[arg-type]
    if column == "oe_interval":
        low, high = _float(row.get("oe_lower")), _float(row.get("oe_upper"))
        return (
            ""
            if low is None or high is None
            else (f"{number(low, language, 2)}–{number(high, language, 2)}")
        )
    if column == "funnel_position":
        return "" if value is None else translate(f"figures.position.{value}", language)
    if column == "period":
        return str(value)
    return "" if value is None else str(value)


def results_grid(
    frame: pl.DataFrame,
    columns: Sequence[str],
    language: str,
    grid_id: str,
    *,
    indicator: Indicator | None = None,
) -> dash_ag_grid.AgGrid:
    """The table alternative of a chart: the same public rows, numbers written as on the chart.

    Cells are texts formatted on the server (AG Grid's own formatters would need JavaScript
    functions, which the CSP does not allow to be evaluated), so the grid keeps the order the
    page chose instead of sorting texts as if they were numbers. `frame` must hold public
    results; `columns` are the frame's columns plus "interval", "rs_interval" and
    "oe_interval".
    """
    if indicator is None:
        rows = [
            {c: "" if v is None else str(v) for c, v in r.items()}
            for r in frame.select([c for c in columns if c in frame.columns]).to_dicts()
        ]
    else:
        rows = table_rows(frame, columns, indicator, language)
    return dash_ag_grid.AgGrid(
        id=grid_id,
        rowData=rows,
        columnDefs=[
            {
                "field": column,
                "headerName": translate(f"figures.column.{column}", language),
                "sortable": False,
                "wrapHeaderText": True,
                "autoHeaderHeight": True,
                **({"pinned": "left", "minWidth": 180} if column == "name" else {}),
            }
            for column in columns
        ],
        defaultColDef={"resizable": True, "flex": 1, "minWidth": 110},
        dashGridOptions={
            "domLayout": "autoHeight" if len(rows) <= 30 else "normal",
            "ensureDomOrder": True,
            "suppressColumnVirtualisation": True,
            "localeText": _grid_locale(language),
        },
        style={"height": None if len(rows) <= 30 else "32rem", "width": "100%"},
        className="ag-theme-quartz results-grid",
    )


def _grid_locale(language: str) -> dict[str, str]:
    if normalise_language(language) != "nb":
        return {}
    return {
        "noRowsToShow": translate("figures.no_rows", language),
        "loadingOoo": translate("figures.loading", language),
    }


def chart_block(
    graph_id: str,
    figure: Figure,
    *,
    caption: str,
    summary: str,
    language: str,
    notes: Sequence[Component] = (),
    table: Component | None = None,
    downloads: Sequence[Component] = (),
    methods_links: Sequence[Component] = (),
) -> html.Figure:
    """A chart with its accessible name (figcaption), its text summary, notes, its table
    alternative in a disclosure, and the CSV link: every chart on every results page."""
    children: list[Component] = [
        html.Figcaption(caption, id=f"{graph_id}-caption", className="chart-caption"),
        html.P(summary, className="chart-summary", id=f"{graph_id}-summary"),
        dcc.Graph(
            id=graph_id,
            figure=figure,
            config={**GRAPH_CONFIG, "locale": plotly_locale(language)},
            className="chart-graph",
        ),
        *notes,
    ]
    if methods_links:
        children.append(html.P(methods_links, className="chart-methods"))
    if table is not None:
        children.append(
            html.Details(
                className="chart-table",
                children=[
                    html.Summary(translate("figures.show_table", language, chart=caption)),
                    table,
                ],
            )
        )
    if downloads:
        children.append(html.P(className="download-links", children=list(downloads)))
    return html.Figure(className="result-chart", children=children)


def downloads(
    graph_id: str, registry_key: str, name: str, language: str, **filters: str | int | None
) -> list[Component]:
    """Links to the public table as CSV and as Excel (`name`: an indicator key or "all")."""
    links: list[Component] = []
    for kind in ("csv", "xlsx"):
        if links:
            links.append(" · ")
        links.append(
            html.A(
                translate(f"figures.download_{kind}", language),
                href=urls.results_file(registry_key, name, kind, language, **filters),
                className=f"{kind}-link download-link",
                id=f"{graph_id}-{kind}",
            )
        )
    return links


def plotly_locale(language: str) -> str:
    """Plotly's locale for the modebar and dates: `assets/plotly-locale-no.js` registers "no"."""
    return "no" if normalise_language(language) == "nb" else "en"


def coverage_note(language: str) -> html.P:
    return html.P(translate("figures.low_coverage_note", language), className="chart-note")
