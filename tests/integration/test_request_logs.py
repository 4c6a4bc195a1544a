"""Log lines: JSON objects with the request's id on every line, and no personal data in any.

The privacy test logs at DEBUG, the most that can ever be switched on, and drives the
requests that carry the most sensitive values: a wrong password, a registration saved with
a national id, an API call with a bearer token, and guesses past a per-account rate limit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import flask
import pytest

from app import create_app
from data_access.accounts import create_user, find_user_id, grant
from data_access.api_tokens import create_token
from data_access.audit import SYSTEM
from data_access.database import Database
from portal import ready_to_serve
from portal.log_lines import RequestIdFilter, formatter
from portal.logging_setup import REQUEST_ID_HEADER
from portal.settings import Settings
from tests.conftest import make_settings
from tests.integration.test_api import DRAFT, IDS
from tests.integration.test_login import log_in
from tests.integration.test_registration_form import ADMISSION, HAMMERFEST, NATIONAL_ID, save
from tests.unit.test_settings import PRODUCTION

USERNAME = "kari.nordmann"
DISPLAY_NAME = "Kari Nordmann"
GUESSED_USERNAME = "ola.nordmann"
EMAIL = "kari.nordmann@sykehus.example"
PASSWORD = "riktig-hest-batteri-stift"
WRONG_PASSWORD = "gal-hest-batteri-stift"
API_NATIONAL_ID = IDS[2]
PROPER_ID = "0f8e7d6c-5b4a-4321-9876-abcdef012345"


def json_lines(captured: str) -> list[dict[str, object]]:
    lines = [line for line in captured.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[flask.Flask]:
    """JSON logs at DEBUG; a registrar (with name and e-mail) who logs in with a password.
    SQLite only: what is logged does not depend on the database."""
    app = create_app(
        make_settings(
            tmp_path,
            f"sqlite:///{tmp_path / 'logs.sqlite3'}",
            LOG_LEVEL="DEBUG",
            LOG_FORMAT="json",
            REQUIRE_TWO_FACTOR="false",
        )
    )
    database: Database = app.extensions["database"]
    create_user(database, SYSTEM, USERNAME, DISPLAY_NAME, PASSWORD, email=EMAIL)
    grant(database, SYSTEM, USERNAME, "stroke", HAMMERFEST, "registrar")
    ready_to_serve(app)
    yield app
    database.dispose()
    logging.getLogger().setLevel(logging.WARNING)


def test_no_personal_data_in_any_line_and_every_line_has_its_request_id(
    server: flask.Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    database: Database = server.extensions["database"]
    token = create_token(
        database, None, SYSTEM, name="EPJ", registry_key="stroke", role="registrar",
        unit_ids=[HAMMERFEST], expires_at=datetime.now(UTC) + timedelta(days=1),
        owner_user_id=find_user_id(database, USERNAME), moment=datetime.now(UTC),
    ).secret  # fmt: skip
    capsys.readouterr()  # from here on, only what the requests log

    responses = []
    wrong = server.test_client()
    responses.append(log_in(wrong, USERNAME, WRONG_PASSWORD))
    assert responses[-1].status_code == 401
    for _attempt in range(11):  # past the per-account limit, whose key is the user name
        responses.append(log_in(wrong, GUESSED_USERNAME, WRONG_PASSWORD))
    assert responses[-1].status_code == 429

    registrar = server.test_client()
    responses.append(log_in(registrar, USERNAME, PASSWORD))
    assert responses[-1].status_code == 302
    responses.append(save(registrar, server, ADMISSION))
    assert responses[-1].status_code == 200
    assert "rf-status" in responses[-1].get_data(as_text=True)

    api = server.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    body = {"unit_id": HAMMERFEST, "national_id": API_NATIONAL_ID, "values": DRAFT}
    responses.append(api.post("/api/v1/registries/stroke/registrations", json=body))
    assert responses[-1].status_code == 201, responses[-1].get_json()
    responses.append(api.get("/api/v1/registries/stroke/registrations"))
    assert len(responses[-1].get_json()["registrations"]) == 2  # the form's and the API's

    lines = json_lines(capsys.readouterr().err)
    written = json.dumps(lines, ensure_ascii=False)
    for secret in (
        NATIONAL_ID,
        API_NATIONAL_ID,
        PASSWORD,
        WRONG_PASSWORD,
        token,
        USERNAME,
        GUESSED_USERNAME,
        DISPLAY_NAME,
        EMAIL,
    ):
        assert secret not in written
    assert [line for line in lines if not line["request_id"]] == []
    ids = {response.headers[REQUEST_ID_HEADER] for response in responses}
    closing = [line for line in lines if line["logger"] == "portal.request"]
    assert ids <= {line["request_id"] for line in closing}
    last = closing[-1]  # the API's list: every field of a request's closing line
    assert last["request_id"] == responses[-1].headers[REQUEST_ID_HEADER]
    assert last["message"].startswith("GET /api/v1/registries/stroke/registrations 200 ")
    assert (last["method"], last["status"]) == ("GET", 200)
    assert last["path"] == "/api/v1/registries/stroke/registrations"
    assert last["user_id"] == find_user_id(database, USERNAME)
    assert isinstance(last["duration_ms"], float) and isinstance(last["pid"], int)
    assert last["level"] == "INFO" and datetime.fromisoformat(str(last["time"])).tzinfo


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        (PROPER_ID, True),
        ("lb-7f3a.2:1", True),
        (None, False),
        ("", False),
        ("x" * 101, False),
        ("has space", False),
        ('"><script>', False),
        ("01017012345 Kari", False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_it_is_plausible(
    sqlite_app: flask.Flask, incoming: str | None, kept: bool
) -> None:
    headers = {} if incoming is None else {REQUEST_ID_HEADER: incoming}
    first = sqlite_app.test_client().get("/healthz", headers=headers)
    second = sqlite_app.test_client().get("/healthz", headers=headers)
    given = first.headers[REQUEST_ID_HEADER]
    if kept:
        assert given == incoming == second.headers[REQUEST_ID_HEADER]
    else:
        assert len(given) == 32 and int(given, 16) >= 0  # a new random id, one per request
        assert second.headers[REQUEST_ID_HEADER] != given


def test_text_lines_carry_the_request_id_too() -> None:
    record = logging.LogRecord("portal.request", logging.INFO, __file__, 1, "GET / 200", (), None)
    RequestIdFilter().filter(record)
    assert formatter("text").format(record).endswith("INFO portal.request [None] GET / 200")
    assert json.loads(formatter("json").format(record))["request_id"] is None


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "text"),
        (PRODUCTION, "json"),
        ({**PRODUCTION, "LOG_FORMAT": "TEXT"}, "text"),
        ({"LOG_FORMAT": "json"}, "json"),
    ],
)
def test_json_is_the_default_in_production(
    tmp_path: Path, environ: dict[str, str], expected: str
) -> None:
    assert Settings.from_environ(environ, instance_path=tmp_path).log_format == expected


@pytest.mark.parametrize("path", ["/prom/{secret}", "/prom/{secret}/opt-out"])
def test_a_link_whose_path_is_a_secret_is_logged_by_its_rule(
    server: flask.Flask, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    """A patient's questionnaire link opens the questionnaire for whoever holds it, so the
    token in its path must not reach the log (unknown tokens are logged no differently)."""
    secret = "Zq3v-secret-token-from-an-invitation-e-mail"
    capsys.readouterr()
    response = server.test_client().get(path.format(secret=secret))
    assert response.status_code == 404
    lines = json_lines(capsys.readouterr().err)
    assert secret not in json.dumps(lines)
    closing = [line for line in lines if line["logger"] == "portal.request"]
    assert closing[-1]["path"] == path.format(secret="<token>")
