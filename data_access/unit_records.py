"""The registrations behind one unit's results: scoped to the caller, audited, one unit only.

The "my unit" pages (issue 7) let a clinician or registrar go from a result of their own
unit to the patients behind it, and see how complete the unit's data is. Both read
patient-level rows, so both come through here and take the caller's `AccessScope`:

- the unit asked for must be one the caller may read records of (clinician or registrar
  covering it), else `AccessDenied` is raised and the attempt is written to the audit log
  as `access.denied`; a forged unit id yields nothing, not even an empty list;
- only the rows of that unit and the units below it (a hospital's departments) are read,
  with the units in the SQL itself, so the whole registry never leaves the database;
- `denominator_records` decides membership with the indicator's own compiled polars
  expressions (`indicators.compiled`), the ones the engine counts with, and is audited as
  `drilldown.view` with the ids of exactly the records it returns, in the same transaction
  as the read (if the event cannot be written, nothing is shown);
- `unit_data_quality` returns aggregates only (completeness per variable, drafts), so it
  is not audited as a view of records. It is kept per worker for each unit, year and state
  of their registrations (count, newest change, highest id: one aggregate query), since
  reading and decoding every value of a department's year took 100 ms of each My unit page
  at a million registrations, and the page is asked for far more often than its data change.

Results count finished registrations only (`complete`, `locked`), so the drill-down does
too by default; drafts can be listed on request, judged by their current values.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal, NoReturn, TypeGuard, get_args

import polars as pl
from cachetools import LRUCache
from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from data_access import audit
from data_access.access import AccessDenied, AccessScope
from data_access.database import Database
from data_access.models import PUBLISHED_STATUSES, Patient, Registration
from data_access.patient_identity import NationalIdCipher
from data_access.reference_data import stored_registry_id, units_below
from data_access.snapshot import CORE_SCHEMA, column_types, typed_values
from entry.completeness import COMPLETENESS_SCHEMA, apply_form_logic, completeness
from entry.dictionary_model import Dictionary
from entry.expressions import parse, variables_of
from entry.national_id import mask_national_id
from indicators import Indicator
from indicators.compiled import compile_indicators

QUALITY_KEPT: Final = 64
"""Data-quality summaries kept per worker (`unit_data_quality`): one per unit, year and
state of its registrations, each a small frame."""
_QUALITY: LRUCache[tuple[object, ...], tuple[Dictionary, DataQuality]] = LRUCache(QUALITY_KEPT)
_QUALITY_LOCK = threading.Lock()

DRILLDOWN_ACTION: Final = "drilldown.view"
MAX_DRILLDOWN_ROWS: Final = 2_000

StatusFilter = Literal["finished", "draft", "all"]
NumeratorFilter = Literal["all", "in", "out"]
STATUS_FILTERS: Final[tuple[StatusFilter, ...]] = get_args(StatusFilter)
NUMERATOR_FILTERS: Final[tuple[NumeratorFilter, ...]] = get_args(NumeratorFilter)
CORE_SORTS: Final = ("event_date", "status", "in_numerator", "value", "id")

RECORD_SCHEMA: Final[dict[str, pl.DataType]] = {
    "id": pl.Int64(),
    "unit_id": pl.Int64(),
    "event_date": pl.Date(),
    "status": pl.String(),
    "national_id_masked": pl.String(),
    "in_numerator": pl.Boolean(),
    "value": pl.Float64(),
}
"""Leading columns of `DrillDown.rows`; the indicator's variables follow, typed.

`in_numerator` is null for means and medians, `value` null for proportions."""


@dataclass(frozen=True)
class DrillDown:
    """The records of one indicator's denominator at one unit in one year, as shown.

    `total` counts the records that match the filters, `rows` holds at most `limit` of
    them in the asked order from position `offset` (0 is the first), and `numerator` how
    many of all matching are in the numerator.
    """

    rows: pl.DataFrame
    total: int
    numerator: int | None
    variables: tuple[str, ...]
    offset: int = 0


@dataclass(frozen=True)
class DataQuality:
    """How complete a unit's data is in a year: registrations, drafts and each variable.

    `completeness` has the columns of `entry.completeness.COMPLETENESS_SCHEMA` plus `form`:
    per input variable, how many registrations show it (not skipped by logic) and how many
    of those hold a value.
    """

    registrations: int
    drafts: int
    completeness: pl.DataFrame

    @property
    def draft_share(self) -> float | None:
        return self.drafts / self.registrations if self.registrations else None


def readable_subtree(
    database: Database, scope: AccessScope, registry_key: str, unit_id: object
) -> frozenset[int]:
    """The unit and every unit below it, for a caller who may read the unit's records.

    Raises `AccessDenied` (and audits the attempt) for anything else: another unit, an
    unknown one, or a value that is not a unit id at all, as a forged request may send.
    """
    if not _is_unit_id(unit_id) or not scope.may_read_records(registry_key, unit_id):
        _refuse(database, scope, registry_key, unit_id)
    with database.lookup() as session:
        below = units_below(session, [unit_id])
    # Grants cover whole subtrees already; the intersection keeps that a fact, not a hope.
    return below & scope.units(registry_key, "clinician", "registrar")


def indicator_variables(indicator: Indicator, dictionary: Dictionary) -> tuple[str, ...]:
    """The variables an indicator's expressions (and risk model) use, in dictionary order."""
    names: set[str] = set()
    for text in (indicator.denominator, indicator.numerator, indicator.value):
        if text:
            names |= variables_of(parse(text))
    if indicator.risk_model is not None:
        names |= set(indicator.risk_model.covariates)
        if indicator.risk_model.expected:
            names.add(indicator.risk_model.expected)
    known = [v.name for v in dictionary.variables if v.name in names]
    return tuple(known)


def denominator_records(
    database: Database,
    scope: AccessScope,
    registry_key: str,
    dictionary: Dictionary,
    indicator: Indicator,
    unit_id: object,
    year: int,
    *,
    national_id_key: bytes,
    statuses: StatusFilter = "finished",
    numerator: NumeratorFilter = "all",
    sort: str = "event_date",
    descending: bool = False,
    offset: int = 0,
    limit: int = MAX_DRILLDOWN_ROWS,
) -> DrillDown:
    """The unit's registrations of `year` in the indicator's denominator, marked in or out.

    Membership is the engine's: the indicator's compiled denominator (and, for means and
    medians, a known value); `in_numerator` is its compiled numerator. `numerator` keeps
    only those in ("in") or out ("out"); `statuses` picks finished records (what results
    count), drafts, or both. Sorted by `sort` (a core column or one of the variables),
    nulls last. `offset` and `limit` pick one page of them: an offset past the last record
    gives the last page, so an old address still shows records. Audited as
    `drilldown.view` with the ids returned, and only those: a page read is a page seen.
    """
    if statuses not in STATUS_FILTERS or numerator not in NUMERATOR_FILTERS:
        raise ValueError(f"unknown filter: statuses={statuses!r}, numerator={numerator!r}")
    if not 1 <= limit <= MAX_DRILLDOWN_ROWS:
        raise ValueError(f"limit must be from 1 to {MAX_DRILLDOWN_ROWS}, not {limit}")
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, not {offset}")
    units = readable_subtree(database, scope, registry_key, unit_id)
    variables = indicator_variables(indicator, dictionary)
    if sort not in (*CORE_SORTS, *variables):
        raise ValueError(f"cannot sort by {sort!r}")
    wanted = {"finished": PUBLISHED_STATUSES, "draft": ("draft",), "all": None}[statuses]
    cipher = NationalIdCipher(national_id_key)
    with database.reading() as session:
        registry_id = stored_registry_id(session, registry_key)
        raw = _unit_rows(session, registry_id, units, year, wanted, with_identity=True)
    typed = typed_values(raw.drop("national_id_encrypted"), column_types(dictionary))
    # typed_values keeps the rows in order, so the ciphertexts line up with them.
    marked = _membership(typed.with_columns(raw["national_id_encrypted"]), indicator)
    if numerator == "in":
        marked = marked.filter(pl.col("in_numerator"))
    elif numerator == "out":
        marked = marked.filter(~pl.col("in_numerator"))
    counted = marked["in_numerator"].sum() if indicator.type == "proportion" else None
    start = min(offset, (max(marked.height - 1, 0) // limit) * limit)
    shown = marked.sort(sort, descending=descending, nulls_last=True, maintain_order=True).slice(
        start, limit
    )
    masked = [mask_national_id(cipher.decrypt(v)) for v in shown["national_id_encrypted"]]
    rows = shown.with_columns(pl.Series("national_id_masked", masked, dtype=pl.String)).select(
        *RECORD_SCHEMA, *variables
    )
    # In a transaction of its own, once the rows are read: on PostgreSQL one statement, so
    # the audit chain's head, which every audited writer waits for, is held only inside the
    # database (this runs in a drawing thread of low priority, portal/render_slots.py).
    audit.record_event(
        database,
        DRILLDOWN_ACTION,
        scope.actor,
        object_type="registration",
        registry_id=registry_id,
        details={
            "registry": registry_key,
            "indicator": indicator.key,
            "unit_id": unit_id,
            "year": year,
            "filters": {"statuses": statuses, "numerator": numerator, "sort": sort},
            "registration_ids": rows["id"].to_list(),
        },
    )
    return DrillDown(
        rows=rows,
        total=marked.height,
        numerator=None if counted is None else int(counted),
        variables=variables,
        offset=start,
    )


def unit_data_quality(
    database: Database,
    scope: AccessScope,
    registry_key: str,
    dictionary: Dictionary,
    unit_id: object,
    year: int,
    *,
    today: date | None = None,
) -> DataQuality:
    """Completeness of each input variable and the drafts among the unit's registrations.

    A field counts only where the form shows it: one skipped by show-if logic is not
    missing (the same rules as the registrar's list, `entry.completeness`). All statuses
    are counted, drafts included, since a draft is where data is most often missing.
    `today` is needed only by dictionaries whose logic uses `today()`.
    """
    units = readable_subtree(database, scope, registry_key, unit_id)
    with database.reading() as session:
        registry_id = stored_registry_id(session, registry_key)
        key: tuple[object, ...] = (database.url, registry_id, units, year, today, id(dictionary))
        key += _rows_stamp(session, registry_id, units, year)
        with _QUALITY_LOCK:
            kept = _QUALITY.get(key)
        if kept is not None and kept[0] is dictionary:
            return kept[1]
        raw = _unit_rows(session, registry_id, units, year, None, with_identity=False)
    quality = _data_quality(raw, dictionary, today)
    with _QUALITY_LOCK:
        _QUALITY[key] = (dictionary, quality)
    return quality


def _data_quality(raw: pl.DataFrame, dictionary: Dictionary, today: date | None) -> DataQuality:
    typed = typed_values(raw, column_types(dictionary))
    shown = apply_form_logic(typed.lazy(), dictionary, today=today)
    parts = [
        completeness(shown, dictionary, form).with_columns(pl.lit(form).alias("form"))
        for form in dictionary.forms
    ]
    schema = {**COMPLETENESS_SCHEMA, "form": pl.String()}
    table = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    return DataQuality(
        registrations=typed.height,
        drafts=typed.filter(pl.col("status") == "draft").height,
        completeness=table.select(list(schema)),
    )


def _rows_stamp(
    session: Session, registry_id: int | None, units: frozenset[int], year: int
) -> tuple[int, datetime | None, int | None]:
    """What changes whenever the unit's registrations of the year do: how many there are,
    the newest change and the highest id (every save, drafts' too, moves `updated_at`; a
    registration deleted or moved to another year changes the count or, with one moved in,
    the newest change)."""
    if registry_id is None or not units:
        return 0, None, None
    count, newest, highest = session.execute(
        select(func.count(), func.max(Registration.updated_at), func.max(Registration.id)).where(
            Registration.registry_id == registry_id,
            Registration.unit_id.in_(sorted(units)),
            Registration.event_date.between(date(year, 1, 1), date(year, 12, 31)),
        )
    ).one()
    return int(count), newest, highest


def _membership(typed: pl.DataFrame, indicator: Indicator) -> pl.DataFrame:
    """Rows in the indicator's denominator with `in_numerator` and `value`, as the engine counts."""
    [compiled] = compile_indicators([indicator], typed.collect_schema())
    counted = compiled.denominator
    value = pl.lit(None, dtype=pl.Float64)
    if compiled.value is not None:
        value = compiled.value
        counted = counted & compiled.value.is_not_null()
    in_numerator = (
        compiled.numerator if compiled.numerator is not None else pl.lit(None, dtype=pl.Boolean)
    )
    return (
        typed.with_columns(
            in_numerator.alias("in_numerator"), value.alias("value"), counted.alias("_counted")
        )
        .filter(pl.col("_counted"))
        .drop("_counted")
    )


def _unit_rows(
    session: Session,
    registry_id: int | None,
    units: frozenset[int],
    year: int,
    statuses: Sequence[str] | None,
    *,
    with_identity: bool,
) -> pl.DataFrame:
    """The registrations of `units` with an event in `year`, values as JSON text."""
    schema: dict[str, pl.DataType] = {**CORE_SCHEMA, "values": pl.String()}
    if with_identity:
        schema["national_id_encrypted"] = pl.Binary()
    rows: list[tuple[Any, ...]] = []
    if registry_id is not None and units:
        columns: list[Any] = [
            Registration.id,
            Registration.unit_id,
            Registration.event_date,
            Registration.status,
            cast(Registration.values, Text),
        ]
        query = select(*columns)
        if with_identity:
            query = query.add_columns(Patient.national_id_encrypted).join(
                Patient, Patient.id == Registration.patient_id
            )
        query = query.where(
            Registration.registry_id == registry_id,
            Registration.unit_id.in_(sorted(units)),
            Registration.event_date.between(date(year, 1, 1), date(year, 12, 31)),
        ).order_by(Registration.id)
        if statuses is not None:
            query = query.where(Registration.status.in_(list(statuses)))
        rows = [tuple(row) for row in session.execute(query)]
    return pl.DataFrame(rows, schema=schema, orient="row")


def _is_unit_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _refuse(database: Database, scope: AccessScope, registry_key: str, unit_id: object) -> NoReturn:
    """Write the attempt down (a known user only), naming the registry as every event of one
    does, and raise; the message holds no data."""
    if scope.authenticated:
        key = str(registry_key)[:64]
        with database.reading() as session:
            registry = stored_registry_id(session, key)
        audit.record_event(
            database,
            "access.denied",
            scope.actor,
            registry_id=registry,
            details={"registry": key, "unit_id": str(unit_id)[:40], "what": "unit records"},
        )
    raise AccessDenied("the caller may not read the records of this unit")
