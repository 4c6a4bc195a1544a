"""The export page in a real browser: log in, choose, prepare, download, watch the progress."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import flask
import polars as pl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions

from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from entry.export_columns import variables_in_forms
from entry.registry_folder import read_registry_folder
from portal.settings import PROJECT_ROOT
from tests.browser.conftest import (
    axe_violations,
    console_errors,
    log_in,
    wait_for_page,
    wait_until,
)
from tests.conftest import seeded_demo_app

PASSWORD = "korrekt-hest-batteri-stift"
REGISTRATIONS = 150
STROKE = read_registry_folder(PROJECT_ROOT / "registries" / "stroke")


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """A small demo registry and an analyst who logs in with a password alone."""
    tmp_path: Path = tmp_path_factory.mktemp("export-app")
    with seeded_demo_app(tmp_path, REGISTRATIONS, REQUIRE_TWO_FACTOR="false") as server:
        database = server.extensions["database"]
        create_user(database, SYSTEM, "analytiker", "Ada Analytiker", PASSWORD)
        grant(database, SYSTEM, "analytiker", "stroke", 1, "analyst")
        yield server


def test_an_analyst_exports_a_form_as_csv(browser: WebDriver, live_server: str) -> None:
    log_in(browser, f"{live_server}/login?next=/export", "analytiker", PASSWORD)
    browser.get(f"{live_server}/export?registry=stroke&lang=en")
    wait_for_page(browser, (By.ID, "export-prepare"))
    violations = axe_violations(browser)
    assert not violations, violations
    first = STROKE.forms[0]
    select_all = browser.find_element(
        By.CSS_SELECTOR, f"[id*='export-select-all'][id*='{first.key}'] input"
    )
    select_all.click()
    expected = variables_in_forms(STROKE.dictionary, first.key)
    wait_until(browser).until(
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, ".export-variables input:checked"))
            == len(expected)
        )
    )
    browser.find_element(By.ID, "export-prepare").click()
    link = wait_until(browser).until(
        expected_conditions.presence_of_element_located((By.ID, "export-download-link"))
    )
    assert "Ready:" in browser.find_element(By.ID, "export-message").text
    href = link.get_attribute("href")
    assert href is not None and "/export/stroke.csv?" in href
    # The browser's own session fetches the file, as the link would download it.
    text = browser.execute_async_script(
        "const [url, done] = arguments;"
        "fetch(url, {credentials: 'same-origin'}).then(r => r.text()).then(done);",
        href,
    )
    frame = pl.read_csv(io.StringIO(text))
    assert frame.columns[:2] == ["registration_id", "pseudonym"]
    assert frame.columns[6:] == list(expected)
    assert 0 < frame.height <= REGISTRATIONS
    wait_until(browser).until(
        lambda d: "Done:" in d.find_element(By.ID, "export-progress-text").text
    )
    assert f"Done: {frame.height}" in browser.find_element(By.ID, "export-progress-text").text
    violations = axe_violations(browser)
    assert not violations, violations
    assert console_errors(browser) == []


def test_a_bad_expression_is_shown_next_to_its_field(browser: WebDriver, live_server: str) -> None:
    # Logged in here too: run apart from the test above (`-n` without `--dist loadfile`), the
    # module's browser had no session and was shown the login page instead.
    log_in(browser, f"{live_server}/login?next=/export", "analytiker", PASSWORD)
    browser.get(f"{live_server}/export?registry=stroke&lang=en")
    wait_for_page(browser, (By.ID, "export-prepare"))
    browser.find_element(By.ID, "export-where").send_keys("age >")
    browser.find_element(By.ID, "export-prepare").click()
    wait_until(browser).until(
        lambda d: "at character" in d.find_element(By.ID, "export-where-error").text
    )
    label = browser.find_element(By.CSS_SELECTOR, "label[for='export-where']")
    assert "at character" in label.text  # read with the field's name
    violations = axe_violations(browser)
    assert not violations, violations
    assert console_errors(browser) == []
