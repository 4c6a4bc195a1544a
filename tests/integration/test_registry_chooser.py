"""Several registries on one installation: each registry's pages name it, offer the others,
and show nothing of another registry's indicators."""

from __future__ import annotations

import json
from collections.abc import Iterator

import flask
import pytest

from entry.registry_folder import RegistryFolder
from tests.conftest import find_component, render_page, seeded_demo_app

PAGES = ("/results", "/codebook")


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """Both demo registries seeded side by side, so every results page has numbers."""
    with seeded_demo_app(tmp_path_factory.mktemp("two"), 1_500, seed=5) as server:
        result = server.test_cli_runner().invoke(
            args=["seed-demo", "--registry", "hipfracture", "--registrations", "1500"]
        )
        assert result.exit_code == 0, result.output
        yield server


def _registries(app: flask.Flask) -> tuple[RegistryFolder, ...]:
    registries: tuple[RegistryFolder, ...] = app.extensions["registries"]
    return registries


def test_the_demo_installation_holds_two_registries_and_stroke_comes_first(
    sqlite_app: flask.Flask,
) -> None:
    keys = [registry.key for registry in _registries(sqlite_app)]
    assert keys[0] == "stroke" and "hipfracture" in keys


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("language", ["nb", "en"])
def test_a_registry_page_offers_the_others_and_shows_only_its_own(
    sqlite_app: flask.Flask, path: str, language: str
) -> None:
    client = sqlite_app.test_client()
    registries = _registries(sqlite_app)
    for shown in registries:
        search = f"?registry={shown.key}" + ("&lang=en" if language == "en" else "")
        content = render_page(client, path, search)
        switch = find_component(json.loads(content), "registry-switch")
        assert switch is not None, (path, shown.key)
        links = _links(switch)
        assert [text for text, _href, _current in links] == [
            r.name.in_language(language) for r in registries
        ]
        assert [current for _text, _href, current in links] == [r is shown for r in registries]
        for registry, (_text, href, _current) in zip(registries, links, strict=True):
            assert f"registry={registry.key}" in href and href.startswith(path)
        assert json.dumps(shown.name.in_language(language))[1:-1] in content
        if path == "/results":  # the overview's cards carry each indicator's key
            for other in registries:
                for indicator in other.indicators:
                    card = f"overview-card-{indicator.key}"
                    assert (card in content) is (indicator in shown.indicators), card


def test_a_page_without_a_registry_has_no_switch(sqlite_app: flask.Flask) -> None:
    content = json.loads(render_page(sqlite_app.test_client(), "/methods", ""))
    assert find_component(content, "registry-switch") is None


def _links(tree: object) -> list[tuple[str, str, bool]]:
    """(text, href, is the current page) of every link in a component tree, in order."""
    if isinstance(tree, list):
        return [link for item in tree for link in _links(item)]
    if not isinstance(tree, dict):
        return []
    props = tree.get("props", {})
    if "href" in props:
        return [(str(props["children"]), str(props["href"]), "aria-current" in props)]
    return _links(props.get("children"))


def test_the_front_page_links_each_registrys_own_public_pages(sqlite_app: flask.Flask) -> None:
    client = sqlite_app.test_client()
    content = json.loads(render_page(client, "/", ""))
    link = find_component(content, "extension-link-hipfracture-tid-til-operasjon")
    assert link is not None
    assert link["props"]["href"] == "/registries/hipfracture/tid-til-operasjon"
    page = render_page(client, "/registries/hipfracture/tid-til-operasjon", "")
    assert "Tid til operasjon" in page
