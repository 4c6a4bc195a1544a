"""The import page in a real browser: log in, upload a CSV, preview it, import the valid rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import func, select

from app import create_app
from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from data_access.models import Registration
from tests.browser.conftest import (
    axe_violations,
    console_errors,
    log_in,
    wait_for_page,
    wait_until,
)
from tests.conftest import make_settings
from tests.integration.test_import import BAD, GOOD, HAMMERFEST
from tests.integration.test_import import _csv as csv_text

PASSWORD = "korrekt-hest-batteri-stift"
# The file's columns are named like the variables, so the page maps them by itself; the key
# columns are typed in. Rows 2 and 3 are good, row 4 has two problems.
RENAMED = {
    "Innlagt": "admission_date",
    "Alder": "age",
    "Kjonn": "sex",
    "Utskrevet": "discharge_date",
}
ROWS = [{RENAMED.get(k, k): v for k, v in row.items()} for row in [*GOOD, BAD[0]]]


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[flask.Flask]:
    """A registrar at one unit, who logs in with a password alone."""
    tmp_path: Path = tmp_path_factory.mktemp("import-app")
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    server = create_app(make_settings(tmp_path, url, REQUIRE_TWO_FACTOR="false"))
    database = server.extensions["database"]
    create_user(database, SYSTEM, "registrar", "Regine Registrar", PASSWORD)
    grant(database, SYSTEM, "registrar", "stroke", HAMMERFEST, "registrar")
    yield server
    database.dispose()


def _text(browser: WebDriver, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).text)


def test_a_registrar_previews_a_file_and_imports_the_valid_rows(
    browser: WebDriver, live_server: str, sqlite_app: flask.Flask, tmp_path: Path
) -> None:
    log_in(browser, f"{live_server}/login?next=/import", "registrar", PASSWORD)
    browser.get(f"{live_server}/import?lang=en")
    wait_for_page(browser, (By.ID, "import-choose-file"))
    # The labelled button is the way to the file chooser; the upload's own unlabelled,
    # invisible input is taken out of the tab order (assets/import.js).
    file_input = (By.CSS_SELECTOR, "#import-upload input[type=file]")
    wait_until(browser).until(lambda d: d.find_element(*file_input).get_attribute("tabindex"))
    assert browser.find_element(*file_input).get_attribute("tabindex") == "-1"
    assert axe_violations(browser) == []

    path = tmp_path / "episodes.csv"
    path.write_text(csv_text(ROWS), encoding="utf-8")
    browser.find_element(*file_input).send_keys(str(path))
    wait_until(browser).until(lambda d: "episodes.csv: 3 rows" in _text(d, "import-upload-status"))
    wait_until(browser).until(lambda d: d.find_element(By.ID, "import-source").is_displayed())
    browser.find_element(By.ID, "import-source").send_keys("dips-nord")
    browser.find_element(By.ID, "import-national-id-column").send_keys("Fnr")
    browser.find_element(By.ID, "import-source-key-column").send_keys("Episode")
    browser.find_element(By.ID, "import-preview").click()

    wait_until(browser).until(lambda d: d.find_elements(By.ID, "import-problems"))
    assert "Rows: 3. Valid: 2. With problems: 1." in _text(browser, "import-mapping-status")
    problems = _text(browser, "import-problems")
    assert "The value cannot be read as a whole number." in problems
    with sqlite_app.app_context():
        assert _registrations(sqlite_app) == 0  # a preview writes nothing
    assert axe_violations(browser) == []

    browser.find_element(By.CSS_SELECTOR, "#import-mode input[value=valid_only]").click()
    browser.find_element(By.ID, "import-confirm").click()
    wait_until(browser).until(lambda d: "Created: 2." in _text(d, "import-result"))
    assert _registrations(sqlite_app) == 2
    assert axe_violations(browser) == []
    assert console_errors(browser) == []


def _registrations(server: flask.Flask) -> int:
    with server.extensions["database"].reading() as session:
        return int(session.scalar(select(func.count()).select_from(Registration)) or 0)
