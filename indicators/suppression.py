"""Suppression (prikking): which results the public may not see.

Primary: a result whose denominator is under the indicator's minimum. Secondary: whatever
would let a reader recover a primary-suppressed number by subtraction. A reader knows, for
every unit with results below it, that the unit's count is the sum of its children's
(a child with no row counts zero). Each such parent–children relation is one equation; a
hidden number is recoverable exactly when some combination of equations isolates it. In a
tree every unit takes part in at most two equations (once as parent, once as child), and
there no hidden number can be isolated as long as no single equation has exactly one hidden
member (take a leaf of the equations used: it has a hidden member of its own, so any
combination involves at least two hidden numbers). So the rule is applied until it holds:

- one child hidden, parent shown: hide the smallest shown sibling as well (the parent
  itself if there is none, but never the nation);
- parent hidden, every child shown: hide the smallest child.

A unit's children need not hold all its registrations (a hospital may register directly);
then the subtraction is not exact, but it is treated as exact, which can only hide more.
The nation is never hidden unless under the minimum. Numerator, denominator and every
other number of a row are hidden together, so one pattern protects them all.
"""

from __future__ import annotations

import polars as pl

_KEY = ("indicator", "period")


def suppress(results: pl.DataFrame, units: pl.DataFrame) -> pl.Series:
    """`suppressed` for each row of `results`, in its order.

    `results` needs `indicator`, `period`, `unit_id`, `denominator` and `min_denominator`;
    `units` the tree's `unit_id` and `parent_id`.
    """
    tree = units.select(pl.col("unit_id").cast(pl.Int64), pl.col("parent_id").cast(pl.Int64))
    rows = (
        results.select(*_KEY, pl.col("unit_id").cast(pl.Int64), "denominator", "min_denominator")
        .with_row_index("row")
        .join(tree, on="unit_id", how="left")
        .with_columns((pl.col("denominator") < pl.col("min_denominator")).alias("hidden"))
        .sort("denominator", "unit_id")
    )
    parents = [pl.col("unit_id").alias("parent_id")]
    while True:
        equations = (
            rows.filter(pl.col("parent_id").is_not_null())
            .group_by(*_KEY, "parent_id")
            .agg(
                pl.col("hidden").sum().alias("hidden_children"),
                (~pl.col("hidden")).sum().alias("shown_children"),
                pl.col("unit_id").filter(~pl.col("hidden")).first().alias("smallest_shown"),
            )
            .join(
                rows.select(
                    *_KEY,
                    *parents,
                    pl.col("hidden").alias("parent_hidden"),
                    pl.col("parent_id").is_null().alias("parent_is_root"),
                ),
                on=[*_KEY, "parent_id"],
                how="left",
            )
        )
        targets = (
            equations.filter(
                pl.col("hidden_children") + pl.col("parent_hidden").cast(pl.UInt32) == 1
            )
            .select(
                *_KEY,
                pl.when(pl.col("shown_children") > 0)
                .then(pl.col("smallest_shown"))
                .when(~pl.col("parent_hidden") & ~pl.col("parent_is_root"))
                .then(pl.col("parent_id"))
                .alias("unit_id"),
            )
            .drop_nulls()
            .unique()
        )
        newly = rows.join(targets, on=[*_KEY, "unit_id"], how="semi").filter(~pl.col("hidden"))
        if newly.is_empty():
            break
        rows = rows.with_columns(pl.col("hidden") | pl.col("row").is_in(newly["row"].implode()))
    return rows.sort("row")["hidden"].alias("suppressed")
