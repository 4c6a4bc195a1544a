"""The indicator page in a real browser: clean load, axe, filters in the address, permalinks.

The page loads without console errors (a script blocked by the CSP lands there) and axe
finds no WCAG 2.1 A/AA violation in bokmål or English; a filter changes the address and the
chart; the back button and a copied address reproduce the view; and a screenshot of each
view is left in tests/browser/artifacts/ for a reviewer.
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
CHART = (By.CSS_SELECTOR, "#indicator-bars .main-svg")


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """The module's application with a small demo registry, so the page has results."""
    with seeded_demo_app(tmp_path_factory.mktemp("indicator-app"), REGISTRATIONS) as server:
        yield server


def _query(driver: WebDriver) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)


def _screenshot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.set_window_size(1280, min(max(int(height), 900), 8000))
    try:
        assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    finally:
        driver.set_window_size(1280, 900)


def _choose(driver: WebDriver, group_id: str, text: str) -> None:
    """Pick the radio button labelled `text` in a filter's group, by keyboard."""
    for label in driver.find_elements(By.CSS_SELECTOR, f"#{group_id} label"):
        if label.text.strip() == text:
            label.find_element(By.TAG_NAME, "input").send_keys(Keys.SPACE)
            return
    raise AssertionError(f"no choice {text!r} in {group_id}")


def _text(driver: WebDriver, element_id: str) -> str:
    """Read in one script call, so a re-render between finding and reading cannot go stale."""
    text = driver.execute_script(
        "const node = document.getElementById(arguments[0]); return node ? node.textContent : '';",
        element_id,
    )
    return str(text)


def _caption(driver: WebDriver) -> str:
    return _text(driver, "indicator-bars-caption")


def _bar_labels(driver: WebDriver) -> list[str]:
    labels = driver.execute_script(
        "return Array.from(document.querySelectorAll('#indicator-bars .ytick text'))"
        ".map(node => node.textContent);"
    )
    return list(labels)


@pytest.mark.parametrize(
    ("address", "heading", "shot"),
    [
        ("?registry=stroke&indicator=thrombolysis", "Trombolyse ved hjerneinfarkt", "nb"),
        (
            "?lang=en&registry=stroke&indicator=thrombolysis&level=trust",
            "Thrombolysis in ischaemic stroke",
            "en",
        ),
        (
            "?registry=stroke&indicator=survival_30_days&view=adjusted",
            "Overlevelse 30 dager etter hjerneslag",
            "risk-nb",
        ),
        (
            "?lang=en&registry=stroke&indicator=survival_30_days&view=crude&sort=name",
            "Survival 30 days after stroke",
            "risk-en",
        ),
        ("?lang=en&registry=stroke&indicator=length_of_stay", "Length of stay", "mean-en"),
    ],
    ids=["nb", "en", "risk-nb", "risk-en", "mean-en"],
)
def test_page_loads_cleanly_and_passes_axe(
    live_server: str, browser: WebDriver, address: str, heading: str, shot: str
) -> None:
    console_errors(browser)  # forget what earlier pages logged
    browser.get(live_server + "/results/indicator" + address)
    wait_for_page(browser, CHART)
    wait_for_page(browser, (By.CSS_SELECTOR, "#indicator-trend .main-svg"))
    assert browser.find_element(By.TAG_NAME, "h1").text == heading
    if "survival" in address:
        wait_for_page(browser, (By.CSS_SELECTOR, "#indicator-funnel .main-svg"))
    for table in browser.find_elements(By.CSS_SELECTOR, "details.chart-table summary"):
        table.click()  # open the table alternatives, so axe checks the grids too
    violations = axe_violations(browser)
    assert violations == [], violations
    assert console_errors(browser) == []
    _screenshot(browser, f"results-indicator-{shot}")


def test_filter_changes_address_and_chart_and_back_restores_it(
    live_server: str, browser: WebDriver
) -> None:
    browser.get(live_server + "/results/indicator?lang=en&registry=stroke&indicator=stroke_unit")
    wait_for_page(browser, CHART)
    assert "hospitals" in _caption(browser)
    hospitals = _bar_labels(browser)
    _choose(browser, "indicator-level", "Health trusts")
    wait_until(browser).until(lambda d: _query(d).get("level") == ["trust"])
    wait_until(browser).until(lambda d: "health trusts" in _caption(d))
    wait_for_page(browser, CHART)
    assert _bar_labels(browser) != hospitals
    assert _query(browser)["lang"] == ["en"] and _query(browser)["indicator"] == ["stroke_unit"]
    _choose(browser, "indicator-sort", "Name (alphabetical)")
    wait_until(browser).until(lambda d: _query(d).get("sort") == ["name"])
    assert _query(browser)["level"] == ["trust"]
    browser.back()
    wait_until(browser).until(lambda d: _query(d).get("sort") != ["name"])
    assert _query(browser)["level"] == ["trust"]
    browser.back()
    wait_until(browser).until(lambda d: "hospitals" in _caption(d))
    wait_until(browser).until(lambda d: _bar_labels(d) == hospitals)


def test_a_copied_permalink_reproduces_the_view(live_server: str, browser: WebDriver) -> None:
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": live_server, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    # The clipboard API answers only a focused page; a headless window loses focus to nothing
    # a reader would notice (another browser of the parallel run), so it is kept focused.
    browser.execute_cdp_cmd("Emulation.setFocusEmulationEnabled", {"enabled": True})
    browser.get(live_server + "/results/indicator?lang=en&registry=stroke&indicator=followup_3m")
    wait_for_page(browser, CHART)
    _choose(browser, "indicator-level", "Regional health authorities")
    wait_until(browser).until(lambda d: _query(d).get("level") == ["region"])
    wait_until(browser).until(lambda d: "regions" in _caption(d))
    before = _query(browser).get("year")
    years = browser.find_elements(By.CSS_SELECTOR, "#indicator-year input")
    years[-1].send_keys(Keys.SPACE)  # the oldest year
    wait_until(browser).until(lambda d: _query(d).get("year") != before)
    wait_for_page(browser, CHART)
    wait_until(browser).until(lambda d: _query(d).get("year", [""])[0] in _caption(d))
    browser.find_element(By.ID, "permalink-copy").click()
    wait_until(browser).until(lambda d: _text(d, "permalink-status").strip() == "Link copied")
    copied = browser.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, () => done(''));"
    )
    assert copied == browser.current_url
    summary = _text(browser, "indicator-bars-summary")
    caption = _caption(browser)
    browser.get(live_server + "/results?lang=en")
    wait_for_page(browser)
    browser.get(copied)
    wait_for_page(browser, CHART)
    assert _caption(browser) == caption
    assert _text(browser, "indicator-bars-summary") == summary


def test_csv_link_downloads_the_table(live_server: str, browser: WebDriver) -> None:
    browser.get(live_server + "/results/indicator?registry=stroke&indicator=thrombolysis")
    wait_for_page(browser, CHART)
    href = browser.find_element(By.ID, "indicator-bars-csv").get_attribute("href")
    assert href is not None and "/results/stroke/thrombolysis.csv?" in href
    text = browser.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done);", href
    )
    assert text.startswith("indicator,period,level,unit_id")
