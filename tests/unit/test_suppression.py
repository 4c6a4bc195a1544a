"""Suppression (prikking): primary under the minimum, secondary so that nothing hidden can be
recovered by subtraction, and `public_results` stripping every number of a hidden row.

The property test plays the reader: it takes only what `public_results` publishes, writes
down every relation "a unit's count is the sum of its children's", and asks linear algebra
whether any hidden numerator or denominator is determined by them, across all levels at once.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indicators import Indicator, compute_results, public_results
from indicators.suppression import suppress

LEVELS = ("nation", "region", "trust", "hospital", "department")
TITLE = {"nb": "Tittel", "en": "Title"}


def tree_frame(parents: dict[int, int | None]) -> pl.DataFrame:
    depth: dict[int, int] = {}
    for unit in parents:
        steps, parent = 0, parents[unit]
        while parent is not None:
            steps, parent = steps + 1, parents[parent]
        depth[unit] = steps
    return pl.DataFrame(
        {
            "unit_id": list(parents),
            "parent_id": list(parents.values()),
            "level": [LEVELS[depth[unit]] for unit in parents],
            "name": [str(unit) for unit in parents],
            "short_name": [str(unit) for unit in parents],
        },
        schema={
            "unit_id": pl.Int64,
            "parent_id": pl.Int64,
            "level": pl.String,
            "name": pl.String,
            "short_name": pl.String,
        },
    )


def rows_of(denominators: dict[int, int], minimum: int = 10) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "indicator": "x",
            "period": 2024,
            "unit_id": list(denominators),
            "denominator": list(denominators.values()),
            "min_denominator": minimum,
        }
    )


def hidden_units(parents: dict[int, int | None], denominators: dict[int, int]) -> set[int]:
    rows = rows_of(denominators)
    flags = suppress(rows, tree_frame(parents))
    return {unit for unit, flag in zip(rows["unit_id"], flags, strict=True) if flag}


# nation 1 → regions 2, 3 → hospitals 4, 5 (under 2), 6, 7 (under 3)
SMALL_TREE: dict[int, int | None] = {1: None, 2: 1, 3: 1, 4: 2, 5: 2, 6: 3, 7: 3}


@pytest.mark.parametrize(
    ("denominators", "hidden"),
    [
        # Nothing small: nothing hidden.
        ({1: 100, 2: 50, 3: 50, 4: 25, 5: 25, 6: 25, 7: 25}, set()),
        # Hospital 4 small: its sibling 5 must go too, or 2 − 5 gives 4 away.
        ({1: 100, 2: 40, 3: 60, 4: 5, 5: 35, 6: 30, 7: 30}, {4, 5}),
        # Region 2 small (and so both its hospitals): region 3 must go, and then one of its
        # hospitals, or 6 + 7 gives 3 away — the smaller one, 7.
        ({1: 100, 2: 8, 3: 92, 4: 4, 5: 4, 6: 50, 7: 42}, {2, 3, 4, 5, 7}),
        # Two small hospitals under one region protect each other; region 3 and its smaller
        # hospital 6 protect region 2.
        ({1: 100, 2: 9, 3: 91, 4: 4, 5: 5, 6: 45, 7: 46}, {2, 3, 4, 5, 6}),
        # A region with one hospital (the rest of its registrations made at the region
        # itself): the region is hidden with its only child, but never the nation.
        # Ties go to the lower unit id.
        ({1: 100, 2: 30, 3: 70, 4: 3, 6: 35, 7: 35}, {2, 3, 4, 6}),
        # The nation under the minimum: everything is hidden, and nothing more can be done.
        ({1: 9, 2: 5, 3: 4, 4: 5, 6: 4}, {1, 2, 3, 4, 6}),
    ],
)
def test_secondary_suppression_cases(denominators: dict[int, int], hidden: set[int]) -> None:
    assert hidden_units(SMALL_TREE, denominators) == hidden


def test_suppression_is_per_indicator_and_period() -> None:
    small = rows_of({1: 100, 2: 40, 3: 60, 4: 5, 5: 35, 6: 30, 7: 30})
    large = rows_of({1: 100, 2: 40, 3: 60, 4: 15, 5: 25, 6: 30, 7: 30})
    frame = pl.concat([small, large.with_columns(pl.lit(2025).alias("period"))])
    flags = suppress(frame, tree_frame(SMALL_TREE))
    assert flags.to_list() == [False, False, False, True, True, False, False] + [False] * 7


# --- the property: nothing hidden can be recovered ---------------------------------------------


@st.composite
def registries(draw: st.DrawFn) -> tuple[dict[int, int | None], dict[int, tuple[int, int]], int]:
    """A random tree (nation and up to four levels below), registrations at some units (mostly
    leaves, sometimes a unit with children, never the nation above other units), numerators,
    and a minimum denominator.

    No registry records a patient at the nation itself. Were it to, the nation (never hidden
    unless under the minimum) with one hidden child and registrations of its own is the one
    place where `recoverable`'s exact subtraction says more than a reader can work out: the
    nation minus its shown children is not the hidden child there."""
    parents: dict[int, int | None] = {1: None}
    frontier = [1]
    for _ in range(draw(st.integers(1, 4))):
        next_frontier = []
        for unit in frontier:
            for _ in range(draw(st.integers(0, 4))):
                child = len(parents) + 1
                parents[child] = unit
                next_frontier.append(child)
        frontier = next_frontier or frontier
    children = {parent for parent in parents.values() if parent is not None}
    counts: dict[int, tuple[int, int]] = {}
    for unit in parents:
        leaf = unit not in children
        if leaf or (parents[unit] is not None and draw(st.integers(0, 9)) == 0):
            denominator = draw(st.integers(0, 25))
            if denominator:
                counts[unit] = (draw(st.integers(0, denominator)), denominator)
    if not counts:
        counts[max(parents)] = (1, 1)
    return parents, counts, draw(st.integers(2, 12))


def registrations_of(counts: dict[int, tuple[int, int]]) -> pl.DataFrame:
    units, events = [], []
    for unit, (numerator, denominator) in counts.items():
        units += [unit] * denominator
        events += [True] * numerator + [False] * (denominator - numerator)
    return pl.DataFrame(
        {"unit_id": units, "event_date": [date(2024, 1, 1)] * len(units), "event": events},
        schema={"unit_id": pl.Int64, "event_date": pl.Date, "event": pl.Boolean},
    )


def share_indicator(minimum: int) -> Indicator:
    return Indicator.model_validate(
        {
            "key": "share",
            "title": TITLE,
            "description": TITLE,
            "type": "proportion",
            "numerator": "event",
            "direction": "higher",
            "min_denominator": minimum,
        }
    )


def recoverable(public: pl.DataFrame, parents: dict[int, int | None], column: str) -> list[int]:
    """Hidden units whose `column` follows from what is published: a unit with no row counts
    zero; a unit with a row and children equals the sum of its children's rows."""
    values = dict(zip(public["unit_id"], public[column], strict=True))
    hidden = [unit for unit, value in values.items() if value is None]
    index = {unit: i for i, unit in enumerate(hidden)}
    equations = []
    for parent in values:
        children = [unit for unit, up in parents.items() if up == parent and unit in values]
        if not children:
            continue
        row = np.zeros(len(hidden))
        for unit, sign in [(parent, 1.0)] + [(child, -1.0) for child in children]:
            if unit in index:
                row[index[unit]] += sign
        equations.append(row)
    if not hidden or not equations:
        return []
    system = np.array(equations)
    rank = np.linalg.matrix_rank(system)
    found = []
    for unit, i in index.items():
        unit_vector = np.zeros(len(hidden))
        unit_vector[i] = 1.0
        if np.linalg.matrix_rank(np.vstack([system, unit_vector])) == rank:
            found.append(unit)
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registries())
def test_nothing_hidden_can_be_recovered_from_the_public_results(
    registry: tuple[dict[int, int | None], dict[int, tuple[int, int]], int],
) -> None:
    parents, counts, minimum = registry
    share = share_indicator(minimum)
    results = compute_results(registrations_of(counts), [share], tree_frame(parents))
    public = public_results(results, [share])

    primary = results.filter(pl.col("denominator") < minimum)
    assert primary["suppressed"].all()
    nation = results.filter(pl.col("unit_id") == 1)
    assert nation["suppressed"].item() == (nation["denominator"].item() < minimum)
    for column in ("denominator", "numerator"):
        assert recoverable(public, parents, column) == []
    # The simple subtraction, spelled out: a shown parent minus its shown children never
    # isolates exactly one hidden child.
    shown = dict(zip(public["unit_id"], public["suppressed"], strict=True))
    for parent, is_hidden in shown.items():
        if is_hidden:
            continue
        children = [unit for unit, up in parents.items() if up == parent and unit in shown]
        assert sum(shown[child] for child in children) != 1
    hidden = public.filter(pl.col("suppressed"))
    assert hidden.drop(
        "indicator", "period", "unit_id", "level", "suppressed", "note"
    ).null_count().row(0) == (hidden.height,) * (len(public.columns) - 6)
    assert hidden.filter(pl.col("note").is_null()).is_empty()


def test_public_notes_say_fewer_than_the_minimum_or_hidden_for_others() -> None:
    counts = {4: (1, 5), 5: (10, 35), 6: (10, 30), 7: (10, 30)}
    share = share_indicator(10)
    results = compute_results(registrations_of(counts), [share], tree_frame(SMALL_TREE))
    notes = dict(public_results(results, [share]).select("unit_id", "note").iter_rows())
    assert notes == {1: None, 2: None, 3: None, 4: "<10", 5: ":", 6: None, 7: None}
    with pytest.raises(ValueError, match="share"):
        public_results(results, [])
