"""A clinician subscribes to the unit's report in a real browser, then unsubscribes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from portal.components import subscription_section as section
from tests.browser.conftest import (
    axe_violations,
    console_errors,
    log_in,
    wait_for_page,
    wait_until,
)
from tests.conftest import seeded_demo_app

PASSWORD = "korrekt-hest-batteri-stift"
UNIT = 100032  # Nevrologisk avdeling, Ullevål sykehus
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    tmp_path = tmp_path_factory.mktemp("subscription-browser")
    with seeded_demo_app(tmp_path, 1_000, seed=3, REQUIRE_TWO_FACTOR="false") as server:
        database = server.extensions["database"]
        create_user(database, SYSTEM, "kari", "Kari Klinikar", PASSWORD, "kari@sykehus.example.no")
        grant(database, SYSTEM, "kari", "stroke", UNIT, "clinician")
        yield server


def test_clinician_subscribes_weekly_and_unsubscribes(browser: WebDriver, live_server: str) -> None:
    log_in(browser, f"{live_server}/login", "kari", PASSWORD)
    browser.get(f"{live_server}/my-unit?registry=stroke&unit={UNIT}")
    wait_for_page(browser, (By.ID, section.SUBSCRIBE))
    status = browser.find_element(By.ID, section.STATUS)
    assert "Du abonnerer ikke" in status.text

    weekly = browser.find_element(By.CSS_SELECTOR, f"#{section.FREQUENCY} input[value='weekly']")
    browser.execute_script("arguments[0].click();", weekly)
    browser.find_element(By.ID, section.SUBSCRIBE).click()
    wait_until(browser).until(lambda driver: "lagret" in status.text)
    unsubscribe = browser.find_element(By.ID, section.UNSUBSCRIBE)
    assert unsubscribe.is_enabled()
    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script("arguments[0].scrollIntoView();", status)
    browser.save_screenshot(str(ARTIFACTS / "report_subscription.png"))
    assert axe_violations(browser) == []
    assert console_errors(browser) == []

    unsubscribe.click()
    wait_until(browser).until(lambda driver: "avsluttet" in status.text)
    assert not unsubscribe.is_enabled()
