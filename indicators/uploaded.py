"""Results of indicator data captured elsewhere and uploaded as counts (aggregate upload).

A registry that captures its data in another system (MRS, OpenQReg, eReg) delivers, per
indicator, year and unit, how many events were in the denominator and how many of them met
the indicator (SKDE's `var` and `denominator`). These counts go through `compute_results`
itself, so intervals, target levels, coverage and suppression are the very ones of computed
results, not a second implementation: each unit-year becomes as many registration-like rows
as its largest denominator, and indicator k's column `_u<k>` holds 1 on the first
`numerator` rows, 0 on the rest of its `denominator` rows and blank beyond. Each indicator
is given to the engine as a plain proportion over that column (no risk model: counts carry
no case mix), with the registry's own targets, direction and minimum denominator.

Because the indicators share their rows, the engine's count of registrations at a unit-year
(what coverage divides by the eligible patients) is the largest denominator delivered for
it: the number of patients the registry is known to hold there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from indicators.definition import Indicator
from indicators.engine import RESULT_SCHEMA, compute_results

COUNTS_SCHEMA: dict[str, pl.DataType] = {
    "indicator": pl.String(),
    "year": pl.Int32(),
    "unit_id": pl.Int64(),
    "numerator": pl.Int64(),
    "denominator": pl.Int64(),
}
"""Uploaded counts: one row per indicator, year and unit (numerator at most denominator)."""

_UNIT_YEAR = ["unit_id", "year"]


def uploaded_results(
    counts: pl.DataFrame,
    indicators: Iterable[Indicator],
    units: pl.DataFrame,
    *,
    coverage: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The engine's results (columns of `RESULT_SCHEMA`) of the uploaded `counts`, for the
    proportions among `indicators` that the counts name, in the order of `indicators`."""
    named = set(counts["indicator"].unique().to_list())
    chosen = [i for i in indicators if i.key in named and i.type == "proportion"]
    if not chosen:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    return compute_results(
        _as_registrations(counts, [i.key for i in chosen]),
        [_as_counted(indicator, k) for k, indicator in enumerate(chosen)],
        units,
        coverage=coverage,
    )


def with_uploaded(
    computed: pl.DataFrame, uploaded: pl.DataFrame, indicators: Sequence[Indicator]
) -> pl.DataFrame:
    """`computed` results with those of uploads put in: an uploaded (indicator, period)
    replaces whatever was computed for it; sorted as `compute_results` sorts."""
    if uploaded.is_empty():
        return computed
    order = {indicator.key: k for k, indicator in enumerate(indicators)}
    kept = computed.join(
        uploaded.select("indicator", "period").unique(), on=["indicator", "period"], how="anti"
    )
    return (
        pl.concat([kept, uploaded.select(kept.columns)])
        .with_columns(pl.col("indicator").replace_strict(order, return_dtype=pl.Int64).alias("_o"))
        .sort("_o", "period", "level", "unit_id")
        .drop("_o")
    )


def _column(position: int) -> str:
    return f"_u{position}"


def _as_counted(indicator: Indicator, position: int) -> Indicator:
    """The indicator as a proportion over its uploaded column, targets and minimum kept."""
    column = _column(position)
    return indicator.model_copy(
        update={
            "denominator": f"not isblank({column})",
            "numerator": f"{column} = 1",
            "risk_model": None,
        }
    )


def _as_registrations(counts: pl.DataFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """One row per counted event slot of each unit-year (see the module's docstring)."""
    typed = counts.lazy().select(pl.col(n).cast(t) for n, t in COUNTS_SCHEMA.items())
    rows = (
        typed.group_by(_UNIT_YEAR)
        .agg(pl.col("denominator").max().alias("_size"))
        .with_columns(pl.int_ranges(0, pl.col("_size")).alias("_slot"))
        .explode("_slot")
        .drop("_size")
    )
    for position, key in enumerate(keys):
        own = typed.filter(pl.col("indicator") == key).select(
            *_UNIT_YEAR, pl.col("numerator").alias("_n"), pl.col("denominator").alias("_d")
        )
        slot = pl.col("_slot")
        rows = (
            rows.join(own, on=_UNIT_YEAR, how="left")
            .with_columns(
                pl.when(slot < pl.col("_n"))
                .then(1)
                .when(slot < pl.col("_d"))
                .then(0)
                .cast(pl.Int64)
                .alias(_column(position))
            )
            .drop("_n", "_d")
        )
    return rows.select(
        "unit_id", pl.date(pl.col("year"), 1, 1).alias("event_date"), pl.exclude(*_UNIT_YEAR)
    ).drop("_slot")
