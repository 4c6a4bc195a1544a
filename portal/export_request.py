"""An export's choices, read from a query string and checked, field by field.

The page and the download route read the same query (`variables`, `units`, `status`,
`from`, `to`, `where`), so an export's address reproduces it exactly and both refuse the
same mistakes: each problem names its field, a catalogue key and, for the expression, the
position, so the page can show it next to the field. Values are taken as `object`: a
forged request may send numbers or lists, which are read as text and refused or used like
anything typed. Nothing here knows the user; the units asked for are narrowed to the
caller's scope in data_access/exports.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from data_access.exports import ExportQuery
from data_access.models import REGISTRATION_STATUSES
from entry.dictionary_model import Dictionary, variable_types
from entry.expressions import ExpressionError, compile_expression
from portal.export_formats import FORMATS, Format

FIELDS = ("variables", "from", "to", "units", "status", "where", "format")
QUERY_KEYS = ("variables", "units", "status", "from", "to", "where")
"""The query keys of an export's address (the format is part of the path)."""
DEFAULT_STATUSES = ("complete", "locked")


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field: a catalogue key, its values, and for an expression the
    0-based position in the text."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)
    position: int | None = None


class RequestProblems(ValueError):  # noqa: N818 - a refusal, not a fault
    """One or more fields are wrong; `problems` maps each field to its problem."""

    def __init__(self, problems: Mapping[str, Problem]) -> None:
        super().__init__(", ".join(sorted(problems)))
        self.problems = dict(problems)


def parse_export(
    dictionary: Dictionary, units: pl.DataFrame, fmt: object, query: Mapping[str, object]
) -> tuple[Format, ExportQuery]:
    """The format and the query, or `RequestProblems` naming every wrong field at once.

    `units` is the tree (`unit_id`, `parent_id`); a chosen unit covers the units below it,
    as a grant does.
    """
    problems: dict[str, Problem] = {}
    chosen_format = _format(fmt, problems)
    variables = _variables(dictionary, query.get("variables"), problems)
    first = _day(query.get("from"), "from", problems)
    last = _day(query.get("to"), "to", problems)
    if first is not None and last is not None and last < first:
        problems["to"] = Problem("export.error.bad_period")
    unit_ids = _units(units, query.get("units"), problems)
    statuses = _statuses(query.get("status"), problems)
    where = _where(dictionary, query.get("where"), problems)
    if problems or chosen_format is None:
        raise RequestProblems(problems)
    return chosen_format, ExportQuery(
        variables=variables,
        unit_ids=unit_ids,
        statuses=statuses,
        first_day=first,
        last_day=last,
        where=where,
    )


def export_query_string(
    variables: Iterable[str],
    units: Iterable[int | str],
    statuses: Iterable[str],
    first_day: object,
    last_day: object,
    where: object,
) -> dict[str, str]:
    """The query of an export's address from the page's fields (empty ones left out)."""
    values = {
        "variables": ",".join(variables),
        "units": ",".join(str(unit) for unit in units),
        "status": ",".join(statuses),
        "from": _text(first_day),
        "to": _text(last_day),
        "where": _text(where),
    }
    return {key: value for key, value in values.items() if value}


def subtree(units: pl.DataFrame, chosen: Iterable[int]) -> frozenset[int]:
    """The chosen units and every unit below them."""
    found = set(chosen) & set(units["unit_id"].to_list())
    frontier = set(found)
    children = units.select("unit_id", "parent_id")
    while frontier:
        below = set(children.filter(pl.col("parent_id").is_in(list(frontier)))["unit_id"])
        frontier = below - found
        found |= below
    return frozenset(found)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return str(value).strip()


def _items(value: object) -> list[str]:
    return [item.strip() for item in _text(value).split(",") if item.strip()]


def _format(value: object, problems: dict[str, Problem]) -> Format | None:
    for known in FORMATS:
        if _text(value) == known:
            return known
    problems["format"] = Problem("export.error.bad_format")
    return None


def _variables(
    dictionary: Dictionary, value: object, problems: dict[str, Problem]
) -> tuple[str, ...]:
    wanted = _items(value)
    known = {v.name for v in dictionary.variables if v.type != "descriptive"}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        problems["variables"] = Problem(
            "export.error.unknown_variables", {"names": ", ".join(unknown[:5])}
        )
    elif not wanted:
        problems["variables"] = Problem("export.error.no_variables")
    chosen = set(wanted)
    return tuple(v.name for v in dictionary.variables if v.name in chosen)


def _day(value: object, name: str, problems: dict[str, Problem]) -> date | None:
    """A day written as 2025-03-31 or as Norwegians do, 31.03.2025."""
    text = _text(value)
    if not text:
        return None
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    problems[name] = Problem("export.error.bad_date")
    return None


def _units(
    units: pl.DataFrame, value: object, problems: dict[str, Problem]
) -> frozenset[int] | None:
    items = _items(value)
    if not items:
        return None
    if not all(item.isdigit() and len(item) <= 18 for item in items):
        problems["units"] = Problem("export.error.bad_units")
        return None
    return subtree(units, (int(item) for item in items))


def _statuses(value: object, problems: dict[str, Problem]) -> frozenset[str] | None:
    items = _items(value)
    if not items:
        return None
    if not set(items) <= set(REGISTRATION_STATUSES):
        problems["status"] = Problem("export.error.bad_status")
        return None
    return frozenset(items)


def _where(dictionary: Dictionary, value: object, problems: dict[str, Problem]) -> str | None:
    text = _text(value)
    if not text:
        return None
    try:
        compile_expression(text, variable_types(dictionary), expect="boolean")
    except ExpressionError as error:
        problems["where"] = Problem(
            "export.error.where",
            {"message": error.message, "position": error.position + 1},
            error.position,
        )
    return text
