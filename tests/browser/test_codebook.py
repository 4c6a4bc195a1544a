"""The codebook in a real browser: it renders in both languages and axe finds nothing."""

from __future__ import annotations

from contextlib import suppress

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import WCAG_TAGS, axe_violations, wait_for_page, wait_until

LANGUAGES = pytest.mark.parametrize(
    ("query", "heading", "shown"),
    [
        ("/codebook", "Kodebok: Norsk hjerneslagregister (demo)", "«Trombolyse» er ja"),
        (
            "/codebook?lang=en&registry=stroke",
            "Codebook: Norwegian Stroke Registry (demo)",
            "“Thrombolysis” is yes",
        ),
    ],
    ids=["nb", "en"],
)


@LANGUAGES
def test_codebook_renders_and_passes_axe(
    live_server: str, browser: WebDriver, query: str, heading: str, shown: str
) -> None:
    browser.get(live_server + query)
    wait_for_page(browser, (By.CSS_SELECTOR, "table.codebook-table"))
    assert browser.find_element(By.TAG_NAME, "h1").text == heading
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.codebook-table")) == 3
    row = browser.find_element(By.ID, "codebook-variable-thrombolysis_datetime")
    assert shown in row.text
    violations = axe_violations(browser, tags=(*WCAG_TAGS, "best-practice"))
    assert violations == [], violations


def test_form_filter_link_shows_one_table(live_server: str, browser: WebDriver) -> None:
    browser.get(live_server + "/codebook?lang=en")
    wait_for_page(browser, (By.CSS_SELECTOR, "table.codebook-table"))
    browser.find_element(By.LINK_TEXT, "3-month follow-up").click()
    wait_for_page(browser, (By.ID, "codebook-table-stroke-followup_3m"))
    # Read in one script: Dash may still be replacing the tables, and an element found in
    # one call can be gone by the next (a stale element, seen in CI).
    shown = "return [...document.querySelectorAll('table.codebook-table')].map(t => t.id);"
    wanted = ["codebook-table-stroke-followup_3m"]
    with suppress(TimeoutException):
        wait_until(browser).until(lambda d: d.execute_script(shown) == wanted)
    assert browser.execute_script(shown) == wanted


def test_page_does_not_scroll_sideways_at_320_css_pixels(
    live_server: str, browser: WebDriver
) -> None:
    """WCAG 1.4.10: the wide tables scroll inside their own focusable region, not the page."""
    metrics = {"width": 320, "height": 800, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        browser.get(live_server + "/codebook")
        wait_for_page(browser, (By.CSS_SELECTOR, "table.codebook-table"))
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];"
        )
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert width[0] <= width[1], f"scrolls sideways ({width[0]} > {width[1]} px)"
