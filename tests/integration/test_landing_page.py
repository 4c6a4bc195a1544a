"""The landing page over real HTTP: the index in its language and the page callback's content."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import flask
import pytest
import yaml
from sqlalchemy import func, select

from data_access.database import Database
from data_access.models import PUBLISHED_STATUSES, Registration
from tests.conftest import find_component, render_page, seeded_demo_app

STROKE_INDICATORS = (
    Path(__file__).resolve().parents[2] / "registries" / "stroke" / "indicators.yaml"
)


def _titles(language: str) -> list[str]:
    entries = yaml.safe_load(STROKE_INDICATORS.read_text(encoding="utf-8"))
    entries = entries["indicators"] if isinstance(entries, dict) else entries
    return [entry["title"][language] for entry in entries]


@pytest.mark.parametrize(
    ("query", "language", "heading", "title"),
    [
        ("", "nb", "Kvalitetsregistre", "Kvalitetsregisterportalen"),
        ("?lang=en", "en", "Quality registries", "Quality Registry Portal"),
    ],
)
def test_landing_page_in_both_languages(
    sqlite_app: flask.Flask, query: str, language: str, heading: str, title: str
) -> None:
    client = sqlite_app.test_client()
    index = client.get(f"/{query}")
    assert index.status_code == 200
    page = index.get_data(as_text=True)
    assert f'<html lang="{language}">' in page
    assert f"<title>{title}</title>" in page

    content = render_page(client, "/", query)
    assert heading in content
    other_language = "en" if language == "nb" else "nb"
    for indicator_title in _titles(language):
        assert json.dumps(indicator_title)[1:-1] in content
    assert not any(json.dumps(t)[1:-1] in content for t in _titles(other_language))
    payload = json.loads(content)
    assert payload["response"]["_pages_store"]["data"]["title"] == title


def _language_switch(tree: object) -> dict[str, object] | None:
    if isinstance(tree, dict):
        props = tree.get("props", {})
        if isinstance(props, dict) and props.get("id") == "language-switch":
            return props
        return next((p for v in tree.values() if (p := _language_switch(v))), None)
    if isinstance(tree, list):
        return next((p for v in tree if (p := _language_switch(v))), None)
    return None


@pytest.mark.parametrize(("query", "target"), [("", "/?lang=en"), ("?lang=en", "/")])
def test_language_switch_points_to_the_other_language(
    sqlite_app: flask.Flask, query: str, target: str
) -> None:
    switch = _language_switch(json.loads(render_page(sqlite_app.test_client(), "/", query)))
    assert switch is not None and switch["href"] == target


def test_unknown_address_gets_a_translated_not_found_page(sqlite_app: flask.Flask) -> None:
    content = render_page(sqlite_app.test_client(), "/no-such-page", "?lang=en")
    assert "Page not found" in content


def test_each_registry_shows_its_key_numbers_from_public_results(tmp_path: Path) -> None:
    """The registrations of the latest whole year equal the finished records counted in the
    database (its broadest indicator counts them all), and the link leads to its results."""
    with seeded_demo_app(tmp_path, 1_500, seed=3) as app:
        database: Database = app.extensions["database"]
        content = json.loads(render_page(app.test_client(), "/", ""))
        with database.reading() as session:
            years = session.execute(
                select(func.extract("year", Registration.event_date), func.count())
                .where(Registration.status.in_(PUBLISHED_STATUSES))
                .group_by(func.extract("year", Registration.event_date))
            ).all()
    year, finished = max((int(y), int(n)) for y, n in years if int(y) < date.today().year)
    numbers = find_component(content, "key-numbers-stroke")
    assert numbers is not None
    figures = _texts(numbers)
    assert figures[:4] == [
        "Siste hele år med resultater",
        str(year),
        f"Registreringer i {year}, hele landet",
        f"{finished:,}".replace(",", "\u00a0"),
    ]
    assert f"Sykehus med resultater i {year}" in figures
    link = find_component(content, "results-link-stroke")
    assert link is not None and link["props"]["href"] == "/results?registry=stroke"


def _texts(tree: object) -> list[str]:
    """Every text in a component tree, in reading order."""
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, dict):
        return _texts(tree.get("props", {}).get("children"))
    if isinstance(tree, list):
        return [text for child in tree for text in _texts(child)]
    return []
