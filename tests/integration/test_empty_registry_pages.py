"""A new installation has a registry but no registrations yet: every page still renders."""

from __future__ import annotations

import json

import flask
import pytest

from tests.conftest import render_page

PAGES = [
    ("/", ""),
    ("/results", "?registry=stroke"),
    ("/results", "?registry=stroke&year=2020&level=trust"),
    ("/results/indicator", "?registry=stroke&indicator=thrombolysis"),
    ("/results/indicator", "?registry=stroke&indicator=survival_30_days&view=crude"),
    ("/results/indicator", "?registry=stroke&indicator=length_of_stay&lang=en"),
    ("/results/unit", "?registry=stroke&unit=100032"),
    ("/methods", ""),
    ("/codebook", ""),
]


@pytest.mark.parametrize(("path", "search"), PAGES)
def test_page_renders_without_any_registration(
    sqlite_app: flask.Flask, path: str, search: str
) -> None:
    body = json.loads(render_page(sqlite_app.test_client(), path, search))
    content = json.dumps(body["response"]["_pages_content"]["children"])
    assert "h1" in content.lower() or "H1" in content
