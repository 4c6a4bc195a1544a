"""Storing, publishing and reading aggregate uploads (see `data_access.models_aggregate`).

Each write is one transaction with its audit event: a checked file and its counts with
`aggregate.checked`; a publication, with `aggregate.published` and the bump of the
registry's data version that makes every worker recompute its results; a refused file
leaves nothing but its `aggregate.refused` event. Who may do this is the caller's to settle
(`portal.aggregate_requests`); these functions take the acting user for the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data_access.audit import Actor, record, record_event
from data_access.database import Database
from data_access.models import Registry, Unit, utc_now
from data_access.models_aggregate import AggregateCount, AggregateUpload
from data_access.record_commands import bump_data_version
from data_access.reference_data import stored_registry_id
from indicators.uploaded import COUNTS_SCHEMA

_COUNT_COLUMNS = tuple(COUNTS_SCHEMA)


class UploadRefusedError(ValueError):
    """The upload cannot be stored or published; the message says why (in English)."""


@dataclass(frozen=True)
class StoredUpload:
    id: int
    filename: str
    status: str
    file_rows: int
    uploaded_at: datetime


def units_by_org_number(database: Database) -> dict[int, int]:
    """Organisation number -> unit id: each unit's own number, and the old numbers merged
    into a hospital where no unit holds them as its own."""
    with database.reading() as session:
        rows = session.execute(
            select(Unit.unit_id, Unit.org_number, Unit.merged_org_numbers).order_by(Unit.unit_id)
        ).all()
    # The first unit by id wins where numbers repeat, as `reference_data.unit_for_org_number`.
    merged = {number: unit for unit, _, numbers in reversed(rows) for number in numbers or []}
    own = {int(number): unit for unit, number, _ in reversed(rows) if number is not None}
    return merged | own


def find_upload(database: Database, registry_key: str, content_hash: str) -> StoredUpload | None:
    """The registry's upload of the file with this SHA-256, if it was taken before."""
    with database.reading() as session:
        upload = session.scalar(
            select(AggregateUpload)
            .join(Registry, Registry.id == AggregateUpload.registry_id)
            .where(Registry.key == registry_key, AggregateUpload.content_hash == content_hash)
        )
        return None if upload is None else _stored(upload)


def store_checked(
    database: Database,
    actor: Actor,
    registry_key: str,
    filename: str,
    content_hash: str,
    file_rows: int,
    counts: pl.DataFrame,
) -> StoredUpload:
    """Keep a file that passed every check, with its counts, unpublished."""
    try:
        with database.transaction() as session:
            registry_id = _registry_id(session, registry_key)
            upload = AggregateUpload(
                registry_id=registry_id,
                content_hash=content_hash,
                filename=filename[:200],
                file_rows=file_rows,
                status="checked",
                uploaded_by=actor.user_id,
            )
            session.add(upload)
            session.flush()
            rows = counts.select(_COUNT_COLUMNS).to_dicts()
            if rows:
                session.execute(
                    insert(AggregateCount), [{"upload_id": upload.id, **row} for row in rows]
                )
            details = {"filename": filename, "sha256": content_hash, "rows": file_rows}
            record(
                session,
                "aggregate.checked",
                actor,
                object_type="aggregate_upload",
                object_id=upload.id,
                registry_id=registry_id,
                details=details | {"counts": len(rows)},
            )
            return _stored(upload)
    except IntegrityError:  # the same file, stored by someone else a moment ago
        raise UploadRefusedError("this file has been uploaded before") from None


def record_refusal(
    database: Database, actor: Actor, registry_key: str, details: Mapping[str, object]
) -> None:
    """Log a refused file (its name, hash and problem count); nothing else is written."""
    with database.reading() as session:
        registry_id = stored_registry_id(session, registry_key)
    record_event(
        database,
        "aggregate.refused",
        actor,
        object_type="aggregate_upload",
        registry_id=registry_id,
        details=details,
    )


def publish_upload(
    database: Database, actor: Actor, registry_key: str, upload_id: int
) -> StoredUpload:
    """Publish a checked upload of the registry: its counts now count in public results,
    replacing earlier uploads for the same (indicator, year)."""
    with database.transaction() as session:
        registry_id = _registry_id(session, registry_key)
        upload = session.scalar(
            select(AggregateUpload)
            .where(AggregateUpload.id == upload_id, AggregateUpload.registry_id == registry_id)
            .with_for_update()
        )
        if upload is None:
            raise UploadRefusedError(f"no upload {upload_id} in registry {registry_key}")
        if upload.status != "checked":
            raise UploadRefusedError(f"upload {upload_id} is published already")
        upload.status, upload.published_by, upload.published_at = (
            "published",
            actor.user_id,
            utc_now(),
        )
        bump_data_version(session, registry_id)
        pairs = session.execute(
            select(AggregateCount.indicator, AggregateCount.year)
            .where(AggregateCount.upload_id == upload_id)
            .distinct()
            .order_by(AggregateCount.indicator, AggregateCount.year)
        ).all()
        record(
            session,
            "aggregate.published",
            actor,
            object_type="aggregate_upload",
            object_id=upload_id,
            registry_id=registry_id,
            details={"filename": upload.filename, "replaces": [f"{i} {y}" for i, y in pairs]},
        )
        return _stored(upload)


def upload_counts(database: Database, upload_id: int) -> pl.DataFrame:
    """One upload's counts (`COUNTS_SCHEMA`)."""
    query = select(*(getattr(AggregateCount, c) for c in _COUNT_COLUMNS)).where(
        AggregateCount.upload_id == upload_id
    )
    with database.reading() as session:
        rows = session.execute(query).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=COUNTS_SCHEMA, orient="row")


def published_counts(database: Database, registry_key: str) -> pl.DataFrame:
    """The counts public results show (`COUNTS_SCHEMA`): for each (indicator, year), those of
    the registry's most recently published upload that holds it."""
    query = (
        select(
            AggregateUpload.id,
            AggregateUpload.published_at,
            *(getattr(AggregateCount, c) for c in _COUNT_COLUMNS),
        )
        .join(AggregateUpload, AggregateUpload.id == AggregateCount.upload_id)
        .join(Registry, Registry.id == AggregateUpload.registry_id)
        .where(Registry.key == registry_key, AggregateUpload.status == "published")
    )
    with database.reading() as session:
        rows = session.execute(query).all()
    schema = {"upload_id": pl.Int64(), "published_at": pl.Datetime("us", "UTC"), **COUNTS_SCHEMA}
    frame = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
    newest = pl.col("upload_id").sort_by("published_at", "upload_id").last()
    return (
        frame.filter(pl.col("upload_id") == newest.over("indicator", "year"))
        .select(_COUNT_COLUMNS)
        .sort("indicator", "year", "unit_id")
    )


def _registry_id(session: Session, registry_key: str) -> int:
    found = stored_registry_id(session, registry_key)
    if found is None:
        raise UploadRefusedError(f"unknown registry {registry_key!r}")
    return found


def _stored(upload: AggregateUpload) -> StoredUpload:
    return StoredUpload(
        upload.id, upload.filename, upload.status, upload.file_rows, upload.uploaded_at
    )
