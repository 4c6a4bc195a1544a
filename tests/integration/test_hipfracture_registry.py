"""The hip-fracture registry: a second registry from configuration alone, seeded side by side."""

from __future__ import annotations

import json

import flask
from sqlalchemy import func, select

from data_access.database import Database
from data_access.models import CoverageCount, Registration, Registry
from data_access.snapshot import finished_frame, registration_frame
from entry.registry_folder import RegistryFolder, discover_registries
from portal.settings import Settings

REGISTRATIONS = 2_000


def _seed(app: flask.Flask, registry: str, seed: int) -> str:
    result = app.test_cli_runner().invoke(
        args=[
            "seed-demo", "--registry", registry, "--registrations", str(REGISTRATIONS),
            "--seed", str(seed), "--without-users",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def test_the_folder_loads_beside_stroke(app: flask.Flask) -> None:
    registries = {r.key: r for r in app.extensions["registries"]}
    assert set(registries) >= {"stroke", "hipfracture"}
    hip: RegistryFolder = registries["hipfracture"]
    assert [f.key for f in hip.forms] == ["admission", "surgery", "discharge", "followup_12m"]
    assert {i.key for i in hip.indicators} >= {
        "surgery_48h", "mortality_30d", "reoperation_12m", "prom_response_12m", "eq5d_index_12m",
    }  # fmt: skip
    assert hip.questionnaire("hipfracture_12m").instruments["eq5d5l"].score == "eq5d_index_12m"
    settings: Settings = app.config["PORTAL_SETTINGS"]
    assert {r.key for r in discover_registries(settings.registries_path)} == set(registries)


def test_seed_demo_stores_hip_fractures(app: flask.Flask) -> None:
    output = _seed(app, "hipfracture", seed=3)
    assert f"Stored {REGISTRATIONS:,} registrations" in output
    assert "registry hipfracture" in output
    database: Database = app.extensions["database"]
    settings: Settings = app.config["PORTAL_SETTINGS"]
    with database.reading() as session:
        ids = dict(session.execute(select(Registry.key, Registry.id)).all())
        counts = dict(
            session.execute(
                select(Registration.registry_id, func.count()).group_by(Registration.registry_id)
            ).all()
        )
        coverage = session.scalar(
            select(func.count())
            .select_from(CoverageCount)
            .where(CoverageCount.registry_id == ids["hipfracture"])
        )
    assert counts == {ids["hipfracture"]: REGISTRATIONS}
    assert coverage and coverage > 0
    hip = next(r for r in app.extensions["registries"] if r.key == "hipfracture")
    frame = finished_frame(database, "hipfracture", hip.dictionary)
    with database.reading() as session:
        finished = session.scalar(
            select(func.count())
            .where(Registration.registry_id == ids["hipfracture"])
            .where(Registration.status != "draft")
        )
    assert frame.height == finished and 0 < finished < REGISTRATIONS
    assert frame["admission_date"].equals(frame["event_date"], check_names=False)
    truth = json.loads((settings.instance_path / "demo_truth_hipfracture.json").read_text())
    assert truth["generator"] == "entry.synthetic_data" and truth["registrations"] == REGISTRATIONS
    assert all("death_30d" in unit["effects"] for unit in truth["units"].values())
    # Seeding again with the same seed stores the same registrations (deterministic).
    before = registration_frame(database, "hipfracture", hip.dictionary).drop("id")
    _seed(app, "hipfracture", seed=3)
    after = registration_frame(database, "hipfracture", hip.dictionary).drop("id")
    assert after.sort(after.columns).equals(before.sort(before.columns))
