"""Schemathesis against the live API: every operation of `/api/v1/openapi.json`, called over
real HTTP with a registrar's token, must answer as the document says it does.

Every operation gets generated requests, valid and invalid ones, including methods its path
does not have; each answer is checked for server errors, undocumented status codes, content
types and headers, bodies that do not match their schema, and a 405 without `Allow`. The
registrar's token covers every unit with a demo registration, and the generator is steered
to this installation's registry, its registration ids, the token's units and valid national
ids most of the time, so that requests get past the 404s and the writes are real:
registrations are created and changed with generated bodies, which is why the database is a
throwaway one seeded for this module.

The operations are generated from `openapi_document()` at collection time, and the first test
proves that the server serves exactly that document and that Schemathesis loads it over HTTP.
Loading it from the live server inside a fixture, with `schemathesis.pytest.from_fixture`, is
what we would rather do, but Schemathesis 4.32.5 sets `Node._nodeid` there, which pytest 9.2
no longer has (AttributeError before any request is made).

SQLite only: the database is not what is under test here (tests/integration/test_api.py runs
the same views on both backends); what is tested is that the HTTP answers and the document
agree, which does not depend on the backend, and a second run would double the time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import flask
import polars as pl
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.checks import CheckFunction
from schemathesis.core.result import Ok
from sqlalchemy import select
from werkzeug.serving import make_server

from data_access.api_tokens import create_token
from data_access.audit import SYSTEM
from data_access.database import Database
from data_access.models import Registration
from entry.national_id import synthetic_national_ids
from portal.api.spec import ENDPOINTS, PREFIX, openapi_document
from tests.conftest import seeded_demo_app

pytestmark = pytest.mark.slow

REGISTRATIONS = 200
EXAMPLES = 25
NEW_UNITS = (100032, 100024)  # neurology at Ullevål and Haukeland: where new records go
NATIONAL_IDS = synthetic_national_ids(
    pl.Series([date(1950, 3, 4), date(1961, 7, 8), date(1972, 1, 2)]),
    pl.Series(["female", "male", "female"]),
    seed=23,
).to_list()
STEERED = 0.9
"""How often a steered field takes a known value rather than a generated one."""

CHECKS: tuple[CheckFunction, ...] = tuple(
    getattr(schemathesis.checks, name)
    for name in (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "unsupported_method",
    )
)

schema = schemathesis.openapi.from_dict(
    openapi_document(),
    config=schemathesis.Config.from_dict(
        {
            "dictionaries": {
                # A fresh database numbers the seeded registrations from 1 (checked below).
                "registrations": {"values": list(range(1, REGISTRATIONS + 1))},
                "units": {"values": list(NEW_UNITS)},
                "national_ids": {"values": NATIONAL_IDS},
            },
            "parameters": {
                # Unknown registries are test_api.py's; here every request reaches one.
                "path.registry": "stroke",
                "path.registration_id": {"dictionary": "registrations", "probability": STEERED},
                "query.unit": {"dictionary": "units", "probability": STEERED},
                "body.unit_id": {"dictionary": "units", "probability": STEERED},
                "body.national_id": {"dictionary": "national_ids", "probability": STEERED},
                # Values the record rules accept for a draft (the rules are tested on their
                # own): the event date, without which no record can be saved at all.
                "body.values": {"admission_date": "2025-03-01"},
            },
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        }
    ),
)


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The seeded demo served on a real port of 127.0.0.1: (base URL, a registrar's token)."""
    with seeded_demo_app(tmp_path_factory.mktemp("schemathesis"), REGISTRATIONS, seed=7) as app:
        # Hundreds of generated requests a minute are the point here, not a flood to refuse.
        app.config["API_RATE_LIMIT"] = "100000 per minute"
        token = _registrar_token(app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="api-server", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}", token
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def _registrar_token(app: flask.Flask) -> str:
    """A system's registrar token for every unit with a demo registration, and the new ones."""
    database: Database = app.extensions["database"]
    with database.reading() as session:
        rows = session.execute(select(Registration.id, Registration.unit_id)).all()
    assert sorted(row.id for row in rows) == list(range(1, REGISTRATIONS + 1))
    moment = datetime.now(UTC)
    return create_token(
        database, None, SYSTEM, name="Schemathesis", registry_key="stroke", role="registrar",
        unit_ids={*NEW_UNITS, *(row.unit_id for row in rows)},
        expires_at=moment + timedelta(days=1), owner_user_id=None, moment=moment,
    ).secret  # fmt: skip


def test_the_served_document_is_the_one_tested(live_api: tuple[str, str]) -> None:
    base_url, _ = live_api
    served = schemathesis.openapi.from_url(f"{base_url}{PREFIX}/openapi.json")
    assert served.raw_schema == schema.raw_schema
    # Every operation parses (an invalid one comes as an `Err`); the document's own operation
    # is left out by Schemathesis when it loads the document from that URL.
    results = list(served.get_all_operations())
    operations = {result.ok().label for result in results if isinstance(result, Ok)}
    assert len(operations) == len(results)
    assert operations == {f"{e.method} {e.path}" for e in ENDPOINTS} - {"GET /openapi.json"}


@schema.parametrize()
def test_every_operation_answers_as_documented(case: Case[Any], live_api: tuple[str, str]) -> None:
    base_url, token = live_api
    case.call_and_validate(
        base_url=base_url + PREFIX,
        headers={"Authorization": f"Bearer {token}"},
        checks=list(CHECKS),
        timeout=10,
    )
