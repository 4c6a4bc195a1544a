"""The registrar's list over real HTTP on both databases: scope, filters, forgery and audit.

Registrations are made by the real save command for two units; a registrar of unit A then
opens the page through Dash's page router and calls its filter callback as the browser
would, and a forged address or callback naming unit B must come back empty-handed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import flask
import polars as pl
import pytest
from flask.testing import FlaskClient

from app import create_app
from data_access.access import scope_for_user
from data_access.accounts import create_user, find_user_id, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.record_commands import IdentityKeys, create_registration
from entry.national_id import mask_national_id, synthetic_national_ids
from portal import ready_to_serve, urls
from portal.catalogue import installed_registries
from portal.components import registration_list
from tests.conftest import make_settings, render_page
from tests.integration.test_admin_pages import (
    PASSWORD,
    dash_call,
    events,
    log_in,
    response_of,
    text_of,
)

UNIT_A = 100032  # Ullevål, Oslo universitetssykehus
UNIT_B = 100024  # Haukeland, Helse Bergen
APPLY = "registrations-navigate.href"
ADMISSION = {"onset_known": 0, "age": 71, "sex": 2}


@dataclass(frozen=True)
class World:
    app: flask.Flask
    database: Database
    ids: dict[str, int]  # name of the record -> registration id
    masked: dict[str, str]  # name of the record -> its masked national id


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    server = create_app(make_settings(tmp_path, database_url, REQUIRE_TWO_FACTOR="false"))
    database: Database = server.extensions["database"]
    for username, role, unit in (
        ("registrar-a", "registrar", UNIT_A),
        ("registrar-b", "registrar", UNIT_B),
        ("analyst", "analyst", 1),
    ):
        create_user(database, SYSTEM, username, username.title(), PASSWORD)
        grant(database, SYSTEM, username, "stroke", unit, role)
    settings = server.config["PORTAL_SETTINGS"]
    keys = IdentityKeys(settings.national_id_key, settings.pseudonym_key)
    records: dict[str, tuple[int, str, dict[str, object]]] = {
        # admission complete, discharge still to do
        "a_draft": (UNIT_A, "draft", {"admission_date": "2025-03-01", "stroke_type": 2}),
        # everything required is there
        "a_complete": (
            UNIT_A,
            "complete",
            {
                "admission_date": "2024-06-01",
                "stroke_type": 1,
                "thrombolysis": 0,
                "discharge_date": "2024-06-09",
                "died_in_hospital": 0,
            },
        ),
        # an infarct without the thrombolysis answer the form then asks for
        "a_infarct": (UNIT_A, "draft", {"admission_date": "2025-07-01", "stroke_type": 1}),
        "b_complete": (
            UNIT_B,
            "complete",
            {
                "admission_date": "2025-05-01",
                "stroke_type": 2,
                "discharge_date": "2025-05-03",
                "died_in_hospital": 0,
            },
        ),
    }
    national_ids = synthetic_national_ids(
        pl.Series([date(1950 + n, 3, 4) for n in range(len(records))]),
        pl.Series(["female"] * len(records)),
        seed=7,
    )
    (stroke,) = [r for r in _registries(server) if r.key == "stroke"]
    ids, masked = {}, {}
    for (name, (unit, status, values)), national_id in zip(
        records.items(), national_ids, strict=True
    ):
        user = "registrar-a" if unit == UNIT_A else "registrar-b"
        scope = scope_for_user(database, find_user_id(database, user))
        saved = create_registration(
            database,
            scope,
            "stroke",
            unit,
            national_id,
            {**ADMISSION, **values},
            stroke.dictionary,
            keys,
            event_date_variable=stroke.event_date_variable,
            status=status,  # type: ignore[arg-type]
        )
        ids[name], masked[name] = saved.registration_id, mask_national_id(national_id)
    ready_to_serve(server)
    yield World(server, database, ids, masked)
    database.dispose()


def _registries(server: flask.Flask) -> Any:
    with server.app_context():
        return installed_registries()


def _page(client: FlaskClient, search: str = "") -> dict[str, Any]:
    content: dict[str, Any] = json.loads(render_page(client, "/registrations", search))
    return content["response"]["_pages_content"]["children"]


def _shown_ids(page: object) -> list[int]:
    """The registration ids of the list's rows, in order: each row header links its form."""
    table = _find(page, "registrations-table")
    return [] if table is None else _row_ids(table)


def _find(tree: object, component_id: str) -> object | None:
    if isinstance(tree, dict):
        if (tree.get("props") or {}).get("id") == component_id:
            return tree
        values: list[object] = list(tree.values())
    elif isinstance(tree, list):
        values = tree
    else:
        return None
    return next((f for v in values if (f := _find(v, component_id)) is not None), None)


def _row_ids(tree: object) -> list[int]:
    found: list[int] = []
    if isinstance(tree, dict):
        props = tree.get("props") or {}
        if tree.get("type") == "Th" and props.get("scope") == "row":
            link = props["children"]
            assert "/registrations/form?" in link["props"]["href"]
            return [int(link["props"]["children"])]
        for value in tree.values():
            found += _row_ids(value)
    elif isinstance(tree, list):
        for value in tree:
            found += _row_ids(value)
    return found


def test_anonymous_visitors_get_a_login_prompt(world: World) -> None:
    page = _page(log_in(world.app, None))
    assert "login-prompt" in json.dumps(page)
    assert not any(m in json.dumps(page) for m in world.masked.values())


def test_users_without_a_reading_role_are_refused(world: World) -> None:
    page = _page(log_in(world.app, "analyst"))
    assert "registrations-not-allowed" in json.dumps(page)
    assert _shown_ids(page) == []


def test_a_registrar_sees_the_units_rows_and_the_view_is_audited(world: World) -> None:
    page = _page(log_in(world.app, "registrar-a"), "?lang=en")
    text = json.dumps(page, ensure_ascii=False)
    a_ids = [world.ids["a_infarct"], world.ids["a_draft"], world.ids["a_complete"]]
    assert _shown_ids(page) == a_ids  # newest event first
    for name in ("a_draft", "a_complete", "a_infarct"):
        assert world.masked[name] in text
    assert world.masked["b_complete"] not in text
    assert world.ids["b_complete"] not in _shown_ids(page)
    listed = events(world.database, "registration.list")
    assert listed[-1].username == "registrar-a"
    assert sorted(listed[-1].details["registration_ids"]) == sorted(a_ids)


FILTER_CASES = [
    ("?status=draft", ["a_infarct", "a_draft"]),
    ("?status=complete", ["a_complete"]),
    ("?year=2024", ["a_complete"]),
    ("?from=2025-01-01&to=31.05.2025", ["a_draft"]),
    ("?year=2025&from=2025-06-01", ["a_infarct"]),
    (f"?unit={UNIT_A}", ["a_infarct", "a_draft", "a_complete"]),
    ("?missing=yes", ["a_infarct", "a_draft"]),
    ("?missing=no", ["a_complete"]),
    ("?form=admission&missing=yes", ["a_infarct"]),
    ("?form=admission&missing=no", ["a_draft", "a_complete"]),
    ("?form=discharge&missing=no", ["a_complete"]),
    ("?sort=id&order=asc", ["a_draft", "a_complete", "a_infarct"]),
    ("?sort=event_date&order=asc", ["a_complete", "a_draft", "a_infarct"]),
    ("?sort=missing&form=discharge", ["a_infarct", "a_draft", "a_complete"]),
    ("?status=nonsense", ["a_infarct", "a_draft", "a_complete"]),
]


def test_filters_and_sorting(world: World) -> None:
    """One table of cases on one world (making a world hashes passwords, which is slow)."""
    client = log_in(world.app, "registrar-a")
    for search, expected in FILTER_CASES:
        page = _page(client, search)
        assert _shown_ids(page) == [world.ids[name] for name in expected], search


def test_rows_link_to_the_form_with_missing_fields(world: World) -> None:
    page = json.dumps(_page(log_in(world.app, "registrar-a"), "?lang=en"), ensure_ascii=False)
    draft = world.ids["a_draft"]
    # The draft lacks discharge date and death in hospital: its id opens the discharge form.
    assert urls.registration_form("stroke", "discharge", "en", registration_id=draft) in page
    assert "Discharge: 2 missing" in page
    assert "Admission: 1 missing" in page  # the infarct's thrombolysis answer


def test_paging(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registration_list, "PAGE_SIZE", 2)
    client = log_in(world.app, "registrar-a")
    first, second = _page(client, "?lang=en"), _page(client, "?lang=en&page=2")
    assert _shown_ids(first) == [world.ids["a_infarct"], world.ids["a_draft"]]
    assert _shown_ids(second) == [world.ids["a_complete"]]
    assert "Page 2 of 2" in text_of(second)
    assert "page=2" in json.dumps(first) and "Next page" in text_of(first)
    assert _shown_ids(_page(client, "?page=99")) == [world.ids["a_complete"]]


def test_completeness_summary(world: World) -> None:
    text = text_of(_page(log_in(world.app, "registrar-a"), "?lang=en&form=admission"))
    assert "In draft: 67% (2 of 3)" in text
    assert "Missing required fields in Discharge: 2 of 3" in text
    assert "Missing required fields in Admission: 1 of 3" in text
    summary = text[text.index("Data completeness") :]
    # thrombolysis is shown only for the two infarcts, and answered in one of them.
    row = re.search(r"Thrombolysis\s+thrombolysis (\d+) (\d+) (\S+)", summary)
    assert row is not None and row.groups() == ("2", "1", "50.0%")


def test_a_forged_address_naming_another_unit_gives_nothing(world: World) -> None:
    page = _page(log_in(world.app, "registrar-a"), f"?unit={UNIT_B}&lang=en")
    text = json.dumps(page, ensure_ascii=False)
    assert _shown_ids(page) == []
    assert not any(marker in text for marker in world.masked.values())
    assert "not one of the units you have access to" in text
    last = events(world.database, "registration.list")[-1]
    assert last.details["filters"]["unit_ids"] == [UNIT_B]
    assert last.details["registration_ids"] == []


def _apply(client: FlaskClient, world: World, period: dict[str, str], **context: object) -> Any:
    """Press the period's button; `context` is the view's other filters, as the page holds."""
    values = {
        "registrations-year.value": period.get("year", ""),
        "registrations-from.value": period.get("from", ""),
        "registrations-to.value": period.get("to", ""),
        "registrations-apply.n_clicks": 1,
        "registrations-context.data": {"registry": "stroke", "language": "en", **context},
    }
    return dash_call(client, world.app, APPLY, values, "registrations-apply.n_clicks")


def test_the_period_callback_builds_the_address_keeping_the_other_filters(
    world: World,
) -> None:
    client = log_in(world.app, "registrar-a")
    context = {"status": "draft", "unit": str(UNIT_A), "sort": "id", "page": "3"}
    answer = response_of(_apply(client, world, {"year": "2025"}, **context))
    assert answer["registrations-navigate"]["href"] == (
        f"/registrations?lang=en&registry=stroke&sort=id&status=draft&unit={UNIT_A}&year=2025"
    )
    refused = response_of(_apply(client, world, {"from": "yesterday"}))
    assert "registrations-navigate" not in refused
    assert "The from date is not a date" in text_of(refused)


def test_a_forged_callback_naming_another_unit_gives_nothing(world: World) -> None:
    client = log_in(world.app, "registrar-a")
    answer = response_of(_apply(client, world, {"year": "2025"}, unit=str(UNIT_B)))
    assert "registrations-navigate" not in answer
    assert "not one of the units you have access to" in text_of(answer)
    other = response_of(_apply(client, world, {}, registry="other", unit=str(UNIT_A)))
    assert "registrations-navigate" not in other
    assert "You have no access to registrations" in text_of(other)
    anonymous = _apply(log_in(world.app, None), world, {}, unit=str(UNIT_A))
    assert anonymous.status_code == 401


def test_the_filter_links_are_the_addresses_of_their_views(world: World) -> None:
    page = _page(log_in(world.app, "registrar-a"), f"?lang=en&status=draft&unit={UNIT_A}")
    status = json.dumps(_find(page, "registrations-status"), ensure_ascii=False)
    assert "/registrations?lang=en&registry=stroke&status=complete&unit=100032" in status
    assert '"aria-current": "true"' in status and "Draft" in status
    units = json.dumps(_find(page, "registrations-unit"), ensure_ascii=False)
    assert str(UNIT_B) not in units  # only the registrar's own units are offered
