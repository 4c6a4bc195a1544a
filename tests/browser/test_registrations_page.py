"""The registrar's list in a real browser: log in, open the list, filter it, stay accessible."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import flask
import polars as pl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from app import create_app
from data_access.access import scope_for_user
from data_access.accounts import create_user, find_user_id, grant
from data_access.audit import SYSTEM
from data_access.record_commands import IdentityKeys, create_registration
from entry.national_id import synthetic_national_ids
from portal.catalogue import installed_registries
from tests.browser.conftest import (
    axe_violations,
    console_errors,
    submit_login,
    wait_for_page,
    wait_until,
)
from tests.conftest import make_settings

PASSWORD = "korrekt-hest-batteri-stift"
UNIT = 100032  # Ullevål
STATUSES = ("draft", "complete", "draft", "complete", "complete")


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """The portal with a registrar (no second factor, so the browser logs in with a password)
    and a few registrations of the registrar's unit, some drafts and some complete."""
    tmp_path: Path = tmp_path_factory.mktemp("registrations")
    server = create_app(
        make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", REQUIRE_TWO_FACTOR="false")
    )
    database = server.extensions["database"]
    create_user(database, SYSTEM, "registrar", "Regine Registrar", PASSWORD)
    grant(database, SYSTEM, "registrar", "stroke", UNIT, "registrar")
    settings = server.config["PORTAL_SETTINGS"]
    keys = IdentityKeys(settings.national_id_key, settings.pseudonym_key)
    scope = scope_for_user(database, find_user_id(database, "registrar"))
    with server.app_context():
        (stroke,) = [r for r in installed_registries() if r.key == "stroke"]
    ids = synthetic_national_ids(
        pl.Series([date(1940 + n, 1, 2) for n in range(len(STATUSES))]),
        pl.Series(["male"] * len(STATUSES)),
        seed=4,
    )
    for number, (status, national_id) in enumerate(zip(STATUSES, ids, strict=True)):
        values = {
            "admission_date": f"2025-0{number + 1}-10",
            "onset_known": 0,
            "age": 60 + number,
            "sex": 1,
            "stroke_type": 2,
            "discharge_date": f"2025-0{number + 1}-20",
            "died_in_hospital": 0,
        }
        create_registration(
            database,
            scope,
            "stroke",
            UNIT,
            national_id,
            values,
            stroke.dictionary,
            keys,
            event_date_variable=stroke.event_date_variable,
            status=status,  # type: ignore[arg-type]
        )
    yield server
    database.dispose()


def _rows(browser: WebDriver) -> int:
    return len(browser.find_elements(By.CSS_SELECTOR, "#registrations-table tbody th"))


def test_log_in_open_the_list_and_filter_it(browser: WebDriver, live_server: str) -> None:
    browser.get(f"{live_server}/registrations")
    wait_for_page(browser, (By.ID, "login-prompt"))
    browser.find_element(By.CSS_SELECTOR, "#login-prompt a").click()
    submit_login(browser, "registrar", PASSWORD)
    wait_until(browser).until(lambda d: "/registrations" in d.current_url)
    wait_for_page(browser, (By.ID, "registrations-table"))
    assert _rows(browser) == len(STATUSES)
    assert axe_violations(browser) == []
    assert console_errors(browser) == []

    # A choice is a link: the address changes and the list follows without a reload.
    browser.find_element(By.LINK_TEXT, "Kladd").click()
    wait_until(browser).until(lambda d: "status=draft" in d.current_url)
    wait_until(browser).until(lambda d: _rows(d) == STATUSES.count("draft"))
    # The period fields build the address through the guarded callback, keeping the status.
    browser.find_element(By.ID, "registrations-to").send_keys("31.01.2025")
    browser.find_element(By.ID, "registrations-apply").click()
    wait_until(browser).until(lambda d: "to=2025-01-31" in d.current_url)
    wait_until(browser).until(lambda d: _rows(d) == 1)
    assert "status=draft" in browser.current_url
    assert "registry=stroke" in browser.current_url
    assert browser.find_element(By.ID, "registrations-count").text.startswith("1 registreringer")
    # The filters survive a reload: the address is the view.
    browser.refresh()
    wait_for_page(browser, (By.ID, "registrations-table"))
    assert _rows(browser) == 1
    assert axe_violations(browser) == []
    assert console_errors(browser) == []


def test_sorting_is_a_link_and_keeps_the_filter(browser: WebDriver, live_server: str) -> None:
    """Runs after the login above (one browser per module)."""
    browser.get(f"{live_server}/registrations?registry=stroke&status=complete")
    wait_for_page(browser, (By.ID, "registrations-table"))
    assert _rows(browser) == STATUSES.count("complete")
    header = browser.find_element(By.CSS_SELECTOR, "#registrations-table thead th:first-child a")
    header.click()
    wait_until(browser).until(lambda d: "sort=id" in d.current_url)
    assert "status=complete" in browser.current_url
    # The table is replaced when the page re-renders: wait past stale references.
    wait_until(browser).until(
        lambda d: (
            d.find_element(
                By.CSS_SELECTOR, "#registrations-table thead th:first-child"
            ).get_attribute("aria-sort")
            == "ascending"
        )
    )
    ids = browser.execute_script(
        "return [...document.querySelectorAll('#registrations-table tbody th')]"
        ".map(cell => Number(cell.textContent));"
    )
    assert ids == sorted(ids) and len(ids) == STATUSES.count("complete")
    assert console_errors(browser) == []
