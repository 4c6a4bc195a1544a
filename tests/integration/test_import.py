"""File import through `flask --app app import` and `data_access.imports`, on both databases."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import flask
import polars as pl
import pytest
from click.testing import Result
from sqlalchemy import func, select

from data_access import accounts
from data_access.access import scope_for_user
from data_access.audit import SYSTEM, verify_chain
from data_access.database import Database
from data_access.imports import import_rows
from data_access.models import AuditEvent, Patient, Registration, Registry
from data_access.models_import import ImportKey
from data_access.record_commands import IdentityKeys
from entry.import_mapping import mapped_rows, read_mapping, read_table
from entry.national_id import synthetic_national_ids
from entry.registry_folder import RegistryFolder

HAMMERFEST, KIRKENES = 100001, 100002
PASSWORD = "kvalitet-register-2026"
IDS = synthetic_national_ids(
    pl.Series([date(1950, 5, 17)] * 6), pl.Series(["female", "male"] * 3), 6
)
MAPPING = """
source: dips-nord
columns:
  Innlagt: admission_date
  Alder: age
  Kjonn: sex
  Utskrevet: discharge_date
national_id: Fnr
unit: ReshId
source_key: Episode
"""
GOOD = [
    {"Episode": "E1", "Fnr": IDS[0], "ReshId": str(HAMMERFEST), "Innlagt": "2025-03-01",
     "Alder": "74", "Kjonn": "2", "Utskrevet": "2025-03-08"},
    {"Episode": "E2", "Fnr": IDS[1], "ReshId": str(HAMMERFEST), "Innlagt": "02.03.2025",
     "Alder": "61", "Kjonn": "1", "Utskrevet": ""},
]  # fmt: skip
BAD = [
    # row 4: age not a number, sex not a choice
    {"Episode": "E3", "Fnr": IDS[2], "ReshId": str(HAMMERFEST), "Innlagt": "2025-03-03",
     "Alder": "abc", "Kjonn": "9", "Utskrevet": ""},
    # row 5: discharged before admission, and an invalid national id
    {"Episode": "E4", "Fnr": "12345678901", "ReshId": str(HAMMERFEST), "Innlagt": "2025-03-05",
     "Alder": "50", "Kjonn": "1", "Utskrevet": "2025-03-01"},
    # row 6: no event date, and the same source key as row 2
    {"Episode": "E1", "Fnr": IDS[3], "ReshId": str(HAMMERFEST), "Innlagt": "",
     "Alder": "50", "Kjonn": "1", "Utskrevet": ""},
]  # fmt: skip
EXPECTED_PROBLEMS = {
    (4, "age", "age:type"),
    (4, "sex", "sex:choice"),
    (5, "national_id", "national_id:national_id"),
    (5, "discharge_date", "discharge_date:rule1"),
    (6, "source_key", "source_key:duplicate"),
    (6, "admission_date", "admission_date:event_date"),
}


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture
def setup(app: flask.Flask, tmp_path: Path) -> Path:
    """A registrar at Hammerfest, a clinician there, the mapping file; returns its folder."""
    database: Database = app.extensions["database"]
    accounts.create_user(database, SYSTEM, "registrar", "Registrar", PASSWORD)
    accounts.grant(database, SYSTEM, "registrar", "stroke", HAMMERFEST, "registrar")
    accounts.create_user(database, SYSTEM, "clinician", "Clinician", PASSWORD)
    accounts.grant(database, SYSTEM, "clinician", "stroke", HAMMERFEST, "clinician")
    (tmp_path / "map.yaml").write_text(MAPPING, encoding="utf-8")
    return tmp_path


def _run(app: flask.Flask, folder: Path, rows: list[dict[str, str]], *options: str) -> Result:
    path = folder / "episodes.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    args = ["import", str(path), "--registry", "stroke", "--mapping", str(folder / "map.yaml")]
    if "--user" not in options:
        args += ["--user", "registrar"]
    return app.test_cli_runner().invoke(args=[*args, *options])


def _counts(database: Database) -> dict[str, int]:
    with database.reading() as session:
        return {
            name: session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in {
                "registrations": Registration,
                "patients": Patient,
                "keys": ImportKey,
                "audit": AuditEvent,
            }.items()
        } | {"version": session.scalar(select(Registry.data_version)) or 0}


def _problems(output: str) -> set[tuple[int, str, str]]:
    """(row, field, rule) of each line of the printed problem table."""
    found = set()
    for line in output.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4 and parts[0].isdigit() and parts[1] != "row(s):":
            found.add((int(parts[0]), parts[2], parts[3]))
    return found


def test_preview_lists_every_bad_row_and_field_and_writes_nothing(
    app: flask.Flask, setup: Path
) -> None:
    database: Database = app.extensions["database"]
    before = _counts(database)
    result = _run(app, setup, GOOD + BAD)
    assert result.exit_code == 0, result.output
    assert _problems(result.output) == EXPECTED_PROBLEMS
    assert "The value cannot be read as a whole number." in result.output
    assert "5 row(s): 2 good, 3 bad." in result.output
    assert "Preview, nothing written" in result.output
    assert _counts(database) == before


def test_preview_speaks_norwegian_when_asked(app: flask.Flask, setup: Path) -> None:
    result = _run(app, setup, GOOD + BAD, "--language", "nb")
    assert "Verdien kan ikke leses som et heltall." in result.output


def test_valid_only_writes_exactly_the_good_rows(app: flask.Flask, setup: Path) -> None:
    database: Database = app.extensions["database"]
    before = _counts(database)
    result = _run(app, setup, GOOD + BAD, "--valid-only")
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 unchanged, 3 bad row(s) skipped" in result.output
    after = _counts(database)
    assert after["registrations"] == before["registrations"] + 2
    assert after["patients"] == before["patients"] + 2
    assert after["keys"] == 2
    with database.reading() as session:
        stored = {r.values["age"]: r for r in session.scalars(select(Registration))}
        assert set(stored) == {74, 61}
        assert stored[61].event_date == date(2025, 3, 2)
        assert {r.status for r in stored.values()} == {"draft"}
        run = session.scalars(select(AuditEvent).where(AuditEvent.action == "import.run")).one()
        assert run.details["bad_rows"] == [4, 5, 6]
        assert run.details["created"] == 2
        creates = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "registration.create")
        ).all()
        assert {e.details["import"]["source_key"] for e in creates} == {"E1", "E2"}
        assert {e.username for e in creates} == {"registrar"}
    assert verify_chain(database).ok


def test_all_or_nothing_writes_nothing_when_a_row_is_bad(app: flask.Flask, setup: Path) -> None:
    database: Database = app.extensions["database"]
    before = _counts(database)
    result = _run(app, setup, GOOD + BAD, "--all-or-nothing")
    assert result.exit_code == 1
    assert "nothing imported: 3 bad row(s)" in result.output
    assert _counts(database) == before


def test_all_or_nothing_writes_everything_when_all_rows_are_good(
    app: flask.Flask, setup: Path
) -> None:
    database: Database = app.extensions["database"]
    before = _counts(database)
    result = _run(app, setup, GOOD, "--all-or-nothing")
    assert result.exit_code == 0, result.output
    assert _counts(database)["registrations"] == before["registrations"] + 2


def test_reimport_updates_with_old_and_new_values_instead_of_duplicating(
    app: flask.Flask, setup: Path
) -> None:
    database: Database = app.extensions["database"]
    assert _run(app, setup, GOOD, "--valid-only").exit_code == 0
    before = _counts(database)
    changed = [{**GOOD[0], "Alder": "75"}, GOOD[1]]
    preview = _run(app, setup, changed)
    assert "would create 0, update up to 2" in preview.output
    result = _run(app, setup, changed, "--valid-only")
    assert result.exit_code == 0, result.output
    assert "0 created, 1 updated, 1 unchanged" in result.output
    after = _counts(database)
    assert after["registrations"] == before["registrations"]
    assert after["patients"] == before["patients"]
    assert after["keys"] == before["keys"] == 2
    with database.reading() as session:
        update = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "registration.update")
        ).one()
        assert update.details["changes"] == {"age": {"old": 74, "new": 75}}
        assert update.details["import"]["source_key"] == "E1"
        ages = sorted(r.values["age"] for r in session.scalars(select(Registration)))
        assert ages == [61, 75]


def test_reimport_cannot_move_a_key_to_another_patient(app: flask.Flask, setup: Path) -> None:
    database: Database = app.extensions["database"]
    assert _run(app, setup, GOOD, "--valid-only").exit_code == 0
    before = _counts(database)
    result = _run(app, setup, [{**GOOD[0], "Fnr": IDS[4]}], "--valid-only")
    assert _problems(result.output) == {(2, "national_id", "national_id:patient")}
    assert _counts(database)["registrations"] == before["registrations"]


def test_a_user_without_a_grant_on_the_unit_is_refused(app: flask.Flask, setup: Path) -> None:
    database: Database = app.extensions["database"]
    before = _counts(database)
    elsewhere = [{**GOOD[1], "Episode": "K1", "ReshId": str(KIRKENES)}]
    result = _run(app, setup, [GOOD[0], *elsewhere], "--valid-only")
    assert _problems(result.output) == {(3, "unit", "unit:access")}
    assert _counts(database)["registrations"] == before["registrations"] + 1
    # A clinician may read but not enter records: every row is refused.
    before = _counts(database)
    result = _run(app, setup, GOOD, "--valid-only", "--user", "clinician")
    assert _problems(result.output) == {(2, "unit", "unit:access"), (3, "unit", "unit:access")}
    assert _counts(database)["registrations"] == before["registrations"]


def test_a_crash_mid_import_leaves_the_database_as_it_was(app: flask.Flask, setup: Path) -> None:
    database: Database = app.extensions["database"]
    folder: RegistryFolder = next(r for r in app.extensions["registries"] if r.key == "stroke")
    assert _run(app, setup, GOOD, "--valid-only").exit_code == 0
    before = _counts(database)
    mapping = read_mapping(MAPPING, folder.dictionary)
    more = [
        {**GOOD[0], "Alder": "80"},  # an update first
        *({**GOOD[1], "Episode": f"N{i}", "Fnr": IDS[2 + i]} for i in range(3)),
    ]
    rows = mapped_rows(read_table(_csv(more).encode(), "x.csv"), mapping, folder.dictionary)

    def crash(written: int, total: int) -> None:
        assert written == total == 4  # the update and three new records, not yet committed
        raise RuntimeError("power cut")

    settings = app.config["PORTAL_SETTINGS"]
    with app.app_context(), pytest.raises(RuntimeError, match="power cut"):
        import_rows(
            database,
            scope_for_user(database, accounts.find_user_id(database, "registrar")),
            "stroke",
            mapping.source,
            rows,
            folder.dictionary,
            IdentityKeys(settings.national_id_key, settings.pseudonym_key),
            event_date_variable=folder.event_date_variable,
            mode="valid_only",
            progress=crash,
        )
    assert _counts(database) == before
    with database.reading() as session:
        assert sorted(r.values["age"] for r in session.scalars(select(Registration))) == [61, 74]
    assert verify_chain(database).ok


def test_the_mapping_is_saved_per_source_and_reused(app: flask.Flask, setup: Path) -> None:
    assert _run(app, setup, GOOD).exit_code == 0
    saved = app.config["PORTAL_SETTINGS"].instance_path / "import_mappings/stroke/dips-nord.yaml"
    assert "Innlagt: admission_date" in saved.read_text(encoding="utf-8")
    path = setup / "again.csv"
    path.write_text(_csv(GOOD), encoding="utf-8")
    result = app.test_cli_runner().invoke(
        args=["import", str(path), "--registry", "stroke", "--user", "registrar",
              "--source", "dips-nord", "--valid-only"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 created" in result.output


def test_a_bad_mapping_is_refused_with_every_problem(app: flask.Flask, setup: Path) -> None:
    (setup / "map.yaml").write_text(
        "source: Bad Name\ncolumns: {Alder: alder}\nnational_id: Fnr\nsource_key: Episode\n",
        encoding="utf-8",
    )
    result = _run(app, setup, GOOD)
    assert result.exit_code == 1
    assert "source:" in result.output
    assert "unknown variable 'alder'" in result.output
    assert "unit:" in result.output


def test_an_excel_file_works(app: flask.Flask, setup: Path) -> None:
    database: Database = app.extensions["database"]
    before = _counts(database)
    frame = pl.DataFrame(
        {
            "Episode": ["X1", "X2"],
            "Fnr": [IDS[0], IDS[1]],
            "ReshId": [HAMMERFEST, HAMMERFEST],
            "Innlagt": [date(2025, 3, 1), date(2025, 3, 2)],
            "Alder": [74, 200],  # 200 is above the maximum
            "Kjonn": [2, 1],
            "Utskrevet": [date(2025, 3, 8), None],
        }
    )
    path = setup / "episodes.xlsx"
    frame.write_excel(path)
    result = app.test_cli_runner().invoke(
        args=["import", str(path), "--registry", "stroke", "--user", "registrar",
              "--mapping", str(setup / "map.yaml"), "--valid-only"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _problems(result.output) == {(3, "age", "age:maximum")}
    with database.reading() as session:
        stored = session.scalars(select(Registration)).one()
        assert stored.values == {
            "admission_date": "2025-03-01",
            "age": 74,
            "sex": 2,
            "discharge_date": "2025-03-08",
        } | _derived(stored.values)
        assert stored.event_date == date(2025, 3, 1)
    assert _counts(database)["registrations"] == before["registrations"] + 1


def _derived(values: Mapping[str, object]) -> dict[str, object]:
    """Values the dictionary computes or marks skipped (not what the file gave)."""
    given = {"admission_date", "age", "sex", "discharge_date"}
    return {name: value for name, value in values.items() if name not in given}
