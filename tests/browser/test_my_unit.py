"""A clinician in a real browser: login, my unit, the patients behind one result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from tests.browser.conftest import axe_violations, console_errors, submit_login, wait_for_page
from tests.conftest import seeded_demo_app

PASSWORD = "korrekt-hest-batteri-stift"
UNIT = 100032  # Nevrologisk avdeling, Ullevål sykehus
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """This module's own app: a seeded demo and a clinician (second factor off)."""
    tmp_path = tmp_path_factory.mktemp("my-unit-browser")
    with seeded_demo_app(tmp_path, 2_000, seed=3, REQUIRE_TWO_FACTOR="false") as server:
        database = server.extensions["database"]
        create_user(database, SYSTEM, "kari", "Kari Klinikar", PASSWORD)
        grant(database, SYSTEM, "kari", "stroke", UNIT, "clinician")
        yield server


def test_clinician_walks_from_login_to_a_drill_down_list(
    browser: WebDriver, live_server: str
) -> None:
    browser.get(f"{live_server}/")
    wait_for_page(browser)
    browser.find_element(By.ID, "login-link").click()
    submit_login(browser, "kari", PASSWORD)
    wait_for_page(browser, (By.ID, "logout-button"))

    browser.get(f"{live_server}/my-unit")
    wait_for_page(browser, (By.ID, "my-unit-table"))
    assert "Ullevål" in browser.find_element(By.TAG_NAME, "h1").text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "my_unit.png"))
    assert axe_violations(browser) == []
    assert console_errors(browser) == []

    browser.find_element(By.ID, "my-unit-patients-thrombolysis").click()
    wait_for_page(browser, (By.ID, "drill-down-table"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#drill-down-table tbody tr")
    assert rows and "*****" in rows[0].text
    browser.save_screenshot(str(ARTIFACTS / "my_unit_patients.png"))
    assert axe_violations(browser) == []
    assert console_errors(browser) == []
