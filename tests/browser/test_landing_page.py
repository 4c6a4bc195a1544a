"""The landing page in a real browser: both languages, language switch, keyboard, reflow, axe."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import (
    WCAG_TAGS,
    axe_violations,
    wait_for_page,
    wait_until,
)

REGISTRIES = Path(__file__).resolve().parents[2] / "registries"

LANGUAGES = pytest.mark.parametrize(
    ("query", "language", "heading", "title"),
    [
        ("/", "nb", "Kvalitetsregistre", "Kvalitetsregisterportalen"),
        ("/?lang=en", "en", "Quality registries", "Quality Registry Portal"),
    ],
    ids=["nb", "en"],
)
BOTH_LANGUAGES = pytest.mark.parametrize("query", ["/", "/?lang=en"], ids=["nb", "en"])


def indicator_titles(language: str) -> list[str]:
    """Every installed registry's indicator titles in `language`: the registries in their
    `position` order (the stroke registry first), each one's in the order of its folder."""
    folders = sorted(
        REGISTRIES.glob("*/registry.yaml"),
        key=lambda path: (yaml.safe_load(path.read_text()).get("position", 100), path.parent.name),
    )
    return [
        entry["title"][language]
        for folder in folders
        for entry in yaml.safe_load((folder.parent / "indicators.yaml").read_text("utf-8"))
    ]


def page_language(driver: WebDriver) -> str:
    return str(driver.execute_script("return document.documentElement.lang;"))


def open_page(driver: WebDriver, url: str) -> None:
    driver.get(url)
    wait_for_page(driver)


@LANGUAGES
def test_landing_page_in_each_language(
    live_server: str, browser: WebDriver, query: str, language: str, heading: str, title: str
) -> None:
    open_page(browser, live_server + query)
    assert browser.find_element(By.TAG_NAME, "h1").text == heading
    assert page_language(browser) == language
    shown = [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".indicator h4")]
    assert shown == indicator_titles(language)
    wait_until(browser).until(lambda d: d.title == title)


def test_language_switch_goes_to_english_and_back(live_server: str, browser: WebDriver) -> None:
    open_page(browser, live_server + "/")
    for language, heading in [("en", "Quality registries"), ("nb", "Kvalitetsregistre")]:
        browser.find_element(By.ID, "language-switch").click()
        wait_until(browser).until(lambda d, lang=language: page_language(d) == lang)
        wait_for_page(browser)
        assert browser.find_element(By.TAG_NAME, "h1").text == heading
        query = parse_qs(urlsplit(browser.current_url).query)
        assert query.get("lang") == (["en"] if language == "en" else None)


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(
    live_server: str, browser: WebDriver
) -> None:
    open_page(browser, live_server + "/")
    ActionChains(browser).send_keys(Keys.TAB).perform()
    skip_link = browser.switch_to.active_element
    assert skip_link.get_attribute("class") == "skip-link"
    assert skip_link.get_attribute("href").endswith("#main-content")
    assert skip_link.rect["x"] >= 0, "the focused skip link must be on screen"

    skip_link.send_keys(Keys.ENTER)
    wait_until(browser).until(
        lambda d: d.execute_script("return document.activeElement.tagName;") == "MAIN"
    )


# For the failure message: the elements whose content is wider than they are.
_OVERFLOWING_ELEMENTS = """
return [...document.querySelectorAll('body *')]
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
"""


@BOTH_LANGUAGES
def test_page_reflows_at_320_css_pixels_without_scrolling_sideways(
    live_server: str, browser: WebDriver, query: str
) -> None:
    """WCAG 1.4.10 Reflow, which axe cannot check: 320 px wide needs no sideways scrolling."""
    metrics = {"width": 320, "height": 800, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        open_page(browser, live_server + query)
        too_wide = browser.execute_script(_OVERFLOWING_ELEMENTS)
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];"
        )
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert width[0] <= width[1], f"scrolls sideways ({width[0]} > {width[1]} px): {too_wide}"


@BOTH_LANGUAGES
def test_axe_finds_no_violations(live_server: str, browser: WebDriver, query: str) -> None:
    """WCAG 2.0/2.1 A and AA, and axe's best practices (such as one page footer landmark)."""
    open_page(browser, live_server + query)
    violations = axe_violations(browser, tags=(*WCAG_TAGS, "best-practice"))
    assert violations == [], violations
