"""No suppressed number reaches the public: every public page and callback, every filter value.

A small demo registry (few registrations, so many results fall under the minimum) is asked
for every public page through Dash's page router and every public callback, with every
value of every filter the pages offer (found in the rendered layouts: years, levels, units,
indicators, sorts, views), in both languages, plus the public CSV downloads.

Two checks, both needed:
- Real data: the numbers of the suppressed rows of `cached_results` (raw floats as JSON
  writes them, and estimates, intervals and counts as the pages write them) must not appear,
  except where the same text is also a public number (a suppressed 40,0 % may coincide with
  a shown 40,0 %, which betrays nothing).
- Canaries: the cached results are then rewritten so that every number of a suppressed row
  holds the digits 987654 (987654 in the counts, 987654.3 in every float column). Whatever
  formatting a page applies (grouping, decimal comma, percent), a page or callback that read
  `cached_results` instead of `public_frame` would show those digits. The test fails then;
  this was verified by pointing `public_frame` at the raw results for a run.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import cycle, product
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import dash
import flask
import polars as pl
import pytest

from portal import page_cache
from portal.auth.guard import CALLBACK_ACCESS, CLIENTSIDE_OUTPUTS
from portal.catalogue import find_registry
from portal.components.result_figures import (
    interval_text,
    value_text,
    with_standardised_interval,
)
from portal.i18n import LANGUAGES, number, translate
from portal.public_data import public_frame
from portal.results_cache import cached_results
from tests.conftest import callback_headers, render_page, seeded_demo_app

REGISTRATIONS = 1_500
CANARY_COUNT = 987_654
CANARY_FLOAT = 987_654.3
CANARY_DIGITS = "987654"
STATIC_PAGES = ("/", "/methods", "/codebook")
FLOAT_COLUMNS = (
    "estimate", "lower", "upper", "coverage", "observed", "expected", "oe_ratio", "oe_lower",
    "oe_upper", "risk_standardised", "funnel_lower_95", "funnel_upper_95", "funnel_lower_998",
    "funnel_upper_998",
)  # fmt: skip
COUNT_COLUMNS = ("numerator", "denominator")
HIDDEN_COLUMNS = ("estimate", "lower", "upper", "risk_standardised")
FILTER_CONTROLS = ("RadioItems", "Dropdown", "Datalist")


@dataclass(frozen=True)
class Seeded:
    app: flask.Flask
    results_file: Path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    tmp_path = tmp_path_factory.mktemp("suppression")
    with seeded_demo_app(tmp_path, REGISTRATIONS) as server:
        with server.test_request_context("/"):
            registry = find_registry("stroke")
            assert registry is not None
            public_frame(registry)  # computes and caches the results once
        files = list((tmp_path / "instance" / "results").glob("stroke-v*.parquet"))
        assert len(files) == 1, files
        yield Seeded(server, files[0])


# --- what to ask for ----------------------------------------------------------------------


def _leaves(node: Any) -> Iterator[dict[str, Any]]:
    """Every Dash component (as JSON) in a rendered response."""
    if isinstance(node, dict):
        if "type" in node and "props" in node:
            yield node
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value)


def _controls(body: str) -> dict[str, list[object]]:
    """Every filter control of a rendered page: component id -> the values it offers (a
    datalist's options are the names a reader may type into its field)."""
    found: dict[str, list[object]] = {}
    for component in _leaves(json.loads(body)):
        props, kind = component["props"], component["type"]
        if kind not in FILTER_CONTROLS or not isinstance(props.get("id"), str):
            continue
        if kind == "Datalist":
            values = [o["props"]["value"] for o in _leaves(props.get("children", []))]
            found[props["id"].removesuffix("-names")] = values
        else:
            options = props.get("options", [])
            found[props["id"]] = [o["value"] if isinstance(o, dict) else o for o in options]
    return found


def _filters(body: str) -> dict[str, list[object]]:
    """The page's filters: query parameter -> values. As in `result_filters`, the last part
    of a control's id names its parameter (`overview-year` sets `year`)."""
    return {name.rsplit("-", 1)[-1]: values for name, values in _controls(body).items()}


def _search(language: str, **query: object) -> str:
    params = {k: str(v) for k, v in query.items() if v is not None}
    if language == "en":
        params["lang"] = "en"
    return "?" + urlencode(params) if params else ""


def _page_requests(client: flask.testing.FlaskClient, indicators: list[str]) -> list[str]:
    """Every public page with every value of each of its filters: per indicator every year,
    level, sort and view (languages taking turns), every year x level in both languages for
    the first indicator, every unit, and every year for every tenth unit."""
    searches: list[tuple[str, str]] = []
    for language in LANGUAGES:
        searches += [("/", _search(language)), ("/methods", _search(language))]
        searches.append(("/codebook", _search(language, registry="stroke")))
        overview = _filters(render_page(client, "/results", _search(language)))
        for year, level in product(overview["year"], overview["level"]):
            searches.append(("/results", _search(language, year=year, level=level)))
        base = {"registry": "stroke", "indicator": indicators[0]}
        offered = _filters(render_page(client, "/results/indicator", _search(language, **base)))
        for year, level in product(offered["year"], offered["level"]):
            searches.append(
                ("/results/indicator", _search(language, **base, year=year, level=level))
            )
    for i, key in enumerate(indicators):
        language = LANGUAGES[i % 2]
        base = {"registry": "stroke", "indicator": key}
        offered = _filters(render_page(client, "/results/indicator", _search(language, **base)))
        assert {"year", "level"} <= set(offered), (key, offered)
        searches += [
            ("/results/indicator", _search(language, **base, **{name: value}))
            for name, values in offered.items()
            for value in values
        ]
    years = _filters(render_page(client, "/results/unit", ""))["year"]
    for i, unit in enumerate(_unit_ids(client)):
        language = LANGUAGES[i % 2]
        searches.append(("/results/unit", _search(language, unit=unit)))
        if i % 60 == 0:
            searches += [("/results/unit", _search(language, unit=unit, year=y)) for y in years]
    return [json.dumps(s) for s in dict.fromkeys(searches)]


def _unit_ids(client: flask.testing.FlaskClient) -> list[int]:
    with client.application.test_request_context("/"):
        from portal.public_data import units

        tree = units()
    return tree.filter(pl.col("level") != "nation")["unit_id"].to_list()


def _callback_requests(client: flask.testing.FlaskClient) -> list[dict[str, Any]]:
    """Every public server callback with every value its inputs can take on the pages."""
    dash_app: dash.Dash = client.application.extensions["dash"]
    values: dict[str, list[object]] = {}
    searches: list[str] = []
    for path, language in product(("/results", "/results/indicator", "/results/unit"), LANGUAGES):
        search = _search(language, registry="stroke", indicator="thrombolysis", unit=100032)
        searches.append(search)
        for name, offered in _controls(render_page(client, path, search)).items():
            values.setdefault(name, []).extend(offered)
    requests: list[dict[str, Any]] = []
    for output, spec in dash_app.callback_map.items():
        if CALLBACK_ACCESS.get(output) != "public" or output in CLIENTSIDE_OUTPUTS:
            continue
        inputs, state = spec.get("inputs", []), spec.get("state", [])
        turns = cycle(dict.fromkeys(searches))
        for position, item in enumerate(inputs):
            for value in dict.fromkeys(str(v) for v in values.get(item["id"], [1])):
                search = next(turns)
                requests.append(_callback_request(output, inputs, state, position, value, search))
    return requests


def _callback_request(
    output: str,
    inputs: list[dict[str, str]],
    state: list[dict[str, str]],
    changed: int,
    value: object,
    search: str,
) -> dict[str, Any]:
    def entry(item: dict[str, str], chosen: object) -> dict[str, object]:
        prop = item["property"]
        shown = search if prop == "search" else chosen if prop == "value" else 1
        return {"id": item["id"], "property": prop, "value": shown}

    parts = output.strip(".").split("...")
    outputs = [{"id": p.split(".")[0], "property": p.split(".")[1].split("@")[0]} for p in parts]
    return {
        "output": output,
        # One output is sent as an object, several as a list, as Dash's renderer does.
        "outputs": outputs[0] if len(outputs) == 1 else outputs,
        "inputs": [entry(item, value) for item in inputs],
        "state": [entry(item, value) for item in state],
        "changedPropIds": [f"{inputs[changed]['id']}.{inputs[changed]['property']}"],
    }


# --- what must not be there ---------------------------------------------------------------


def _texts(
    frame: pl.DataFrame, registry_indicators: dict[str, Any], columns: tuple[str, ...]
) -> set[str]:
    """Every way the pages write the numbers of `frame`'s rows (both languages)."""
    texts: set[str] = set()
    frame = with_standardised_interval(frame)
    for row in frame.iter_rows(named=True):
        indicator = registry_indicators[row["indicator"]]
        for language in LANGUAGES:
            for column in columns:
                if row[column] is not None:
                    texts.add(value_text(row[column], indicator, language))
            for low, high in (("lower", "upper"), ("_rs_lower", "_rs_upper")):
                if row[low] is not None and row[high] is not None:
                    texts.add(interval_text(row[low], row[high], indicator, language))
            if row["numerator"] is not None and row["denominator"] is not None:
                texts.add(
                    translate(
                        "figures.hover_counts",
                        language,
                        numerator=number(row["numerator"], language, 0),
                        denominator=number(row["denominator"], language, 0),
                    )
                )
    return texts


def _distinctive(text: str) -> bool:
    """A bare short number ("0.2", "4,5") also turns up as chart settings and axis ticks."""
    return len(text) >= 5 or not re.fullmatch(r"[\d.,\s\u00a0]+", text)


def _raw(frame: pl.DataFrame) -> set[str]:
    """Floats as JSON writes them; short ones ("0.5") are too common to mean anything."""
    values = frame.select(FLOAT_COLUMNS).to_numpy().ravel()
    return {json.dumps(float(v)) for v in values if v == v and len(json.dumps(float(v))) >= 8}


def _forbidden(seeded: Seeded) -> set[str]:
    with seeded.app.test_request_context("/"):
        registry = find_registry("stroke")
        assert registry is not None
        from portal.auth.identity import database, settings

        results = cached_results(settings(), database(), registry)
        shown = public_frame(registry)
    indicators = {i.key: i for i in registry.indicators}
    hidden = results.filter(pl.col("suppressed"))
    assert hidden.height > 100 and shown.filter(~pl.col("suppressed")).height > 100
    assert set(hidden["level"].cast(pl.String)) >= {"department", "hospital", "trust"}
    targets = {
        value_text(value, indicator, language)
        for indicator in registry.indicators
        if indicator.targets is not None
        for value in (indicator.targets.high, indicator.targets.moderate)
        for language in LANGUAGES
    }
    public_rows = shown.filter(~pl.col("suppressed"))
    allowed = _texts(public_rows, indicators, (*FLOAT_COLUMNS, "_rs_lower", "_rs_upper"))
    allowed |= targets
    allowed |= _raw(shown.filter(~pl.col("suppressed")))
    forbidden = {
        t
        for t in (_texts(hidden, indicators, HIDDEN_COLUMNS) | _raw(hidden)) - allowed
        if _distinctive(t)
    }
    # Pages without results (methods, codebook, home) are fixed text: "0,5" in the methods'
    # words about the c statistic is no leak, so what they contain is not looked for.
    client = seeded.app.test_client()
    static = "".join(
        render_page(client, path, _search(language))
        for path, language in product(STATIC_PAGES, LANGUAGES)
    )
    escaped = {json.dumps(text)[1:-1] for text in forbidden}
    escaped = {text for text in escaped if text not in static}
    assert len(escaped) > 50, "too few distinctive suppressed numbers to test anything"
    return escaped


def _responses(seeded: Seeded) -> Iterator[tuple[str, str]]:
    client = seeded.app.test_client()
    with seeded.app.test_request_context("/"):
        registry = find_registry("stroke")
        assert registry is not None
        indicators = [i.key for i in registry.indicators]
    for request in _page_requests(client, indicators):
        path, search = json.loads(request)
        yield f"{path}{search}", render_page(client, path, search)
    headers = callback_headers(client)
    requests = _callback_requests(client)
    public = {
        output
        for output, spec in client.application.extensions["dash"].callback_map.items()
        if CALLBACK_ACCESS.get(output) == "public" and output not in CLIENTSIDE_OUTPUTS
    }
    assert {r["output"] for r in requests} == public and public
    for request in requests:
        response = client.post("/_dash-update-component", json=request, headers=headers)
        assert response.status_code in {200, 204}, (request, response.data[:300])
        yield json.dumps(request), response.get_data(as_text=True)
    files = [r for r in seeded.app.url_map.iter_rules() if r.endpoint.startswith("results_downl")]
    assert files, "the public results files are served"
    for key in [*indicators, "all"]:
        for kind in ("csv", "xlsx"):
            address = f"/results/stroke/{key}.{kind}"
            response = client.get(address)
            assert response.status_code == 200, address
            if kind == "csv":
                yield address, response.get_data(as_text=True)
            else:
                sheet = pl.read_excel(io.BytesIO(response.data), engine="openpyxl")
                yield address, sheet.write_csv()


def _digits(text: str) -> str:
    """The text with separators between digits removed: 987 654,3 and 987,654.3 -> 9876543."""
    text = text.replace("\\u00a0", " ").replace("\\u202f", " ")
    return re.sub(r"(?<=\d)[\s\u00a0\u202f.,'](?=\d)", "", text)


@pytest.mark.slow
def test_no_suppressed_number_in_any_public_response(seeded: Seeded) -> None:
    forbidden = _forbidden(seeded)
    by_start: dict[str, list[tuple[str, int]]] = {}
    for text in forbidden:
        first = NUMBER.search(text)  # "-0.12" is found by its "0.12", one character in
        assert first is not None, text
        by_start.setdefault(first.group(), []).append((text, first.start()))
    checked = 0
    for where, body in _responses(seeded):
        found = _first_forbidden(body, by_start)
        assert found is None, (where, found)
        checked += 1
    assert checked > 500, checked


NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*")
PERCENT_AFTER = re.compile(r"(?:\\u00a0| )?%")


def _first_forbidden(body: str, by_start: dict[str, list[tuple[str, int]]]) -> str | None:
    """The first forbidden text in `body`, looked up by the number it starts with. A number
    inside a longer one ("0,5" in "10,5") or a mean's "37,0" as the start of a share's
    "37,0 %" is not the number."""
    for match in NUMBER.finditer(body):
        for text, offset in by_start.get(match.group(), ()):
            start = match.start() - offset
            end = start + len(text)
            if start < 0 or not body.startswith(text, start):
                continue
            rest = body[end : end + 7]
            if rest[:1].isdigit() or (not text.endswith("%") and PERCENT_AFTER.match(rest)):
                continue
            return text
    return None


def _served_results(seeded: Seeded) -> pl.DataFrame:
    with seeded.app.test_request_context("/"):
        registry = find_registry("stroke")
        assert registry is not None
        settings, database = seeded.app.config["PORTAL_SETTINGS"], seeded.app.extensions["database"]
        return cached_results(settings, database, registry)


@pytest.mark.slow
def test_no_canary_of_the_raw_results_in_any_public_response(seeded: Seeded) -> None:
    """Every number of every suppressed row is made to carry the digits 987654."""
    original = seeded.results_file.read_bytes()
    results = pl.read_parquet(seeded.results_file)
    hidden = pl.col("suppressed")
    canaried = results.with_columns(
        *(pl.when(hidden).then(pl.lit(CANARY_COUNT)).otherwise(pl.col(c)).alias(c)
          for c in COUNT_COLUMNS),
        *(pl.when(hidden).then(pl.lit(CANARY_FLOAT)).otherwise(pl.col(c)).alias(c)
          for c in FLOAT_COLUMNS),
    )  # fmt: skip
    assert not (_served_results(seeded)["numerator"] == CANARY_COUNT).any()
    canaried.write_parquet(seeded.results_file)
    page_cache.clear(seeded.app)  # the pages seen so far were rendered from the true file
    try:
        # What the pages below are given: the rewritten file, not a copy kept from before.
        assert (_served_results(seeded)["numerator"] == CANARY_COUNT).any()
        checked = 0
        for where, body in _responses(seeded):
            assert CANARY_DIGITS not in _digits(body), where
            checked += 1
        assert checked > 500, checked
    finally:
        seeded.results_file.write_bytes(original)
        page_cache.clear(seeded.app)
