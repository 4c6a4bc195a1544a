"""Login over real HTTP on both databases: each refusal has its status and its audit event."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import flask
import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import AuditEvent, UserSession
from portal.auth.guard import CALLBACK_ACCESS
from tests.conftest import callback_headers

PASSWORD = "korrekt-hest-batteri-stift"
ULLEVAL = 100032


@pytest.fixture
def people(app: flask.Flask) -> Database:
    database: Database = app.extensions["database"]
    create_user(database, SYSTEM, "reader", "Rita Reader", PASSWORD)
    create_user(database, SYSTEM, "doctor", "Dora Doktor", PASSWORD)
    grant(database, SYSTEM, "doctor", "stroke", ULLEVAL, "clinician")
    return database


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def log_in(client: FlaskClient, username: str, password: str = PASSWORD, **extra: str):
    form = {"username": username, "password": password, "csrf_token": csrf_token(client), **extra}
    return client.post("/login", data=form)


def actions(database: Database) -> list[str]:
    with database.reading() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_login_page_in_both_languages(app: flask.Flask) -> None:
    client = app.test_client()
    nb = client.get("/login").get_data(as_text=True)
    en = client.get("/login?lang=en").get_data(as_text=True)
    assert '<html lang="nb">' in nb and "Brukernavn" in nb and 'name="csrf_token"' in nb
    assert '<html lang="en">' in en and "User name" in en


def test_missing_csrf_token_is_refused_and_audited(app: flask.Flask, people: Database) -> None:
    response = app.test_client().post("/login", data={"username": "reader", "password": PASSWORD})
    assert response.status_code == 400
    assert "request.csrf_refused" in actions(people)


def test_wrong_password_is_refused_and_audited(app: flask.Flask, people: Database) -> None:
    response = log_in(app.test_client(), "reader", "wrong password here")
    assert response.status_code == 401
    assert "Feil brukernavn eller passord" in response.get_data(as_text=True)
    assert actions(people)[-1] == "login.failure"


def test_repeated_failures_lock_the_account(app: flask.Flask, people: Database) -> None:
    client = app.test_client()
    for _ in range(5):
        assert log_in(client, "reader", "wrong password here").status_code == 401
    locked = log_in(client, "reader")  # the right password, but too late
    assert locked.status_code == 401
    assert "midlertidig sperret" in locked.get_data(as_text=True)
    assert "login.locked" in actions(people)


def test_user_without_grants_logs_in_with_password_only(app: flask.Flask, people: Database) -> None:
    client = app.test_client()
    response = log_in(client, "reader", next="/?lang=en")
    assert response.status_code == 302 and response.headers["Location"] == "/?lang=en"
    assert actions(people)[-1] == "login.success"
    with client.session_transaction() as cookie_session:
        assert "session_token" in cookie_session


def test_session_id_is_renewed_at_login(app: flask.Flask, people: Database) -> None:
    client = app.test_client()
    log_in(client, "reader")
    with client.session_transaction() as cookie_session:
        first = cookie_session["session_token"]
    log_in(client, "reader")
    with client.session_transaction() as cookie_session:
        second = cookie_session["session_token"]
    assert first != second
    with people.reading() as session:
        ended = session.scalars(select(UserSession.ended_at).order_by(UserSession.id)).all()
    assert ended[0] is not None and ended[-1] is None


def test_clinician_must_enrol_then_give_a_code(app: flask.Flask, people: Database) -> None:
    client = app.test_client()
    response = log_in(client, "doctor")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/enrol")
    page = client.get("/login/enrol").get_data(as_text=True)
    assert "<svg" in page and "<title" in page
    with client.session_transaction() as cookie_session:
        secret = cookie_session["totp_enrolment_secret"]
    token = csrf_token(client, "/login/enrol")
    wrong = client.post("/login/enrol", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 401
    good = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    codes = re.findall(r"<code>([a-z0-9-]+)</code>", good.get_data(as_text=True))
    assert good.status_code == 200 and len(codes) == 10
    assert {"totp.enrol", "login.success"} <= set(actions(people))


def test_missing_and_wrong_second_factor(app: flask.Flask, people: Database) -> None:
    client = app.test_client()
    log_in(client, "doctor")
    with client.session_transaction() as cookie_session:
        assert "totp_enrolment_secret" not in cookie_session  # enrolment page not opened yet
    client.get("/login/enrol")
    with client.session_transaction() as cookie_session:
        secret = cookie_session["totp_enrolment_secret"]
    token = csrf_token(client, "/login/enrol")
    client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    client.post("/logout", data={"csrf_token": csrf_token(client, "/login")})

    second = app.test_client()
    response = log_in(second, "doctor")
    assert response.headers["Location"].startswith("/login/totp")
    # Password alone is not a login: a protected callback is refused, and that is traced.
    admin_output = next(o for o, r in CALLBACK_ACCESS.items() if r == "admin")
    spec = app.extensions["dash"].callback_map[admin_output]
    forged = {
        "output": admin_output,
        "outputs": [],
        "inputs": [{**i, "value": 1} for i in spec["inputs"]],
        "state": [{**s, "value": "x"} for s in spec["state"]],
        "changedPropIds": [],
    }
    refused_callback = second.post(
        "/_dash-update-component", json=forged, headers=callback_headers(second)
    )
    assert refused_callback.status_code == 401
    assert actions(people)[-1] == "access.denied"
    assert second.get("/login/totp").status_code == 200
    refused = second.post(
        "/login/totp", data={"code": "123456", "csrf_token": csrf_token(second, "/login/totp")}
    )
    assert refused.status_code == 401
    assert actions(people)[-1] == "totp.failure"


def test_idle_session_expires_and_is_audited(app: flask.Flask, people: Database) -> None:
    client = app.test_client()
    log_in(client, "reader")
    long_ago = datetime.now(UTC) - timedelta(minutes=31)
    with people.transaction() as session:
        session.execute(update(UserSession).values(last_seen_at=long_ago))
    page = client.get("/login").get_data(as_text=True)
    assert "Økten din er utløpt" in page
    assert "session.expired" in actions(people)


def test_logout_ends_the_session(app: flask.Flask, people: Database) -> None:
    client = app.test_client()
    log_in(client, "reader")
    response = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert actions(people)[-1] == "logout"
    with people.reading() as session:
        assert session.scalar(select(UserSession.ended_at)) is not None


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil"])
def test_no_open_redirect_after_login(app: flask.Flask, people: Database, target: str) -> None:
    response = log_in(app.test_client(), "reader", next=target)
    assert response.headers["Location"] == "/"


def test_security_headers_and_cookie_flags(app: flask.Flask) -> None:
    response = app.test_client().get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("_csrf_token=") and "SameSite=Strict" in c for c in cookies)
    assert any(c.startswith("session=") and "HttpOnly" in c for c in cookies)


def test_dash_callbacks_need_the_csrf_header(app: flask.Flask) -> None:
    client = app.test_client()
    client.get("/")
    body = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": "/"},
            {"id": "_pages_location", "property": "search", "value": ""},
        ],
        "changedPropIds": [],
        "state": [],
    }
    assert client.post("/_dash-update-component", json=body).status_code == 400
    token = client.get_cookie("_csrf_token")
    assert token is not None
    ok = client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": token.value})
    assert ok.status_code == 200


def test_too_many_guesses_from_one_address_are_refused(app: flask.Flask, people: Database) -> None:
    client = app.test_client()
    token = csrf_token(client)
    statuses = [
        client.post(
            "/login", data={"username": f"guess{i}", "password": "x" * 12, "csrf_token": token}
        ).status_code
        for i in range(21)
    ]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429
    assert actions(people)[-1] == "login.rate_limited"


def test_too_many_guesses_at_one_account_are_refused(app: flask.Flask, people: Database) -> None:
    statuses = []
    for i in range(11):  # a botnet: every guess from another address
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{i + 1}"
        form = {
            "username": "reader",
            "password": "wrong password",
            "csrf_token": csrf_token(client),
        }
        statuses.append(client.post("/login", data=form).status_code)
    assert statuses[10] == 429
    assert "login.locked" in actions(people)


def test_hsts_only_over_tls(app: flask.Flask) -> None:
    client = app.test_client()
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://portal.example")
    assert "max-age=" in secure.headers["Strict-Transport-Security"]
