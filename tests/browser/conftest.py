"""Browser fixtures: the portal on a live local server, driven by Debian's headless Chromium.

Chromium and ChromeDriver come from the system (`apt-get install chromium chromium-driver`,
which `python3 dev.py test` does when it can) and axe-core from `npm ci` in this folder;
Selenium never downloads a browser or driver. When a tool is missing the browser tests are
skipped, except under CI=true, where a missing tool fails the run so that a broken image can
never turn the suite silently green.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from werkzeug.serving import make_server

from portal import ready_to_serve

BROWSER_TESTS = Path(__file__).resolve().parent
AXE_SCRIPT = BROWSER_TESTS / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
WAIT_SECONDS = 10
CHROME_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/browser drives a browser, so `-m "not browser"` leaves them out."""
    for item in items:
        if item.path.is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.browser)


def missing_tool(problem: str) -> None:
    """Skip for want of a tool, or fail under CI=true, where every tool must be installed."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(problem + " (CI=true: the browser tests must run)")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def live_server(sqlite_app: flask.Flask) -> Iterator[str]:
    """The module's application on a real port of 127.0.0.1; yields the base URL. Made
    ready first, as every server that serves it is: a browser's first page asks for several
    things at once."""
    ready_to_serve(sqlite_app)
    server = make_server("127.0.0.1", 0, sqlite_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile; one per test module, to keep the suite fast."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        missing_tool(
            "chromium and chromedriver are not installed (apt-get install chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in CHROME_ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP reports land here
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # never let selenium-manager fetch anything
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: WebDriver, seconds: float = WAIT_SECONDS) -> WebDriverWait[WebDriver]:
    """A wait that retries when Dash re-renders an element between finding and reading it.

    Without this a condition such as `find_element(...).text` fails at random with a stale
    element whenever a callback replaces the element in that instant (seen in CI).
    """
    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,))


def wait_for_page(driver: WebDriver, locator: tuple[str, str] = (By.TAG_NAME, "h1")) -> None:
    """Wait until Dash has rendered the page: its content is in and `locator` is present."""
    wait_until(driver).until(
        lambda d: d.execute_script(
            "const content = document.querySelector('#_pages_content');"
            "return content !== null && content.children.length > 0;"
        )
    )
    wait_until(driver).until(expected_conditions.presence_of_element_located(locator))


_RUN_AXE = """
const [context, tags, done] = arguments;
axe.run(context || document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
  .then(results => done(results.violations.map(v => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map(node => node.target.join(' ')),
  }))))
  .catch(error => done([{id: 'axe-error', impact: 'critical', help: String(error), targets: []}]));
"""


def axe_violations(
    driver: WebDriver, context: str | None = None, tags: tuple[str, ...] = WCAG_TAGS
) -> list[dict[str, Any]]:
    """The violations of the rules tagged `tags` (by default WCAG 2.0/2.1 A and AA) that
    axe-core finds on the current page, or within the CSS selector `context`.

    Each violation is `{id, impact, help, targets}`, with the CSS selectors of the failing
    nodes, so that `assert not violations, violations` reads as a to-do list.
    """
    if not AXE_SCRIPT.exists():
        missing_tool(f"axe-core is not installed: run `npm ci` in {BROWSER_TESTS}")
    if not driver.execute_script("return typeof window.axe === 'object';"):
        driver.execute_script(AXE_SCRIPT.read_text(encoding="utf-8"))
    driver.set_script_timeout(30)
    violations: list[dict[str, Any]] = driver.execute_async_script(_RUN_AXE, context, list(tags))
    return violations


def console_errors(driver: WebDriver) -> list[str]:
    """Errors the page logged since the last call (a blocked script shows up here)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def submit_login(driver: WebDriver, username: str, password: str) -> None:
    """Fill in and send the login form that the browser shows or is about to show."""
    wait_until(driver).until(expected_conditions.presence_of_element_located((By.ID, "username")))
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def log_in(driver: WebDriver, address: str, username: str, password: str) -> None:
    """Open the login page at `address` (a `next=` in it says where to land), log in with a
    password alone (the module's app has two-factor login off) and wait for the logged-in page.
    """
    driver.get(address)
    submit_login(driver, username, password)
    wait_for_page(driver, (By.ID, "logout-button"))
