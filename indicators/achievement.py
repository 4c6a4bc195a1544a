"""Target levels (måloppnåelse) and coverage (dekningsgrad) of each result.

The level follows SKDE's results portal: with higher-is-better, `high` at or above the high
target, `low` below the moderate target, `moderate` between; the mirror image with
lower-is-better. A level is only given where the number can bear it: not without targets,
not under the indicator's minimum denominator, and not where the registry holds less than
60 % of the unit's eligible patients, since a unit that registers few of its patients may
register a selected few.

For risk-adjusted indicators the level judges the risk-standardised estimate, not the crude
one (see docs/methods.md): the target then asks whether the unit would reach it with the
nation's case mix, which is the question the adjustment exists to answer.
"""

from __future__ import annotations

import polars as pl

MINIMUM_COVERAGE = 0.6
"""Below this coverage no target level is given (SKDE's rule)."""


def achievement_level() -> pl.Expr:
    """`high`, `moderate`, `low` or null, from columns of a results frame.

    Reads `estimate`, `risk_standardised`, `risk_adjusted` (bool), `direction`, `target_high`,
    `target_moderate`, `min_denominator`, `denominator` and `coverage`.
    """
    judged = (
        pl.when(pl.col("risk_adjusted"))
        .then(pl.col("risk_standardised"))
        .otherwise(pl.col("estimate"))
    )
    higher = pl.col("direction") == "higher"
    reaches_high = (
        pl.when(higher)
        .then(judged >= pl.col("target_high"))
        .otherwise(judged <= pl.col("target_high"))
    )
    misses_moderate = (
        pl.when(higher)
        .then(judged < pl.col("target_moderate"))
        .otherwise(judged > pl.col("target_moderate"))
    )
    judged_at_all = (
        pl.col("target_high").is_not_null()
        & pl.col("target_moderate").is_not_null()
        & judged.is_not_null()
        & (pl.col("denominator") >= pl.col("min_denominator"))
        & (pl.col("coverage").is_null() | (pl.col("coverage") >= MINIMUM_COVERAGE))
    )
    return (
        pl.when(~judged_at_all)
        .then(pl.lit(None, dtype=pl.String))
        .when(reaches_high)
        .then(pl.lit("high"))
        .when(misses_moderate)
        .then(pl.lit("low"))
        .otherwise(pl.lit("moderate"))
    )


def coverage_by_unit(
    registrations: pl.LazyFrame, eligible: pl.DataFrame, ancestors: pl.LazyFrame
) -> pl.LazyFrame:
    """Coverage of every unit and year: its registrations over its eligible patients.

    `registrations` counts all registrations per (`unit_id`, `period`), whatever indicator;
    `eligible` is (`unit_id`, `year`, `eligible`) for the units that register, as the
    registry's coverage analysis found them (e.g. against the patient register). Both are
    summed up the tree. A unit-year is unknown (null) where any unit below it registered
    patients in that year without an eligible count, rather than guessed; coverage above 1
    (more registered than found eligible) is shown as 1.
    """
    counts = (
        eligible.lazy()
        .select(
            pl.col("unit_id").cast(pl.Int64),
            pl.col("year").cast(pl.Int32).alias("period"),
            pl.col("eligible").cast(pl.Float64),
        )
        .group_by("unit_id", "period")
        .agg(pl.col("eligible").sum())
    )
    joined = registrations.join(
        counts, on=["unit_id", "period"], how="full", coalesce=True
    ).with_columns(pl.col("registrations").fill_null(0))
    summed = (
        joined.join(ancestors, on="unit_id")
        .group_by(pl.col("ancestor_id").alias("unit_id"), "period")
        .agg(
            pl.col("registrations").sum(),
            pl.col("eligible").sum(),
            ((pl.col("registrations") > 0) & pl.col("eligible").is_null()).any().alias("unknown"),
        )
    )
    return summed.select(
        "unit_id",
        "period",
        pl.when(~pl.col("unknown") & (pl.col("eligible") > 0))
        .then((pl.col("registrations") / pl.col("eligible")).clip(upper_bound=1.0))
        .alias("coverage"),
    )
