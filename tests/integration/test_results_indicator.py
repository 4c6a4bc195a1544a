"""The indicator page, its figures and its CSV: every view renders, and no hidden number leaks.

One seeded demo registry per module (a few thousand registrations, so many hospitals and
departments fall under the minimum and are suppressed). Every combination of year, level,
sort and view is rendered for every demo indicator, and each response is searched for the
numbers of the rows that `cached_results` marks as suppressed.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path

import flask
import plotly.graph_objects as go
import polars as pl
import pytest

from indicators import Indicator
from portal.catalogue import find_registry
from portal.components import result_figures as figures
from portal.public_data import public_frame
from portal.results_cache import cached_results
from tests.conftest import find_component, render_page, seeded_demo_app

REGISTRATIONS = 3_000
PATH = "/results/indicator"
LEVELS = ("region", "trust", "hospital", "department")
SORTS = ("value", "name")
HIDDEN_NUMBERS = (
    "estimate", "lower", "upper", "coverage", "expected", "oe_ratio", "oe_lower", "oe_upper",
    "risk_standardised", "funnel_lower_95", "funnel_upper_95", "funnel_lower_998",
    "funnel_upper_998",
)  # fmt: skip


@pytest.fixture(scope="module")
def seeded_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    with seeded_demo_app(tmp_path_factory.mktemp("indicator"), REGISTRATIONS, seed=5) as server:
        yield server


def _indicators(app: flask.Flask) -> list[Indicator]:
    with app.app_context():
        registry = find_registry("stroke")
        assert registry is not None
        return list(registry.indicators)


def _frames(app: flask.Flask, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(every result of the indicator as computed, its public rows)."""
    with app.test_request_context("/"):
        registry = find_registry("stroke")
        assert registry is not None
        from portal.auth.identity import database, settings

        results = cached_results(settings(), database(), registry)
        public = public_frame(registry)
    return (
        results.filter(pl.col("indicator") == key),
        public.filter(pl.col("indicator") == key),
    )


NOT_RESULTS = frozenset({"array", "arrayminus", "thickness", "width", "size"})
"""Error-bar lengths (differences of a shown unit's own numbers) and line and marker sizes:
not results."""


def _numbers(value: object) -> Iterator[float]:
    """Every number in a decoded JSON document that could be a result.

    Of a plotly figure only the traces and the shapes (the national line) are searched, not
    the layout's ticks, ranges and gaps: a tick at 0.5 is no leak even where a suppressed
    unit's share was 0.5. Hover texts and table cells are strings, searched separately.
    """
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, dict):
        if "data" in value and isinstance(value.get("layout"), dict):
            yield from _numbers(value["data"])
            yield from _numbers(value["layout"].get("shapes", []))
            return
        for key, item in value.items():
            if key not in NOT_RESULTS:
                yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)


def _secret_values(results: pl.DataFrame, public: pl.DataFrame, indicator: Indicator) -> set[float]:
    """Non-integer numbers of suppressed rows that no public row (nor a target) shows anyway."""
    hidden = results.filter(pl.col("suppressed"))
    secret = {
        float(v)
        for column in HIDDEN_NUMBERS
        for v in hidden[column].drop_nulls().to_list()
        if not float(v).is_integer() and math.isfinite(v)
    }
    shown = {float(v) for column in HIDDEN_NUMBERS for v in public[column].drop_nulls().to_list()}
    if indicator.targets is not None:
        shown |= {indicator.targets.high, indicator.targets.moderate}
    return secret - shown


def test_demo_data_has_suppressed_rows_to_protect(seeded_app: flask.Flask) -> None:
    results, public = _frames(seeded_app, "thrombolysis")
    assert results.filter(pl.col("suppressed")).height > 10
    assert (
        public.filter(pl.col("suppressed"))["estimate"].null_count()
        == public.filter(pl.col("suppressed")).height
    )


@pytest.mark.parametrize(
    "key",
    [
        "thrombolysis", "door_to_needle_40", "door_to_needle_median", "stroke_unit",
        "swallow_screening", "antithrombotic_discharge", "anticoagulant_atrial_fibrillation",
        "survival_30_days", "followup_3m", "independent_3m", "length_of_stay",
    ],
)  # fmt: skip
def test_every_view_renders_without_a_suppressed_number(seeded_app: flask.Flask, key: str) -> None:
    indicators = {i.key: i for i in _indicators(seeded_app)}
    assert key in indicators, "the demo registry's indicators changed: update this list"
    indicator = indicators[key]
    results, public = _frames(seeded_app, key)
    secret = _secret_values(results, public, indicator)
    assert secret, "no suppressed numbers to look for: the test would prove nothing"
    years = sorted(public["period"].unique().to_list())
    views = ("adjusted", "crude") if indicator.risk_model is not None else (None,)
    client = seeded_app.test_client()
    for year, level, sort, view, language in itertools.product(
        years, LEVELS, SORTS, views, ("nb", "en")
    ):
        if language == "en" and (sort, level) != ("value", "hospital"):
            continue  # English once per year and view; the numbers are the same
        search = f"?registry=stroke&indicator={key}&year={year}&level={level}&sort={sort}"
        search += f"&view={view}" if view else ""
        search += "&lang=en" if language == "en" else ""
        body = render_page(client, PATH, search)
        document = json.loads(body)
        leaked = secret & set(_numbers(document))
        assert not leaked, (search, sorted(leaked)[:5])
        _assert_units_hidden(document, results, year, level, search)


def _assert_units_hidden(
    document: object, results: pl.DataFrame, year: int, level: str, search: str
) -> None:
    """The bar chart and its table give a suppressed unit no number, only its note."""
    graph = find_component(document, "indicator-bars")
    grid = find_component(document, "indicator-bars-table")
    assert graph is not None and grid is not None, search
    hidden_units = results.filter(
        pl.col("period") == year, pl.col("level") == level, pl.col("suppressed")
    ).height
    bars = graph["props"]["figure"]["data"][0]
    ticks = graph["props"]["figure"]["layout"]["yaxis"]["ticktext"]
    assert len(bars["x"]) == len(ticks)
    rows = grid["props"]["rowData"]
    assert len(rows) == len(ticks)
    hidden_rows = [
        r for r in rows if r["estimate"].startswith(("færre", "fewer", "skjult", "hidden"))
    ]
    assert len(hidden_rows) == hidden_units, search
    for row in hidden_rows:
        for column in ("interval", "numerator", "achievement", "coverage"):
            assert row.get(column, "") == "", (search, row)
    positions = [i for i, r in enumerate(rows) if r in hidden_rows]
    assert all(bars["x"][i] is None for i in positions), search


def test_adjusted_view_draws_the_risk_standardised_values(seeded_app: flask.Flask) -> None:
    _, public = _frames(seeded_app, "survival_30_days")
    year = 2024
    rows = public.filter(pl.col("period") == year, pl.col("level") == "hospital")
    client = seeded_app.test_client()
    for view, column in (("adjusted", "risk_standardised"), ("crude", "estimate")):
        body = render_page(
            client, PATH, f"?registry=stroke&indicator=survival_30_days&year={year}&view={view}"
        )
        graph = find_component(json.loads(body), "indicator-bars")
        assert graph is not None
        drawn = {round(x, 9) for x in graph["props"]["figure"]["data"][0]["x"] if x is not None}
        assert drawn == {round(v, 9) for v in rows[column].drop_nulls().to_list()}
        assert find_component(json.loads(body), "indicator-funnel") is not None


def test_sort_by_name_uses_the_norwegian_alphabet(seeded_app: flask.Flask) -> None:
    body = render_page(
        seeded_app.test_client(),
        PATH,
        "?registry=stroke&indicator=stroke_unit&year=2024&level=hospital&sort=name",
    )
    grid = find_component(json.loads(body), "indicator-bars-table")
    assert grid is not None
    names = [r["name"] for r in grid["props"]["rowData"]]
    order = str.maketrans({"æ": "{", "ø": "|", "å": "}"})
    assert names == sorted(names, key=lambda n: n.lower().translate(order))
    assert any(n.startswith("Å") for n in names) and names[-1].startswith("Å")


def test_unknown_indicator_and_registry_are_explained(seeded_app: flask.Flask) -> None:
    client = seeded_app.test_client()
    body = render_page(client, PATH, "?registry=stroke&indicator=nope&lang=en")
    assert "No indicator called" in body and "Thrombolysis in ischaemic stroke" in body
    body = render_page(client, PATH, "?registry=hip&indicator=x&lang=en")
    assert "No registry called" in body


def test_page_links_to_methods_codebook_and_csv(seeded_app: flask.Flask) -> None:
    body = render_page(
        seeded_app.test_client(),
        PATH,
        "?registry=stroke&indicator=survival_30_days&year=2024&level=trust&lang=en",
    )
    body = json.dumps(json.loads(body), ensure_ascii=False)  # Dash writes "/" as \u002f
    for href in (
        "/methods?lang=en#interval",
        "/methods?lang=en#funnel",
        "/methods?lang=en#oe-ratio",
        "/codebook?lang=en&registry=stroke",
        "/results/stroke/survival_30_days.csv?lang=en&level=trust&year=2024",
    ):
        assert href in body, href
    assert "permalink-copy" in body and "Link copied" in body


def test_csv_serves_exactly_the_public_rows(seeded_app: flask.Flask) -> None:
    _, public = _frames(seeded_app, "thrombolysis")
    client = seeded_app.test_client()
    response = client.get("/results/stroke/thrombolysis.csv?year=2024&level=hospital")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    expected = public.filter(pl.col("period") == 2024, pl.col("level") == "hospital")
    assert len(rows) == expected.height
    hidden = [r for r in rows if r["note"]]
    assert hidden and all(r["estimate"] == r["denominator"] == r["numerator"] == "" for r in hidden)
    assert all(r["note"].startswith("<") or r["note"] == ":" for r in hidden)
    trend = client.get("/results/stroke/thrombolysis.csv?level=nation,region")
    levels = {r["level"] for r in csv.DictReader(io.StringIO(trend.get_data(as_text=True)))}
    assert levels == {"nation", "region"}


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("/results/stroke/nope.csv", 404),
        ("/results/hip/thrombolysis.csv", 404),
        ("/results/stroke/thrombolysis.txt", 404),
        ("/results/stroke/thrombolysis.csv?year=twenty", 400),
        ("/results/stroke/thrombolysis.csv?level=patient", 400),
    ],
)
def test_csv_refuses_what_it_does_not_serve(
    seeded_app: flask.Flask, address: str, status: int
) -> None:
    assert seeded_app.test_client().get(address).status_code == status


# --- the figure functions, without a page ---------------------------------------------------


def _indicator(app: flask.Flask, key: str) -> Indicator:
    return next(i for i in _indicators(app) if i.key == key)


def test_value_text_writes_each_language(seeded_app: flask.Flask) -> None:
    with seeded_app.app_context():
        share = _indicator(seeded_app, "thrombolysis")
        stay = _indicator(seeded_app, "length_of_stay")
        assert figures.value_text(0.4051, share, "nb") == "40,5\u00a0%"
        assert figures.value_text(0.4051, share, "en") == "40.5%"
        assert figures.value_text(4.25, stay, "nb") == "4,2\u00a0døgn"
        assert figures.value_text(1234.5, stay, "en") == "1,234.5\u00a0days"
        assert figures.value_text(None, share, "en") == "no value"
        assert figures.note_text("<10", "nb") == "færre enn 10"


def test_unit_bars_draw_bands_national_line_and_no_bar_for_hidden_units(
    seeded_app: flask.Flask,
) -> None:
    _, public = _frames(seeded_app, "thrombolysis")
    rows = public.filter(pl.col("period") == 2024, pl.col("level") == "hospital")
    with seeded_app.app_context():
        indicator = _indicator(seeded_app, "thrombolysis")
        figure = figures.unit_bars(rows, indicator, "nb", national=0.35)
    go.Figure(figure)  # plotly checks every property against its schema
    bars = figure["data"][0]
    hidden = rows["note"].is_not_null().to_list()
    assert [x is None for x in bars["x"]] == hidden
    notes = figure["data"][1]
    assert set(notes["text"]) == {"færre enn 10"} or ":" in str(rows["note"].to_list())
    shapes = figure["layout"]["shapes"]
    bands = {s["fillcolor"] for s in shapes if s["type"] == "rect"}
    assert bands == set(figures.BAND_COLOURS.values())
    assert any(s["type"] == "line" and s["x0"] == 0.35 for s in shapes)
    assert "40\u00a0%" in figure["layout"]["xaxis"]["ticktext"]


def test_trend_marks_the_preliminary_period(seeded_app: flask.Flask) -> None:
    _, public = _frames(seeded_app, "stroke_unit")
    rows = public.filter(pl.col("level").is_in(["nation", "region"]))
    last = int(rows["period"].max())  # type: ignore[arg-type]
    with seeded_app.app_context():
        indicator = _indicator(seeded_app, "stroke_unit")
        figure = figures.trend_chart(rows, indicator, "en", preliminary_period=last)
        summary = figures.chart_summary(
            rows, indicator, "en", kind="trend", preliminary_period=last
        )
    go.Figure(figure)  # plotly checks every property against its schema
    assert len(figure["data"]) == rows["unit_id"].n_unique()
    assert figure["layout"]["xaxis"]["ticktext"][-1] == f"{last} (preliminary)"
    assert all(trace["marker"]["symbol"][-1].endswith("-open") for trace in figure["data"])
    assert f"figures for {last} are preliminary" in summary


def test_funnel_plot_has_both_limits_and_every_shown_unit(seeded_app: flask.Flask) -> None:
    _, public = _frames(seeded_app, "survival_30_days")
    rows = public.filter(pl.col("period") == 2024, pl.col("level") == "hospital")
    with seeded_app.app_context():
        indicator = _indicator(seeded_app, "survival_30_days")
        figure = figures.funnel_plot(rows, indicator, "en")
        summary = figures.chart_summary(rows, indicator, "en", kind="funnel", level="hospital")
    go.Figure(figure)  # plotly checks every property against its schema
    limits, points = figure["data"][:4], figure["data"][4]
    assert [t["line"]["dash"] for t in limits] == ["dot", "dash", "dash", "dot"]
    shown = rows.filter(pl.col("oe_ratio").is_not_null())
    assert len(points["x"]) == shown.height
    assert list(points["x"]) == sorted(shown["expected"].to_list())
    assert summary.startswith(f"{shown.height} hospitals are shown.")


def test_bar_summary_counts_achievement_and_the_nation(seeded_app: flask.Flask) -> None:
    _, public = _frames(seeded_app, "stroke_unit")
    rows = public.filter(pl.col("period") == 2024, pl.col("level") == "hospital")
    with seeded_app.app_context():
        indicator = _indicator(seeded_app, "stroke_unit")
        text = figures.chart_summary(rows, indicator, "en", level="hospital", national=0.781)
    high = rows.filter(pl.col("achievement") == "high").height
    assert text.startswith(f"Of {rows.height} hospitals, {high} reach high")
    assert text.endswith("The national result is 78.1%.")


def test_results_grid_writes_numbers_as_on_the_chart(tmp_path: Path) -> None:
    frame = pl.DataFrame({"name": ["A"], "period": [2024]})
    grid = figures.results_grid(frame, ["name", "period"], "nb", "grid")
    assert grid.rowData == [{"name": "A", "period": "2024"}]
    assert [c["headerName"] for c in grid.columnDefs] == ["Enhet", "År"]


def test_excel_and_every_indicator_files_hold_the_public_rows(seeded_app: flask.Flask) -> None:
    client = seeded_app.test_client()
    response = client.get("/results/stroke/all.xlsx?year=2024&level=hospital")
    assert response.status_code == 200
    sheet = pl.read_excel(io.BytesIO(response.data), engine="openpyxl")
    as_csv = client.get("/results/stroke/all.csv?year=2024&level=hospital")
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert sheet.height == len(rows) > 0
    assert set(sheet["indicator"].to_list()) == {i.key for i in _indicators(seeded_app)}
    hidden = sheet.filter(pl.col("note").is_not_null())
    assert hidden.height and hidden["estimate"].null_count() == hidden.height
    assert hidden["denominator"].null_count() == hidden.height


def test_overview_links_to_every_indicator_as_csv_and_excel(seeded_app: flask.Flask) -> None:
    body = render_page(seeded_app.test_client(), "/results", "?registry=stroke&year=2024")
    body = json.dumps(json.loads(body), ensure_ascii=False)
    assert "/results/stroke/all.csv?level=hospital&year=2024" in body
    assert "/results/stroke/all.xlsx?level=hospital&year=2024" in body
