"""Packing whole-number columns into one key: same groups, same order, exact round trip."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from indicators.packed_key import packed_key

COLUMNS = ["period", "age", "flag", "level"]


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    size = draw(st.integers(1, 60))

    def column(low: int, high: int) -> list[int | None]:
        return draw(st.lists(st.none() | st.integers(low, high), min_size=size, max_size=size))

    return pl.DataFrame(
        {
            "period": draw(st.lists(st.integers(2019, 2024), min_size=size, max_size=size)),
            "age": column(-5, 110),
            "flag": draw(st.lists(st.none() | st.booleans(), min_size=size, max_size=size)),
            "level": column(0, 6),
        },
        schema={"period": pl.Int32, "age": pl.Int64, "flag": pl.Boolean, "level": pl.UInt8},
    )


@settings(max_examples=60, deadline=None)
@given(frames())
def test_the_key_groups_and_sorts_as_the_columns_do(frame: pl.DataFrame) -> None:
    packing = packed_key(frame.lazy(), COLUMNS)
    assert packing is not None
    by_columns = frame.group_by(COLUMNS).agg(pl.len()).sort(COLUMNS, nulls_last=False)
    by_key = (
        frame.lazy()
        .group_by(packing.key().alias("_key"))
        .agg(pl.len())
        .sort("_key")
        .select(*packing.columns_of("_key", frame.schema), "len")
        .collect()
    )
    assert by_key.equals(by_columns)


def test_columns_that_are_not_whole_numbers_are_not_packed() -> None:
    frame = pl.LazyFrame({"period": [2024], "sex": ["female"], "weight": [71.5]})
    assert packed_key(frame, ["period", "sex"]) is None
    assert packed_key(frame, ["period", "weight"]) is None


def test_ranges_too_wide_for_one_key_are_not_packed() -> None:
    frame = pl.LazyFrame({"a": [0, 2**40], "b": [0, 2**30]})
    assert packed_key(frame, ["a"]) is not None
    assert packed_key(frame, ["a", "b"]) is None


def test_a_column_of_blanks_packs_and_reads_back_blank() -> None:
    frame = pl.DataFrame(
        {"period": [2024, 2023], "age": [None, None]}, schema_overrides={"age": pl.Int64}
    )
    packing = packed_key(frame.lazy(), ["period", "age"])
    assert packing is not None
    read_back = frame.select(packing.key().alias("_key")).select(
        packing.columns_of("_key", frame.schema)
    )
    assert read_back.equals(frame)
