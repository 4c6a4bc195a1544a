"""Checking an aggregate upload: indicator data in SKDE's format, row by row.

SKDE's results portal (imongr) takes CSV files with the columns `context, year, orgnr,
ind_id, var, denominator`. As its documentation reads them: `var` is a whole number, at
least 0, of events that met the indicator, out of `denominator` events (a whole number, at
least 1). A row is usually one event (`var` 0 or 1, `denominator` 1), but may give a
unit's count for several events at once (`var` 14, `denominator` 20). `context` says how
`orgnr` is used: `caregiver` for the treating hospital, trust or region, `resident` for the
patient's home area. The unit tree here is one of treating units, so only `caregiver` rows
are taken; `orgnr` is looked up among the units' organisation numbers (a hospital's old,
merged numbers included).

Single events repeat by nature (two patients at one hospital in one year with the same
outcome are two identical rows), so a duplicate is a key (context, year, orgnr, ind_id)
given as a count in one row and again in another: the later row would count its events
twice. Every problem of every row is found at once; rows are numbered as in a spreadsheet
(the header is row 1). Only a file without problems gives counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from indicators.definition import Indicator
from indicators.uploaded import COUNTS_SCHEMA

COLUMNS = ("context", "year", "orgnr", "ind_id", "var", "denominator")
CONTEXTS = ("caregiver",)
FIRST_YEAR = 1990
"""No Norwegian quality registry's data go further back."""
_WHOLE = r"^-?\d{1,15}$"
_KEY = ["context", "year", "orgnr", "ind_id"]


@dataclass(frozen=True)
class Problem:
    """One problem: `row` as in a spreadsheet (None: the file as a whole), `code` names the
    reason (translated as `aggregate.problem.<code>`), `value` the offending value."""

    row: int | None
    code: str
    value: str = ""


@dataclass(frozen=True)
class AggregateCheck:
    """What a file holds: its rows, its problems, and (only when there are none) its counts
    per indicator, year and unit (`indicators.uploaded.COUNTS_SCHEMA`)."""

    rows: int
    problems: tuple[Problem, ...]
    counts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=COUNTS_SCHEMA))

    @property
    def ok(self) -> bool:
        return not self.problems


def content_hash(content: bytes) -> str:
    """The file's SHA-256: the same file uploaded again is known by it."""
    return hashlib.sha256(content).hexdigest()


def check_aggregate_file(
    frame: pl.DataFrame,
    units_by_org_number: Mapping[int, int],
    indicators: Sequence[Indicator],
    last_year: int,
) -> AggregateCheck:
    """Check every row of `frame` (read as text) against the unit tree's organisation
    numbers (`units_by_org_number`: org number -> unit id), the registry's `indicators` and
    the years from `FIRST_YEAR` to `last_year` (the caller's current year)."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        absent = tuple(Problem(None, "missing_column", column) for column in missing)
        return AggregateCheck(frame.height, absent)
    rows = frame.select(
        pl.int_range(2, frame.height + 2).alias("row"),
        *(pl.col(c).cast(pl.String).str.strip_chars().alias(c) for c in COLUMNS),
    )
    numbers = rows.with_columns(_whole(c) for c in ("year", "orgnr", "var", "denominator"))
    orgs = pl.DataFrame(
        {"orgnr_n": list(units_by_org_number), "unit_id": list(units_by_org_number.values())},
        schema={"orgnr_n": pl.Int64, "unit_id": pl.Int64},
    )
    checked = numbers.join(orgs, on="orgnr_n", how="left", maintain_order="left")
    found = [
        _problems(checked, order, code, condition, column)
        for order, (code, condition, column) in enumerate(_rules(indicators, last_year))
    ]
    found.append(_duplicates(checked, len(found)))
    problems = pl.concat(found).sort("row", "order")
    if not problems.is_empty():
        return AggregateCheck(
            frame.height,
            tuple(
                Problem(row, code, value or "")
                for row, code, value in problems.select("row", "code", "value").iter_rows()
            ),
        )
    counts = (
        checked.group_by(
            pl.col("ind_id").alias("indicator"), pl.col("year_n").alias("year"), "unit_id"
        )
        .agg(
            pl.col("var_n").sum().alias("numerator"),
            pl.col("denominator_n").sum().alias("denominator"),
        )
        .select(pl.col(n).cast(t) for n, t in COUNTS_SCHEMA.items())
        .sort("indicator", "year", "unit_id")
    )
    return AggregateCheck(frame.height, (), counts)


def _whole(column: str) -> pl.Expr:
    """`<column>_n`: the column's text as a whole number, null where it is not one."""
    text = pl.col(column)
    whole = text.str.contains(_WHOLE)
    return pl.when(whole).then(text.cast(pl.Int64, strict=False)).alias(f"{column}_n")


def _rules(indicators: Sequence[Indicator], last_year: int) -> list[tuple[str, pl.Expr, str]]:
    """(code, condition of a bad row, column whose text the report shows), in report order.

    Checks read the parsed numbers; a value that failed to parse is reported once, by the
    rule for its own column, and the rules that need it stay quiet."""
    keys = [i.key for i in indicators]
    proportions = [i.key for i in indicators if i.type == "proportion"]
    year, var, denominator = pl.col("year_n"), pl.col("var_n"), pl.col("denominator_n")
    context, indicator = pl.col("context"), pl.col("ind_id")
    known = indicator.is_in(keys)
    return [
        ("bad_context", context.is_null() | ~context.is_in(CONTEXTS), "context"),
        ("bad_year", year.is_null() | ~year.is_between(FIRST_YEAR, last_year), "year"),
        ("unknown_unit", pl.col("unit_id").is_null(), "orgnr"),
        ("unknown_indicator", indicator.is_null() | ~known, "ind_id"),
        ("not_a_proportion", known & ~indicator.is_in(proportions), "ind_id"),
        ("var_not_whole", var.is_null() | (var < 0), "var"),
        ("denominator_not_whole", denominator.is_null() | (denominator < 1), "denominator"),
        ("var_not_zero_or_one", (denominator == 1) & (var > 1), "var"),
        ("var_above_denominator", (denominator > 1) & (var > denominator), "var"),
    ]


def _problems(
    checked: pl.DataFrame, order: int, code: str, condition: pl.Expr, column: str
) -> pl.DataFrame:
    """The rows breaking one rule, with the offending column's text as the file had it."""
    return checked.filter(condition.fill_null(False)).select(
        "row",
        pl.lit(order, dtype=pl.Int64).alias("order"),
        pl.lit(code).alias("code"),
        pl.col(column).alias("value"),
    )


def _duplicates(checked: pl.DataFrame, order: int) -> pl.DataFrame:
    """Rows that would count events twice: a count (denominator above 1) whose key came
    before, or a single event whose key came before as a count."""
    counts = pl.col("denominator_n") > 1
    first = pl.col("row").min().over(_KEY)
    first_count = pl.col("row").filter(counts).min().over(_KEY)
    earlier = pl.when(counts).then(first).otherwise(first_count)
    return (
        checked.filter(pl.all_horizontal(pl.col(_KEY).is_not_null()))
        .with_columns(earlier.alias("earlier"))
        .filter(pl.col("earlier") < pl.col("row"))
        .select(
            "row",
            pl.lit(order, dtype=pl.Int64).alias("order"),
            pl.lit("duplicate").alias("code"),
            pl.col("earlier").cast(pl.String).alias("value"),
        )
    )
