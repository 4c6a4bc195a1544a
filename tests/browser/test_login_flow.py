"""Logging in and out in a real browser, under the real content security policy."""

from __future__ import annotations

import flask
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from data_access.accounts import create_user
from data_access.audit import SYSTEM
from tests.browser.conftest import (
    WCAG_TAGS,
    axe_violations,
    console_errors,
    submit_login,
    wait_for_page,
)

PASSWORD = "korrekt-hest-batteri-stift"


@pytest.fixture(scope="module")
def reader(sqlite_app: flask.Flask) -> str:
    create_user(sqlite_app.extensions["database"], SYSTEM, "leser", "Lene Leser", PASSWORD)
    return "leser"


@pytest.mark.parametrize("language", ["nb", "en"])
def test_login_page_is_accessible(browser: WebDriver, live_server: str, language: str) -> None:
    browser.get(f"{live_server}/login?lang={language}")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    assert axe_violations(browser, tags=[*WCAG_TAGS, "best-practice"]) == []
    assert console_errors(browser) == []


def test_log_in_and_out(browser: WebDriver, live_server: str, reader: str) -> None:
    browser.get(f"{live_server}/")
    wait_for_page(browser)
    browser.find_element(By.ID, "login-link").click()
    submit_login(browser, reader, PASSWORD)
    wait_for_page(browser, (By.ID, "logout-button"))
    assert "Lene Leser" in browser.find_element(By.CLASS_NAME, "logout-form").text
    assert console_errors(browser) == []  # Dash ran under the CSP: nothing was blocked
    browser.find_element(By.ID, "logout-button").click()
    wait_for_page(browser, (By.ID, "login-link"))
