"""The patient's questionnaire pages over real HTTP, and the registrar's panel, on both databases.

The patient has no login: the link is the credential. Pages are plain HTML forms, so the
tests post them as a browser would (CSRF token from the form, 303 redirects followed by
hand) and read the results back from the database and the audit log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import flask
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from app import create_app
from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import AuditEvent
from data_access.models_prom import PromResponse
from data_access.prom import create_invitations
from data_access.record_commands import IdentityKeys
from tests.conftest import make_settings, render_page
from tests.integration.prom_world import (
    HAMMERFEST,
    QUESTIONNAIRE,
    REGISTRY,
    WRITER,
    Addresses,
    due_today,
    queued_tokens,
    registrations,
    stay,
    values_of,
)
from tests.integration.test_admin_pages import PASSWORD, log_in, text_of

MRS = ("mrs_constant_care_3m", "mrs_walk_unaided_3m", "mrs_own_affairs_3m")
EQ5D = {
    "eq5d_mobility_3m": "2",
    "eq5d_selfcare_3m": "1",
    "eq5d_activities_3m": "3",
    "eq5d_pain_3m": "4",
    "eq5d_anxiety_3m": "5",
}


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[tuple[flask.Flask, str, int]]:
    """The application, one registration due today, its invitation and its link's secret."""
    server = create_app(make_settings(tmp_path, database_url, REQUIRE_TWO_FACTOR="false"))
    database: Database = server.extensions["database"]
    settings = server.config["PORTAL_SETTINGS"]
    keys = IdentityKeys(settings.national_id_key, settings.pseudonym_key)
    [registration] = registrations(database, keys, [stay(due_today())])
    create_invitations(
        database, REGISTRY, QUESTIONNAIRE, Addresses(), WRITER, keys.national_id_key,
        datetime.now(UTC),
    )  # fmt: skip
    [token] = queued_tokens(database, keys)
    yield server, token, registration
    database.dispose()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page[:300]
    return found.group(1)


def _post(
    client: FlaskClient, token: str, page: int, action: str, answers: dict[str, str]
) -> TestResponse:
    """Post page `page` as the browser would, with the questions the page now shows."""
    shown = client.get(f"/prom/{token}?page={page}").get_data(as_text=True)
    questions = re.findall(r'name="shown" value="([^"]+)"', shown)
    form = {"csrf_token": _csrf(shown), "page": str(page), "action": action, **answers}
    return client.post(f"/prom/{token}", data={**form, "shown": questions})


def _events(server: flask.Flask, action: str) -> list[AuditEvent]:
    with server.extensions["database"].reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_questionnaire_opens_in_the_patients_language_and_a_wrong_link_shows_nothing(
    world: tuple[flask.Flask, str, int],
) -> None:
    server, token, _ = world
    client = server.test_client()
    for language, label in (
        ("nb", "Er du sengeliggende"),
        ("nn", "Er du sengeliggjande"),
        ("en", "Are you bedridden"),
    ):
        response = client.get(f"/prom/{token}?lang={language}")
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and f'<html lang="{language}">' in page
        assert label in page and 'aria-current="true">' in page
    assert response.headers["Cache-Control"] == "no-store"
    assert '<meta name="referrer" content="no-referrer">' in page
    assert len(_events(server, "prom.open")) == 3

    altered = token[:-2] + ("xy" if not token.endswith("xy") else "zz")
    for address, status in ((f"/prom/{altered}", 404), (f"/prom/{altered}/opt-out", 404)):
        dead = client.get(address)
        assert dead.status_code == status
        text = dead.get_data(as_text=True)
        assert "Lenken virker ikke" in text and "sengeliggende" not in text
        assert "Norsk hjerneslagregister" not in text  # not even whose link it was


def test_answering_page_by_page_scores_stores_and_kills_the_link(
    world: tuple[flask.Flask, str, int],
) -> None:
    server, token, registration = world
    client = server.test_client()
    # Page 1: each mRS answer reveals the next question on the same page.
    revealed = _post(client, token, 1, "next", {MRS[0]: "0"})
    assert revealed.status_code == 303 and revealed.location.endswith(f"#q-{MRS[1]}")
    _post(client, token, 1, "next", {MRS[0]: "0", MRS[1]: "1"})
    _post(client, token, 1, "next", {MRS[0]: "0", MRS[1]: "1", MRS[2]: "1"})
    answers = {MRS[0]: "0", MRS[1]: "1", MRS[2]: "1", "mrs_usual_activities_3m": "0"}
    moved = _post(client, token, 1, "next", answers)
    assert moved.status_code == 303 and "page=2" in moved.location
    # Page 2: an unreadable VAS gets its message next to the field and in the summary.
    wrong = _post(client, token, 2, "next", {**EQ5D, "eq_vas_3m": "sytti"})
    page = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and 'aria-invalid="true"' in page
    assert 'href="#eq_vas_3m"' in page and 'id="eq_vas_3m-error-1"' in page
    assert 'value="sytti"' in page  # what the patient typed stays on screen
    assert "page=3" in _post(client, token, 2, "next", {**EQ5D, "eq_vas_3m": "70"}).location
    # Page 3: submit.
    done = _post(client, token, 3, "submit", {"living_situation_3m": "2", "smoking_3m": "0"})
    assert done.status_code == 303 and done.location.startswith("/prom/thanks")
    assert client.get(done.location).status_code == 200

    values = values_of(server.extensions["database"], registration)
    assert (values["mrs_3m"], values["eq_vas_3m"], values["living_situation_3m"]) == (2, 70, 2)
    assert isinstance(values["eq5d_index_3m"], float) and values["prom_3m_answered"] == 1
    gone = client.get(f"/prom/{token}")
    assert gone.status_code == 410 and "allerede sendt inn" in gone.get_data(as_text=True)
    assert "Gange" not in gone.get_data(as_text=True)
    [submitted] = _events(server, "prom.submit")
    assert submitted.details["registration_id"] == registration and submitted.remote_addr

    # The registrar sees the answers on the registration, and the view is audited.
    database = server.extensions["database"]
    create_user(database, SYSTEM, "hammerfest", "Hammerfest", PASSWORD)
    grant(database, SYSTEM, "hammerfest", "stroke", HAMMERFEST, "registrar")
    registrar = log_in(server, "hammerfest")
    query = f"?registry=stroke&form=followup_3m&id={registration}"
    shown = text_of(json.loads(render_page(registrar, "/registrations/form", query)))
    assert "Pasientrapporterte svar" in shown and "Besvart" in shown
    assert "Litt problemer med å gå" in shown and "bruno-2010" in shown
    [view] = _events(server, "prom_response.view")
    assert view.username == "hammerfest" and view.object_id == str(registration)


def test_forms_need_their_csrf_token_and_answers_can_be_resumed(
    world: tuple[flask.Flask, str, int],
) -> None:
    server, token, _ = world
    client = server.test_client()
    client.get(f"/prom/{token}")
    forged = client.post(f"/prom/{token}", data={"page": "2", "action": "save", **EQ5D})
    assert forged.status_code == 400 and "Siden var åpen for lenge" in forged.get_data(as_text=True)
    with server.extensions["database"].reading() as session:
        assert session.scalar(select(PromResponse)) is None
    assert _events(server, "request.csrf_refused")[0].details["route"] == "/prom/<token>"

    kept = _post(client, token, 2, "save", {"eq5d_pain_3m": "4"})
    assert kept.status_code == 303 and "saved=1" in kept.location
    assert "Svarene dine er lagret" in client.get(kept.location).get_data(as_text=True)
    # Later, on another device: the same link opens with the answer saved.
    later = server.test_client().get(f"/prom/{token}?page=2").get_data(as_text=True)
    assert re.search(r'id="eq5d_pain_3m-4" name="eq5d_pain_3m" value="4"\s+checked', later)


def test_the_patient_may_decline_by_the_opt_out_link(
    world: tuple[flask.Flask, str, int],
) -> None:
    server, token, _ = world
    client = server.test_client()
    question = client.get(f"/prom/{token}/opt-out?lang=nn")
    page = question.get_data(as_text=True)
    assert question.status_code == 200 and '<html lang="nn">' in page
    declined = client.post(f"/prom/{token}/opt-out?lang=nn", data={"csrf_token": _csrf(page)})
    assert declined.status_code == 200 and "Takk for beskjed" in declined.get_data(as_text=True)
    assert client.get(f"/prom/{token}").status_code == 410
    [event] = _events(server, "prom.opt_out")
    assert event.username == "patient"


def test_the_pages_are_rate_limited_per_address(world: tuple[flask.Flask, str, int]) -> None:
    server, _, _ = world
    client = server.test_client()
    statuses = [client.get("/prom/thanks?lang=en").status_code for _ in range(61)]
    assert statuses == [200] * 60 + [429]
    refused = client.get("/prom/thanks?lang=en")
    assert refused.status_code == 429 and "Too many attempts" in refused.get_data(as_text=True)
    [event, _] = _events(server, "prom.rate_limited")
    assert event.details["route"] == "/prom/thanks"
