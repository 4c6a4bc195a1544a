"""The user commands an operator runs, through Flask's CLI runner on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
from click.testing import Result
from sqlalchemy import func, select

from app import create_app
from data_access.accounts import find_user_id, list_grants, list_users
from data_access.database import Database
from data_access.login import authenticate_password
from data_access.models import AuditEvent, Registration
from data_access.patient_identity import encode_key, generate_key
from portal.settings import Settings
from tests.conftest import make_settings

PASSWORD = "korrekt-hest-batteri-stift"
ULLEVAL = 100032
SMALL_SEED = ("seed-demo", "--registrations", "300", "--seed", "3")


@pytest.fixture(autouse=True)
def operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "operator")


def use_demo_password(app: flask.Flask, password: str) -> None:
    """As if DEMO_PASSWORD had been set when the app started."""
    settings: Settings = app.config["PORTAL_SETTINGS"]
    app.config["PORTAL_SETTINGS"] = settings.with_changes(demo_password=password)


def run(app: flask.Flask, *args: str, input: str | None = None, exit_code: int = 0) -> Result:
    result = app.test_cli_runner().invoke(args=list(args), input=input)
    assert result.exit_code == exit_code, result.output
    if exit_code:
        # A refusal is a clean message, never a traceback.
        assert isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        assert "Error:" in result.output
    return result


def database_of(app: flask.Flask) -> Database:
    database: Database = app.extensions["database"]
    return database


def events(app: flask.Flask) -> list[AuditEvent]:
    with database_of(app).reading() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def create_ola(app: flask.Flask) -> None:
    run(app, "create-user", "ola", "--name", "Ola Nordmann", "--password-stdin", input=PASSWORD)


def test_create_user_from_stdin_acts_as_the_operator(app: flask.Flask) -> None:
    result = run(
        app,
        "create-user",
        "ola",
        "--name",
        "Ola Nordmann",
        "--email",
        "ola@example.no",
        "--language",
        "en",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    user_id = find_user_id(database_of(app), "ola")
    assert f"Created user ola (id {user_id})." in result.output
    [event] = events(app)
    assert (event.action, event.username, event.user_id) == ("user.create", "cli:operator", None)
    assert event.details["email"] == "ola@example.no" and event.details["language"] == "en"
    assert PASSWORD not in json.dumps(event.details)
    login = authenticate_password(database_of(app), "ola", PASSWORD, None, event.occurred_at)
    assert login.outcome == "ok"


def test_create_user_prompts_twice_with_hidden_input(app: flask.Flask) -> None:
    result = run(app, "create-user", "kari", "--name", "Kari", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert PASSWORD not in result.output
    assert "Repeat for confirmation" in result.output
    assert list_users(database_of(app))["username"].to_list() == ["kari"]


def test_create_user_prompts_again_when_the_two_differ(app: flask.Flask) -> None:
    result = run(
        app,
        "create-user",
        "kari",
        "--name",
        "Kari",
        input=f"{PASSWORD}\nsomething else\n",
        exit_code=1,
    )
    assert "do not match" in result.output
    assert list_users(database_of(app)).is_empty()


@pytest.mark.parametrize(
    ("args", "stdin", "exit_code", "message"),
    [
        (("Ola", "--name", "Ola"), PASSWORD, 1, "lower-case letters"),
        (("ola", "--name", "Ola"), "kort", 1, "the password is refused: too short"),
        (("ola", "--name", "Ola"), "qwerty123456", 1, "the password is refused: common"),
        (("ola", "--name", "Ola"), "ola-ola-ola-ola", 1, "same as username"),
        (("ola", "--name", "Ola"), "", 2, "no password on standard input"),
        (("ola", "--name", "Ola", "--email", "nope"), PASSWORD, 1, "e-mail"),
        (("ola", "--name", "Ola", "--language", "sv"), PASSWORD, 2, "'sv' is not one of"),
        (("ola",), PASSWORD, 2, "Missing option '--name'"),
    ],
)
def test_create_user_refusals(
    app: flask.Flask, args: tuple[str, ...], stdin: str, exit_code: int, message: str
) -> None:
    result = run(
        app, "create-user", *args, "--password-stdin", input=stdin + "\n", exit_code=exit_code
    )
    assert message in result.output
    assert list_users(database_of(app)).is_empty() and events(app) == []


def test_a_taken_username_is_refused(app: flask.Flask) -> None:
    create_ola(app)
    result = run(
        app, "create-user", "ola", "--name", "X", "--password-stdin", input=PASSWORD, exit_code=1
    )
    assert "the user name 'ola' is taken" in result.output


def test_grant_list_and_revoke(app: flask.Flask) -> None:
    create_ola(app)
    args = ("grant", "ola", "--registry", "stroke", "--unit", str(ULLEVAL), "--role", "clinician")
    output = run(app, *args).output
    [grant_id] = list_grants(database_of(app))["grant_id"].to_list()
    assert f"Grant {grant_id}: ola is clinician in stroke on unit {ULLEVAL}." in output
    assert "already has clinician" in run(app, *args, exit_code=1).output
    listing = run(app, "list-grants").output
    assert "Ullevål nevro" in listing and "cli:" not in listing
    assert str(grant_id) in run(app, "list-grants", "--registry", "stroke").output
    assert run(app, "list-grants", "--registry", "hip").output.strip() == "No grants."
    assert f"Grant {grant_id} revoked." in run(app, "revoke", str(grant_id)).output
    assert f"there is no grant {grant_id}" in run(app, "revoke", str(grant_id), exit_code=1).output
    actions = [(e.action, e.username) for e in events(app)]
    assert actions == [
        ("user.create", "cli:operator"),
        ("grant.create", "cli:operator"),
        ("grant.revoke", "cli:operator"),
    ]


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (
            ("nobody", "--registry", "stroke", "--unit", "100032", "--role", "clinician"),
            1,
            "no user",
        ),
        (("ola", "--registry", "hip", "--unit", "100032", "--role", "clinician"), 1, "no registry"),
        (("ola", "--registry", "stroke", "--unit", "42", "--role", "clinician"), 1, "no unit 42"),
        (("ola", "--registry", "stroke", "--unit", "100032", "--role", "boss"), 2, "'boss'"),
        (("ola", "--registry", "stroke", "--unit", "x", "--role", "admin"), 2, "not a valid"),
        (("ola", "--registry", "stroke", "--role", "admin"), 2, "Missing option '--unit'"),
    ],
)
def test_grant_refusals(
    app: flask.Flask, args: tuple[str, ...], exit_code: int, message: str
) -> None:
    create_ola(app)
    result = run(app, "grant", *args, exit_code=exit_code)
    assert message in result.output
    assert list_grants(database_of(app)).is_empty()


def test_revoke_needs_a_number(app: flask.Flask) -> None:
    assert "not a valid integer" in run(app, "revoke", "abc", exit_code=2).output


def test_disable_enable_and_list_users(app: flask.Flask) -> None:
    create_ola(app)
    assert "No users." not in run(app, "list-users").output
    assert "User ola disabled" in run(app, "disable-user", "ola").output
    assert "was disabled already" in run(app, "disable-user", "ola").output
    listing = run(app, "list-users").output.splitlines()
    assert listing[0].split()[:4] == ["user_id", "username", "display_name", "is_active"]
    assert "false" in listing[1] and "argon2" not in "\n".join(listing)
    assert "User ola enabled" in run(app, "enable-user", "ola").output
    assert "was active already" in run(app, "enable-user", "ola").output
    assert "there is no user 'nobody'" in run(app, "disable-user", "nobody", exit_code=1).output
    assert [e.action for e in events(app)] == ["user.create", "user.disable", "user.enable"]


def test_list_users_when_there_are_none(app: flask.Flask) -> None:
    assert run(app, "list-users").output.strip() == "No users."


def test_set_password_resets_and_lifts_a_lock(app: flask.Flask) -> None:
    create_ola(app)
    new = "en helt ny og lang setning"
    result = run(app, "set-password", "ola", "--password-stdin", input=new + "\n")
    assert "Password of ola reset" in result.output
    [event] = [e for e in events(app) if e.action == "password.reset"]
    assert event.username == "cli:operator" and new not in json.dumps(event.details)
    login = authenticate_password(database_of(app), "ola", new, None, event.occurred_at)
    assert login.outcome == "ok"
    assert (
        "refused"
        in run(app, "set-password", "ola", "--password-stdin", input="kort\n", exit_code=1).output
    )


# ---- demo users with seed-demo ---------------------------------------------------------------


def test_seed_demo_creates_demo_users_once(app: flask.Flask) -> None:
    output = run(app, *SMALL_SEED).output
    assert "demo-clinician: clinician on unit 100032" in output
    assert "demo-admin: admin on unit 1" in output
    database = database_of(app)
    users = list_users(database)
    assert sorted(users["username"]) == [
        "demo-admin",
        "demo-analyst",
        "demo-clinician",
        "demo-clinician2",
        "demo-registrar",
    ]
    moment = events(app)[-1].occurred_at
    login = authenticate_password(database, "demo-analyst", Settings.demo_password, None, moment)
    assert login.outcome == "ok"
    creators = {e.username for e in events(app) if e.action == "user.create"}
    assert creators == {"cli:operator"}
    before = len(events(app))
    run(app, *SMALL_SEED)
    assert [e.action for e in events(app)[before:]] == ["demo.seed"]  # no account changed
    assert list_grants(database).height == 5


def test_seed_demo_takes_the_password_from_the_environment(
    app: flask.Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_demo_password(app, "et annet demopassord")
    run(app, *SMALL_SEED)
    moment = events(app)[-1].occurred_at
    database = database_of(app)
    assert (
        authenticate_password(database, "demo-admin", "et annet demopassord", None, moment).outcome
        == "ok"
    )


def test_seed_demo_refuses_a_weak_demo_password(
    app: flask.Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_demo_password(app, "demo")
    result = run(app, *SMALL_SEED, exit_code=1)
    assert "demo users: the password is refused: too short" in result.output
    assert list_users(database_of(app)).is_empty()


def test_seed_demo_without_users(app: flask.Flask) -> None:
    output = run(app, *SMALL_SEED, "--without-users").output
    assert "Demo users" not in output
    assert list_users(database_of(app)).is_empty()


@pytest.fixture
def production_app(tmp_path: Path, database_url: str) -> Iterator[flask.Flask]:
    """The application as production runs it: every secret from the environment."""
    settings = make_settings(
        tmp_path,
        database_url,
        PORTAL_ENV="production",
        SECRET_KEY="a production secret key that is long enough",
        NATIONAL_ID_KEY=encode_key(generate_key()),
        PSEUDONYM_KEY=encode_key(generate_key()),
    )
    assert settings.environment == "production"
    server = create_app(settings)
    yield server
    database_of(server).dispose()


def test_production_refuses_demo_users(production_app: flask.Flask) -> None:
    result = run(production_app, *SMALL_SEED, exit_code=1)
    assert "demo users are refused when PORTAL_ENV=production" in result.output
    assert "--without-users" in result.output
    database = database_of(production_app)
    assert list_users(database).is_empty()
    with database.reading() as session:  # refused before anything was seeded
        assert session.scalar(select(func.count(Registration.id))) == 0
