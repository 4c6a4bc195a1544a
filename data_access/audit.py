"""The audit log (logg over tilgang og endringer): who did what, when, from where.

Normen asks that every read and export of patient data can be traced afterwards, not only
changes. Each event is one row of `audit_events`, and each row carries the SHA-256 of the
previous row's hash followed by its own canonical content, so editing, deleting, inserting
or reordering any event breaks a link that `verify_chain` finds. Triggers refuse UPDATE and
DELETE on the table (migration 0003); the chain catches whoever has the rights to switch
them off. The one-row `audit_chain_head`, moved in the same transaction as every append,
catches deletion of the newest events, which would otherwise leave a chain that still links.

Canonical content (what is hashed after the previous hash): JSON with sorted keys and no
whitespace (`json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
UTF-8) of every stored field except `id` and `hash`, that is `action`, `details`,
`object_id`, `object_type`, `occurred_at`, `previous_hash`, `registry_id`, `remote_addr`,
`user_id` and `username`. `occurred_at` is ISO 8601 in UTC with microseconds and a `Z`
(`2026-11-26T09:00:00.000000Z`). Numbers in `details` are written so that PostgreSQL's JSONB
round trip cannot change them: a float with an integral value is written as the integer its
decimal text denotes (JSONB returns `1e+20` as `100000000000000000000`), other floats by
Python's shortest repr. The genesis previous hash is 64 zeros. `occurred_at` is stamped
once the head is held, so the chain's order is also the order in time: by PostgreSQL's clock
for a single event there (which the database links and hashes itself), by the portal's for
SQLite and for a batch.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Final, NamedTuple, NoReturn, TypedDict, Unpack
from uuid import UUID

import polars as pl
from sqlalchemy import ColumnElement, Select, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from data_access.database import Database
from data_access.models import AuditChainHead, AuditEvent, utc_now

GENESIS_HASH: Final = "0" * 64
HASHED_FIELDS: Final = (
    "action",
    "details",
    "object_id",
    "object_type",
    "occurred_at",
    "previous_hash",
    "registry_id",
    "remote_addr",
    "user_id",
    "username",
)
# The agreed action names, for filters on the admin page; `record` checks only their shape.
ACTIONS: Final = (
    "login.success",
    "login.failure",
    "login.locked",
    "login.rate_limited",
    "logout",
    "session.expired",
    "totp.enrol",
    "totp.failure",
    "totp.reset",
    "recovery_code.used",
    "password.change",
    "password.reset",
    "user.create",
    "user.update",
    "user.disable",
    "user.enable",
    "grant.create",
    "grant.revoke",
    "registration.view",
    "registration.list",
    "drilldown.view",
    "registration.create",
    "registration.update",
    "registration.delete",
    "export",
    "audit.view",
    "audit.export",
    "audit.verify",
    "backup.create",
    "backup.restore",
    "demo.seed",
    "access.denied",
    "request.csrf_refused",
    "api.request",
    "api.token_refused",
    "api_token.create",
    "api_token.revoke",
    "import.run",
    "aggregate.checked",
    "aggregate.published",
    "aggregate.refused",
    "prom.invite",
    "prom.remind",
    "prom.open",
    "prom.save",
    "prom.submit",
    "prom.opt_out",
    "prom.link_refused",
    "prom.rate_limited",
    "prom_response.view",
    "outbox.sent",
    "outbox.retry",
    "outbox.failed",
)
# Columns whose values must never reach the log; `field_changes` records only that they changed.
SECRET_FIELDS: Final = frozenset(
    {
        "password",
        "password_hash",
        "totp_secret",
        "totp_secret_encrypted",
        "token",
        "token_hash",
        "code_hash",
        "national_id",
        "national_id_encrypted",
    }
)
REDACTED: Final = "[redacted]"

_ACTION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_HEAD_ID: Final = 1
_STORED_AS_GIVEN: Final = tuple(
    name for name in HASHED_FIELDS if name not in {"details", "occurred_at", "previous_hash"}
)
"""The hashed fields `_append_at_the_head` passes to the database as they are."""
_APPEND_AT_THE_HEAD: Final = text(
    """
    WITH head AS (
        SELECT last_hash FROM audit_chain_head WHERE id = :head FOR UPDATE
    ), stamped AS (
        SELECT nextval(pg_get_serial_sequence('audit_events', 'id')) AS id,
               clock_timestamp() AS occurred_at, last_hash
        FROM head
    ), linked AS (
        INSERT INTO audit_events (id, occurred_at, user_id, username, remote_addr, action,
                                  registry_id, object_type, object_id, details,
                                  previous_hash, hash)
        SELECT id, occurred_at, CAST(:user_id AS integer), CAST(:username AS text),
               CAST(:remote_addr AS text), CAST(:action AS text), CAST(:registry_id AS integer),
               CAST(:object_type AS text), CAST(:object_id AS text), CAST(:details AS jsonb),
               last_hash,
               encode(sha256(convert_to(
                   last_hash || :before
                   || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"')
                   || :between || last_hash || :after,
                   'UTF8')), 'hex')
        FROM stamped
        RETURNING id, hash
    )
    UPDATE audit_chain_head
    SET last_event_id = linked.id, last_hash = linked.hash,
        event_count = audit_chain_head.event_count + 1
    FROM linked
    WHERE audit_chain_head.id = :head
    RETURNING audit_chain_head.id
    """
)
_NO_HEAD: Final = "the chain head row is missing"
# Column widths of audit_events: longer text (an attacker's 500-character user name on the
# login form) is cut here, before hashing, so PostgreSQL stores exactly what was hashed.
_WIDTHS: Final = {"username": 80, "remote_addr": 45, "object_type": 40, "object_id": 64}
_CSV_FORMULA_START = r"^[=+\-@\t\r]"
FRAME_SCHEMA: Final[dict[str, pl.DataType]] = {
    "id": pl.Int64(),
    "occurred_at": pl.Datetime("us", "UTC"),
    "user_id": pl.Int64(),
    "username": pl.String(),
    "remote_addr": pl.String(),
    "action": pl.String(),
    "registry_id": pl.Int64(),
    "object_type": pl.String(),
    "object_id": pl.String(),
    "details": pl.String(),
    "previous_hash": pl.String(),
    "hash": pl.String(),
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a logged-in user, a failed login's claimed name, or the system itself."""

    user_id: int | None
    username: str | None
    remote_addr: str | None = None


SYSTEM: Final = Actor(user_id=None, username="system")


class AuditChainError(RuntimeError):
    """The chain head row is gone, so an append cannot know what it follows."""


@dataclass(frozen=True)
class ChainVerification:
    """The verdict of `verify_chain`.

    `events_checked` counts the events read, the broken one included; `first_broken_id` is
    the first event whose hash or link fails (for deleted newest events: the newest event
    the chain head still records; None when the head row itself is missing).
    """

    ok: bool
    events_checked: int
    first_broken_id: int | None = None
    reason: str | None = None


class Subject(TypedDict, total=False):
    """What an event is about: the keywords `record` and `record_event` share."""

    object_type: str | None
    object_id: str | int | None
    registry_id: int | None
    details: Mapping[str, object] | None


class _Head(NamedTuple):
    last_event_id: int | None
    last_hash: str
    event_count: int


def record(
    session: Session,
    action: str,
    actor: Actor,
    *,
    object_type: str | None = None,
    object_id: str | int | None = None,
    registry_id: int | None = None,
    details: Mapping[str, object] | None = None,
) -> None:
    """Append one event inside the caller's transaction, so event and change commit together.

    The chain head stays locked until the caller's transaction ends, so audited writers take
    turns: call this late in a long transaction.
    """
    about: Subject = {
        "object_type": object_type,
        "object_id": object_id,
        "registry_id": registry_id,
        "details": details,
    }
    record_many(session, actor, [(action, about)])


def record_many(session: Session, actor: Actor, events: Sequence[tuple[str, Subject]]) -> None:
    """Append `events` (action, subject) in this order, under one hold of the chain head.

    One executemany writes them all, so an import audits ten thousand records in a fraction
    of a second instead of claiming the head ten thousand times. Each event still has its
    own time, link and hash, exactly as if appended one by one; the ids are taken in chain
    order before the insert, since the chain is walked in id order. A single event on
    PostgreSQL, the case of every save and read, is appended by the database in one
    statement (`_append_at_the_head`).
    """
    prepared = [_event(action, actor, about) for action, about in events]
    if not prepared:
        return
    if len(prepared) == 1 and session.get_bind().dialect.name == "postgresql":
        _append_at_the_head(session, prepared[0])
        return
    head = _claim_head(session)
    ids = _next_ids(session, len(prepared))
    last_hash = head.last_hash
    for event_id, event in zip(ids, prepared, strict=True):
        # Stamped after the head is ours, so the chain's order is also the order in time.
        event["occurred_at"] = utc_now()
        event["previous_hash"] = last_hash
        last_hash = event_hash(event)
        event |= {"id": event_id, "hash": last_hash}
    moved = (
        update(AuditChainHead)
        .where(AuditChainHead.id == _HEAD_ID)
        .values(
            last_event_id=ids[-1],
            last_hash=last_hash,
            event_count=head.event_count + len(prepared),
        )
        .execution_options(synchronize_session=False)
    )
    session.connection().execute(insert(AuditEvent), prepared)  # Core executemany
    session.execute(moved)


def _append_at_the_head(session: Session, event: dict[str, object]) -> None:
    """Append one event on PostgreSQL in one statement: lock the head, take the next id,
    stamp the time (the database's clock), link and hash the event, move the head.

    Every audited writer waits for the head, and whoever holds it keeps it until their
    transaction ends; each round trip made meanwhile lasts as long as its worker takes to
    come back to it, which under load (a busy interpreter, busy cores) is many times the
    trip itself. Here the holder's next trip is its commit. The canonical text is made
    here as for any event, with a random mark where the time and the previous hash go,
    and the database puts them in before hashing, so `verify_chain` checks these events
    exactly as the others.
    """
    marks = [secrets.token_hex(16) for _ in range(2)]
    canonical = _canonical_text(event | {"occurred_at": marks[0], "previous_hash": marks[1]})
    before, rest = canonical.split(f'"{marks[0]}"')
    between, after = rest.split(f'"{marks[1]}"')
    moved = session.execute(
        _APPEND_AT_THE_HEAD,
        {
            **{name: event[name] for name in _STORED_AS_GIVEN},
            "details": json.dumps(event["details"]),
            "head": _HEAD_ID,
            "before": f'{before}"',
            "between": f'"{between}"',
            "after": f'"{after}',
        },
    ).scalar_one_or_none()
    if moved is None:
        _missing_head()


def record_event(database: Database, action: str, actor: Actor, **about: Unpack[Subject]) -> None:
    """Append one event in its own transaction (for reads, failures, logins). On PostgreSQL
    that is one statement committed by itself, so the chain head is held only inside the
    database, never while its worker gets round to the next step."""
    with database.statement_by_statement() as session:
        record(session, action, actor, **about)


def field_changes(
    old: Mapping[str, object], new: Mapping[str, object]
) -> dict[str, dict[str, object]]:
    """{"field": {"old": ..., "new": ...}} for every field whose value differs.

    Callers never pass secrets in. A field missing on one side counts as None. Should a
    secret column slip in anyway, only the fact that it changed is kept: its values read
    "[redacted]".
    """
    changes: dict[str, dict[str, object]] = {}
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if _same(before, after):
            continue
        if name in SECRET_FIELDS:
            before = None if before is None else REDACTED
            after = None if after is None else REDACTED
        changes[name] = {"old": before, "new": after}
    return changes


def canonical_content(event: Mapping[str, object]) -> str:
    """The text that is hashed after the previous hash (see the module docstring)."""
    occurred_at = event["occurred_at"]
    if not isinstance(occurred_at, datetime) or occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be a timezone-aware datetime")
    stamp = occurred_at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return _canonical_text({**event, "occurred_at": stamp + "Z"})


def _canonical_text(event: Mapping[str, object]) -> str:
    fields = {name: event[name] for name in HASHED_FIELDS}
    return json.dumps(
        _canonical_numbers(fields),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def event_hash(event: Mapping[str, object]) -> str:
    """SHA-256 hex of the previous hash followed by the event's canonical content."""
    previous_hash = str(event["previous_hash"])
    text = previous_hash + canonical_content(event)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_chain(database: Database) -> ChainVerification:
    """Walk the whole log in id order and report the first broken link.

    Appends may run meanwhile: the head read before the walk must be reached exactly, and
    no event may lie beyond the head read after it (an honest append moves the head in the
    same transaction, so anything past it was put there around the audit log).
    """
    with database.reading() as session:
        before = _read_head(session)
        if before is None:
            return ChainVerification(False, 0, None, _NO_HEAD)
        walk = _ChainWalk(before)
        with _events_in_order(session) as events:
            for event in events:
                broken = walk.step(event)
                if broken is not None:
                    return broken
        return walk.finish() or _check_head_after(session, walk)


def search_events(
    database: Database,
    *,
    username: str | None = None,
    action: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    registry_id: int | None = None,
    limit: int = 1000,
) -> pl.DataFrame:
    """Events matching every given filter, newest first, at most `limit` of them.

    `action` matches the name and every name below it ("login" finds login.success and
    login.failure); `start` is inclusive and `end` exclusive, both timezone-aware. `details`
    comes back as JSON text, ready for a table cell or a CSV file.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    for moment in (start, end):
        if moment is not None and moment.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
    conditions: list[ColumnElement[bool]] = []
    if username is not None:
        conditions.append(AuditEvent.username == username)
    if action is not None:
        conditions.append(
            or_(
                AuditEvent.action == action,
                AuditEvent.action.startswith(f"{action}.", autoescape=True),
            )
        )
    if start is not None:
        conditions.append(AuditEvent.occurred_at >= start)
    if end is not None:
        conditions.append(AuditEvent.occurred_at < end)
    if object_type is not None:
        conditions.append(AuditEvent.object_type == object_type)
    if object_id is not None:
        conditions.append(AuditEvent.object_id == str(object_id))
    if registry_id is not None:
        conditions.append(AuditEvent.registry_id == registry_id)
    statement = _event_columns().where(*conditions).order_by(AuditEvent.id.desc()).limit(limit)
    with database.reading() as session:
        rows = [
            {**row, "details": json.dumps(row["details"], sort_keys=True, ensure_ascii=False)}
            for row in session.execute(statement).mappings()
        ]
    return pl.DataFrame(rows, schema=FRAME_SCHEMA, orient="row")


def events_csv(frame: pl.DataFrame) -> str:
    """The admin page's CSV export of `search_events`: times in ISO 8601 UTC, details as JSON.

    Text that a spreadsheet would run as a formula (a user name such as `=HYPERLINK(...)`
    typed into the login form) gets a leading apostrophe.
    """
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    defused = [
        pl.when(pl.col(name).str.contains(_CSV_FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text_columns
    ]
    times = [
        pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    ]
    return frame.with_columns(*defused, *times).write_csv()


def _claim_head(session: Session) -> _Head:
    """Lock the head row for this transaction and read it, so appends never fork the chain."""
    statement = select(
        AuditChainHead.last_event_id, AuditChainHead.last_hash, AuditChainHead.event_count
    ).where(AuditChainHead.id == _HEAD_ID)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    else:
        # SQLite locks the whole database, but only once a transaction writes: writing the
        # head row first makes a second writer wait here (busy_timeout) instead of reading
        # a head that is about to move.
        session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.id == _HEAD_ID)
            .values(event_count=AuditChainHead.event_count)
            .execution_options(synchronize_session=False)
        )
    row = session.execute(statement).one_or_none()
    if row is None:
        _missing_head()
    return _Head(*row)


def _next_ids(session: Session, count: int) -> list[int]:
    """`count` new event ids in ascending order; the caller holds the chain head.

    PostgreSQL hands them out from the table's sequence (never reused, even after a
    rollback); SQLite, whose writer holds the whole database, continues after the largest.
    """
    if session.get_bind().dialect.name == "postgresql":
        taken = session.scalars(
            select(func.nextval(func.pg_get_serial_sequence("audit_events", "id"))).select_from(
                func.generate_series(1, count)
            )
        )
        return sorted(int(event_id) for event_id in taken)
    last = session.scalar(select(func.max(AuditEvent.id))) or 0
    return list(range(last + 1, last + 1 + count))


def _missing_head() -> NoReturn:
    raise AuditChainError("the audit chain head row is missing; run `flask --app app audit verify`")


def _event(action: str, actor: Actor, about: Subject) -> dict[str, object]:
    """An event's stored fields but its place in the chain; refuses a malformed action."""
    if len(action) > 60 or not _ACTION.fullmatch(action):
        raise ValueError(f"audit action {action!r} is not a dotted lower-case name")
    object_id = about.get("object_id")
    return {
        "user_id": actor.user_id,
        "username": _clip(actor.username, "username"),
        "remote_addr": _clip(actor.remote_addr, "remote_addr"),
        "action": action,
        "registry_id": about.get("registry_id"),
        "object_type": _clip(about.get("object_type"), "object_type"),
        "object_id": _clip(None if object_id is None else str(object_id), "object_id"),
        "details": _json_safe(dict(about.get("details") or {})),
    }


def _read_head(session: Session) -> _Head | None:
    row = session.execute(
        select(
            AuditChainHead.last_event_id, AuditChainHead.last_hash, AuditChainHead.event_count
        ).where(AuditChainHead.id == _HEAD_ID)
    ).one_or_none()
    return None if row is None else _Head(*row)


def _event_columns() -> Select[tuple[object, ...]]:
    return select(*(getattr(AuditEvent, name) for name in FRAME_SCHEMA))


@contextmanager
def _events_in_order(session: Session) -> Iterator[Iterator[dict[str, Any]]]:
    """Stream the log in chain order (a server-side cursor on PostgreSQL), closed on leaving."""
    result = session.execute(
        _event_columns().order_by(AuditEvent.id), execution_options={"yield_per": 1000}
    )
    try:
        yield (dict(row) for row in result.mappings())
    finally:
        result.close()


class _ChainWalk:
    """One pass over the log in chain order; each step says whether this event breaks it."""

    def __init__(self, head: _Head) -> None:
        self.head = head
        self.checked = 0
        self.last_id: int | None = None
        self.last_hash = GENESIS_HASH
        self.reached_head = head.last_event_id is None

    def step(self, event: Mapping[str, Any]) -> ChainVerification | None:
        self.checked += 1
        event_id = int(event["id"])
        if event_hash(event) != event["hash"]:
            return self.broken(event_id, "its content no longer matches its hash")
        if event["previous_hash"] != self.last_hash:
            where = "the start of the chain" if self.last_id is None else f"event {self.last_id}"
            return self.broken(
                event_id, f"it does not follow {where}: an event before it was deleted or inserted"
            )
        broken = self._against_head(event_id, str(event["hash"]))
        self.last_id, self.last_hash = event_id, str(event["hash"])
        return broken

    def finish(self) -> ChainVerification | None:
        """Broken if the walk never reached the newest event the head recorded."""
        if self.reached_head:
            return None
        end = (
            "the log is empty" if self.last_id is None else f"the log ends at event {self.last_id}"
        )
        return self.broken(
            self.head.last_event_id,
            f"{end} but the chain head records {self.head.event_count} events up to event "
            f"{self.head.last_event_id}: the newest events were deleted",
        )

    def broken(self, event_id: int | None, reason: str) -> ChainVerification:
        return ChainVerification(False, self.checked, event_id, reason)

    def _against_head(self, event_id: int, digest: str) -> ChainVerification | None:
        target = self.head.last_event_id
        if self.reached_head or target is None or event_id < target:
            return None
        if event_id > target:
            return self.broken(target, "the newest event recorded in the chain head is missing")
        if digest != self.head.last_hash or self.checked != self.head.event_count:
            return self.broken(event_id, "it does not match the chain head")
        self.reached_head = True
        return None


def _check_head_after(session: Session, walk: _ChainWalk) -> ChainVerification:
    """Every event walked must be recorded in the head as it stands after the walk."""
    after = _read_head(session)
    if after is None:
        return walk.broken(None, _NO_HEAD)
    last_id = walk.last_id
    if last_id is None:
        return ChainVerification(ok=True, events_checked=0)
    if after.last_event_id is None or last_id > after.last_event_id:
        beyond = select(func.min(AuditEvent.id)).where(AuditEvent.id <= last_id)
        if after.last_event_id is not None:
            beyond = beyond.where(AuditEvent.id > after.last_event_id)
        return walk.broken(
            session.scalar(beyond),
            "it lies beyond the chain head: it was added without going through the audit log",
        )
    if last_id == after.last_event_id and (
        walk.last_hash != after.last_hash or walk.checked != after.event_count
    ):
        return walk.broken(last_id, "it does not match the chain head")
    return ChainVerification(ok=True, events_checked=walk.checked)


def _clip(text: str | None, column: str) -> str | None:
    return None if text is None else _clean_text(text)[: _WIDTHS[column]]


def _clean_text(text: str) -> str:
    """Text both databases store unchanged: no NUL (PostgreSQL refuses it), no lone surrogates."""
    if type(text) is str and text.isascii() and "\x00" not in text:  # the common case
        return text
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _json_safe(value: object) -> object:
    """`value` as plain JSON data that SQLite's JSON and PostgreSQL's JSONB both store faithfully.

    Dates and times become ISO text, Decimals and UUIDs text, sets sorted lists; floats that
    JSON cannot hold (NaN, infinities) become their names. Bytes are refused: binary data and
    secrets do not belong in the log.
    """
    # Text and lists of it fill most details: their exact types are tested first, cheaply.
    if type(value) is str:
        return _clean_text(value)
    if type(value) is list or type(value) is tuple:
        return [_json_safe(item) for item in value]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Mapping):
        return _json_safe_mapping(value)
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, set | frozenset):
        items = [_json_safe(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    raise TypeError(f"{type(value).__name__} cannot be written to the audit log")


def _json_safe_mapping(value: Mapping[object, object]) -> dict[str, object]:
    safe: dict[str, object] = {}
    for key, item in value.items():
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise TypeError(f"audit details keys must be text, not {type(key).__name__}")
        name = _clean_text(str(key))
        if name in safe:
            raise ValueError(f"audit details key {name!r} given twice")
        safe[name] = _json_safe(item)
    return safe


def _canonical_numbers(value: object) -> object:
    """Integral floats as the integer their decimal text denotes, as JSONB gives them back."""
    if type(value) is str:  # most of what is walked, so it leaves first
        return value
    if isinstance(value, float) and value.is_integer():
        return int(Decimal(repr(value)))
    if isinstance(value, dict):
        return {key: _canonical_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical_numbers(item) for item in value]
    return value


def _same(before: object, after: object) -> bool:
    """Equal as values: True is not 1, and NaN is itself."""
    if isinstance(before, bool) or isinstance(after, bool):
        return type(before) is type(after) and before == after
    if isinstance(before, float) and isinstance(after, float):
        return before == after or (math.isnan(before) and math.isnan(after))
    return bool(before == after)
