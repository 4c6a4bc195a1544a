"""The results overview, the unit profile and the methods page in a real browser.

Each page loads without console errors (a script blocked by the CSP lands there) and axe
finds no WCAG A/AA violation in either language; a filter changes the address and the
content; an address reproduces its view; and each page leaves a screenshot in
tests/browser/artifacts/ for a reviewer to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import flask
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import (
    axe_violations,
    console_errors,
    wait_for_page,
    wait_until,
)
from tests.conftest import seeded_demo_app

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
REGISTRATIONS = 3_000
UNIT = 100032  # Nevrologisk avdeling, Ullevål sykehus

PAGES = pytest.mark.parametrize(
    ("address", "ready", "heading", "shot"),
    [
        ("/", "key-numbers-stroke", "Kvalitetsregistre", "home-with-results-nb"),
        ("/?lang=en", "key-numbers-stroke", "Quality registries", "home-with-results-en"),
        ("/results", "overview-indicators", "Resultater: ", "results-overview-nb"),
        ("/results?lang=en", "overview-indicators", "Results: ", "results-overview-en"),
        (f"/results/unit?unit={UNIT}", "profile-table", "Ullevål", "results-unit-nb"),
        (f"/results/unit?lang=en&unit={UNIT}", "profile-table", "Ullevål", "results-unit-en"),
        ("/results/unit", "profile-unit", "Sykehusprofil", "results-unit-chooser-nb"),
        ("/methods", "suppression", "Metode", "methods-nb"),
        ("/methods?lang=en", "suppression", "Methods", "methods-en"),
    ],
    ids=lambda value: value if isinstance(value, str) and "-" in value else None,
)


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """The module's application with a small demo registry, so the pages have results."""
    with seeded_demo_app(tmp_path_factory.mktemp("results-app"), REGISTRATIONS) as server:
        yield server


def _query(driver: WebDriver) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)


@PAGES
def test_page_loads_cleanly_and_passes_axe(
    live_server: str, browser: WebDriver, address: str, ready: str, heading: str, shot: str
) -> None:
    console_errors(browser)  # forget what earlier pages logged
    browser.get(live_server + address)
    wait_for_page(browser, (By.ID, ready))
    assert heading in browser.find_element(By.TAG_NAME, "h1").text
    violations = axe_violations(browser)
    assert violations == [], violations
    assert console_errors(browser) == []
    ARTIFACTS.mkdir(exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    browser.set_window_size(1280, min(max(int(height), 900), 6000))
    try:
        assert browser.save_screenshot(str(ARTIFACTS / f"{shot}.png"))
    finally:
        browser.set_window_size(1280, 900)


def _choose(driver: WebDriver, group_id: str, text: str) -> None:
    """Pick the radio button labelled `text` in a filter's group, by keyboard."""
    for label in driver.find_elements(By.CSS_SELECTOR, f"#{group_id} label"):
        if label.text.strip() == text:
            radio = label.find_element(By.TAG_NAME, "input")
            radio.send_keys(Keys.SPACE)
            return
    raise AssertionError(f"no choice {text!r} in {group_id}")


def _focused_group(driver: WebDriver) -> str | None:
    return driver.execute_script(  # type: ignore[no-any-return]
        "const holder = document.activeElement.closest('[id]'); return holder && holder.id;"
    )


def test_overview_filter_changes_address_and_content(live_server: str, browser: WebDriver) -> None:
    browser.get(live_server + "/results?lang=en&level=hospital")
    wait_for_page(browser, (By.ID, "overview-indicators"))
    card = browser.find_element(By.ID, "overview-card-thrombolysis")
    assert "Achievement of hospitals" in card.text
    _choose(browser, "overview-level", "Health trusts")
    wait_until(browser).until(lambda d: _query(d).get("level") == ["trust"])
    wait_until(browser).until(
        lambda d: (
            "Achievement of health trusts"
            in d.find_element(By.ID, "overview-card-thrombolysis").text
        )
    )
    assert _query(browser)["lang"] == ["en"]
    wait_until(browser).until(lambda d: _focused_group(d) == "overview-level")
    first_year = _query(browser)["year"][0]
    _choose(browser, "overview-year", str(int(first_year) - 1))
    wait_until(browser).until(lambda d: _query(d).get("year") == [str(int(first_year) - 1)])
    wait_until(browser).until(
        lambda d: (
            f"Nation {int(first_year) - 1}"
            in d.find_element(By.ID, "overview-card-thrombolysis").text
        )
    )
    assert _query(browser)["level"] == ["trust"]
    browser.back()
    wait_until(browser).until(lambda d: _query(d).get("year") == [first_year])


def test_a_permalink_reproduces_the_view(live_server: str, browser: WebDriver) -> None:
    browser.get(live_server + "/results?lang=en&level=hospital")
    wait_for_page(browser, (By.ID, "overview-indicators"))
    _choose(browser, "overview-level", "Departments")
    wait_until(browser).until(lambda d: _query(d).get("level") == ["department"])
    wait_for_page(browser, (By.ID, "overview-indicators"))
    wait_until(browser).until(
        lambda d: "Achievement of departments" in d.find_element(By.ID, "overview-indicators").text
    )
    shared, content = browser.current_url, browser.find_element(By.ID, "overview-indicators").text
    browser.get(live_server + "/methods")
    wait_for_page(browser, (By.ID, "suppression"))
    browser.get(shared)
    wait_for_page(browser, (By.ID, "overview-indicators"))
    assert browser.find_element(By.ID, "overview-indicators").text == content


def test_unit_chooser_changes_the_address(live_server: str, browser: WebDriver) -> None:
    browser.get(live_server + "/results/unit?lang=en")
    wait_for_page(browser, (By.ID, "profile-unit"))
    names = browser.find_elements(By.CSS_SELECTOR, "#profile-unit-names option")
    assert "Haukeland universitetssjukehus (hospital)" in [o.get_attribute("value") for o in names]
    field = browser.find_element(By.ID, "profile-unit")
    field.send_keys("Haukeland universitetssjukehus (hospital)", Keys.ENTER)
    wait_until(browser).until(lambda d: "unit" in _query(d))
    wait_for_page(browser, (By.ID, "profile-table"))
    assert "Haukeland" in browser.find_element(By.TAG_NAME, "h1").text
    assert _query(browser)["lang"] == ["en"]


def test_methods_anchor_scrolls_into_view(live_server: str, browser: WebDriver) -> None:
    browser.get(live_server + "/methods?lang=en#funnel")
    wait_for_page(browser, (By.ID, "funnel"))
    wait_until(browser).until(
        lambda d: d.execute_script(
            "const box = document.getElementById('funnel').getBoundingClientRect();"
            "return box.top >= 0 && box.top < window.innerHeight / 2;"
        )
    )
