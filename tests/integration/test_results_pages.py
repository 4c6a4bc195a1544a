"""The results overview, the unit profile and the methods page, through Dash's page router.

A small demo registry is seeded once for the module; pages are asked for as the browser
asks (`render_page`), and the filter callbacks as the browser posts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import flask
import polars as pl
import pytest

from portal import urls
from portal.components.methods_text import ANCHORS, METHODS_FILE, methods_text
from portal.components.result_filters import chosen_year, query_of, today
from tests.conftest import callback_headers, render_page, seeded_demo_app

REGISTRATIONS = 1_500
UNIT = 100032  # Nevrologisk avdeling, Ullevål sykehus (Helse Sør-Øst)


@pytest.fixture(scope="module")
def seeded_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    with seeded_demo_app(tmp_path_factory.mktemp("results-pages"), REGISTRATIONS) as server:
        yield server


def _text(body: str) -> str:
    """The response with JSON escapes undone, so texts can be looked for as readers see them."""
    return json.dumps(json.loads(body), ensure_ascii=False)


def _titles(app: flask.Flask, language: str) -> list[str]:
    with app.test_request_context("/"):
        from portal.catalogue import find_registry

        registry = find_registry("stroke")
        assert registry is not None
        return [i.title.in_language(language) for i in registry.indicators]


def _years(app: flask.Flask) -> list[int]:
    with app.test_request_context("/"):
        from portal.catalogue import find_registry
        from portal.public_data import public_frame

        registry = find_registry("stroke")
        assert registry is not None
        return sorted(public_frame(registry)["period"].unique().to_list())


@pytest.mark.parametrize(
    ("search", "heading", "language"),
    [("", "Resultater: Norsk hjerneslagregister (demo)", "nb"),
     ("?lang=en", "Results: Norwegian Stroke Registry (demo)", "en")],
)  # fmt: skip
def test_overview_lists_every_indicator_with_links(
    seeded_app: flask.Flask, search: str, heading: str, language: str
) -> None:
    page = _text(render_page(seeded_app.test_client(), "/results", search))
    assert heading in page
    years = _years(seeded_app)
    year = chosen_year(None, years, today().year)
    assert year is not None and year < today().year  # a finished year by default
    for title in _titles(seeded_app, language):
        assert title in page
    link = urls.indicator("stroke", "thrombolysis", language, year=year, level="hospital")
    assert json.dumps(link) in page
    assert json.dumps(urls.methods(language, "achievement")) in page
    assert json.dumps(urls.codebook("stroke", language)) in page
    if today().year in years:
        assert ("foreløpige" if language == "nb" else "preliminary") in page


def test_overview_follows_year_and_level_and_ignores_nonsense(seeded_app: flask.Flask) -> None:
    client = seeded_app.test_client()
    first = _years(seeded_app)[0]
    page = _text(render_page(client, "/results", f"?lang=en&year={first}&level=trust"))
    assert f"Achievement of health trusts {first}" in page
    assert f"Nation {first}" in page
    fallback = _text(render_page(client, "/results", "?lang=en&year=1900&level=galaxy"))
    assert "Achievement of hospitals" in fallback
    assert f"Nation {first}:" not in fallback


PROM_INDICATORS = {
    "prom_response_3m": ("Response to the 3-month questionnaire", 0.5, 0.8),
    "independent_3m": ("Independent at 3 months", 0.4, 0.8),
    "eq5d_index_3m": ("Health-related quality of life at 3 months (EQ-5D)", 0.55, 0.9),
}
"""The indicators fed by the 3-month questionnaire: English title, plausible national range."""


def test_the_demo_questionnaire_reaches_the_public_results(seeded_app: flask.Flask) -> None:
    """Answers stored in registrations reach the engine: the response rate, independence
    (risk-adjusted) and the mean EQ-5D index have national results, and the overview lists
    them with their nation's number."""
    from portal.auth.identity import database, settings
    from portal.catalogue import find_registry
    from portal.results_cache import cached_results

    year = chosen_year(None, _years(seeded_app), today().year)
    with seeded_app.test_request_context("/"):
        registry = find_registry("stroke")
        assert registry is not None
        results = cached_results(settings(), database(), registry)
    nation = results.filter(
        pl.col("indicator").is_in(list(PROM_INDICATORS)),
        pl.col("level") == "nation",
        pl.col("period") == year,
    )
    assert sorted(nation["indicator"]) == sorted(PROM_INDICATORS)
    page = _text(render_page(seeded_app.test_client(), "/results", f"?lang=en&year={year}"))
    for row in nation.iter_rows(named=True):
        title, low, high = PROM_INDICATORS[row["indicator"]]
        assert not row["suppressed"], row["indicator"]
        assert low <= row["estimate"] <= high, row
        assert title in page
    adjusted = nation.filter(pl.col("indicator") == "independent_3m")
    assert adjusted["expected"].item() > 0 and adjusted["oe_ratio"].item() is not None


def _filter_callback(
    client: flask.testing.FlaskClient, output: str, inputs: list[tuple[str, object]], search: str
) -> dict[str, Any]:
    location, prop = output.split(".")
    body = {
        "output": output,
        "outputs": {"id": location, "property": prop},
        "inputs": [{"id": i, "property": "value", "value": v} for i, v in inputs],
        "state": [{"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": [f"{inputs[0][0]}.value"],
    }
    response = client.post("/_dash-update-component", json=body, headers=callback_headers(client))
    assert response.status_code == 200, response.data[:300]
    payload: dict[str, Any] = json.loads(response.data)
    return payload


def test_overview_filter_rewrites_the_address(seeded_app: flask.Flask) -> None:
    client = seeded_app.test_client()
    payload = _filter_callback(
        client,
        "overview-location.href",
        [("overview-year", 2023), ("overview-level", "trust")],
        "?lang=en&registry=stroke&year=2024&level=hospital",
    )
    address = payload["response"]["overview-location"]["href"]
    assert address == urls.results("stroke", "en", year="2023", level="trust")


def test_unit_profile_sets_the_unit_against_region_and_nation(seeded_app: flask.Flask) -> None:
    client = seeded_app.test_client()
    page = _text(render_page(client, "/results/unit", f"?lang=en&unit={UNIT}"))
    assert "Nevrologisk avdeling, Ullevål sykehus: results" in page
    assert "Its region (Helse Sør-Øst RHF)" in page
    assert "Department in Helse Sør-Øst RHF" in page
    for title in _titles(seeded_app, "en"):
        assert title in page
    assert json.dumps(urls.methods("en", "suppression")) in page
    # Few registrations: the department's small results say so instead of showing numbers.
    assert "fewer than 10" in page


def test_unit_profile_without_or_with_an_unknown_unit_offers_the_chooser(
    seeded_app: flask.Flask,
) -> None:
    client = seeded_app.test_client()
    chooser = _text(render_page(client, "/results/unit", ""))
    assert "Sykehusprofil: velg en enhet" in chooser
    assert "Haukeland universitetssjukehus (sykehus)" in chooser
    unknown = _text(render_page(client, "/results/unit", "?unit=999&lang=en"))
    assert "No unit with number 999." in unknown
    nation = _text(render_page(client, "/results/unit", "?unit=1&lang=en"))
    assert "No unit with number 1." in nation


@pytest.mark.parametrize(
    ("typed", "unit"),
    [("Haukeland universitetssjukehus (hospital)", 974557746), (str(UNIT), UNIT)],
)
def test_unit_chooser_turns_a_name_into_the_address(
    seeded_app: flask.Flask, typed: str, unit: int
) -> None:
    payload = _filter_callback(
        seeded_app.test_client(),
        "profile-location.href",
        [("profile-unit", typed), ("profile-year", 2024)],
        "?lang=en&registry=stroke",
    )
    address = payload["response"]["profile-location"]["href"]
    assert address == urls.unit_profile("stroke", unit, "en", year="2024")
    assert query_of(address.split("?", 1)[1])["unit"] == str(unit)


def test_unit_chooser_keeps_an_unknown_name_to_say_so(seeded_app: flask.Flask) -> None:
    payload = _filter_callback(
        seeded_app.test_client(),
        "profile-location.href",
        [("profile-unit", "Atlantis"), ("profile-year", 2024)],
        "?registry=stroke",
    )
    address = payload["response"]["profile-location"]["href"]
    assert address == urls.page_url("/results/unit", "nb", registry="stroke", unit="Atlantis",
                                    year="2024")  # fmt: skip


@pytest.mark.parametrize("language", ["nb", "en"])
def test_methods_text_has_every_anchor_other_pages_link_to(language: str) -> None:
    text = methods_text(METHODS_FILE, METHODS_FILE.stat().st_mtime_ns)
    topics = text.nb if language == "nb" else text.en
    anchors = [t.anchor for t in topics]
    assert set(ANCHORS) <= set(anchors), anchors
    assert len(anchors) == len(set(anchors))
    assert all(t.body for t in topics)


@pytest.mark.parametrize(
    ("search", "heading", "words"),
    [("", "Metode: slik beregnes resultatene", "Prikking"),
     ("?lang=en", "Methods: how the results are computed", "Suppression")],
)  # fmt: skip
def test_methods_page_renders_its_language_with_anchors(
    sqlite_app: flask.Flask, search: str, heading: str, words: str
) -> None:
    page = _text(render_page(sqlite_app.test_client(), "/methods", search))
    assert heading in page and words in page
    for anchor in ANCHORS:
        assert f'"id": "{anchor}"' in page
    assert '"dangerously_allow_html": false' in page
    other = "Prikking" if words == "Suppression" else "Suppression"
    assert f'"{other}"' not in page
