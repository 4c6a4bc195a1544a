"""A registry's key numbers for the front page, from its public results only.

The front page is public, so it reads what every public page reads (`public_frame`: the
suppressed numbers are gone already) and no record: the registrations of the last year are
the national denominator of the registry's broadest indicator in that year, the units are
the hospitals with a result (shown or suppressed) in it, and the achievement is the
nation's on each indicator with target levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class KeyNumbers:
    year: int
    registrations: int
    hospitals: int
    indicators: int
    high_nationally: int
    with_targets: int


def key_numbers(public: pl.DataFrame, indicators: int, current_year: int) -> KeyNumbers | None:
    """The numbers of the latest whole year with results (the current one only when there is
    no other: its figures are preliminary); None for a registry without results."""
    if public.is_empty():
        return None
    years = public["period"].unique()
    whole = years.filter(years < current_year)
    year = int((whole if not whole.is_empty() else years).max())  # type: ignore[arg-type]
    latest = public.filter(pl.col("period") == year)
    nation = latest.filter(pl.col("level") == "nation")
    hospitals = latest.filter(pl.col("level") == "hospital")
    return KeyNumbers(
        year=year,
        registrations=int(nation["denominator"].max() or 0),  # type: ignore[arg-type]
        hospitals=hospitals.filter((pl.col("denominator") > 0) | pl.col("suppressed"))[
            "unit_id"
        ].n_unique(),
        indicators=indicators,
        high_nationally=nation.filter(pl.col("achievement") == "high").height,
        with_targets=nation.filter(pl.col("achievement").is_not_null()).height,
    )
