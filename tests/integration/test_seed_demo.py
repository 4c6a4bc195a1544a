"""`seed-demo` fills the stroke registry on both databases, protected and repeatable."""

from __future__ import annotations

import json

import flask
from sqlalchemy import func, select, text

from data_access.access import scope_for_user
from data_access.accounts import find_user_id
from data_access.database import Database
from data_access.models import AuditEvent, CoverageCount, Patient, Registration, Registry
from data_access.patient_identity import NationalIdCipher, pseudonym
from entry.national_id import parse_national_id
from portal.settings import Settings

REGISTRATIONS = 3_000


def _seed(app: flask.Flask, seed: int) -> str:
    result = app.test_cli_runner().invoke(
        args=["seed-demo", "--registrations", str(REGISTRATIONS), "--seed", str(seed)]
    )
    assert result.exit_code == 0, result.output
    return result.output


def _values(database: Database) -> list[tuple[object, ...]]:
    with database.reading() as session:
        rows = session.execute(
            select(
                Registration.unit_id,
                Registration.event_date,
                Registration.status,
                Registration.values,
            ).order_by(Registration.unit_id, Registration.event_date, Registration.id)
        ).all()
    return [(r[0], r[1], r[2], json.dumps(r[3], sort_keys=True)) for r in rows]


def test_seed_demo_stores_protected_patients_and_registrations(app: flask.Flask) -> None:
    output = _seed(app, seed=7)
    assert f"Stored {REGISTRATIONS:,} registrations" in output
    database: Database = app.extensions["database"]
    settings: Settings = app.config["PORTAL_SETTINGS"]
    with database.reading() as session:
        registry = session.scalar(select(Registry).where(Registry.key == "stroke"))
        assert registry is not None and registry.data_version == 1
        seeded = session.scalars(select(AuditEvent).where(AuditEvent.action == "demo.seed")).one()
        assert seeded.details == {"registrations": REGISTRATIONS, "seed": 7}
        assert session.scalar(select(func.count(Registration.id))) == REGISTRATIONS
        patients = session.scalars(select(Patient)).all()
        assert 0 < len(patients) < REGISTRATIONS
        assert session.scalar(select(func.count()).select_from(CoverageCount)) > 0
        sample = session.scalars(select(Registration).limit(50)).all()
    cipher = NationalIdCipher(settings.national_id_key)
    for patient in patients[:200]:
        national_id = cipher.decrypt(patient.national_id_encrypted)
        parsed = parse_national_id(national_id)
        assert parsed.synthetic, national_id
        assert parsed.birth_date == patient.birth_date and parsed.sex == patient.sex
        assert patient.pseudonym == pseudonym(national_id, settings.pseudonym_key)
        assert national_id.encode() not in patient.national_id_encrypted
    for registration in sample:
        assert registration.values["admission_date"] == registration.event_date.isoformat()
        assert None not in registration.values.values()
    truth = json.loads((settings.instance_path / "demo_truth_stroke.json").read_text())
    assert truth


def test_seeding_leaves_the_planner_statistics_of_the_loaded_tables(app: flask.Flask) -> None:
    """`ANALYZE` after the load: PostgreSQL notes it as a manual analyse (autovacuum's own
    would be `last_autoanalyze`), SQLite as rows of `sqlite_stat1`."""
    _seed(app, seed=7)
    database: Database = app.extensions["database"]
    with database.reading() as session:
        if database.engine.dialect.name == "postgresql":
            analysed = session.execute(
                text(
                    "SELECT relname FROM pg_stat_user_tables "
                    "WHERE last_analyze IS NOT NULL AND relname IN "
                    "('patients', 'registrations', 'coverage_counts')"
                )
            ).scalars()
        else:
            analysed = session.execute(text("SELECT DISTINCT tbl FROM sqlite_stat1")).scalars()
        assert {"patients", "registrations", "coverage_counts"} <= set(analysed)


def test_seeding_again_replaces_instead_of_adding_and_is_deterministic(app: flask.Flask) -> None:
    database: Database = app.extensions["database"]
    _seed(app, seed=11)
    first = _values(database)
    _seed(app, seed=11)
    assert _values(database) == first
    with database.reading() as session:
        assert session.scalar(select(func.count(Registration.id))) == REGISTRATIONS
        assert session.scalar(select(Registry.data_version).where(Registry.key == "stroke")) == 2
    _seed(app, seed=12)
    assert _values(database) != first


def test_seed_demo_names_an_unknown_registry(app: flask.Flask) -> None:
    result = app.test_cli_runner().invoke(args=["seed-demo", "--registry", "hip"])
    assert result.exit_code != 0
    assert "no registry 'hip'" in result.output and "stroke" in result.output


def test_both_demo_registries_live_side_by_side_and_share_their_patients(
    app: flask.Flask,
) -> None:
    """Synthetic ids depend on birth date, sex and seed only, so the two registries share
    people, as real registries do: a person is one patient row, whichever registry holds
    them, and seeding one registry again leaves the other's records and patients alone."""
    runner = app.test_cli_runner()
    database: Database = app.extensions["database"]

    def seed(registry: str) -> None:
        result = runner.invoke(
            args=["seed-demo", "--registry", registry, "--registrations", "2000", "--seed", "4"]
        )
        assert result.exit_code == 0, result.output

    def counts() -> dict[str, int]:
        with database.reading() as session:
            rows = session.execute(
                select(Registry.key, func.count(Registration.id))
                .join(Registration, Registration.registry_id == Registry.id)
                .group_by(Registry.key)
            ).all()
        return {str(key): int(n) for key, n in rows}

    seed("stroke")
    seed("hipfracture")
    with database.reading() as session:
        patients = session.scalar(select(func.count(Patient.id)))
        linked = session.scalar(select(func.count(func.distinct(Registration.patient_id))))
        shared = session.scalar(
            select(func.count()).select_from(
                select(Registration.patient_id)
                .group_by(Registration.patient_id)
                .having(func.count(func.distinct(Registration.registry_id)) == 2)
                .subquery()
            )
        )
    assert counts() == {"stroke": 2000, "hipfracture": 2000}
    assert patients == linked and shared and shared > 0  # the same seed makes the same people
    hip_before = _values_of(database, "hipfracture")
    seed("stroke")
    assert counts() == {"stroke": 2000, "hipfracture": 2000}
    assert _values_of(database, "hipfracture") == hip_before
    with database.reading() as session:
        assert session.scalar(select(func.count(Patient.id))) == patients


def _values_of(database: Database, registry: str) -> list[tuple[object, ...]]:
    with database.reading() as session:
        rows = session.execute(
            select(Registration.id, Registration.patient_id, Registration.values)
            .join(Registry, Registry.id == Registration.registry_id)
            .where(Registry.key == registry)
            .order_by(Registration.id)
        ).all()
    return [(r[0], r[1], json.dumps(r[2], sort_keys=True)) for r in rows]


def test_demo_users_work_where_each_registry_registers(app: flask.Flask) -> None:
    """The hip-fracture registry registers at hospitals, so its registry folder puts the demo
    clinician and registrar at the hospitals of their stroke departments; each can then open
    records of its unit in both registries."""
    runner = app.test_cli_runner()
    database: Database = app.extensions["database"]
    for registry in ("stroke", "hipfracture"):
        result = runner.invoke(
            args=["seed-demo", "--registry", registry, "--registrations", "1500", "--seed", "2"]
        )
        assert result.exit_code == 0, result.output
    scope = scope_for_user(database, find_user_id(database, "demo-registrar"))
    with database.reading() as session:
        for registry in ("stroke", "hipfracture"):
            units = set(
                session.scalars(
                    select(Registration.unit_id)
                    .join(Registry, Registry.id == Registration.registry_id)
                    .where(Registry.key == registry)
                )
            )
            assert any(scope.may_edit_records(registry, unit) for unit in units), registry
    assert 974589095 in scope.units("hipfracture", "registrar")  # the hospital, subtree and all
