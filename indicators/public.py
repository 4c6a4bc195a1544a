"""What the public may see of the results (DESIGN.md, "What the public may see").

Public pages, exports and the public API read results only through `public_results`, so a
suppressed number cannot reach them by a forgotten filter: the numbers are removed here, not
hidden by the page.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from indicators.definition import Indicator

KEY_COLUMNS = ("indicator", "period", "unit_id", "level")
"""Columns a suppressed row keeps, with `suppressed` and `note`."""

SECONDARY_NOTE = ":"
"""The note of a row hidden to protect another (Statistics Norway's symbol for a number not
shown for reasons of confidentiality); a row under the minimum says `<N` instead."""


def public_results(results: pl.DataFrame, indicators: Iterable[Indicator]) -> pl.DataFrame:
    """`results` with every number of a suppressed row set to null, and a `note`.

    `note` is `<N` (for example `<10`: fewer than N in the denominator, N the indicator's
    `min_denominator`) where the row is under the minimum, `:` where it is hidden only so
    that another row cannot be recovered by subtraction, and null where the row is shown.
    The notes are symbols, not words, so pages translate them ("færre enn 10", "fewer than
    10"). Every column but the key, `suppressed` and `note` is nulled on suppressed rows:
    numerator, denominator, estimate and interval, achievement, coverage, observed and
    expected, ratios, and the funnel limits and position, which would betray the size.
    """
    minimum = pl.DataFrame(
        [(indicator.key, indicator.min_denominator) for indicator in indicators],
        schema={"indicator": pl.String, "_minimum": pl.Int64},
        orient="row",
    )
    unknown = set(results["indicator"].unique().to_list()) - set(minimum["indicator"].to_list())
    if unknown:
        raise ValueError(f"results of indicators not given: {sorted(unknown)}")
    hidden = pl.col("suppressed")
    numbers = [c for c in results.columns if c not in (*KEY_COLUMNS, "suppressed")]
    return (
        results.join(minimum, on="indicator", how="left", maintain_order="left")
        .with_columns(
            pl.when(hidden & (pl.col("denominator") < pl.col("_minimum")))
            .then(pl.format("<{}", pl.col("_minimum")))
            .when(hidden)
            .then(pl.lit(SECONDARY_NOTE))
            .alias("note"),
            *(pl.when(~hidden).then(pl.col(column)).alias(column) for column in numbers),
        )
        .drop("_minimum")
    )
