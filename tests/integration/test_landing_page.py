"""The landing page over real HTTP: the index in its language and the page callback's content."""

from __future__ import annotations

import json
from pathlib import Path

import flask
import pytest
import yaml

from tests.conftest import render_page

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
