"""Counting registrations for their unit and every unit above it.

The registrations are read once: every indicator's columns are evaluated in one select and
summed per registering unit and year in one group-by. What is additive — counts, and for
means the count, mean and sum of squared deviations (M2), which combine exactly (Chan et
al.) without the cancellation of summed squares — is then carried up the tree by joining
that small frame with the units' ancestors. Only medians need every value at every level.

Floating-point sums are taken as integer sums of exact parts (`exact_parts`) over
registrations and with `fixed_order_sum` over the small per-unit frames, so the same
registrations give the same results to the last bit, in any row order and on every run
(docs/methods.md, "Determinism").
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from indicators.compiled import CompiledIndicator

UNIT_LEVELS = ("nation", "region", "trust", "hospital", "department")
UNIT_LEVEL = pl.Enum(UNIT_LEVELS)
"""Levels from the top down (DESIGN.md, "Words"); results sort by them."""


def fixed_order_sum(expression: pl.Expr) -> pl.Expr:
    """The sum of a float expression within a group, the same to the last bit whatever the
    order of the rows and however polars splits the work: the group's values are sorted and
    added one after another (a cumulative sum, which polars cannot reorder). Polars' own
    `sum()` adds partial sums of parallel chunks in no fixed order, and rounding depends on
    the order. Nulls are skipped; a group without values sums to 0. Sums of whole numbers
    (counts) are exact in any order and do not need this."""
    return expression.sort().cum_sum().last().fill_null(0.0)


def exact_sum(expression: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The sum within a group, as a float, of an expression of type `dtype`: whole numbers
    (counts, 0/1 outcomes) summed as integers, which is exact in any order and much faster
    than sorting; decimals with `fixed_order_sum`."""
    if dtype.is_integer() or dtype == pl.Boolean():
        return expression.sum().cast(pl.Float64)
    return fixed_order_sum(expression.cast(pl.Float64))


SPLIT = 2.0**31
"""Where `exact_parts` cuts a scaled value into whole numbers: 31 bits each side."""


def exact_parts(expression: pl.Expr, name: str) -> list[pl.Expr]:
    """Row by row, before grouping: a float expression as two whole numbers, `<name>_hi`
    and `<name>_lo`, at a power-of-two scale shared by the whole column (`<name>_scale`),
    which `exact_parts_sum` adds up per group.

    Integer sums are exact in any order, so the sum is the same to the last bit however the
    rows are ordered or split, without sorting each group as `fixed_order_sum` does (the
    sort was a tenth of the engine's time at a million registrations). Each value keeps 62
    bits below the column's largest magnitude, so a group's sum is off by at most
    n × 2⁻⁶² of that magnitude: closer to the exact sum than adding floats one by one.
    """
    largest = expression.abs().max()
    scale = (
        pl.when(largest > 0)
        .then(pl.lit(2.0).pow(31.0 - largest.log(2).ceil()))
        .otherwise(1.0)
        .alias(f"{name}_scale")
    )
    scaled = expression * scale
    high = scaled.floor()
    return [
        high.cast(pl.Int64).alias(f"{name}_hi"),
        ((scaled - high) * SPLIT).round().cast(pl.Int64).alias(f"{name}_lo"),
        scale,
    ]


def exact_parts_sum(name: str) -> pl.Expr:
    """Within a group, the sum of the values `exact_parts` cut up as `name`; 0 without any."""
    high = pl.col(f"{name}_hi").sum().cast(pl.Float64)
    low = pl.col(f"{name}_lo").sum().cast(pl.Float64) / SPLIT
    return ((high + low) / pl.col(f"{name}_scale").first()).fill_null(0.0)


def unit_tree(units: pl.DataFrame) -> pl.DataFrame:
    """`unit_id`, `parent_id` and `level` of the tree, typed; other columns are not needed."""
    missing = {"unit_id", "parent_id", "level"} - set(units.columns)
    if missing:
        raise ValueError(f"units lack the columns {sorted(missing)}")
    return units.select(
        pl.col("unit_id").cast(pl.Int64),
        pl.col("parent_id").cast(pl.Int64),
        pl.col("level").cast(pl.String).cast(UNIT_LEVEL),
    )


def unit_ancestors(tree: pl.DataFrame) -> pl.LazyFrame:
    """(`unit_id`, `ancestor_id`): each unit with itself and every unit above it.

    Climbs one level per join, once per level below the nation, so a frame joined on
    `unit_id` counts once for its unit and once for each unit above.
    """
    units = tree.lazy().select("unit_id", "parent_id")
    parent_of = units.select(
        pl.col("unit_id").alias("ancestor_id"), pl.col("parent_id").alias("next_id")
    )
    step = units.select("unit_id", pl.col("unit_id").alias("ancestor_id"))
    steps = [step]
    for _ in UNIT_LEVELS[1:]:
        step = (
            step.join(parent_of, on="ancestor_id")
            .filter(pl.col("next_id").is_not_null())
            .select("unit_id", pl.col("next_id").alias("ancestor_id"))
        )
        steps.append(step)
    return pl.concat(steps)


def check_units(per_unit: pl.DataFrame, tree: pl.DataFrame) -> None:
    """Registrations at a unit the tree lacks would vanish from every level: refuse them."""
    unknown = per_unit.join(tree, on="unit_id", how="anti")["unit_id"].unique().sort()
    if unknown.len():
        raise ValueError(f"registrations at units not in the tree: {unknown.to_list()[:20]}")


def registration_columns(compiled: Sequence[CompiledIndicator]) -> list[pl.Expr]:
    """Per registration: each indicator's denominator (`_d`), numerator (`_n`), value (`_v`)."""
    columns: list[pl.Expr] = []
    for item in compiled:
        i = item.position
        columns.append(item.denominator.alias(f"_d{i}"))
        if item.numerator is not None:
            columns.append(item.numerator.alias(f"_n{i}"))
        if item.value is not None:
            columns.append(item.value.alias(item.value_column))
    return columns


def mean_parts(compiled: Sequence[CompiledIndicator]) -> list[pl.Expr]:
    """Row by row, for each mean indicator: its value's deviation from a centre shared by
    the column (the middle of its range) and that deviation squared, cut into exact parts
    (`exact_parts`), and the centre. Centring keeps the unit's M2, taken from the two sums,
    free of the cancellation that summed squares of uncentred values suffer."""
    parts: list[pl.Expr] = []
    for item in compiled:
        if item.indicator.type == "mean":
            i, value = item.position, pl.col(item.value_column).cast(pl.Float64)
            centre = (value.max() + value.min()) / 2.0
            deviation = value - centre
            parts += [
                *exact_parts(deviation, f"_dev{i}"),
                *exact_parts(deviation**2, f"_sq{i}"),
                centre.alias(f"_centre{i}"),
            ]
    return parts


def unit_aggregates(compiled: Sequence[CompiledIndicator]) -> list[pl.Expr]:
    """Per registering unit and year: all registrations, and each indicator's sums (means
    from the columns of `mean_parts`)."""
    aggregates = [pl.len().alias("registrations")]
    for item in compiled:
        i = item.position
        if item.indicator.type == "proportion":
            aggregates += [
                pl.col(f"_d{i}").sum().alias(f"_den{i}"),
                pl.col(f"_n{i}").sum().alias(f"_num{i}"),
            ]
        elif item.indicator.type == "mean":
            n = pl.col(item.value_column).count()
            deviations, squares = exact_parts_sum(f"_dev{i}"), exact_parts_sum(f"_sq{i}")
            aggregates += [
                n.alias(f"_den{i}"),
                pl.when(n > 0)
                .then(pl.col(f"_centre{i}").first() + deviations / n)
                .alias(f"_mean{i}"),
                pl.when(n > 0)
                .then((squares - deviations**2 / n).clip(lower_bound=0.0))
                .otherwise(0.0)
                .alias(f"_m2{i}"),
            ]
        else:  # a median's estimate comes from its values (`median_values`), not from sums
            aggregates.append(pl.col(item.value_column).count().alias(f"_den{i}"))
    return aggregates


def _long(item: CompiledIndicator, per_unit: pl.LazyFrame) -> pl.LazyFrame:
    i, kind = item.position, item.indicator.type
    return per_unit.select(
        pl.lit(item.key).alias("indicator"),
        "unit_id",
        "period",
        pl.col(f"_den{i}").cast(pl.Int64).alias("denominator"),
        (pl.col(f"_num{i}") if kind == "proportion" else pl.lit(None))
        .cast(pl.Int64)
        .alias("numerator"),
        (pl.col(f"_mean{i}") if kind == "mean" else pl.lit(None)).cast(pl.Float64).alias("mean"),
        (pl.col(f"_m2{i}") if kind == "mean" else pl.lit(None)).cast(pl.Float64).alias("m2"),
    )


def sums_by_unit(
    compiled: Sequence[CompiledIndicator], per_unit: pl.DataFrame, ancestors: pl.LazyFrame
) -> pl.DataFrame:
    """Denominator, numerator, mean and M2 of every indicator at every unit of the tree.

    Only units with at least one registration in the denominator get a row. Means (mean
    and M2, combined in a fixed order) and counts are summed in separate queries, so that
    the costlier sums are only taken where there is a mean; the rows come in no set order.
    """
    n = pl.col("denominator").sum()
    mean = fixed_order_sum(pl.col("denominator") * pl.col("mean")) / n
    deviations = pl.col("denominator") * (pl.col("mean") - mean) ** 2
    counted = [
        n.alias("denominator"),
        pl.when(pl.col("numerator").is_not_null().any())
        .then(pl.col("numerator").sum())
        .alias("numerator"),
    ]
    averaged = [
        *counted,
        mean.alias("mean"),
        (fixed_order_sum(pl.col("m2")) + fixed_order_sum(deviations)).alias("m2"),
    ]
    counted += [pl.lit(None, dtype=pl.Float64).alias(name) for name in ("mean", "m2")]
    queries = []
    for means, aggregates in ((False, counted), (True, averaged)):
        items = [item for item in compiled if (item.indicator.type == "mean") == means]
        if items:
            queries.append(
                pl.concat([_long(item, per_unit.lazy()) for item in items])
                .filter(pl.col("denominator") > 0)
                .join(ancestors, on="unit_id")
                .group_by("indicator", "period", pl.col("ancestor_id").alias("unit_id"))
                .agg(aggregates)
            )
    return pl.concat(pl.collect_all(queries))


def median_values(
    registrations: pl.LazyFrame, item: CompiledIndicator, ancestors: pl.LazyFrame
) -> pl.LazyFrame:
    """How many known values of a median indicator each unit and year has of each distinct
    value, at their unit and every unit above, sorted by unit, year and value, so that an
    order statistic is found by position in the running count (`median_columns`).

    Values are counted before they climb the tree: registered values repeat (minutes, days),
    so the counts are far fewer than the values, and sorting them costs a fraction of sorting
    every value once per unit above it.
    """
    return (
        registrations.filter(pl.col(item.value_column).is_not_null())
        .group_by("unit_id", "period", pl.col(item.value_column).alias("value"))
        .agg(pl.len().alias("count"))
        .join(ancestors, on="unit_id")
        .group_by(pl.col("ancestor_id").alias("unit_id"), "period", "value")
        .agg(pl.col("count").sum())
        .sort("unit_id", "period", "value")
    )
