"""A clinician in a real browser: login, my unit, the patients behind one result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from app import create_app
from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from portal.catalogue import installed_registries
from portal.demo import seed_demo
from tests.browser.conftest import WAIT_SECONDS, axe_violations, console_errors, wait_for_page
from tests.conftest import make_settings

PASSWORD = "korrekt-hest-batteri-stift"
UNIT = 100032  # Nevrologisk avdeling, Ullevål sykehus
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """This module's own app: a seeded demo and a clinician (second factor off)."""
    tmp_path = tmp_path_factory.mktemp("my-unit-browser")
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'browser.sqlite3'}", REQUIRE_TWO_FACTOR="false"
    )
    server = create_app(settings)
    database = server.extensions["database"]
    with server.app_context():
        seed_demo(database, settings, installed_registries()[0], 2_000, seed=3)
    create_user(database, SYSTEM, "kari", "Kari Klinikar", PASSWORD)
    grant(database, SYSTEM, "kari", "stroke", UNIT, "clinician")
    yield server
    database.dispose()


def test_clinician_walks_from_login_to_a_drill_down_list(
    browser: WebDriver, live_server: str
) -> None:
    browser.get(f"{live_server}/")
    wait_for_page(browser)
    browser.find_element(By.ID, "login-link").click()
    WebDriverWait(browser, WAIT_SECONDS).until(
        expected_conditions.presence_of_element_located((By.ID, "username"))
    )
    browser.find_element(By.ID, "username").send_keys("kari")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
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
