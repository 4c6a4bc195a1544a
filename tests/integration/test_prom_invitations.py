"""PROM invitations, links, reminders and responses in the data layer, on SQLite and PostgreSQL.

The clock is fixed (`prom_world.NOW`) and walked forward by hand, so the reminder schedule
is tested day by day; messages are kept by a test sender (SMTP itself is tested with a real
server in test_prom_delivery.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from data_access.access import AccessScope
from data_access.audit import Actor, verify_chain
from data_access.database import Database
from data_access.models import AuditEvent
from data_access.models_prom import OutboxMessage, PromInvitation, PromResponse
from data_access.outbox import deliver
from data_access.patient_identity import generate_key
from data_access.prom import create_invitations, due_registrations, queue_reminders
from data_access.prom_links import (
    DeadLink,
    OpenLink,
    decline,
    open_link,
    patient_actor,
    save_answers,
    submit_answers,
)
from data_access.prom_responses import prom_records
from data_access.record_commands import IdentityKeys
from entry.prom_answers import AnswersRejected
from entry.questionnaires import Reminders
from entry.scoring import score
from tests.integration.prom_world import (
    HAMMERFEST,
    KIRKENES,
    NOW,
    QUESTIONNAIRE,
    REGISTRY,
    WRITER,
    Addresses,
    Kept,
    queued_tokens,
    registrations,
    stay,
    values_of,
)

KEYS = IdentityKeys(generate_key(), generate_key())
PATIENT = patient_actor("192.0.2.7")
ANSWERS = {
    "mrs_constant_care_3m": "0",
    "mrs_walk_unaided_3m": "1",
    "mrs_own_affairs_3m": "1",
    "mrs_usual_activities_3m": "0",
    "eq5d_mobility_3m": "2",
    "eq5d_selfcare_3m": "1",
    "eq5d_activities_3m": "3",
    "eq5d_pain_3m": "4",
    "eq5d_anxiety_3m": "5",
    "eq_vas_3m": "60",
}


def _invite(database: Database, questionnaire=QUESTIONNAIRE, now=NOW, contacts=None):  # type: ignore[no-untyped-def]
    return create_invitations(
        database, REGISTRY, questionnaire, contacts or Addresses(), WRITER,
        KEYS.national_id_key, now,
    )  # fmt: skip


def _events(database: Database, action: str) -> list[AuditEvent]:
    with database.reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _count(database: Database, model: type) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_rule_selects_due_registrations_once_each(database: Database) -> None:
    """Due 90 days after admission, alive at discharge, within the 30-day window and not
    answered by another door: only the first registration; a second run asks nobody again."""
    ids = registrations(
        database,
        KEYS,
        [
            stay(date(2026, 3, 1)),  # due 30 May: invited
            stay(date(2026, 3, 1), died_in_hospital="1"),  # `when` is false
            stay(date(2026, 3, 10)),  # due 8 June: not yet
            stay(date(2026, 1, 1)),  # due 1 April: a link then would have expired
            stay(date(2026, 3, 1), prom_3m_invited="1", prom_3m_answered="1"),  # answered
        ],
    )
    assert due_registrations(database, REGISTRY, QUESTIONNAIRE, NOW.date()) == [ids[0]]
    first = _invite(database)
    assert (first.created, first.already_invited) == (1, 0)
    again = _invite(database)
    assert (again.created, again.already_invited) == (0, 1)
    assert _count(database, PromInvitation) == 1 and _count(database, OutboxMessage) == 1
    assert values_of(database, ids[0])["prom_3m_invited"] == 1
    assert "prom_3m_invited" not in values_of(database, ids[1])


def test_only_the_hash_and_ciphertexts_are_stored_and_the_log_names_no_one(
    database: Database,
) -> None:
    [registration] = registrations(database, KEYS, [stay(date(2026, 3, 1))])
    _invite(database)
    [token] = queued_tokens(database, KEYS)
    with database.reading() as session:
        invitation = session.scalars(select(PromInvitation)).one()
        message = session.scalars(select(OutboxMessage)).one()
    assert len(token) >= 43  # 32 random bytes, URL-safe
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = invitation.recipient_encrypted + message.recipient_encrypted + message.body_encrypted
    assert b"@example.no" not in stored and token.encode() not in stored
    [event] = _events(database, "prom.invite")
    assert event.details["registration_id"] == registration
    assert "@" not in json.dumps(event.details) and token not in json.dumps(event.details)


def test_patients_without_contact_or_who_declined_before_are_not_asked(
    database: Database,
) -> None:
    registrations(database, KEYS, [stay(date(2026, 3, 1))] * 2)
    assert _invite(database, contacts=lambda _id: None).no_contact == 2
    _invite(database)
    tokens = queued_tokens(database, KEYS)
    assert decline(database, tokens[0], NOW, PATIENT) is True
    # A new questionnaire key for the same patients: the one who declined is not asked.
    other = dataclasses.replace(QUESTIONNAIRE, key="stroke_3m_extra")
    run = _invite(database, other)
    assert (run.created, run.declined_before) == (1, 1)


def test_a_link_opens_once_until_submitted_and_then_is_dead(database: Database) -> None:
    [registration] = registrations(database, KEYS, [stay(date(2026, 3, 1))])
    _invite(database)
    [token] = queued_tokens(database, KEYS)
    opened = open_link(database, token, NOW, PATIENT)
    assert isinstance(opened, OpenLink) and opened.registration_id == registration
    saved = save_answers(database, token, {"eq5d_pain_3m": 4}, NOW, PATIENT)
    assert isinstance(saved, OpenLink) and saved.answers == {"eq5d_pain_3m": 4}

    response_id = submit_answers(database, REGISTRY, QUESTIONNAIRE, token, ANSWERS, NOW, PATIENT)
    assert isinstance(response_id, int)
    assert open_link(database, token, NOW, PATIENT) == DeadLink("answered")
    again = submit_answers(database, REGISTRY, QUESTIONNAIRE, token, ANSWERS, NOW, PATIENT)
    assert again == DeadLink("answered")
    assert save_answers(database, token, {}, NOW, PATIENT) == DeadLink("answered")

    values = values_of(database, registration)
    assert values["mrs_3m"] == 2  # manages own affairs, but not all former activities
    levels = {"mobility": 2, "selfcare": 1, "activities": 3, "pain": 4, "anxiety": 5}
    assert values["eq5d_index_3m"] == score("eq5d5l", levels, version="NO-2024").value
    assert (values["prom_3m_answered"], values["followup_method"]) == (1, 3)
    assert values["followup_date"] == NOW.date().isoformat()
    with database.reading() as session:
        response = session.scalars(select(PromResponse)).one()
    assert response.submitted_at is not None and response.answers["eq_vas_3m"] == 60
    assert response.scores["eq5d5l"]["version"] == "NO-2024"
    assert response.scores["eq5d5l"]["value_set"] == "Norway, Garratt et al. 2024"
    assert response.scores["mrs_simplified"] == {
        "value": 2, "version": "bruno-2010", "value_set": None, "missing": [],
    }  # fmt: skip
    [event] = _events(database, "prom.submit")
    assert event.username == "patient" and event.details["registration"] == "written"
    assert [e.details["source"] for e in _events(database, "registration.update")] == [
        "prom",
        "prom",
    ]  # the invitation mark, then the answers
    assert verify_chain(database).ok


def test_expired_altered_and_unknown_links_give_nothing(database: Database) -> None:
    registrations(database, KEYS, [stay(date(2026, 3, 1))])
    _invite(database)
    [token] = queued_tokens(database, KEYS)
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for wrong in (altered, "", "x" * 500, token + "x"):
        assert open_link(database, wrong, NOW, PATIENT) == DeadLink("unknown")
    later = NOW + timedelta(days=QUESTIONNAIRE.invitation.expires_after_days)
    assert open_link(database, token, later, PATIENT) == DeadLink("expired")
    expired = submit_answers(database, REGISTRY, QUESTIONNAIRE, token, ANSWERS, later, PATIENT)
    assert expired == DeadLink("expired")
    assert _count(database, PromResponse) == 0
    refusals = _events(database, "prom.link_refused")
    assert [e.details["state"] for e in refusals] == ["unknown"] * 4 + ["expired"] * 2


def test_rejected_answers_write_nothing(database: Database) -> None:
    [registration] = registrations(database, KEYS, [stay(date(2026, 3, 1))])
    _invite(database)
    [token] = queued_tokens(database, KEYS)
    before = values_of(database, registration)
    with pytest.raises(AnswersRejected) as caught:
        submit_answers(database, REGISTRY, QUESTIONNAIRE, token, {"eq_vas_3m": "101"}, NOW, PATIENT)
    assert {"mrs_constant_care_3m", "eq_vas_3m"} <= {i.variable for i in caught.value.check.errors}
    assert values_of(database, registration) == before
    assert isinstance(open_link(database, token, NOW, PATIENT), OpenLink)


def test_reminders_follow_the_schedule_at_most_n_with_a_new_link_each(
    database: Database,
) -> None:
    """Two reminders a week apart: on days 7 and 14, none between or after; each replaces
    the link; none for the patient who answered or the one who declined."""
    weekly = dataclasses.replace(
        QUESTIONNAIRE,
        invitation=QUESTIONNAIRE.invitation.model_copy(
            update={"reminders": Reminders(count=2, days_between=7)}
        ),
    )
    registrations(database, KEYS, [stay(date(2026, 3, 1))] * 3)
    _invite(database, weekly)
    waiting, answering, declining = queued_tokens(database, KEYS)
    kept = Kept()
    assert deliver(database, {"email": kept}, KEYS.national_id_key, NOW).sent == 3
    submit_answers(database, REGISTRY, weekly, answering, ANSWERS, NOW + timedelta(days=3), PATIENT)
    decline(database, declining, NOW + timedelta(days=4), PATIENT)

    sent_on = {}
    for day in range(0, 31):
        moment = NOW + timedelta(days=day)
        queued = queue_reminders(database, REGISTRY, {weekly.key: weekly}, WRITER,
                                 KEYS.national_id_key, moment)  # fmt: skip
        if queued:
            sent_on[day] = queued
            [fresh] = queued_tokens(database, KEYS)
            deliver(database, {"email": kept}, KEYS.national_id_key, moment)
            assert open_link(database, waiting, moment, PATIENT) == DeadLink("unknown")
            waiting = fresh
    assert sent_on == {7: 1, 14: 1}
    assert isinstance(open_link(database, waiting, NOW + timedelta(days=15), PATIENT), OpenLink)
    assert [m.subject.startswith("Påminnelse") for m in kept.messages] == [False] * 3 + [True] * 2
    with database.reading() as session:
        counts = sorted(session.scalars(select(PromInvitation.reminders_sent)))
    assert counts == [0, 0, 2]
    assert len(_events(database, "prom.remind")) == 2


def test_the_registrar_sees_answers_and_every_view_is_audited(database: Database) -> None:
    [registration] = registrations(database, KEYS, [stay(date(2026, 3, 1))])
    _invite(database)
    [token] = queued_tokens(database, KEYS)
    submit_answers(database, REGISTRY, QUESTIONNAIRE, token, ANSWERS, NOW, PATIENT)
    clinician = AccessScope(
        actor=Actor(None, "reader"), roles={"stroke": {"clinician": frozenset({HAMMERFEST})}}
    )
    [record] = prom_records(database, clinician, registration, NOW)
    assert record.status == "answered" and record.answers["eq5d_anxiety_3m"] == 5
    assert record.scores["mrs_simplified"]["value"] == 2
    prom_records(database, clinician, registration, NOW)
    views = _events(database, "prom_response.view")
    assert [(e.username, e.object_id) for e in views] == [("reader", str(registration))] * 2
    elsewhere = AccessScope(
        actor=Actor(None, "other"), roles={"stroke": {"registrar": frozenset({KIRKENES})}}
    )
    assert prom_records(database, elsewhere, registration, NOW) == ()
    assert prom_records(database, clinician, registration + 1, NOW) == ()
    assert len(_events(database, "prom_response.view")) == 2


def test_declining_ends_reminders_and_erases_saved_answers(database: Database) -> None:
    registrations(database, KEYS, [stay(date(2026, 3, 1))])
    _invite(database)
    [token] = queued_tokens(database, KEYS)
    save_answers(database, token, {"eq5d_pain_3m": 2}, NOW, PATIENT)
    assert decline(database, token, NOW, PATIENT) is True
    assert decline(database, token, NOW, PATIENT) == DeadLink("declined")
    assert _count(database, PromResponse) == 0
    assert _count(database, OutboxMessage) == 0  # the unsent invitation is dropped too
    [event] = _events(database, "prom.opt_out")
    assert event.details["answers_erased"] is True
