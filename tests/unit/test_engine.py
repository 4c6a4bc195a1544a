"""`compute_results` through the public entry point: shape, hierarchy, estimates, target
levels, coverage, and PHEindicatormethods' published values reproduced by the pipeline.

Expected counts come from an independent oracle (a plain walk of the tree in the test), and
interval values from the published references, never from the engine's own output.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from data_access.org_tree import read_unit_tree
from entry.registry_folder import read_registry_folder
from indicators import (
    RESULT_SCHEMA,
    Indicator,
    IndicatorDefinitionError,
    compute_results,
    public_results,
)
from indicators.achievement import achievement_level
from indicators.intervals import mean_t, wilson
from registries.stroke.synthetic import generate

PHE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "phe"
STROKE = Path(__file__).resolve().parents[2] / "registries" / "stroke"
TITLE = {"nb": "Tittel", "en": "Title"}

# nation 1 → regions 10, 11 → trusts 100, 110 → hospitals 1000, 1001, 1100 → departments
TREE = [
    (1, None, "nation"),
    (10, 1, "region"),
    (11, 1, "region"),
    (100, 10, "trust"),
    (110, 11, "trust"),
    (1000, 100, "hospital"),
    (1001, 100, "hospital"),
    (1100, 110, "hospital"),
    (10001, 1000, "department"),
    (10002, 1000, "department"),
    (10011, 1001, "department"),
    (11001, 1100, "department"),
]
DEPARTMENTS = [unit for unit, _, level in TREE if level == "department"]


def units_frame(tree: list[tuple[int, int | None, str]] = TREE) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "unit_id": [unit for unit, _, _ in tree],
            "parent_id": [parent for _, parent, _ in tree],
            "level": [level for _, _, level in tree],
            "name": [f"Unit {unit}" for unit, _, _ in tree],
            "short_name": [f"U{unit}" for unit, _, _ in tree],
        },
        schema_overrides={"parent_id": pl.Int64},
    )


def indicator(key: str, **fields: Any) -> Indicator:
    mapping = {
        "key": key,
        "title": TITLE,
        "description": TITLE,
        "type": "proportion",
        "direction": "higher",
        **fields,
    }
    return Indicator.model_validate(mapping)


def descendants(unit: int) -> set[int]:
    """The oracle: the unit and every unit below it, by walking the tree."""
    below = {unit}
    for child, parent, _ in TREE:
        if parent == unit:
            below |= descendants(child)
    return below


@pytest.fixture(scope="module")
def registrations() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 900
    unit = rng.choice(DEPARTMENTS, size=n, p=[0.5, 0.3, 0.19, 0.01])
    year = rng.choice([2023, 2024], size=n)
    x = rng.random(n) < 0.4
    y = np.round(rng.gamma(2.0, 10.0, n), 1)
    return pl.DataFrame(
        {
            "unit_id": unit,
            "event_date": [date(int(value), 3, 1) for value in year],
            "eligible_for_x": rng.random(n) < 0.8,
            "x": x,
            "x_blank": rng.random(n) < 0.05,
            "y": pl.Series(np.where(rng.random(n) < 0.1, np.nan, y), nan_to_null=True),
        }
    ).select(
        pl.col("unit_id").cast(pl.Int64),
        "event_date",
        "eligible_for_x",
        pl.when(~pl.col("x_blank")).then(pl.col("x")).alias("x"),
        "y",
    )


INDICATORS = [
    indicator("share_x", denominator="eligible_for_x", numerator="x", min_denominator=10),
    indicator("mean_y", type="mean", value="y", direction="lower"),
    indicator("median_y", type="median", value="y", denominator="eligible_for_x"),
]


@pytest.fixture(scope="module")
def results(registrations: pl.DataFrame) -> pl.DataFrame:
    return compute_results(registrations, INDICATORS, units_frame())


def test_returns_the_documented_columns_and_types(results: pl.DataFrame) -> None:
    assert results.schema == pl.Schema(RESULT_SCHEMA)
    assert results.columns[:4] == ["indicator", "period", "unit_id", "level"]


def test_one_row_per_indicator_period_and_unit_with_a_denominator(
    results: pl.DataFrame, registrations: pl.DataFrame
) -> None:
    assert results.select("indicator", "period", "unit_id").is_duplicated().sum() == 0
    assert results["denominator"].min() >= 1  # type: ignore[operator]
    share = results.filter(pl.col("indicator") == "share_x")
    for (unit, _, _), period in [(row, year) for row in TREE for year in (2023, 2024)]:
        rows = registrations.filter(
            pl.col("unit_id").is_in(list(descendants(unit))),
            pl.col("event_date").dt.year() == period,
            pl.col("eligible_for_x"),
        )
        found = share.filter(pl.col("unit_id") == unit, pl.col("period") == period)
        if rows.is_empty():
            assert found.is_empty()
            continue
        assert found["denominator"].item() == rows.height
        assert found["numerator"].item() == rows["x"].fill_null(False).sum()


def test_results_are_sorted_by_indicator_period_level_and_unit(results: pl.DataFrame) -> None:
    order = {item.key: position for position, item in enumerate(INDICATORS)}
    keys = results.select(pl.col("indicator").replace_strict(order), "period", "level", "unit_id")
    assert keys.equals(keys.sort(keys.columns))
    assert results.filter(pl.col("unit_id") == 1)["level"].unique().to_list() == ["nation"]


def test_proportions_carry_wilson_intervals(results: pl.DataFrame) -> None:
    share = results.filter(pl.col("indicator") == "share_x")
    lower, upper = wilson(share["numerator"].to_numpy(), share["denominator"].to_numpy())
    np.testing.assert_allclose(share["lower"].to_numpy(), lower, rtol=1e-12)
    np.testing.assert_allclose(share["upper"].to_numpy(), upper, rtol=1e-12)
    np.testing.assert_allclose(
        share["estimate"].to_numpy(), share["numerator"] / share["denominator"], rtol=1e-12
    )


def test_means_and_medians_at_every_level(
    results: pl.DataFrame, registrations: pl.DataFrame
) -> None:
    for unit, _, _ in TREE:
        for period in (2023, 2024):
            rows = registrations.filter(
                pl.col("unit_id").is_in(list(descendants(unit))),
                pl.col("event_date").dt.year() == period,
            )
            values = rows["y"].drop_nulls().to_numpy()
            mean = results.filter(
                pl.col("indicator") == "mean_y",
                pl.col("unit_id") == unit,
                pl.col("period") == period,
            )
            assert mean["denominator"].item() == values.size
            assert mean["numerator"].item() is None
            lower, upper = mean_t(values.mean(), values.std(ddof=1), values.size)
            assert mean["estimate"].item() == pytest.approx(values.mean(), rel=1e-12)
            assert mean["lower"].item() == pytest.approx(float(lower), rel=1e-10)
            assert mean["upper"].item() == pytest.approx(float(upper), rel=1e-10)

            median_values = np.sort(rows.filter(pl.col("eligible_for_x"))["y"].drop_nulls())
            median = results.filter(
                pl.col("indicator") == "median_y",
                pl.col("unit_id") == unit,
                pl.col("period") == period,
            )
            assert median["estimate"].item() == pytest.approx(np.median(median_values))
            assert median_values[0] <= median["lower"].item() <= median["estimate"].item()
            assert median["estimate"].item() <= median["upper"].item() <= median_values[-1]


def test_median_interval_is_the_order_statistics_of_conover() -> None:
    # n = 10 at 95 %: ranks 2 and 9 (Conover 1999, §3.2); n = 100: ranks 40 and 61.
    for n, (low, high) in [(10, (2, 9)), (100, (40, 61))]:
        frame = pl.DataFrame(
            {
                "unit_id": [10001] * n,
                "event_date": [date(2024, 1, 1)] * n,
                "y": np.arange(n, 0, -1, dtype=float),  # unsorted on purpose
            }
        )
        found = compute_results(
            frame, [indicator("m", type="median", value="y", direction="lower")], units_frame()
        ).filter(pl.col("unit_id") == 10001)
        assert (found["lower"].item(), found["upper"].item()) == (low, high)


def test_registrations_without_a_date_are_not_counted_and_unknown_units_are_refused(
    registrations: pl.DataFrame,
) -> None:
    undated = registrations.with_columns(pl.lit(None, dtype=pl.Date).alias("event_date"))
    both = pl.concat([registrations, undated])
    assert_frame_equal(
        compute_results(both, INDICATORS, units_frame()),
        compute_results(registrations, INDICATORS, units_frame()),
        rel_tol=1e-12,
    )
    stray = registrations.head(1).with_columns(pl.lit(999, dtype=pl.Int64).alias("unit_id"))
    with pytest.raises(ValueError, match="999"):
        compute_results(pl.concat([registrations, stray]), INDICATORS, units_frame())


def test_same_input_gives_the_same_output_to_the_last_bit(
    registrations: pl.DataFrame, results: pl.DataFrame
) -> None:
    assert compute_results(registrations, INDICATORS, units_frame()).equals(results)


@pytest.fixture(scope="module")
def demo() -> tuple[pl.DataFrame, list[Indicator], pl.DataFrame]:
    """The demo stroke registry, large enough for polars to split its work between threads,
    with its indicators (fitted risk models, a mean, a median) and one with a stored
    expected value."""
    units = read_unit_tree()
    frame = generate(units, 30_000, seed=5).registrations.with_columns(
        (pl.col("age") / 250.0).alias("expected_death")
    )
    stored = indicator(
        "stored_expected", numerator="alive_30_days = 0", risk_model={"expected": "expected_death"}
    )
    return frame, [*read_registry_folder(STROKE).indicators, stored], units


def test_any_row_order_gives_the_same_output_to_the_last_bit(
    demo: tuple[pl.DataFrame, list[Indicator], pl.DataFrame],
) -> None:
    """Same input, same output (DESIGN.md): sums of decimals (means, their variance, expected
    counts) round differently in different orders, so the engine fixes the order."""
    frame, indicators, units = demo
    results = compute_results(frame, indicators, units)
    assert results["expected"].drop_nulls().len() > 0
    assert compute_results(frame, indicators, units).equals(results)
    for seed in (1, 2):
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
        again = compute_results(shuffled, indicators, units)
        differing = [
            name for name in results.columns if results[name].ne_missing(again[name]).any()
        ]
        assert differing == [], f"row order {seed} changes {differing}"


def test_no_registrations_give_no_rows_but_every_column(registrations: pl.DataFrame) -> None:
    empty = compute_results(registrations.clear(), INDICATORS, units_frame())
    assert empty.is_empty()
    assert empty.schema == pl.Schema(RESULT_SCHEMA)


def test_accepts_a_lazy_frame(registrations: pl.DataFrame, results: pl.DataFrame) -> None:
    assert compute_results(registrations.lazy(), INDICATORS, units_frame()).equals(results)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"numerator": "nonexistent = 1"}, r"indicator bad: numerator: .*nonexistent"),
        ({"numerator": "y + 1"}, r"indicator bad: numerator: expected a condition"),
        ({"denominator": "x = = 1", "numerator": "x"}, r"indicator bad: denominator: .*position"),
        (
            {"numerator": "x", "risk_model": {"family": "binomial", "covariates": ["nope"]}},
            r"indicator bad: risk_model: unknown variables \['nope'\]",
        ),
    ],
)
def test_bad_definitions_name_the_indicator_key_and_position(
    registrations: pl.DataFrame, fields: dict[str, Any], expected: str
) -> None:
    with pytest.raises(IndicatorDefinitionError, match=expected):
        compute_results(registrations, [indicator("bad", **fields)], units_frame())


# --- target levels --------------------------------------------------------------------------

ACHIEVEMENT_CASES = [
    # direction, estimate, high, moderate, denominator, coverage, expected
    ("higher", 0.40, 0.40, 0.30, 50, None, "high"),
    ("higher", 0.3999, 0.40, 0.30, 50, None, "moderate"),
    ("higher", 0.30, 0.40, 0.30, 50, None, "moderate"),
    ("higher", 0.2999, 0.40, 0.30, 50, None, "low"),
    ("lower", 30.0, 30.0, 45.0, 50, None, "high"),
    ("lower", 45.0, 30.0, 45.0, 50, None, "moderate"),
    ("lower", 45.1, 30.0, 45.0, 50, None, "low"),
    ("higher", 0.90, None, None, 50, None, None),  # no targets
    ("higher", 0.90, 0.40, 0.30, 9, None, None),  # under the minimum (10)
    ("higher", 0.90, 0.40, 0.30, 50, 0.59, None),  # coverage below 60 %
    ("higher", 0.90, 0.40, 0.30, 50, 0.60, "high"),
]


@pytest.mark.parametrize(
    ("direction", "estimate", "high", "moderate", "denominator", "coverage", "expected"),
    ACHIEVEMENT_CASES,
)
def test_target_levels_follow_skde(
    direction: str,
    estimate: float,
    high: float | None,
    moderate: float | None,
    denominator: int,
    coverage: float | None,
    expected: str | None,
) -> None:
    row = pl.DataFrame(
        {
            "estimate": [estimate],
            "risk_standardised": [None],
            "risk_adjusted": [False],
            "direction": [direction],
            "target_high": [high],
            "target_moderate": [moderate],
            "min_denominator": [10],
            "denominator": [denominator],
            "coverage": [coverage],
        },
        schema_overrides={
            "risk_standardised": pl.Float64,
            "target_high": pl.Float64,
            "target_moderate": pl.Float64,
            "coverage": pl.Float64,
        },
    )
    assert row.select(achievement_level())[0, 0] == expected


def test_a_risk_adjusted_indicator_is_judged_on_its_risk_standardised_estimate() -> None:
    row = pl.DataFrame(
        {
            "estimate": [0.20],
            "risk_standardised": [0.50],
            "risk_adjusted": [True],
            "direction": ["higher"],
            "target_high": [0.40],
            "target_moderate": [0.30],
            "min_denominator": [10],
            "denominator": [50],
            "coverage": [None],
        },
        schema_overrides={"coverage": pl.Float64},
    )
    assert row.select(achievement_level())[0, 0] == "high"


def test_targets_reach_the_results(registrations: pl.DataFrame) -> None:
    target = indicator(
        "share_x",
        denominator="eligible_for_x",
        numerator="x",
        targets={"high": 0.45, "moderate": 0.35},
    )
    found = compute_results(registrations, [target], units_frame())
    expected = (
        pl.when(pl.col("denominator") < 10)
        .then(None)
        .when(pl.col("estimate") >= 0.45)
        .then(pl.lit("high"))
        .when(pl.col("estimate") < 0.35)
        .then(pl.lit("low"))
        .otherwise(pl.lit("moderate"))
    )
    assert found["achievement"].equals(found.select(expected.alias("achievement"))["achievement"])


# --- coverage -------------------------------------------------------------------------------


def test_coverage_is_registrations_over_eligible_summed_up_the_tree(
    registrations: pl.DataFrame,
) -> None:
    counts = registrations.group_by("unit_id", pl.col("event_date").dt.year().alias("year")).len()
    # Every department-year has its eligible count, except 11001 in 2024.
    eligible = counts.with_columns((pl.col("len") * 2).alias("eligible")).filter(
        ~((pl.col("unit_id") == 11001) & (pl.col("year") == 2024))
    )
    found = compute_results(
        registrations, INDICATORS[:1], units_frame(), coverage=eligible.drop("len")
    )

    def coverage_of(unit: int, year: int) -> float | None:
        value: float | None = found.filter(pl.col("unit_id") == unit, pl.col("period") == year)[
            "coverage"
        ].item()
        return value

    assert coverage_of(10001, 2023) == pytest.approx(0.5)
    assert coverage_of(100, 2024) == pytest.approx(0.5)
    assert coverage_of(11001, 2023) == pytest.approx(0.5)
    assert coverage_of(11001, 2024) is None  # no eligible count for the registering unit
    assert coverage_of(1, 2024) is None  # nor, therefore, for anything above it
    assert coverage_of(1, 2023) == pytest.approx(0.5)
    low = eligible.with_columns(pl.col("len") * 10).rename({"len": "ten"})
    low = low.with_columns(pl.col("ten").alias("eligible")).drop("ten")
    judged = compute_results(
        registrations,
        [indicator("t", numerator="x", targets={"high": 0.1, "moderate": 0.05})],
        units_frame(),
        coverage=low,
    )
    assert (
        judged.filter(pl.col("coverage") < 0.6)["achievement"].null_count()
        == judged.filter(pl.col("coverage") < 0.6).height
    )


def test_without_coverage_it_is_null(results: pl.DataFrame) -> None:
    assert results["coverage"].null_count() == results.height


# --- published references through the pipeline ------------------------------------------------


def read_phe(name: str) -> pl.DataFrame:
    frame = pl.read_csv(PHE / name, encoding="utf8-lossy", infer_schema_length=None)
    return frame.rename(lambda column: column.lstrip("\ufeff").strip())


def reference_tree(areas: int) -> list[tuple[int, int | None, str]]:
    """Nation → region → trust → hospital 1000 → one department per reference area."""
    top = [(1, None, "nation"), (10, 1, "region"), (100, 10, "trust"), (1000, 100, "hospital")]
    return top + [(10001 + area, 1000, "department") for area in range(areas)]


def test_pipeline_reproduces_phe_wilson_proportions() -> None:
    sheet = read_phe("testdata_Proportion__testdata_Prop.csv").filter(
        pl.col("statistic") == "proportion of 1",
        pl.col("Numerator").is_not_null(),
        pl.col("Denominator").is_not_null(),
        # Area6's denominator (7.6 billion) cannot be expanded into registrations; the
        # statistics tests check its interval directly.
        pl.col("Denominator") < 1_000_000,
    )
    rows = [
        pl.DataFrame({"unit_id": 10001 + area, "event": np.arange(denominator) < numerator})
        for area, (numerator, denominator) in enumerate(
            sheet.select("Numerator", "Denominator").iter_rows()
        )
    ]
    frame = pl.concat(rows).with_columns(pl.lit(date(2024, 6, 1)).alias("event_date"))
    found = compute_results(
        frame, [indicator("p", numerator="event")], units_frame(reference_tree(sheet.height))
    ).filter(pl.col("level") == "department")
    assert found.height == sheet.height
    for name, column in [("estimate", "value"), ("lower", "lower95_0cl"), ("upper", "upper95_0cl")]:
        np.testing.assert_allclose(found[name].to_numpy(), sheet[column].to_numpy(), rtol=1e-6)


def test_pipeline_reproduces_phe_means_at_both_levels() -> None:
    values = read_phe("testdata_Mean__testdata_Mean.csv")
    expected = read_phe("testdata_Mean__testdata_Mean_results.csv")
    frame = values.select(
        pl.col("area").replace_strict({"Area1": 10001, "Area2": 10002}).alias("unit_id"),
        pl.lit(date(2024, 6, 1)).alias("event_date"),
        pl.col("values").cast(pl.Float64).alias("value"),
    )
    found = compute_results(
        frame, [indicator("m", type="mean", value="value")], units_frame(reference_tree(2))
    )
    for unit, area in [(10001, "Area1"), (10002, "Area2"), (1, "No grouping")]:
        row = found.filter(pl.col("unit_id") == unit)
        reference = expected.filter(pl.col("area") == area)
        assert row["denominator"].item() == reference["value_count"].item()
        for name, column in [
            ("estimate", "value"),
            ("lower", "lower95_0cl"),
            ("upper", "upper95_0cl"),
        ]:
            assert row[name].item() == pytest.approx(reference[column].item(), rel=1e-6)


def test_pipeline_reproduces_phe_indirectly_standardised_ratios() -> None:
    sheet = read_phe("testdata_DSR_ISR__testresults_ISR.csv").filter(
        pl.col("statistic") == "indirectly standardised ratio x 1"
    )
    rows = []
    for area, (observed, expected) in enumerate(sheet.select("observed", "expected").iter_rows()):
        size = 1000
        rows.append(
            pl.DataFrame(
                {
                    "unit_id": 10001 + area,
                    "event": np.arange(size) < observed,
                    "expected_events": np.full(size, expected / size),
                }
            )
        )
    frame = pl.concat(rows).with_columns(pl.lit(date(2024, 6, 1)).alias("event_date"))
    ratio = indicator(
        "r", numerator="event", direction="lower", risk_model={"expected": "expected_events"}
    )
    found = compute_results(frame, [ratio], units_frame(reference_tree(sheet.height))).filter(
        pl.col("level") == "department"
    )
    for name, column in [
        ("oe_ratio", "value"),
        ("oe_lower", "lower95_0cl"),
        ("oe_upper", "upper95_0cl"),
    ]:
        np.testing.assert_allclose(found[name].to_numpy(), sheet[column].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(found["observed"].to_numpy(), sheet["observed"].to_numpy())


# --- funnels ----------------------------------------------------------------------------------


def test_funnel_limits_among_the_units_of_a_level(results: pl.DataFrame) -> None:
    from indicators.funnel import proportion_funnel

    share = results.filter(pl.col("indicator") == "share_x", pl.col("period") == 2024)
    departments = share.filter(pl.col("level") == "department")
    limits = proportion_funnel(departments["numerator"], departments["denominator"])
    np.testing.assert_allclose(departments["funnel_lower_95"].to_numpy(), limits.lower_95)
    np.testing.assert_allclose(departments["funnel_upper_998"].to_numpy(), limits.upper_998)
    assert departments["funnel_position"].to_list() == list(limits.position)
    nation = share.filter(pl.col("level") == "nation")
    assert nation["funnel_lower_95"].item() is None  # no peers
    means = results.filter(pl.col("indicator") == "mean_y")
    assert means["funnel_position"].null_count() == means.height


def test_public_results_keep_only_the_key_of_suppressed_rows(results: pl.DataFrame) -> None:
    public = public_results(results, INDICATORS)
    hidden = public.filter(pl.col("suppressed"))
    assert hidden.height > 0
    numbers = [c for c in results.columns if c not in ("indicator", "period", "unit_id", "level")]
    for name in numbers:
        if name != "suppressed":
            assert hidden[name].null_count() == hidden.height, name
    assert set(hidden["note"].unique().to_list()) <= {"<10", "<5", ":"}
    shown = public.filter(~pl.col("suppressed"))
    assert shown["note"].null_count() == shown.height
    assert shown.drop("note").equals(results.filter(~pl.col("suppressed")))
