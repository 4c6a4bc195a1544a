"""My unit and its drill-down, over HTTP on both databases, with a seeded demo registry.

Own numbers unsuppressed, everyone else's public; the drill-down's rows are exactly the
engine's denominator with its numerator marked; every list leaves a `drilldown.view` event
with the ids it showed; a forged unit, in the address or in a callback's input, gets
nothing. Callbacks are called as Dash's renderer calls them (`dash_call`), so the
deny-by-default guard in front of them is exercised too.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import flask
import polars as pl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from data_access.access import AccessDenied, scope_for_user
from data_access.accounts import create_user, find_user_id, grant
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import AuditEvent, Patient, Registration, Registry, Unit
from data_access.patient_identity import NationalIdCipher
from data_access.reference_data import read_units
from data_access.unit_records import denominator_records, unit_data_quality
from entry.expressions import evaluate
from entry.national_id import mask_national_id
from entry.registry_folder import RegistryFolder
from indicators import public_results
from portal import ready_to_serve
from portal.catalogue import installed_registries
from portal.components import my_unit_data
from portal.components import my_unit_records as records
from portal.components import result_figures as rfig
from portal.results_cache import cached_results
from portal.settings import Settings
from tests.conftest import (
    BACKENDS,
    find_component,
    fresh_database_url,
    render_page,
    seeded_demo_app,
)
from tests.integration.test_admin_pages import dash_call, response_of, text_of
from tests.integration.test_login import PASSWORD, csrf_token

UNIT_A = 100032  # Nevrologisk avdeling, Ullevål sykehus
UNIT_B = 100024  # Nevrologisk avdeling, Haukeland universitetssjukehus
TRUST_OUS = 993467049  # Oslo universitetssykehus HF: several hospitals, one department each
USERS = {
    "klinikar-a": ("clinician", UNIT_A),
    "registrar-a": ("registrar", UNIT_A),
    "klinikar-ous": ("clinician", TRUST_OUS),
    "klinikar-b": ("clinician", UNIT_B),
}
LIST = "drill-down-table-region.children"
LIST_URL = "drill-down-location.href"
PAGE_URL = "my-unit-location.href"


@dataclass(frozen=True)
class World:
    app: flask.Flask
    database: Database
    settings: Settings
    registry: RegistryFolder
    results: pl.DataFrame
    clients: dict[str | None, FlaskClient] = field(default_factory=dict)
    """One logged-in client per user: the login form is rate limited per address."""


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_available: bool,
) -> Iterator[World]:
    """The app (second factor off) with 3,000 synthetic registrations and four users, on
    each database; shared by the module's tests (seeding and fitting take seconds), which
    therefore tell their own audit events apart by id (`events_after`)."""
    tmp_path = tmp_path_factory.mktemp(f"my-unit-{request.param}")
    with (
        fresh_database_url(request.param, tmp_path, postgres_available) as url,
        seeded_demo_app(
            tmp_path, 3_000, seed=5, database_url=url, REQUIRE_TWO_FACTOR="false"
        ) as server,
    ):
        database: Database = server.extensions["database"]
        settings: Settings = server.config["PORTAL_SETTINGS"]
        with server.app_context():
            registry = installed_registries()[0]
            results = cached_results(settings, database, registry)
        for username, (role, unit) in USERS.items():
            create_user(database, SYSTEM, username, username.title(), PASSWORD)
            grant(database, SYSTEM, username, "stroke", unit, role)
        ready_to_serve(server)
        yield World(server, database, settings, registry, results)


def last_event(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.max(AuditEvent.id))) or 0)


def log_in(world: World, username: str | None) -> FlaskClient:
    """The module's client of `username` (None: anonymous), logged in on first use."""
    if username in world.clients:
        return world.clients[username]
    client = world.app.test_client()
    if username is not None:
        form = {"username": username, "password": PASSWORD, "csrf_token": csrf_token(client)}
        assert client.post("/login", data=form).status_code == 302
    client.get("/")
    world.clients[username] = client
    return client


def scope_of(world: World, username: str) -> Any:
    return scope_for_user(world.database, find_user_id(world.database, username))


def page(client: FlaskClient, path: str, search: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(render_page(client, path, search))["response"]
    return payload


def list_request(
    world: World, unit: object, indicator: str, year: int, **filters: object
) -> dict[str, Any]:
    return {
        "drill-down-request.data": {
            "registry": "stroke",
            "unit": unit,
            "indicator": indicator,
            "year": year,
            "numerator": "all",
            "status": "finished",
            "sort": "event_date",
            "order": "asc",
            "lang": "nb",
            **filters,
        }
    }


def masked_ids(database: Database, settings: Settings, unit_id: int) -> set[str]:
    cipher = NationalIdCipher(settings.national_id_key)
    with database.reading() as session:
        rows = session.execute(
            select(Patient.national_id_encrypted)
            .join(Registration, Registration.patient_id == Patient.id)
            .where(Registration.unit_id == unit_id)
        ).all()
    return {mask_national_id(cipher.decrypt(row[0])) for row in rows}


def drill_events(
    database: Database, after: int, action: str = "drilldown.view"
) -> list[AuditEvent]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.id > after)
                .order_by(AuditEvent.id)
            )
        )


def own_row(world: World, unit: int, indicator: str, year: int) -> dict[str, Any]:
    rows = world.results.filter(
        (pl.col("unit_id") == unit)
        & (pl.col("indicator") == indicator)
        & (pl.col("period") == year)
    ).to_dicts()
    assert len(rows) == 1
    return rows[0]


def opened_list(
    world: World, client: FlaskClient, search: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The drill-down page at `search`, then its list as the page asks for it: the list's
    request and the callback's answer."""
    store = find_component(page(client, "/my-unit/patients", search), "drill-down-request")
    assert store is not None
    data: dict[str, Any] = store["props"]["data"]
    return data, response_of(dash_call(client, world.app, LIST, {"drill-down-request.data": data}))


def listed_ids(region: object) -> list[int]:
    """The registration ids of the drill-down table's rows, in order."""
    table = find_component(region, "drill-down-table")
    assert table is not None
    rows = table["props"]["children"][2]["props"]["children"]
    return [int(text_of(r["props"]["children"][0])) for r in rows]


# ---- my unit -------------------------------------------------------------------------------


def test_own_numbers_are_unsuppressed_and_the_others_public(world: World) -> None:
    """Pick a year and indicator where the own unit is suppressed publicly: the page shows
    its numbers anyway, and every other unit on the chart keeps the public rule."""
    mine = world.results.filter(
        (pl.col("unit_id") == UNIT_A) & pl.col("suppressed") & pl.col("numerator").is_not_null()
    ).sort("period")
    assert mine.height, "the small demo suppresses some of the unit's own results"
    row = mine.row(0, named=True)
    client = log_in(world, "klinikar-a")
    response = page(
        client, "/my-unit", f"?unit={UNIT_A}&year={row['period']}&indicator={row['indicator']}"
    )
    table = find_component(response, f"my-unit-row-{row['indicator']}")
    assert table is not None
    assert f"{row['numerator']} av {row['denominator']}" in text_of(table)

    bars = find_component(response, "my-unit-bars")
    assert bars is not None
    figure = bars["props"]["figure"]
    names = figure["layout"]["yaxis"]["ticktext"]
    values = figure["data"][0]["x"]
    public = public_results(world.results, world.registry.indicators)
    by_name = {name: value for name, value in zip(names, values, strict=True)}
    own_label = next(n for n in names if "din enhet" in n)
    assert by_name[own_label] == pytest.approx(row["estimate"])
    shown_public = public.filter(
        (pl.col("indicator") == row["indicator"]) & (pl.col("period") == row["period"])
    )
    suppressed_others = shown_public.filter(pl.col("suppressed") & (pl.col("unit_id") != UNIT_A))
    on_chart = [n for n in names if n != own_label]
    assert on_chart, "the chart compares with others"
    with world.database.reading() as session:
        unit_names = dict(session.execute(select(Unit.unit_id, Unit.name)).all())
    checked = 0
    for unit_id in suppressed_others["unit_id"].to_list():
        label = next((n for n in on_chart if n.startswith(unit_names[unit_id])), None)
        if label is not None:
            assert by_name[label] is None, (unit_id, label)
            checked += 1
    assert checked, "some peer on the chart is suppressed publicly"
    # The grid behind the chart says "færre enn" for them, never a number.
    grid = find_component(response, "my-unit-bars-table")
    assert grid is not None
    for item in grid["props"]["rowData"]:
        if "din enhet" in item["name"]:
            assert "færre enn" not in item["estimate"]


def test_overview_lists_every_indicator_with_region_nation_and_peers(world: World) -> None:
    client = log_in(world, "klinikar-a")
    response = page(client, "/my-unit", "")
    text = text_of(response)
    for indicator in world.registry.indicators:
        assert find_component(response, f"my-unit-row-{indicator.key}") is not None
    assert "Regionen (Helse Sør-Øst RHF)" in text
    assert "Sammenlignbare enheter" in text and "Landet" in text
    assert find_component(response, "my-unit-peers") is not None
    assert find_component(response, "my-unit-quality") is not None
    # The risk-adjusted indicator's detail has the funnel with the unit marked.
    adjusted = next(i for i in world.registry.indicators if i.risk_model is not None)
    detail = page(client, "/my-unit", f"?indicator={adjusted.key}")
    funnel = find_component(detail, "my-unit-funnel")
    assert funnel is not None
    assert any("din enhet" in str(t.get("name")) for t in funnel["props"]["figure"]["data"])


def test_overview_compares_with_region_nation_and_the_peers_median(world: World) -> None:
    """Each indicator's row holds the region's and the nation's published lead value and
    the median of the peers' published ones, worked out here from the public results."""
    year = 2024
    public = public_results(world.results, world.registry.indicators).filter(
        pl.col("period") == year
    )
    client = log_in(world, "klinikar-a")
    response = page(client, "/my-unit", f"?unit={UNIT_A}&year={year}")
    tree = read_units(world.database)
    region = tree.filter(pl.col("name") == "Helse Sør-Øst RHF")["unit_id"].item()
    # Who the peers are is the page's rule; what is set beside them is checked here.
    peers = my_unit_data.peer_group(
        public, tree, UNIT_A, year, my_unit_data.configured_peer_groups(world.registry)
    )
    peer_ids = list(peers.unit_ids)
    assert f"(median av {len(peer_ids)})" in text_of(response)
    compared = 0
    for indicator in world.registry.indicators:
        column = "risk_standardised" if indicator.risk_model is not None else "estimate"
        rows = public.filter(pl.col("indicator") == indicator.key)
        nation = rows.filter(pl.col("level") == "nation")[column].to_list()
        in_region = rows.filter(pl.col("unit_id") == region)[column].to_list()
        peer_values = [
            v
            for v in rows.filter(pl.col("unit_id").is_in(peer_ids))[column].to_list()
            if v is not None
        ]
        cells = find_component(response, f"my-unit-row-{indicator.key}")["props"]["children"]
        for expected, cell in (
            (in_region[0] if in_region else None, cells[4]),
            (nation[0] if nation else None, cells[5]),
            (statistics.median(peer_values) if peer_values else None, cells[6]),
        ):
            if expected is not None:
                assert rfig.value_text(expected, indicator, "nb") in text_of(cell), indicator.key
                compared += 1
    assert compared >= 2 * len(world.registry.indicators)


def test_a_forged_unit_in_the_address_gets_nothing(world: World) -> None:
    client = log_in(world, "klinikar-a")
    forged = page(client, "/my-unit", f"?unit={UNIT_B}&indicator=thrombolysis")
    assert find_component(forged, "my-unit-not-allowed") is not None
    assert (
        find_component(forged, "my-unit-table") is None
        and find_component(forged, "my-unit-bars") is None
    )
    listing = page(
        client,
        "/my-unit/patients",
        f"?registry=stroke&unit={UNIT_B}&indicator=thrombolysis&year=2024",
    )
    assert find_component(listing, "drill-down-not-allowed") is not None
    assert find_component(listing, "drill-down-request") is None
    body = json.dumps(forged) + json.dumps(listing)
    for marker in masked_ids(world.database, world.settings, UNIT_B):
        assert marker not in body


def test_anonymous_and_ungranted_users_are_turned_away(world: World) -> None:
    anonymous = log_in(world, None)
    assert find_component(page(anonymous, "/my-unit", ""), "login-prompt") is not None
    assert find_component(page(anonymous, "/my-unit/patients", f"?unit={UNIT_A}"), "login-prompt")
    response = dash_call(
        anonymous, world.app, LIST, list_request(world, UNIT_A, "thrombolysis", 2024)
    )
    assert response.status_code == 401
    create_user(world.database, SYSTEM, "ingen", "Ingen Tilgang", PASSWORD)
    nobody = log_in(world, "ingen")
    assert find_component(page(nobody, "/my-unit", ""), "my-unit-not-allowed") is not None


# ---- drill-down ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "unit"), [("klinikar-a", UNIT_A), ("klinikar-ous", TRUST_OUS)]
)
def test_drill_down_rows_are_the_engines_denominator(
    world: World, username: str, unit: int
) -> None:
    """Every indicator, the newest finished year: as many rows as the engine's denominator,
    as many marked in the numerator as its numerator (a trust sums its hospitals)."""
    scope = scope_of(world, username)
    year = 2024
    for indicator in world.registry.indicators:
        expected = world.results.filter(
            (pl.col("unit_id") == unit)
            & (pl.col("indicator") == indicator.key)
            & (pl.col("period") == year)
        ).to_dicts()
        found = denominator_records(
            world.database,
            scope,
            "stroke",
            world.registry.dictionary,
            indicator,
            unit,
            year,
            national_id_key=world.settings.national_id_key,
        )
        denominator = expected[0]["denominator"] if expected else 0
        assert found.total == found.rows.height == denominator, indicator.key
        if indicator.type == "proportion":
            assert found.numerator == (expected[0]["numerator"] if expected else 0)
            assert int(found.rows["in_numerator"].sum()) == found.numerator
        assert set(found.rows["status"].to_list()) <= {"complete", "locked"}


def test_drill_down_list_marks_the_numerator_and_is_audited(world: World) -> None:
    since = last_event(world.database)
    row = own_row(world, UNIT_A, "thrombolysis", 2024)
    client = log_in(world, "klinikar-a")
    data, result = opened_list(
        world, client, f"?registry=stroke&unit={UNIT_A}&indicator=thrombolysis&year=2024"
    )
    assert data["unit"] == UNIT_A
    table = result["drill-down-table-region"]["children"]
    drill_table = find_component(table, "drill-down-table")
    assert drill_table is not None
    body_rows = drill_table["props"]["children"][2]["props"]["children"]
    assert len(body_rows) == row["denominator"]
    marks = [text_of(r["props"]["children"][4]) for r in body_rows]
    assert marks.count("Ja, i telleren") == row["numerator"]
    assert marks.count("Nei, utenfor") == row["denominator"] - row["numerator"]
    shown_ids = [int(text_of(r["props"]["children"][0])) for r in body_rows]
    text = text_of(table)
    # National ids masked: the six first digits and stars; never eleven digits in a row.
    assert re.search(r"\b\d{11}\b", text) is None and "*****" in text
    [event] = drill_events(world.database, since)
    assert event.username == "klinikar-a"
    assert event.details["registration_ids"] == shown_ids
    assert event.details["unit_id"] == UNIT_A and event.details["indicator"] == "thrombolysis"
    # A clinician gets no link to edit; the list says how many are in the numerator.
    assert "Åpne skjema" not in text
    assert f"{row['numerator']} av dem er i telleren" in text_of(result["drill-down-status"])

    only_out = response_of(
        dash_call(
            client,
            world.app,
            LIST,
            list_request(
                world, UNIT_A, "thrombolysis", 2024, numerator="out", sort="age", order="desc"
            ),
        )
    )
    out_text = text_of(only_out["drill-down-table-region"]["children"])
    assert "Ja, i telleren" not in out_text
    events = drill_events(world.database, since)
    assert len(events) == 2
    assert len(events[1].details["registration_ids"]) == row["denominator"] - row["numerator"]
    assert events[1].details["filters"] == {
        "statuses": "finished",
        "numerator": "out",
        "sort": "age",
    }


def test_registrar_gets_a_link_to_each_record(world: World) -> None:
    since = last_event(world.database)
    client = log_in(world, "registrar-a")
    result = response_of(
        dash_call(client, world.app, LIST, list_request(world, UNIT_A, "stroke_unit", 2024))
    )
    table = result["drill-down-table-region"]["children"]
    links = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and isinstance(props.get("href"), str):
                links.append(props["href"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(table)
    [event] = drill_events(world.database, since)
    assert len(links) == len(event.details["registration_ids"]) > 0
    assert all(link.startswith("/registrations/form?") for link in links)
    assert f"id={event.details['registration_ids'][0]}" in links[0]


def test_drill_down_pages_partition_the_list_and_audit_only_what_they_show(
    world: World,
) -> None:
    """Pages of 4 in the asked order add up to the whole sorted list, each audited with its
    own ids; a page past the end shows the last page, as an old address still should."""
    scope = scope_of(world, "klinikar-a")
    indicator = next(i for i in world.registry.indicators if i.key == "stroke_unit")

    def read(offset: int, limit: int) -> Any:
        return denominator_records(
            world.database,
            scope,
            "stroke",
            world.registry.dictionary,
            indicator,
            UNIT_A,
            2024,
            national_id_key=world.settings.national_id_key,
            sort="status",
            descending=True,
            offset=offset,
            limit=limit,
        )

    whole = read(0, 2_000)
    assert whole.total > 8
    since = last_event(world.database)
    pages = [read(offset, 4) for offset in range(0, whole.total, 4)]
    assert [p.offset for p in pages] == list(range(0, whole.total, 4))
    assert pl.concat([p.rows for p in pages]).equals(whole.rows)
    assert {p.total for p in pages} == {whole.total}
    assert {p.numerator for p in pages} == {whole.numerator}
    events = drill_events(world.database, since)
    assert [e.details["registration_ids"] for e in events] == [
        p.rows["id"].to_list() for p in pages
    ]
    beyond = read(whole.total + 40, 4)
    assert beyond.offset == pages[-1].offset and beyond.rows.equals(pages[-1].rows)
    with pytest.raises(ValueError, match="offset"):
        read(-1, 4)


def test_drill_down_list_is_read_a_page_at_a_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list shows one page of `PAGE_ROWS`, says which records it shows, and links to
    the pages before and after it with the same filters; the page comes from the address."""
    monkeypatch.setattr(records, "PAGE_ROWS", 3)
    row = own_row(world, UNIT_A, "stroke_unit", 2024)
    pages = -(-row["denominator"] // 3)
    assert pages >= 3
    client = log_in(world, "klinikar-a")
    since = last_event(world.database)
    data, result = opened_list(
        world,
        client,
        f"?registry=stroke&unit={UNIT_A}&indicator=stroke_unit&year=2024&order=desc&page=2",
    )
    assert data["page"] == 2
    region = result["drill-down-table-region"]["children"]
    shown_ids = listed_ids(region)
    [event] = drill_events(world.database, since)
    assert len(shown_ids) == 3 and event.details["registration_ids"] == shown_ids
    assert "Viser nummer 4–6." in text_of(result["drill-down-status"])
    first = response_of(
        dash_call(client, world.app, LIST, {"drill-down-request.data": {**data, "page": 1}})
    )
    first_ids = listed_ids(first["drill-down-table-region"]["children"])
    assert len(first_ids) == 3 and not set(first_ids) & set(shown_ids)
    text = text_of(region)
    assert f"Side 2 av {pages}" in text and "Forrige side" in text and "Neste side" in text
    hrefs = re.findall(r'"href": "([^"]+)"', json.dumps(region))
    assert any("page=1" in h and "order=desc" in h for h in hrefs)
    assert any("page=3" in h and "order=desc" in h for h in hrefs)


@pytest.mark.parametrize(
    "forged",
    [
        {"unit": UNIT_B},
        {"unit": str(UNIT_B)},
        {"unit": [UNIT_A, UNIT_B]},
        {"unit": 1},
        {"registry": "other", "unit": UNIT_A},
        {"indicator": "no_such_thing"},
        {"year": "2024; drop table"},
        {"status": "everything"},
        {"sort": "national_id"},
        {"page": 0},
        {"page": "2"},
        {"page": True},
    ],
)
def test_forged_callback_inputs_get_nothing(world: World, forged: dict[str, object]) -> None:
    since = last_event(world.database)
    client = log_in(world, "klinikar-a")
    request = list_request(world, UNIT_A, "thrombolysis", 2024)
    request["drill-down-request.data"].update(forged)
    response = dash_call(client, world.app, LIST, request)
    result = response_of(response)
    assert result["drill-down-table-region"]["children"] is None
    assert "ikke tilgang" in text_of(result["drill-down-status"])
    assert drill_events(world.database, since) == []
    for marker in masked_ids(world.database, world.settings, UNIT_B):
        assert marker not in response.get_data(as_text=True)


def test_forged_unit_is_refused_in_data_access_and_audited(world: World) -> None:
    since = last_event(world.database)
    scope = scope_of(world, "klinikar-a")
    indicator = world.registry.indicators[0]
    with pytest.raises(AccessDenied):
        denominator_records(
            world.database,
            scope,
            "stroke",
            world.registry.dictionary,
            indicator,
            UNIT_B,
            2024,
            national_id_key=world.settings.national_id_key,
        )
    with pytest.raises(AccessDenied):
        unit_data_quality(world.database, scope, "stroke", world.registry.dictionary, UNIT_B, 2024)
    denied = drill_events(world.database, since, "access.denied")
    assert [e.details["unit_id"] for e in denied] == [str(UNIT_B), str(UNIT_B)]
    assert all(e.username == "klinikar-a" for e in denied)
    with world.database.reading() as session:
        stroke = session.scalar(select(Registry.id).where(Registry.key == "stroke"))
    assert stroke is not None and {e.registry_id for e in denied} == {stroke}


def url_call(
    client: FlaskClient, world: World, output: str, values: dict[str, object], changed: str
) -> Any:
    return dash_call(client, world.app, output, values, changed)


def refused_address(response: Any) -> bool:
    """No address came back: Dash answers `no_update` with 204 or with an empty update."""
    if response.status_code == 204:
        return True
    return response.status_code == 200 and "/my-unit" not in response.get_data(as_text=True)


def test_filter_callbacks_build_addresses_only_for_own_units(world: World) -> None:
    client = log_in(world, "klinikar-a")
    changed = "drill-down-numerator.value"
    own = url_call(
        client,
        world,
        LIST_URL,
        {
            changed: "in",
            "drill-down-status.value": "all",
            **list_request(world, UNIT_A, "thrombolysis", 2024),
        },
        changed,
    )
    href = response_of(own)["drill-down-location"]["href"]
    assert href.startswith("/my-unit/patients?") and "numerator=in" in href
    assert f"unit={UNIT_A}" in href
    forged = url_call(
        client,
        world,
        LIST_URL,
        {changed: "in", **list_request(world, UNIT_B, "thrombolysis", 2024)},
        changed,
    )
    assert refused_address(forged)
    choices = {
        "my-unit-registry.value": "stroke",
        "my-unit-year.value": 2024,
        "my-unit-indicator.value": "thrombolysis",
    }
    mine = url_call(
        client, world, PAGE_URL, {**choices, "my-unit-unit.value": UNIT_A}, "my-unit-unit.value"
    )
    assert response_of(mine)["my-unit-location"]["href"].startswith("/my-unit?")
    forged_page = url_call(
        client, world, PAGE_URL, {**choices, "my-unit-unit.value": UNIT_B}, "my-unit-unit.value"
    )
    assert refused_address(forged_page)


# ---- data quality --------------------------------------------------------------------------


def test_data_quality_counts_fields_only_where_the_form_shows_them(world: World) -> None:
    scope = scope_of(world, "registrar-a")
    quality = unit_data_quality(
        world.database, scope, "stroke", world.registry.dictionary, UNIT_A, 2024
    )
    with world.database.reading() as session:
        stored = session.execute(
            select(Registration.status, Registration.values).where(
                Registration.unit_id == UNIT_A,
                Registration.event_date.between(date(2024, 1, 1), date(2024, 12, 31)),
            )
        ).all()
    assert quality.registrations == len(stored) > 0
    assert quality.drafts == sum(1 for status, _ in stored if status == "draft")
    # A field with show-if logic, judged record by record (the form's own evaluator).
    variable = world.registry.dictionary.variable("onset_datetime")
    assert variable.show_if is not None
    shown = [values for _, values in stored if evaluate(variable.show_if, values) is True]
    with_value = [values for values in shown if values.get("onset_datetime") is not None]
    row = quality.completeness.filter(pl.col("variable") == "onset_datetime").row(0, named=True)
    assert (row["shown"], row["with_value"]) == (len(shown), len(with_value))
    assert row["shown"] < quality.registrations  # the skipped ones do not count as missing
    client = log_in(world, "registrar-a")
    response = page(client, "/my-unit", "?year=2024")
    facts = find_component(response, "my-unit-quality-facts")
    assert facts is not None and str(quality.registrations) in text_of(facts)


def test_data_quality_is_read_anew_when_a_registration_of_the_unit_changes(world: World) -> None:
    """The summary is kept per unit, year and state of its registrations: asked again
    unchanged it is the same; a registration turned draft shows at once."""
    scope = scope_of(world, "registrar-a")
    dictionary = world.registry.dictionary
    first = unit_data_quality(world.database, scope, "stroke", dictionary, UNIT_A, 2024)
    assert unit_data_quality(world.database, scope, "stroke", dictionary, UNIT_A, 2024) is first
    with world.database.transaction() as session:
        finished = session.scalars(
            select(Registration).where(
                Registration.unit_id == UNIT_A,
                Registration.status != "draft",
                Registration.event_date.between(date(2024, 1, 1), date(2024, 12, 31)),
            )
        ).first()
        assert finished is not None
        finished.status = "draft"
    again = unit_data_quality(world.database, scope, "stroke", dictionary, UNIT_A, 2024)
    assert (again.registrations, again.drafts) == (first.registrations, first.drafts + 1)
