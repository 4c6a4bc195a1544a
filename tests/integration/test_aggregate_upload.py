"""Aggregate upload on both databases: a bad file is reported row by row and changes
nothing; a good one verifies, publishes and shows on the public results with the engine's
levels and suppression; a forged callback gets nothing; the same file twice is refused.

The registry is the demo stroke registry with no registrations, so every public number of
the uploaded (indicator, year) comes from the upload. Thrombolysis has targets high ≥ 40 %
and moderate ≥ 30 % and a minimum denominator of 10.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import flask
import polars as pl
import pytest
from sqlalchemy import func, select

from app import create_app
from data_access.accounts import create_user, grant
from data_access.audit import SYSTEM, verify_chain
from data_access.database import Database
from data_access.models import AuditEvent
from data_access.models_aggregate import AggregateCount, AggregateUpload
from portal import ready_to_serve
from portal.catalogue import find_registry
from portal.public_data import public_frame
from tests.conftest import make_settings
from tests.integration.test_admin_pages import PASSWORD, dash_call, log_in, response_of, text_of

HAMMERFEST = 974795833  # hospital; 974285959 is one of its merged, older numbers
KIRKENES = 974795930  # hospital under the same trust (Finnmarkssykehuset HF)
HARSTAD = 974795639  # hospital of another trust (UNN)
NARVIK = 974795396  # UNN's other hospital
HEADER = "context,year,orgnr,ind_id,var,denominator"
GOOD = "\n".join(
    [
        HEADER,
        *[f"caregiver,2024,{HAMMERFEST},thrombolysis,1,1"] * 9,  # 9 of 20 single events: 45 %
        *["caregiver,2024,974285959,thrombolysis,0,1"] * 11,
        f"caregiver,2024,{KIRKENES},thrombolysis,7,25",  # a count: 28 %, low
        f"caregiver,2024,{HARSTAD},thrombolysis,2,4",  # under the minimum of 10: "<10"
        f"caregiver,2024,{NARVIK},thrombolysis,10,30",  # hidden too, or UNN minus Narvik = Harstad
        "",
    ]
)
BAD_ROWS = [  # (line, problem code) of each bad row
    (f"resident,2024,{HAMMERFEST},thrombolysis,1,1", "bad_context"),
    (f"caregiver,20x4,{HAMMERFEST},thrombolysis,1,1", "bad_year"),
    ("caregiver,2024,123456789,thrombolysis,1,1", "unknown_unit"),
    (f"caregiver,2024,{HAMMERFEST},no_such_indicator,1,1", "unknown_indicator"),
    (f"caregiver,2024,{HAMMERFEST},door_to_needle_median,1,1", "not_a_proportion"),
    (f"caregiver,2024,{HAMMERFEST},thrombolysis,-1,1", "var_not_whole"),
    (f"caregiver,2024,{HAMMERFEST},thrombolysis,0.5,1", "var_not_whole"),
    (f"caregiver,2024,{HAMMERFEST},thrombolysis,2,1", "var_not_zero_or_one"),
    (f"caregiver,2024,{KIRKENES},thrombolysis,30,20", "var_above_denominator"),
    (f"caregiver,2024,{KIRKENES},thrombolysis,3,20", "duplicate"),
    (f"caregiver,2024,{HARSTAD},thrombolysis,1,0", "denominator_not_whole"),
]
BAD = "\n".join(
    [HEADER, f"caregiver,2024,{HAMMERFEST},thrombolysis,1,1", *(r for r, _ in BAD_ROWS)]
)


def _world(server: flask.Flask) -> flask.Flask:
    database: Database = server.extensions["database"]
    for username, role, unit in (("chief", "admin", 1), ("local", "admin", 983974880)):
        create_user(database, SYSTEM, username, username.title(), PASSWORD)
        grant(database, SYSTEM, username, "stroke", unit, role)
    ready_to_serve(server)
    return server


@pytest.fixture
def portal(tmp_path: Path, database_url: str) -> Iterator[flask.Flask]:
    server = _world(create_app(make_settings(tmp_path, database_url, REQUIRE_TWO_FACTOR="false")))
    yield server
    server.extensions["database"].dispose()


def db(server: flask.Flask) -> Database:
    database: Database = server.extensions["database"]
    return database


def upload(server: flask.Flask, username: str, text: str, name: str = "ind.csv") -> dict:
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    values = {
        "aggregate-upload.contents": f"data:text/csv;base64,{data}",
        "aggregate-upload.filename": name,
        "aggregate-context.data": {"registry": "stroke", "language": "en"},
    }
    client = log_in(server, username)
    first = "aggregate-report.children"
    return response_of(dash_call(client, server, first, values, "aggregate-upload.contents"))


def press_publish(server: flask.Flask, username: str, upload_id: object) -> str:
    values = {
        "aggregate-publish.n_clicks": 1,
        "aggregate-uploaded.data": upload_id,
        "aggregate-context.data": {"registry": "stroke", "language": "en"},
    }
    client = log_in(server, username)
    call = dash_call(
        client, server, "aggregate-publish-status.children", values, "aggregate-publish.n_clicks"
    )
    return text_of(response_of(call))


def counts(database: Database) -> tuple[int, int, dict[str, int]]:
    with database.reading() as session:
        uploads = session.scalar(select(func.count()).select_from(AggregateUpload)) or 0
        rows = session.scalar(select(func.count()).select_from(AggregateCount)) or 0
        actions = dict(
            session.execute(
                select(AuditEvent.action, func.count()).group_by(AuditEvent.action)
            ).all()
        )
    return uploads, rows, actions


def shown_publicly(server: flask.Flask) -> pl.DataFrame:
    with server.test_request_context("/"):
        folder = find_registry("stroke")
        assert folder is not None
        frame = public_frame(folder)
    return frame.filter((pl.col("indicator") == "thrombolysis") & (pl.col("period") == 2024))


def test_a_bad_file_is_reported_row_by_row_and_changes_nothing(portal: flask.Flask) -> None:
    before = counts(db(portal))
    answer = upload(portal, "chief", BAD)
    text = text_of(answer)
    assert "refused" in text and "Nothing is saved" in text
    assert answer["aggregate-uploaded"]["data"] is None
    expected = {
        "bad_context": "context “resident” cannot be used",
        "bad_year": "invalid year “20x4”",
        "unknown_unit": "orgnr “123456789” is not in the unit tree",
        "unknown_indicator": "unknown indicator “no_such_indicator”",
        "not_a_proportion": "“door_to_needle_median” is not a proportion",
        "var_not_whole": "var “0.5” is not a whole number",
        "var_not_zero_or_one": "var “2” must be 0 or 1",
        "var_above_denominator": "var “30” (numerator) is above denominator",
        "duplicate": "same context, year, orgnr and ind_id as row 11",
        "denominator_not_whole": "denominator “0” is not a whole number",
    }
    table = text[text.index("Row Problem") :]
    for line, (_row, code) in enumerate(BAD_ROWS, start=3):  # header 1, a good row 2
        start = table.index(f" {line} ")  # each row's reason stands beside its own number
        end = table.find(f" {line + 1} ", start)
        phrase = "var “-1” is not a whole number" if line == 8 else expected[code]  # two rows
        assert phrase in table[start : end if end > 0 else None], (line, code)
    uploads, rows, actions = counts(db(portal))
    assert (uploads, rows) == before[:2] == (0, 0)
    logins = before[2].get("login.success", 0) + 1  # the upload's own login
    assert actions == before[2] | {"aggregate.refused": 1, "login.success": logins}
    assert verify_chain(db(portal)).ok


def test_a_good_file_verifies_publishes_and_shows_with_levels_and_suppression(
    portal: flask.Flask,
) -> None:
    answer = upload(portal, "chief", GOOD)
    upload_id = answer["aggregate-uploaded"]["data"]
    assert isinstance(upload_id, int)
    verify = text_of(answer)
    assert "45.0% (" in verify and "28.0% (" in verify
    assert "not shown (<10)" in verify and "not shown (:)" in verify
    assert shown_publicly(portal).is_empty()  # checked, not yet published

    assert f"Upload {upload_id} is published" in press_publish(portal, "chief", upload_id)
    shown = {row["unit_id"]: row for row in shown_publicly(portal).iter_rows(named=True)}
    hammerfest, kirkenes, harstad, narvik = (
        shown[u] for u in (HAMMERFEST, KIRKENES, HARSTAD, NARVIK)
    )
    assert (hammerfest["numerator"], hammerfest["denominator"]) == (9, 20)
    assert hammerfest["achievement"] == "high" and not hammerfest["suppressed"]
    assert hammerfest["lower"] == pytest.approx(0.2582, abs=1e-4)  # Wilson, 9 of 20
    assert hammerfest["upper"] == pytest.approx(0.6579, abs=1e-4)
    assert (kirkenes["numerator"], kirkenes["achievement"]) == (7, "low")
    assert harstad["suppressed"] and harstad["note"] == "<10" and harstad["denominator"] is None
    assert narvik["suppressed"] and narvik["note"] == ":" and narvik["estimate"] is None
    assert (shown[1]["numerator"], shown[1]["denominator"]) == (28, 79)
    assert len(_events(db(portal), "aggregate.published")) == 1

    # A later upload of the same (indicator, year) replaces the earlier one whole.
    later = "\n".join([HEADER, f"caregiver,2024,{KIRKENES},thrombolysis,12,24", ""])
    second = upload(portal, "chief", later, "again.csv")["aggregate-uploaded"]["data"]
    press_publish(portal, "chief", second)
    now_shown = shown_publicly(portal)
    assert set(now_shown["unit_id"]) == {1, 883658752, 983974880, KIRKENES}
    assert now_shown.filter(pl.col("unit_id") == KIRKENES)["achievement"].item() == "high"


def test_the_same_file_twice_is_refused(portal: flask.Flask) -> None:
    first = upload(portal, "chief", GOOD)["aggregate-uploaded"]["data"]
    again = upload(portal, "chief", GOOD, "renamed.csv")
    assert again["aggregate-uploaded"]["data"] is None
    assert f"the same file has been uploaded before (upload {first})" in text_of(again)
    assert counts(db(portal))[0] == 1


@pytest.mark.parametrize("username", ["local", None])
def test_a_forged_callback_by_a_non_admin_gets_nothing(
    portal: flask.Flask, username: str | None
) -> None:
    """A trust admin (not of the whole registry) and an anonymous visitor: no upload is
    stored, nothing is published, whatever the page's stores claim."""
    stored = upload(portal, "chief", GOOD)["aggregate-uploaded"]["data"]
    data = base64.b64encode(GOOD.replace("9", "8", 1).encode()).decode("ascii")
    values = {
        "aggregate-upload.contents": f"data:text/csv;base64,{data}",
        "aggregate-upload.filename": "forged.csv",
        "aggregate-context.data": {"registry": "stroke", "language": "en"},
    }
    client = log_in(portal, username)
    forged = dash_call(
        client, portal, "aggregate-report.children", values, "aggregate-upload.contents"
    )
    publish_values = {
        "aggregate-publish.n_clicks": 1,
        "aggregate-uploaded.data": stored,
        "aggregate-context.data": {"registry": "stroke", "language": "en"},
    }
    pressed = dash_call(
        client,
        portal,
        "aggregate-publish-status.children",
        publish_values,
        "aggregate-publish.n_clicks",
    )
    if username is None:
        assert forged.status_code == 401 and pressed.status_code == 401
    else:
        assert "whole registry" in text_of(response_of(forged))
        assert "whole registry" in text_of(response_of(pressed))
    assert counts(db(portal))[0] == 1
    assert _events(db(portal), "aggregate.published") == []
    assert shown_publicly(portal).is_empty()


def test_the_command_line_checks_and_publishes(portal: flask.Flask, tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text(BAD, encoding="utf-8")
    good.write_text(GOOD, encoding="utf-8")
    runner = portal.test_cli_runner()
    refused = runner.invoke(
        args=["aggregate", "check", str(bad), "--registry", "stroke", "--user", "chief"]
    )
    assert refused.exit_code == 1 and "11 problem(s)" in refused.output
    assert "unknown unit: orgnr “123456789”" in refused.output
    denied = runner.invoke(
        args=["aggregate", "check", str(good), "--registry", "stroke", "--user", "local"]
    )
    assert denied.exit_code == 1 and "not an admin of the whole stroke" in denied.output
    checked = runner.invoke(
        args=["aggregate", "check", str(good), "--registry", "stroke", "--user", "chief"]
    )
    assert checked.exit_code == 0, checked.output
    assert "<10" in checked.output and "kept as upload" in checked.output
    published = runner.invoke(
        args=["aggregate", "publish", str(good), "--registry", "stroke", "--user", "chief"]
    )
    assert published.exit_code == 0, published.output
    assert shown_publicly(portal).filter(pl.col("unit_id") == HAMMERFEST)["numerator"].item() == 9
    twice = runner.invoke(
        args=["aggregate", "publish", str(good), "--registry", "stroke", "--user", "chief"]
    )
    assert twice.exit_code == 1 and "published already" in twice.output


def _events(database: Database, action: str) -> list[AuditEvent]:
    with database.reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
