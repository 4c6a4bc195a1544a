"""Which required fields registrations still lack, and how complete each variable is.

The registrar's list (issue 4, "Registrar's list") asks of a thousand records at once what
`record_rules.check_values(..., target_status="complete")` asks of one: which required
fields are blank although the form shows them. Checking record by record in Python would
take seconds per page, so the same rules run here as polars expressions over typed columns
(one per variable, as `data_access.snapshot.typed_values` makes them):

- variables are visited in `dependency_order`, exactly as `check_values` does, so a field
  hidden by show-if logic is blank for every later rule and calculation;
- a show-if that is unknown (null) hides the field, because `check_values` shows a field
  only when its logic is true;
- calculated variables are computed again from their inputs (the stored value is ignored,
  as `check_values` ignores it), booleans as 1 and 0;
- blank text and empty choice lists count as blank, as `record_rules` reads them.

What comes out is the frame with every variable's value as the form would hold it and a
boolean `shown_column(name)` per variable; `missing_required` and `completeness` build on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Final

import polars as pl

from entry.dictionary import variable_types
from entry.dictionary_logic import has_number_codes
from entry.dictionary_model import Dictionary, Variable
from entry.expressions import check, to_polars
from entry.record_rules import INPUT_FREE_TYPES, dependency_order

SHOWN_PREFIX: Final = "shown:"
MISSING_PREFIX: Final = "missing:"
MISSING_TOTAL: Final = "missing"
"""Column of `missing_required`: required fields missing over every form."""

COMPLETENESS_SCHEMA: Final[dict[str, pl.DataType]] = {
    "variable": pl.String(),
    "shown": pl.Int64(),
    "with_value": pl.Int64(),
    "share": pl.Float64(),
}
"""Columns of `completeness`: `share` is null where no registration shows the variable."""


def shown_column(name: str) -> str:
    return f"{SHOWN_PREFIX}{name}"


def missing_column(form: str) -> str:
    return f"{MISSING_PREFIX}{form}"


def apply_form_logic(
    frame: pl.LazyFrame, dictionary: Dictionary, *, today: date | None = None
) -> pl.LazyFrame:
    """Values as the form holds them (hidden fields blank, calculations redone) plus shown flags.

    `frame` needs a typed column for every variable that holds a value; `today` is needed
    only by dictionaries whose logic uses `today()`.
    """
    types = variable_types(dictionary)
    lazy = frame.with_columns(
        _blank_as_null(v) for v in dictionary.variables if v.type in _BLANKABLE
    )
    for variable in dependency_order(dictionary):
        shown = pl.lit(True, dtype=pl.Boolean)
        if variable.show_if is not None:
            shown = to_polars(variable.show_if, today=today).fill_null(False)
        columns = [shown.alias(shown_column(variable.name))]
        if variable.type != "descriptive":
            value = pl.col(variable.name)
            if variable.calculation is not None:
                value = to_polars(variable.calculation, today=today)
                if check(variable.calculation, types, allow_today=today is not None) == "boolean":
                    value = value.cast(pl.Int64)
            columns.append(pl.when(shown).then(value).otherwise(None).alias(variable.name))
        # One step per variable: each later rule must see this one's value already settled.
        lazy = lazy.with_columns(columns)
    return lazy


def missing_required(
    frame: pl.LazyFrame, dictionary: Dictionary, forms: Iterable[str]
) -> pl.LazyFrame:
    """Add `missing:<form>` per form and `missing` in all: required fields shown but blank.

    `frame` is the output of `apply_form_logic`. A form without required fields counts 0.
    """
    counts: list[pl.Expr] = []
    names: list[str] = []
    for form in forms:
        flags = [
            (pl.col(shown_column(v.name)) & pl.col(v.name).is_null()).cast(pl.Int64)
            for v in dictionary.variables
            if v.form == form and v.required and v.type != "descriptive"
        ]
        count = pl.sum_horizontal(flags) if flags else pl.lit(0, dtype=pl.Int64)
        counts.append(count.cast(pl.Int64).alias(missing_column(form)))
        names.append(missing_column(form))
    total = pl.sum_horizontal(names).cast(pl.Int64) if names else pl.lit(0, dtype=pl.Int64)
    return frame.with_columns(counts).with_columns(total.alias(MISSING_TOTAL))


def completeness(frame: pl.LazyFrame, dictionary: Dictionary, form: str) -> pl.DataFrame:
    """Per input variable of `form`: how many registrations show it, how many hold a value.

    `frame` is the output of `apply_form_logic`; the rows come in dictionary order.
    Calculated and descriptive variables take no input, so they are left out: a calculated
    value is as complete as its inputs are.
    """
    variables = [
        v for v in dictionary.variables if v.form == form and v.type not in INPUT_FREE_TYPES
    ]
    if not variables:
        return pl.DataFrame(schema=COMPLETENESS_SCHEMA)
    sums = frame.select(
        *(pl.col(shown_column(v.name)).sum().alias(f"{v.name}|shown") for v in variables),
        *(
            (pl.col(shown_column(v.name)) & pl.col(v.name).is_not_null())
            .sum()
            .alias(f"{v.name}|with_value")
            for v in variables
        ),
    ).collect()
    shown = [int(sums[f"{v.name}|shown"][0] or 0) for v in variables]
    with_value = [int(sums[f"{v.name}|with_value"][0] or 0) for v in variables]
    return pl.DataFrame(
        {
            "variable": [v.name for v in variables],
            "shown": shown,
            "with_value": with_value,
            "share": [w / s if s else None for w, s in zip(with_value, shown, strict=True)],
        },
        schema=COMPLETENESS_SCHEMA,
    )


_BLANKABLE: Final = frozenset({"text", "notes", "single", "multiple"})


def _blank_as_null(variable: Variable) -> pl.Expr:
    """Blank text and empty lists are no value, as `record_rules` reads its input."""
    column = pl.col(variable.name)
    if variable.type == "multiple":
        return pl.when(column.list.len() == 0).then(None).otherwise(column).alias(variable.name)
    if variable.type == "single" and has_number_codes(variable):
        return column  # a number code cannot be blank text
    return pl.when(column.str.strip_chars() == "").then(None).otherwise(column).alias(variable.name)


__all__ = [
    "COMPLETENESS_SCHEMA",
    "MISSING_TOTAL",
    "apply_form_logic",
    "completeness",
    "missing_column",
    "missing_required",
    "shown_column",
]
