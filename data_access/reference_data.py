"""Keeping the organisation tree and the registry rows in step with the shipped configuration."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from data_access.database import Database
from data_access.models import UNIT_LEVELS, Registry, Unit


def sync_units(database: Database, units: pl.DataFrame) -> int:
    """Insert new units and update changed ones; never delete, since records point at units.

    Parents are written before children, so the foreign key holds at every step.
    """
    depth = {level: i for i, level in enumerate(UNIT_LEVELS)}
    rows = sorted(units.to_dicts(), key=lambda row: depth[str(row["level"])])
    with database.transaction() as session:
        existing = {unit.unit_id: unit for unit in session.scalars(select(Unit))}
        for row in rows:
            values = {
                "parent_id": row["parent_id"],
                "level": str(row["level"]),
                "org_number": row["org_number"],
                "name": row["name"],
                "short_name": row["short_name"],
                "register_name": row["register_name"],
                "merged_org_numbers": list(row["merged_org_numbers"] or []),
            }
            unit = existing.get(row["unit_id"])
            if unit is None:
                session.add(Unit(unit_id=row["unit_id"], **values))
                session.flush()
            else:
                for name, value in values.items():
                    setattr(unit, name, value)
    return len(rows)


def read_units(database: Database) -> pl.DataFrame:
    """The tree as the engine wants it: unit_id, parent_id, level, name, short_name."""
    with database.reading() as session:
        rows = session.execute(
            select(Unit.unit_id, Unit.parent_id, Unit.level, Unit.name, Unit.short_name).order_by(
                Unit.unit_id
            )
        ).all()
    return pl.DataFrame(
        [tuple(row) for row in rows],
        schema={
            "unit_id": pl.Int64,
            "parent_id": pl.Int64,
            "level": pl.Utf8,
            "name": pl.Utf8,
            "short_name": pl.Utf8,
        },
        orient="row",
    )


def units_below(session: Session, unit_ids: Iterable[int]) -> frozenset[int]:
    """The units and every unit below them: a recursive CTE, as `access.scope_for_user`
    walks grants, so one indexed query answers however deep (reading the whole tree into a
    frame and climbing it took 50 ms of every My unit page)."""
    start = sorted(unit_ids)
    if not start:
        return frozenset()
    below = select(Unit.unit_id).where(Unit.unit_id.in_(start)).cte("below", recursive=True)
    below = below.union(select(Unit.unit_id).join(below, Unit.parent_id == below.c.unit_id))
    return frozenset(session.scalars(select(below.c.unit_id)))


def unit_for_org_number(database: Database, org_number: int) -> int | None:
    """The unit an organisation number names: the unit with that number, else the hospital
    that counts it among its `merged_org_numbers`; None when no unit has it."""
    with database.reading() as session:
        own = session.scalar(
            select(Unit.unit_id).where(Unit.org_number == org_number).order_by(Unit.unit_id)
        )
        if own is not None:
            return own
        merged = session.execute(select(Unit.unit_id, Unit.merged_org_numbers)).all()
    return next((unit for unit, numbers in merged if org_number in (numbers or [])), None)


def stored_registry_id(session: Session, key: str) -> int | None:
    """The registry's row id in the caller's session; None for a key never stored."""
    found = session.scalar(select(Registry.id).where(Registry.key == key))
    return None if found is None else int(found)


def ensure_registry(database: Database, key: str, name_nb: str, name_en: str) -> int:
    """The registry's row id, creating the row the first time its folder is seen."""
    with database.transaction() as session:
        registry = session.scalar(select(Registry).where(Registry.key == key))
        if registry is None:
            registry = Registry(key=key, name_nb=name_nb, name_en=name_en)
            session.add(registry)
            session.flush()
        else:
            registry.name_nb, registry.name_en = name_nb, name_en
        return registry.id
