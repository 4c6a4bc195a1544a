"""The organisation tree (behandlingsenheter): nation down to departments.

Results are published for every unit at every level, and a registration counts for the
unit that made it and for every unit above it. This module reads the project's own tree
(`units.csv`, built from public Enhetsregisteret facts), checks that it really is one
tree with one level per step, and unrolls it into (unit, ancestor) pairs so that the
engine can aggregate every level with one join instead of walking the tree.

It is pure: a file or a frame goes in, a polars frame or a list of problems comes out.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from indicators.aggregate import UNIT_LEVEL, UNIT_LEVELS, unit_ancestors, unit_tree

# The levels and their Enum dtype are the engine's (a unit's parent is always exactly one
# level above it; the Enum sorts levels top-down and lets no typo pass).

UNITS_CSV = Path(__file__).with_name("units.csv")
"""The shipped tree: org numbers and register names from Enhetsregisteret."""

UNIT_SCHEMA: dict[str, pl.DataType] = {
    "unit_id": pl.Int64(),
    "parent_id": pl.Int64(),
    "level": UNIT_LEVEL,
    "org_number": pl.Int64(),
    "register_name": pl.String(),
    "name": pl.String(),
    "short_name": pl.String(),
    "merged_org_numbers": pl.List(pl.Int64()),
}
"""Columns and dtypes of a unit tree as `read_unit_tree` returns it."""

_REQUIRED_COLUMNS = ("unit_id", "parent_id", "level", "name", "short_name")


def read_unit_tree(path: Path | None = None) -> pl.DataFrame:
    """Read and validate a unit tree; the shipped `units.csv` unless `path` is given.

    `merged_org_numbers` holds the org numbers (separated by `;` in the file) of the
    register units that the public sees as this one hospital, so a registration filed
    under any of them can be attributed to it; it is an empty list, never null.

    Raises `ValueError` naming every problem at once, so a broken file is fixed in one
    round rather than one error at a time.
    """
    source = path or UNITS_CSV
    raw = pl.read_csv(
        source,
        schema_overrides={
            "unit_id": pl.Int64(),
            "parent_id": pl.Int64(),
            "level": pl.String(),
            "org_number": pl.Int64(),
            "register_name": pl.String(),
            "name": pl.String(),
            "short_name": pl.String(),
            "merged_org_numbers": pl.String(),
        },
    )
    problems = validate_unit_tree(raw)
    if problems:
        raise ValueError(f"invalid unit tree in {source}:\n- " + "\n- ".join(problems))
    return raw.with_columns(
        pl.col("level").cast(UNIT_LEVEL),
        pl.col("merged_org_numbers")
        .fill_null("")
        .str.split(";")
        .list.eval(pl.element().filter(pl.element() != "").cast(pl.Int64())),
    ).select(list(UNIT_SCHEMA))


def _level_depth(column: str) -> pl.Expr:
    """The depth of a level (nation 0 … department 4); null for an unknown level."""
    return (
        pl.col(column)
        .cast(pl.String())
        .replace_strict(
            UNIT_LEVELS,
            list(range(len(UNIT_LEVELS))),
            default=None,
            return_dtype=pl.Int64(),
        )
    )


def _ids(frame: pl.DataFrame) -> str:
    """Unit ids of a one-column frame, for a problem message."""
    return ", ".join(str(value) for value in frame.to_series().sort())


def validate_unit_tree(frame: pl.DataFrame) -> list[str]:
    """Every reason `frame` is not one well-formed unit tree; empty when it is.

    Checks: required columns; duplicate ids; unknown levels; blank names; exactly one
    root, at level `nation`; parents that do not exist; a level other than exactly one
    below the parent's; cycles. All problems are returned together. `level` may be the
    Enum or plain strings (a file before it is typed).
    """
    missing = [column for column in _REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        return [f"missing column(s): {', '.join(missing)}"]

    units = frame.select(
        "unit_id",
        "parent_id",
        pl.col("level").cast(pl.String()),
        _level_depth("level").alias("depth"),
        "name",
        "short_name",
    )
    problems: list[str] = []

    duplicated = units.filter(pl.col("unit_id").is_duplicated()).select(pl.col("unit_id").unique())
    if duplicated.height:
        problems.append(f"duplicate unit_id: {_ids(duplicated)}")

    if units["unit_id"].null_count():
        problems.append(f"{units['unit_id'].null_count()} unit(s) without unit_id")

    unknown_level = units.filter(pl.col("depth").is_null())
    if unknown_level.height:
        levels = ", ".join(sorted({str(level) for level in unknown_level["level"]}))
        problems.append(
            f"unknown level ({levels}) at unit_id: "
            f"{_ids(unknown_level.select('unit_id'))}; "
            f"expected one of {', '.join(UNIT_LEVELS)}"
        )

    for column in ("name", "short_name"):
        blank = units.filter(pl.col(column).str.strip_chars().fill_null("") == "")
        if blank.height:
            problems.append(f"blank {column} at unit_id: {_ids(blank.select('unit_id'))}")

    roots = units.filter(pl.col("parent_id").is_null())
    if roots.height != 1:
        problems.append(
            f"expected exactly one root (unit without parent_id), found {roots.height}"
            + (f": {_ids(roots.select('unit_id'))}" if roots.height else "")
        )
    wrong_root = roots.filter(pl.col("depth") != 0)
    if wrong_root.height:
        problems.append(f"root not at level {UNIT_LEVELS[0]}: {_ids(wrong_root.select('unit_id'))}")

    parents = units.unique("unit_id", keep="first").select(
        pl.col("unit_id").alias("parent_id"), pl.col("depth").alias("parent_depth")
    )
    with_parent = units.filter(pl.col("parent_id").is_not_null()).join(
        parents, on="parent_id", how="left"
    )
    orphans = with_parent.filter(~pl.col("parent_id").is_in(parents["parent_id"].implode()))
    if orphans.height:
        problems.append(f"unknown parent_id at unit_id: {_ids(orphans.select('unit_id'))}")
    misplaced = with_parent.filter(pl.col("depth") != pl.col("parent_depth") + 1)
    if misplaced.height:
        problems.append(
            "level not exactly one below the parent's at unit_id: "
            f"{_ids(misplaced.select('unit_id'))}"
        )

    in_cycle = _units_in_cycles(units)
    if in_cycle.height:
        problems.append(f"cycle through unit_id: {_ids(in_cycle)}")
    return problems


def _units_in_cycles(units: pl.DataFrame) -> pl.DataFrame:
    """The unit ids that lie on a cycle of parent links (one column, `unit_id`).

    By pointer doubling: after k rounds each unit points to its ancestor 2**k steps up.
    A chain that ends (at the root or an unknown parent) turns null; once 2**k is at
    least the number of units, only chains that loop still point somewhere, and they
    point into their loop. The units they point at are exactly the units on a cycle
    (every member of a loop is reached from some member of it). log2(n) joins, not a
    walk per unit, and no assumption that levels are right.
    """
    hops = units.unique("unit_id", keep="first").select(
        "unit_id", pl.col("parent_id").alias("ancestor")
    )
    for _ in range(max(1, math.ceil(math.log2(max(hops.height, 2))))):
        hops = hops.join(
            hops.select(pl.col("unit_id").alias("ancestor"), pl.col("ancestor").alias("further")),
            on="ancestor",
            how="left",
        ).select("unit_id", pl.col("further").alias("ancestor"))
    return hops.filter(pl.col("ancestor").is_not_null()).select(
        pl.col("ancestor").unique().alias("unit_id")
    )


def ancestors(frame: pl.DataFrame) -> pl.DataFrame:
    """Every unit paired with itself and every unit above it.

    Columns `unit_id`, `ancestor_id`, `ancestor_level` (the Enum of `UNIT_LEVELS`): a
    department has five rows (itself up to the nation), the nation one. Joining
    registrations on `unit_id` with this frame makes each registration count once at
    every level, which is how the engine aggregates all levels in one pass.

    Expects a valid tree (see `validate_unit_tree`); the climb is the engine's
    `indicators.aggregate.unit_ancestors`, one step per level.
    Sorted by unit_id and then from the nation down.
    """
    tree = unit_tree(frame)
    levels = tree.lazy().select(
        pl.col("unit_id").alias("ancestor_id"), pl.col("level").alias("ancestor_level")
    )
    return (
        unit_ancestors(tree)
        .join(levels, on="ancestor_id", how="left")
        .sort("unit_id", "ancestor_level")
        .collect()
    )
