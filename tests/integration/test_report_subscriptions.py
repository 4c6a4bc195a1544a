"""Report subscriptions end to end, on both databases: subscribe, send when due (once), the
PDF in a real SMTP server's inbox (aiosmtpd), unsubscribe from the e-mail without login,
the operator's one-off send, and the refusals (a forged unit, a lost grant, an altered link).

One seeded demo world per database is shared by the module (seeding and the first results
take seconds); each test has users of its own, and the clock is fixed where it matters.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import flask
import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from data_access.access import scope_for_user
from data_access.accounts import create_user, find_user_id, grant, revoke
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import AuditEvent, Grant
from data_access.models_subscriptions import ReportSend, ReportSubscription
from data_access.report_subscriptions import (
    Subscription,
    SubscriptionError,
    claim,
    own_subscription,
    subscribe,
)
from portal import ready_to_serve
from portal.components import subscription_section as section
from portal.reports.delivery import DeliveryRun, send_due_reports
from portal.reports.unsubscribe import link_token, verified_id
from portal.settings import Settings
from tests.conftest import BACKENDS, find_component, fresh_database_url, seeded_demo_app
from tests.integration.prom_world import Inbox, running_smtp
from tests.integration.test_admin_pages import dash_call, response_of, text_of
from tests.integration.test_login import PASSWORD, csrf_token
from tests.integration.test_my_unit import page

UNIT_A = 100032  # Nevrologisk avdeling, Ullevål sykehus
UNIT_B = 100024  # Nevrologisk avdeling, Haukeland universitetssjukehus
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # a Thursday
NEXT_MONDAY = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # 06:00 in Oslo
STATUS = f"{section.STATUS}.children"


@dataclass(frozen=True)
class World:
    app: flask.Flask
    database: Database
    settings: Settings
    inbox: Inbox


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_available: bool,
) -> Iterator[World]:
    tmp_path = tmp_path_factory.mktemp(f"reports-{request.param}")
    with (
        running_smtp() as (port, inbox),
        fresh_database_url(request.param, tmp_path, postgres_available) as url,
        seeded_demo_app(
            tmp_path,
            1_500,
            seed=5,
            database_url=url,
            REQUIRE_TWO_FACTOR="false",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(port),
            SMTP_FROM="rapport@hjerneslag.example.no",
            PUBLIC_BASE_URL="https://kvalitet.example.no",
        ) as server,
    ):
        ready_to_serve(server)
        yield World(server, server.extensions["database"], server.config["PORTAL_SETTINGS"], inbox)


def user(world: World, username: str, unit: int, *, email: bool = True) -> int:
    """A clinician of `unit`, with an address `<username>@sykehus.example.no` by default."""
    address = f"{username}@sykehus.example.no" if email else None
    user_id = create_user(world.database, SYSTEM, username, username.title(), PASSWORD, address)
    grant(world.database, SYSTEM, username, "stroke", unit, "clinician")
    return user_id


def subscribed(world: World, username: str, unit: int, frequency: str = "weekly") -> Subscription:
    scope = scope_for_user(world.database, find_user_id(world.database, username))
    return subscribe(world.database, scope, "stroke", unit, frequency, "nb", NOW)


def send_due(world: World, now: datetime) -> DeliveryRun:
    """The scheduler's run at `now`, in the application's context as the CLI command runs."""
    with world.app.app_context():
        return send_due_reports(world.database, world.settings, now)


def mails_to(world: World, address: str) -> list[EmailMessage]:
    return [email for recipients, email in world.inbox.received if address in recipients]


def sends_of(world: World, subscription_id: int) -> list[ReportSend]:
    with world.database.reading() as session:
        return list(
            session.scalars(select(ReportSend).where(ReportSend.subscription_id == subscription_id))
        )


def events(world: World, action: str, object_id: int | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == str(object_id))
    with world.database.reading() as session:
        return list(session.scalars(query.order_by(AuditEvent.id)))


def pdf_text(email: EmailMessage) -> tuple[bytes, str]:
    attachments = [part for part in email.iter_attachments()]
    assert len(attachments) == 1
    assert attachments[0].get_content_type() == "application/pdf"
    content = attachments[0].get_content()
    reader = PdfReader(io.BytesIO(content))
    return content, "\n".join(page.extract_text() for page in reader.pages)


def logged_in(world: World, username: str) -> FlaskClient:
    client = world.app.test_client()
    form = {"username": username, "password": PASSWORD, "csrf_token": csrf_token(client)}
    assert client.post("/login", data=form).status_code == 302
    client.get("/")
    return client


def subscription_call(
    world: World, client: FlaskClient, target: object, trigger: str = section.SUBSCRIBE
) -> dict[str, Any]:
    result = dash_call(
        client,
        world.app,
        STATUS,
        {
            f"{section.SUBSCRIBE}.n_clicks": 1,
            f"{section.UNSUBSCRIBE}.n_clicks": 1,
            f"{section.FREQUENCY}.value": "monthly",
            f"{section.LANGUAGE}.value": "en",
            f"{section.TARGET}.data": target,
            "_pages_location.search": "",
        },
        changed=f"{trigger}.n_clicks",
    )
    return response_of(result)


# ---- sending when due -----------------------------------------------------------------------


def test_a_weekly_report_arrives_on_monday_once_with_its_pdf_and_unsubscribe_header(
    world: World,
) -> None:
    user(world, "ukentlig-a", UNIT_A)
    mine = subscribed(world, "ukentlig-a", UNIT_A)
    assert mine.next_due_at == NEXT_MONDAY
    address = "ukentlig-a@sykehus.example.no"

    send_due(world, NOW)
    assert mails_to(world, address) == []  # not due before Monday

    run = send_due(world, NEXT_MONDAY)
    again = send_due(world, NEXT_MONDAY + timedelta(hours=1))
    assert run.sent >= 1 and again.sent == 0
    [email] = mails_to(world, address)
    assert email["To"] == address
    assert email["From"] == "rapport@hjerneslag.example.no"
    assert email["Subject"] == (
        "Kvalitetsrapport for Nevrologisk avdeling, Ullevål sykehus"
        " (Norsk hjerneslagregister (demo))"
    )
    unsubscribe = email["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("https://kvalitet.example.no/reports/unsubscribe/")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = urlsplit(unsubscribe).path.rsplit("/", 1)[1]
    assert verified_id(world.settings.secret_key, token) == mine.id
    assert unsubscribe in email.get_body(("plain",)).get_content()

    content, text = pdf_text(email)
    assert content.startswith(b"%PDF-")
    assert "Nevrologisk avdeling, Ullevål sykehus" in text
    assert "Trombolyse ved hjerneinfarkt" in text
    assert "Landet" in text

    with world.database.reading() as session:
        row = session.get(ReportSubscription, mine.id)
        assert row is not None and row.next_due_at == NEXT_MONDAY + timedelta(days=7)
    [sent] = sends_of(world, mine.id)
    assert (sent.status, sent.recipients, sent.unit_id, sent.error) == ("sent", 1, UNIT_A, None)
    [event] = events(world, "report.sent", sent.id)
    assert event.details["subscription_id"] == mine.id
    assert address not in json.dumps(event.details)


def test_a_period_is_claimed_once_even_by_runs_that_read_it_together(world: World) -> None:
    user(world, "samtidig-a", UNIT_A)
    read_by_both = subscribed(world, "samtidig-a", UNIT_A, "monthly")
    assert read_by_both.next_due_at == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    due = read_by_both.next_due_at
    assert claim(world.database, read_by_both, due) is True
    assert claim(world.database, read_by_both, due) is False
    with world.database.reading() as session:
        row = session.get(ReportSubscription, read_by_both.id)
        assert row is not None and row.next_due_at == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)


def test_a_subscriber_who_lost_the_grant_gets_nothing_and_the_subscription_ends(
    world: World,
) -> None:
    user(world, "flyttet-b", UNIT_B)
    mine = subscribed(world, "flyttet-b", UNIT_B)
    with world.database.reading() as session:
        grant_id = session.scalar(
            select(Grant.id).where(Grant.user_id == find_user_id(world.database, "flyttet-b"))
        )
    assert grant_id is not None
    revoke(world.database, SYSTEM, grant_id)

    send_due(world, NEXT_MONDAY)
    assert mails_to(world, "flyttet-b@sykehus.example.no") == []
    [refused] = sends_of(world, mine.id)
    assert (refused.status, refused.recipients, refused.error) == ("refused", 0, "no_access")
    with world.database.reading() as session:
        row = session.get(ReportSubscription, mine.id)
        assert row is not None and row.active is False


def test_a_user_without_an_address_cannot_subscribe(world: World) -> None:
    user(world, "uten-epost", UNIT_A, email=False)
    with pytest.raises(SubscriptionError) as refused:
        subscribed(world, "uten-epost", UNIT_A)
    assert refused.value.reason == "subscriptions.error.no_email"


# ---- unsubscribing from the e-mail ----------------------------------------------------------


def test_the_link_unsubscribes_without_login_and_an_altered_link_is_refused(
    world: World,
) -> None:
    user(world, "avmeld-a", UNIT_A)
    mine = subscribed(world, "avmeld-a", UNIT_A)
    user(world, "annen-a", UNIT_A)
    other = subscribed(world, "annen-a", UNIT_A)
    token = link_token(world.settings.secret_key, mine.id)
    client = world.app.test_client()  # nobody logged in

    signature = token.split(".")[1]
    altered = [
        f"{other.id}.{signature}",  # someone else's subscription with this one's signature
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        f"{mine.id}",
        "not-a-token",
    ]
    for forged in altered:
        response = client.post(
            f"/reports/unsubscribe/{forged}", data={"List-Unsubscribe": "One-Click"}
        )
        assert response.status_code == 404, forged
    assert own_subscription(world.database, scope_of(world, "annen-a"), "stroke", UNIT_A)

    opened = client.get(f"/reports/unsubscribe/{token}?lang=en")
    assert opened.status_code == 200
    assert "Yes, unsubscribe" in opened.get_data(as_text=True)
    assert opened.headers["Cache-Control"] == "no-store"
    assert own_subscription(world.database, scope_of(world, "avmeld-a"), "stroke", UNIT_A)

    # The mail program's one-click POST (RFC 8058): no session, no CSRF token.
    done = client.post(f"/reports/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "Abonnementet er avsluttet" in done.get_data(as_text=True)
    assert own_subscription(world.database, scope_of(world, "avmeld-a"), "stroke", UNIT_A) is None
    [event] = events(world, "report.unsubscribed", mine.id)
    assert event.details["via"] == "link" and event.user_id is None

    again = client.get(f"/reports/unsubscribe/{token}")
    assert "allerede avsluttet" in again.get_data(as_text=True)


def scope_of(world: World, username: str) -> Any:
    return scope_for_user(world.database, find_user_id(world.database, username))


# ---- the section on "my unit" ---------------------------------------------------------------


def test_the_page_subscribes_and_unsubscribes_the_own_unit(world: World) -> None:
    user(world, "side-a", UNIT_A)
    client = logged_in(world, "side-a")
    shown = page(client, "/my-unit", f"?registry=stroke&unit={UNIT_A}")
    status = find_component(shown, section.STATUS)
    assert status is not None
    assert "Du abonnerer ikke" in text_of(status)

    made = subscription_call(world, client, {"registry": "stroke", "unit": UNIT_A})
    assert "Abonnementet er lagret" in str(made[section.STATUS]["children"])
    mine = own_subscription(world.database, scope_of(world, "side-a"), "stroke", UNIT_A)
    assert mine is not None and (mine.frequency, mine.language) == ("monthly", "en")

    ended = subscription_call(
        world, client, {"registry": "stroke", "unit": UNIT_A}, section.UNSUBSCRIBE
    )
    assert "avsluttet" in str(ended[section.STATUS]["children"])
    assert own_subscription(world.database, scope_of(world, "side-a"), "stroke", UNIT_A) is None


FORGED_TARGETS = [
    {"registry": "stroke", "unit": UNIT_A},  # another unit than the user's
    {"registry": "stroke", "unit": 1},  # the nation, above the user's grant
    {"registry": "other", "unit": UNIT_B},
    {"registry": "stroke", "unit": str(UNIT_B)},
    {"registry": "stroke", "unit": True},
    None,
]


def test_a_forged_unit_gets_a_refusal_and_no_subscription(world: World) -> None:
    user(world, "forfalsker-b", UNIT_B)
    client = logged_in(world, "forfalsker-b")
    before = subscription_count(world)
    for target in FORGED_TARGETS:
        for trigger in (section.SUBSCRIBE, section.UNSUBSCRIBE):
            answer = subscription_call(world, client, target, trigger)
            assert answer[section.STATUS]["children"] == (
                "Du kan ikke abonnere på denne enhetens rapport."
            ), target
    assert subscription_count(world) == before


def test_an_anonymous_caller_is_refused_by_the_guard(world: World) -> None:
    client = world.app.test_client()
    client.get("/")
    result = dash_call(
        client,
        world.app,
        STATUS,
        {f"{section.TARGET}.data": {"registry": "stroke", "unit": UNIT_A}},
        changed=f"{section.SUBSCRIBE}.n_clicks",
    )
    assert result.status_code in (401, 403)


def subscription_count(world: World) -> int:
    with world.database.reading() as session:
        return len(session.scalars(select(ReportSubscription.id)).all())


# ---- the operator's one-off send ------------------------------------------------------------


def test_send_once_mails_each_address_in_the_chosen_language_and_logs_it(world: World) -> None:
    runner = world.app.test_cli_runner()
    to = "leder@sykehus.example.no,kvalitet@sykehus.example.no"
    result = runner.invoke(
        args=["reports", "send-once", "--registry", "stroke", "--unit", str(UNIT_B), "--to", to,
              "--language", "en"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 sent, 0 failed." in result.output
    for address in to.split(","):
        [email] = mails_to(world, address)
        assert email["To"] == address  # one e-mail each: no address sees the others
        assert email["Subject"].startswith("Quality report for Nevrologisk avdeling, Haukeland")
        assert email["List-Unsubscribe"] is None
        _, text = pdf_text(email)
        assert "Thrombolysis" in text and "Nation" in text
    with world.database.reading() as session:
        [logged] = session.scalars(
            select(ReportSend).where(
                ReportSend.subscription_id.is_(None), ReportSend.unit_id == UNIT_B
            )
        ).all()
    assert (logged.status, logged.recipients) == ("sent", 2)
    [event] = events(world, "report.sent", logged.id)
    assert event.username is not None and event.username.startswith("cli:")
    assert "sykehus.example.no" not in json.dumps(event.details)

    listed = runner.invoke(args=["reports", "sends"])
    assert listed.exit_code == 0 and "stroke" in listed.output
    assert "sykehus.example.no" not in listed.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--registry", "stroke", "--unit", "999999999", "--to", "a@b.no"], "unknown unit"),
        (["--registry", "nope", "--unit", str(UNIT_A), "--to", "a@b.no"], "unknown registry"),
        (["--registry", "stroke", "--unit", str(UNIT_A), "--to", "not an address"], "e-mail"),
    ],
)
def test_send_once_refuses_what_it_cannot_send(
    world: World, arguments: list[str], message: str
) -> None:
    result = world.app.test_cli_runner().invoke(args=["reports", "send-once", *arguments])
    assert result.exit_code != 0
    assert message in result.output
