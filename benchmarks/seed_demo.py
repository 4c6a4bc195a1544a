"""How fast the demo registry generates and stores, against the 5-minute budget for 1,000,000.

    .venv/bin/python benchmarks/seed_demo.py [--registrations 1000000] [--database URL]

Baseline in the same run: storing a sample through the ORM one object at a time (what a
naive loader does), so the bulk path's speed-up is measured, not assumed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app
from data_access.database import Database
from data_access.models import Patient, Registration
from data_access.reference_data import read_units
from portal.demo import seed_demo
from portal.settings import Settings
from registries.stroke.synthetic import generate

BUDGET_SECONDS = 300.0
BASELINE_ROWS = 5_000


def orm_baseline(database: Database, rows: int) -> float:
    """Rows per second when each registration is an ORM object (the naive way)."""
    demo = generate(read_units(database), registrations=rows, seed=1)
    started = time.perf_counter()
    with database.transaction() as session:
        from data_access.models import Registry

        registry_id = session.query(Registry.id).filter_by(key="stroke").scalar()
        for index, row in enumerate(demo.registrations.iter_rows(named=True)):
            patient = Patient(
                pseudonym=f"baseline-{index}",
                national_id_encrypted=b"-",
                birth_date=datetime(1950, 1, 1, tzinfo=UTC).date(),
                sex="female",
            )
            session.add(patient)
            session.flush()
            values = {
                k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in row.items()
                if v is not None and k not in {"patient_index", "unit_id", "event_date", "status"}
            }
            session.add(
                Registration(
                    registry_id=registry_id,
                    unit_id=row["unit_id"],
                    patient_id=patient.id,
                    event_date=row["event_date"],
                    status=row["status"],
                    values=values,
                )
            )
        session.rollback()
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--database", default=None, help="default: a new SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        environ = {"DATABASE_URL": url, "AUTO_MIGRATE": "true", "SEED_DEMO": "false"}
        settings = Settings.from_environ(environ, instance_path=Path(folder) / "instance")
        server = create_app(settings)
        database: Database = server.extensions["database"]
        with server.app_context():
            from portal.catalogue import installed_registries

            (stroke,) = [r for r in installed_registries() if r.key == "stroke"]
        baseline = orm_baseline(database, BASELINE_ROWS)
        report = seed_demo(database, settings, stroke, args.registrations, seed=2026)
        total = report.generate_seconds + report.store_seconds
        bulk_rate = report.registrations / report.store_seconds
        print(f"database:            {database.dialect}")
        print(f"registrations:       {report.registrations:,} ({report.patients:,} patients)")
        print(f"generate:            {report.generate_seconds:8.1f} s")
        print(f"store:               {report.store_seconds:8.1f} s  ({bulk_rate:,.0f} rows/s)")
        print(
            f"total:               {total:8.1f} s  (budget {BUDGET_SECONDS:.0f} s: "
            f"{'within' if total <= BUDGET_SECONDS else 'OVER'})"
        )
        print(
            f"ORM baseline:        {baseline:,.0f} rows/s on {BASELINE_ROWS:,} rows; "
            f"bulk path is {bulk_rate / baseline:.1f}x faster"
        )
        database.dispose()


if __name__ == "__main__":
    main()
