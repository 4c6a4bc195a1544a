"""Entering a registration in a real browser, under the real content security policy.

A registrar logs in, fills in the admission form (logic shows the thrombolysis fields, the
door-to-needle time is calculated), saves, finds the discharge date refused when it is
before admission, and the record and its audit events are read back from the database. Two
browsers editing one record: the second save is refused and keeps what was typed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import flask
import polars as pl
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from sqlalchemy import select

from app import create_app
from data_access.access import scope_for_user
from data_access.accounts import create_user, find_user_id, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import AuditEvent, Registration
from data_access.record_commands import IdentityKeys, create_registration
from entry.national_id import synthetic_national_ids
from tests.browser.conftest import (
    CHROME_ARGUMENTS,
    axe_violations,
    console_errors,
    log_in,
    missing_tool,
    wait_for_page,
    wait_until,
)
from tests.conftest import make_settings

PASSWORD = "korrekt-hest-batteri-stift"
HAMMERFEST = 100001
# Synthetic ids of Skatteetaten's test population (month + 80): no real person has them.
FIRST_ID, SECOND_ID = synthetic_national_ids(
    pl.Series([date(1948, 2, 9), date(1957, 11, 30)]), pl.Series(["male", "female"]), 11
)
FORM = "/registrations/form?registry=stroke"


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """This module's own application (the live server serves it): it writes, so it is not
    the shared read-only one. Two-factor login is off, so the registrar logs in with a password.
    """
    tmp_path = tmp_path_factory.mktemp("forms")
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'forms.sqlite3'}", REQUIRE_TWO_FACTOR="false"
    )
    server = create_app(settings)
    database: Database = server.extensions["database"]
    create_user(database, SYSTEM, "registrar", "Reidun Registrar", PASSWORD)
    grant(database, SYSTEM, "registrar", "stroke", HAMMERFEST, "registrar")
    yield server
    database.dispose()


@pytest.fixture
def second_browser(tmp_path: Path) -> Iterator[WebDriver]:
    """A second Chromium with a profile (and so a login session) of its own."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        missing_tool("chromium and chromedriver are not installed")
    assert chromium and chromedriver
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in CHROME_ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path / 'second-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def database_of(server: flask.Flask) -> Database:
    database: Database = server.extensions["database"]
    return database


def log_in_as_registrar(driver: WebDriver, live_server: str) -> None:
    log_in(driver, f"{live_server}/login", "registrar", PASSWORD)


def open_form(driver: WebDriver, address: str) -> None:
    driver.get(address)
    wait_for_page(driver, (By.ID, "rf-status"))


def pattern(kind: str, name: str) -> str:
    """The DOM id Dash gives a pattern-matching id."""
    return f'{{"name":"{name}","type":"{kind}"}}'


def by_id(identity: str) -> tuple[str, str]:
    """A locator by DOM id; XPath, since Selenium's By.ID cannot quote Dash's JSON ids."""
    return (By.XPATH, f"//*[@id='{identity}']")


def field(driver: WebDriver, name: str) -> WebElement:
    return driver.find_element(*by_id(pattern("rf-field", name)))


def wrapper(driver: WebDriver, name: str) -> WebElement:
    return driver.find_element(*by_id(pattern("rf-wrap", name)))


def type_into(driver: WebDriver, name: str, text: str) -> None:
    """Type as a person does and leave the field, which sends the value to the live check."""
    element = field(driver, name)
    element.clear()
    element.send_keys(text, Keys.TAB)


def choose(driver: WebDriver, name: str, code: str) -> None:
    field(driver, name).find_element(By.CSS_SELECTOR, f"input[value='{code}']").click()


def wait_for(driver: WebDriver, condition: object, what: str) -> None:
    wait_until(driver).until(condition, message=what)  # type: ignore[arg-type]


def press(driver: WebDriver, status: str) -> None:
    driver.find_element(*by_id(f'{{"status":"{status}","type":"rf-save"}}')).click()


def status_says(driver: WebDriver, text: str) -> None:
    wait_for(driver, lambda d: text in d.find_element(By.ID, "rf-status").text, f"status: {text}")


def test_enter_an_admission_and_a_discharge(
    browser: WebDriver, live_server: str, sqlite_app: flask.Flask
) -> None:
    database = database_of(sqlite_app)
    log_in_as_registrar(browser, live_server)
    open_form(browser, f"{live_server}{FORM}&form=admission&unit={HAMMERFEST}")
    assert axe_violations(browser) == []

    wrong_check_digit = FIRST_ID[:-1] + str((int(FIRST_ID[-1]) + 1) % 10)
    browser.find_element(By.ID, "rf-national-id").send_keys(wrong_check_digit, Keys.TAB)
    wait_for(
        browser,
        lambda d: "kontrollsiffer" in d.find_element(By.ID, "rf-national-id-message").text,
        "an invalid national id is explained",
    )
    national_id = browser.find_element(By.ID, "rf-national-id")
    national_id.clear()
    national_id.send_keys(FIRST_ID, Keys.TAB)
    wait_for(
        browser,
        lambda d: d.find_element(By.ID, "rf-national-id-message").text == "",
        "a valid national id clears the message",
    )
    type_into(browser, "admission_date", "01.03.2025")
    type_into(browser, "arrival_datetime", "01.03.2025 10:00")
    choose(browser, "onset_known", "0")
    type_into(browser, "age", "71")
    choose(browser, "sex", "1")

    assert not wrapper(browser, "thrombolysis").is_displayed()
    assert not wrapper(browser, "thrombolysis_datetime").is_displayed()
    choose(browser, "stroke_type", "1")  # ischaemic stroke
    wait_for(browser, lambda d: wrapper(d, "thrombolysis").is_displayed(), "thrombolysis shown")
    choose(browser, "thrombolysis", "1")
    wait_for(
        browser,
        lambda d: wrapper(d, "thrombolysis_datetime").is_displayed(),
        "the time of thrombolysis appears",
    )
    type_into(browser, "thrombolysis_datetime", "01.03.2025 10:40")

    # A haemorrhage after all: the thrombolysis fields go, and their values with them.
    choose(browser, "stroke_type", "2")
    wait_for(browser, lambda d: not wrapper(d, "thrombolysis").is_displayed(), "hidden again")
    choose(browser, "stroke_type", "1")
    wait_for(browser, lambda d: wrapper(d, "thrombolysis").is_displayed(), "shown again")
    assert not field(browser, "thrombolysis").find_elements(By.CSS_SELECTOR, "input:checked")
    choose(browser, "thrombolysis", "1")
    wait_for(browser, lambda d: field(d, "thrombolysis_datetime").is_displayed(), "time again")
    assert field(browser, "thrombolysis_datetime").get_attribute("value") == ""
    type_into(browser, "thrombolysis_datetime", "01.03.2025 10:42")
    door_to_needle = browser.find_element(*by_id(pattern("rf-calc", "door_to_needle_minutes")))
    wait_for(browser, lambda d: door_to_needle.text == "42 min", "door-to-needle calculated")

    press(browser, "draft")
    status_says(browser, "Lagret som utkast (versjon 1)")
    assert FIRST_ID not in browser.page_source  # from now on the id is shown masked only
    assert f"{FIRST_ID[:6]} *****" in browser.find_element(By.ID, "rf-patient").text

    with database.reading() as session:
        [registration] = session.scalars(select(Registration)).all()
        assert registration.status == "draft" and registration.unit_id == HAMMERFEST
        assert registration.values["door_to_needle_minutes"] == 42
        assert registration.values["thrombolysis_datetime"] == "2025-03-01T10:42:00"
        registration_id = registration.id

    # The discharge date is on the discharge form; its rule reads the admission date.
    browser.find_element(By.LINK_TEXT, "Utskriving").click()
    wait_for_page(browser, by_id(pattern("rf-field", "discharge_date")))
    type_into(browser, "discharge_date", "28.02.2025")
    message = browser.find_element(*by_id(pattern("rf-msg", "discharge_date")))
    wait_for(
        browser,
        lambda d: "Utskrivingsdato kan ikke være før innleggelsesdato." in message.text,
        "the discharge date before admission is an error",
    )
    discharge = field(browser, "discharge_date")
    assert "rf-m-discharge_date" in (discharge.get_attribute("aria-describedby") or "")
    wait_for(browser, lambda d: discharge.get_attribute("aria-invalid") == "true", "marked invalid")
    choose(browser, "died_in_hospital", "0")
    press(browser, "complete")
    status_says(browser, "Ikke lagret")
    summary = browser.find_element(By.ID, "rf-summary")
    assert "Utskrivingsdato kan ikke være før innleggelsesdato." in summary.text
    summary.find_element(By.PARTIAL_LINK_TEXT, "Utskrivingsdato").click()
    assert browser.switch_to.active_element == discharge  # the summary leads to the field
    assert axe_violations(browser) == []

    type_into(browser, "discharge_date", "08.03.2025")
    wait_for(browser, lambda d: message.text == "", "the error is gone once corrected")
    press(browser, "draft")
    status_says(browser, "Lagret som utkast (versjon 2)")
    assert console_errors(browser) == []

    with database.reading() as session:
        stored = session.get(Registration, registration_id)
        assert stored is not None and stored.values["discharge_date"] == "2025-03-08"
        events = session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "registration",
                AuditEvent.object_id == str(registration_id),
            )
            .order_by(AuditEvent.id)
        ).all()
    actions = [event.action for event in events]
    assert actions == ["registration.create", "registration.view", "registration.update"]
    assert events[-1].details["changes"]["discharge_date"]["new"] == "2025-03-08"


def test_a_stale_save_is_refused_and_keeps_the_input(
    browser: WebDriver, second_browser: WebDriver, live_server: str, sqlite_app: flask.Flask
) -> None:
    database = database_of(sqlite_app)
    settings = sqlite_app.config["PORTAL_SETTINGS"]
    scope = scope_for_user(database, find_user_id(database, "registrar"))
    created = create_registration(
        database, scope, "stroke", HAMMERFEST, SECOND_ID,
        {"admission_date": "2025-04-02", "age": "80"},
        sqlite_app.extensions["registries"][0].dictionary,
        IdentityKeys(settings.national_id_key, settings.pseudonym_key),
        event_date_variable="admission_date",
    )  # fmt: skip
    address = f"{live_server}{FORM}&form=admission&id={created.registration_id}"
    log_in_as_registrar(browser, live_server)
    log_in_as_registrar(second_browser, live_server)
    open_form(browser, address)
    open_form(second_browser, address)

    type_into(browser, "age", "81")
    press(browser, "draft")
    status_says(browser, "Lagret som utkast (versjon 2)")

    type_into(second_browser, "age", "82")
    type_into(second_browser, "glucose_admission", "6,4")
    press(second_browser, "draft")
    status_says(second_browser, "noen andre har endret registreringen")
    assert field(second_browser, "age").get_attribute("value") == "82"
    assert field(second_browser, "glucose_admission").get_attribute("value") == "6,4"
    assert second_browser.find_element(By.LINK_TEXT, "Åpne nyeste versjon (ny fane)")
    assert console_errors(second_browser) == []

    with database.reading() as session:
        stored = session.get(Registration, created.registration_id)
        assert stored is not None
        assert (stored.version, stored.values["age"]) == (2, 81)
        assert "glucose_admission" not in stored.values
