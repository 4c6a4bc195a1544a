"""Filling a registry with synthetic demo data: generate, protect the ids, store, write the truth.

A registry offers demo data by describing them in `synthetic.yaml` (drawn by the shared
generator, `entry.synthetic_data`) or, failing that, by holding `synthetic.py` with a
`generate(units, registrations, seed)` function in its folder. The national ids are synthetic
(month + 80), so no real person can ever be hit, and they are still encrypted and
pseudonymised exactly like real ones.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from data_access.audit import SYSTEM, record_event
from data_access.bulk_load import replace_registry_data
from data_access.database import Database
from data_access.patient_identity import NationalIdCipher, pseudonyms
from data_access.reference_data import ensure_registry, read_units
from entry import synthetic_data
from entry.national_id import synthetic_national_ids
from entry.registry_folder import RegistryFolder
from entry.synthetic_data import SyntheticDemo
from entry.synthetic_description import DESCRIPTION_FILE, read_description
from portal.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedReport:
    registry: str
    registrations: int
    patients: int
    generate_seconds: float
    store_seconds: float
    truth_path: Path


def seed_demo(
    database: Database,
    settings: Settings,
    registry: RegistryFolder,
    registrations: int,
    seed: int,
    truth_path: Path | None = None,
) -> SeedReport:
    units = read_units(database)
    if units.is_empty():
        raise RuntimeError(
            "The organisation tree is empty; run `flask --app app db upgrade` first."
        )
    started = time.perf_counter()
    demo = _generate(registry, units, registrations, seed)
    patients = _protected_patients(demo.patients, settings, seed)
    generated = time.perf_counter()
    registry_id = ensure_registry(database, registry.key, registry.name.nb, registry.name.en)
    replace_registry_data(database, registry_id, patients, demo.registrations, demo.coverage)
    stored = time.perf_counter()
    record_event(
        database,
        "demo.seed",
        SYSTEM,
        registry_id=registry_id,
        details={"registrations": demo.registrations.height, "seed": seed},
    )
    truth_path = truth_path or settings.instance_path / f"demo_truth_{registry.key}.json"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(demo.truth, indent=1, sort_keys=True), encoding="utf-8")
    report = SeedReport(
        registry=registry.key,
        registrations=demo.registrations.height,
        patients=patients.height,
        generate_seconds=generated - started,
        store_seconds=stored - generated,
        truth_path=truth_path,
    )
    log.info("Seeded demo registry: %s", report)
    return report


def _generate(
    registry: RegistryFolder, units: pl.DataFrame, registrations: int, seed: int
) -> SyntheticDemo:
    """From the folder's description when it has one, else from its own Python generator."""
    if (registry.path / DESCRIPTION_FILE).exists():
        description = read_description(
            registry.path,
            registry.dictionary,
            registry.event_date_variable,
            registry.questionnaires,
        )
        return synthetic_data.generate(
            description,
            registry.dictionary,
            registry.event_date_variable,
            units,
            registrations,
            seed,
        )
    generator = importlib.import_module(f"registries.{registry.key}.synthetic")
    demo: SyntheticDemo = generator.generate(units, registrations=registrations, seed=seed)
    return demo


def _protected_patients(patients: pl.DataFrame, settings: Settings, seed: int) -> pl.DataFrame:
    """Make synthetic national ids, then keep only their ciphertext and keyed pseudonym."""
    national_ids = synthetic_national_ids(patients["birth_date"], patients["sex"], seed=seed)
    cipher = NationalIdCipher(settings.national_id_key)
    return patients.select("patient_index", "birth_date", "sex").with_columns(
        pseudonyms(national_ids, settings.pseudonym_key).alias("pseudonym"),
        pl.Series(
            "national_id_encrypted",
            [cipher.encrypt(value) for value in national_ids],
            dtype=pl.Binary,
        ),
    )
