"""Whole-number columns packed into one Int64 key, to group and sort by them fast.

Grouping a million registrations by the period and six covariates of a risk model, then
sorting the patterns, took polars twice as long by the seven columns as by one integer
that orders the same way. Each column becomes one mixed-radix digit: 0 for a blank, else
its value less the column's smallest plus 1, so the key sorts as the columns would sorted
together with blanks first, and the columns are read back from the key exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

_ROOM = 2**62
"""Keys stay below this, clear of Int64's limit."""


@dataclass(frozen=True)
class PackedKey:
    """How `columns` pack into one key: each column's smallest value and digit width."""

    columns: tuple[str, ...]
    lowest: tuple[int, ...]
    widths: tuple[int, ...]

    def key(self) -> pl.Expr:
        """The key of each row, as an Int64 expression over the columns."""
        key = pl.lit(0, dtype=pl.Int64)
        for name, low, width in zip(self.columns, self.lowest, self.widths, strict=True):
            digit = (pl.col(name).cast(pl.Int64) - low + 1).fill_null(0)
            key = key * width + digit
        return key

    def columns_of(self, key: str, schema: pl.Schema) -> list[pl.Expr]:
        """The columns read back from the key column `key`, with the types of `schema`."""
        found: list[pl.Expr] = []
        rest = pl.col(key)
        digits = list(zip(self.columns, self.lowest, self.widths, strict=True))
        for name, low, width in reversed(digits):
            digit = rest % width
            value = pl.when(digit > 0).then(digit - 1 + low)
            found.append(value.cast(schema[name]).alias(name))
            rest = rest // width
        return found[::-1]


def packed_key(rows: pl.LazyFrame, columns: Sequence[str]) -> PackedKey | None:
    """The packing of `columns` of `rows`, or None when one of them is not a whole number
    (or a boolean) or their ranges together do not fit in one key."""
    schema = rows.collect_schema()
    if not all(schema[name].is_integer() or schema[name] == pl.Boolean() for name in columns):
        return None
    bounds = (
        rows.select(
            *(pl.col(name).cast(pl.Int64).min().alias(f"{i}min") for i, name in enumerate(columns)),
            *(pl.col(name).cast(pl.Int64).max().alias(f"{i}max") for i, name in enumerate(columns)),
        )
        .collect()
        .row(0)
    )
    lowest, widths, room = [], [], 1
    for i in range(len(columns)):
        low, high = bounds[i], bounds[len(columns) + i]
        low, high = (0, 0) if low is None else (int(low), int(high))
        width = high - low + 2  # the values, and 0 for a blank
        room *= width
        if room >= _ROOM:
            return None
        lowest.append(low)
        widths.append(width)
    return PackedKey(tuple(columns), tuple(lowest), tuple(widths))
