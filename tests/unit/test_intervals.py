"""Confidence intervals against PHEindicatormethods' published test values.

The reference files are PHEindicatormethods v2.1.0's `tests/testthat` workbooks (see
../shared/reference/README.md). Every comparison is relative, to 1e-6: the references carry
15 significant digits, and their values span 1e-3 to 1e5, so an absolute tolerance would be
meaningless for some rows. Rows Area09 to Area11 have a missing numerator or denominator and
must give NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from indicators.intervals import (
    byar,
    count_interval,
    mean_t,
    median_ranks,
    poisson_exact,
    ratio_interval,
    wilson,
)

PHE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "phe"
RTOL = 1e-6
# (confidence, lower column, upper column) of PHE's two-level sheets
LEVELS = [(0.95, "lower95_0cl", "upper95_0cl"), (0.998, "lower99_8cl", "upper99_8cl")]


def read_phe(name: str) -> pl.DataFrame:
    """A reference sheet with clean column names (some files have a BOM or a newline in one)."""
    frame = pl.read_csv(PHE / name, encoding="utf8-lossy", infer_schema_length=None)
    return frame.rename(lambda column: column.lstrip("\ufeff").strip())


def column(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].cast(pl.Float64).to_numpy()


def assert_reference(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal to 1e-6 relative where the reference has a value, NaN where it has none."""
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    known = ~np.isnan(expected)
    np.testing.assert_allclose(actual[known], expected[known], rtol=RTOL, atol=0)


def percent(frame: pl.DataFrame) -> np.ndarray:
    return frame["confidence"].str.strip_chars_end("%").cast(pl.Float64).to_numpy() / 100


@pytest.mark.parametrize(("confidence", "lower", "upper"), LEVELS)
def test_wilson_matches_phe_proportions(confidence: float, lower: str, upper: str) -> None:
    sheet = read_phe("testdata_Proportion__testdata_Prop.csv")
    multiplier = column(sheet, "multiplier")
    low, high = wilson(column(sheet, "Numerator"), column(sheet, "Denominator"), confidence)
    assert_reference(low * multiplier, column(sheet, lower))
    assert_reference(high * multiplier, column(sheet, upper))


def test_wilson_matches_phe_grouped_proportions() -> None:
    sheet = read_phe("testdata_Proportion__testdata_Prop_g.csv")
    assert set(percent(sheet)) == {0.95}
    low, high = wilson(column(sheet, "Numerator"), column(sheet, "Denominator"))
    assert_reference(low, column(sheet, "lowercl"))
    assert_reference(high, column(sheet, "uppercl"))


@pytest.mark.parametrize("method", ["Byars", "Wilson"])
def test_byar_and_wilson_match_phe(method: str) -> None:
    sheet = read_phe("testdata_Byars_Wilson__testdata_B_W.csv").filter(pl.col("method") == method)
    x, confidence = column(sheet, "x"), percent(sheet)
    intervals = [
        byar(xi, ci) if method == "Byars" else wilson(xi, ni, ci)
        for xi, ni, ci in zip(x, column(sheet, "n"), confidence, strict=True)
    ]
    assert_reference(np.array([i[0] for i in intervals]), column(sheet, "lowercl"))
    assert_reference(np.array([i[1] for i in intervals]), column(sheet, "uppercl"))


@pytest.mark.parametrize(("confidence", "lower", "upper"), LEVELS)
def test_count_interval_matches_phe_rates(confidence: float, lower: str, upper: str) -> None:
    sheet = read_phe("testdata_Rate__testdata_Rate.csv")
    x, n, multiplier = (column(sheet, c) for c in ("Numerator", "Denominator", "multiplier"))
    low, high = count_interval(x, confidence)
    assert_reference(low / n * multiplier, column(sheet, lower))
    assert_reference(high / n * multiplier, column(sheet, upper))
    method = sheet["method"].to_numpy()
    assert all(method[x < 10] == "Exact") and all(method[x >= 10] == "Byars")


def test_count_interval_matches_phe_grouped_rates() -> None:
    sheet = read_phe("testdata_Rate__testdata_Rate_g.csv")
    x, n, multiplier = (column(sheet, c) for c in ("Numerator", "Denominator", "multiplier"))
    low, high = count_interval(x, 0.95)
    assert_reference(low / n * multiplier, column(sheet, "lowercl"))
    assert_reference(high / n * multiplier, column(sheet, "uppercl"))


@pytest.mark.parametrize(("confidence", "lower", "upper"), LEVELS)
def test_ratio_interval_matches_phe_indirectly_standardised(
    confidence: float, lower: str, upper: str
) -> None:
    """ISRs and ISRates: O/E and its interval, times 1, 100 or the reference rate."""
    sheet = read_phe("testdata_DSR_ISR__testresults_ISR.csv")
    statistic = sheet["statistic"]
    scale = np.where(
        statistic.str.contains("rate").to_numpy(),
        column(sheet, "ref_rate"),
        statistic.str.extract(r"x (\d+)$").cast(pl.Float64).to_numpy(),
    )
    observed, expected = column(sheet, "observed"), column(sheet, "expected")
    np.testing.assert_allclose(observed / expected * scale, column(sheet, "value"), rtol=RTOL)
    low, high = ratio_interval(observed, expected, confidence)
    reference_low, reference_high = column(sheet, lower), column(sheet, upper)
    given = ~np.isnan(reference_low)  # Area1 and Area2 were run at 95% only
    assert given.sum() >= 12
    assert_reference((low * scale)[given], reference_low[given])
    assert_reference((high * scale)[given], reference_high[given])


@pytest.mark.parametrize(("confidence", "lower", "upper"), LEVELS)
def test_mean_t_matches_phe_means(confidence: float, lower: str, upper: str) -> None:
    results = read_phe("testdata_Mean__testdata_Mean_results.csv")
    mean, sd, n = (column(results, c) for c in ("value", "stdev", "value_count"))
    low, high = mean_t(mean, sd, n, confidence)
    assert_reference(low, column(results, lower))
    assert_reference(high, column(results, upper))


def test_phe_mean_summaries_come_from_the_raw_values() -> None:
    """The sums, counts and standard deviations fed to mean_t are those of PHE's raw data."""
    values = read_phe("testdata_Mean__testdata_Mean.csv")
    summaries = pl.concat(
        [
            values.group_by("area").agg(pl.len().alias("n"), pl.col("values").std().alias("sd")),
            values.select(
                pl.lit("No grouping").alias("area"),
                pl.len().alias("n"),
                pl.col("values").std().alias("sd"),
            ),
        ]
    )
    results = read_phe("testdata_Mean__testdata_Mean_results.csv").join(summaries, on="area")
    assert results.height == 3
    np.testing.assert_array_equal(column(results, "n"), column(results, "value_count"))
    np.testing.assert_allclose(column(results, "sd"), column(results, "stdev"), rtol=RTOL)


def test_count_interval_switches_from_exact_to_byar_at_ten() -> None:
    np.testing.assert_array_equal(count_interval(9.0), poisson_exact(9.0))
    np.testing.assert_array_equal(count_interval(10.0), byar(10.0))


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (lambda: wilson([0, 5, 11, -1, np.nan], [0, 10, 10, 10, 10]), [1, 0, 1, 1, 1]),
        (lambda: poisson_exact([-1, np.nan, 0]), [1, 1, 0]),
        (lambda: byar([0, 1, -1, 1]), [1, 0, 1, 0]),
        (lambda: ratio_interval([5, 5, np.nan], [0, 2, 2]), [1, 0, 1]),
        (lambda: mean_t([1, 1, 1], [0.5, 0.5, np.nan], [1, 2, 5]), [1, 0, 1]),
    ],
    ids=["wilson", "poisson_exact", "byar", "ratio_interval", "mean_t"],
)
def test_undefined_intervals_are_nan(
    interval: Callable[[], tuple[np.ndarray, np.ndarray]], expected: list[int]
) -> None:
    """NaN exactly where undefined (Byar's lower bound also where it would be negative)."""
    lower, upper = interval()
    np.testing.assert_array_equal(np.isnan(lower), np.array(expected, dtype=bool))
    assert np.isnan(upper).sum() <= np.isnan(lower).sum()


def test_exact_limits_of_zero() -> None:
    lower, upper = poisson_exact(0.0)
    assert lower == 0.0
    assert upper == pytest.approx(-np.log(0.025), rel=1e-12)  # P(X = 0 | μ) = e^-μ = 2.5%


@pytest.mark.parametrize(
    ("n", "confidence", "ranks"),
    [(10, 0.95, (2, 9)), (100, 0.95, (40, 61)), (6, 0.95, (1, 6)), (3, 0.95, (1, 3))],
)
def test_median_ranks_textbook(n: int, confidence: float, ranks: tuple[int, int]) -> None:
    """Conover (1999) §3.2; Campbell & Gardner (2000): n = 10 → x₍₂₎..x₍₉₎, n = 100 → 40, 61."""
    lower, upper = median_ranks(n, confidence)
    assert (lower, upper) == ranks


@pytest.mark.parametrize("confidence", [0.95, 0.998])
def test_median_ranks_cover_at_nominal_level(confidence: float) -> None:
    """P(x₍ⱼ₎ ≤ median ≤ x₍ₖ₎) = P(j ≤ B ≤ k − 1), B ~ Bin(n, ½), for every reachable n."""
    n = np.arange(1, 501)
    j, k = median_ranks(n, confidence)
    coverage = stats.binom.cdf(k - 1, n, 0.5) - stats.binom.cdf(j - 1, n, 0.5)
    reachable = 1 - 2 * 0.5**n >= confidence  # the sample range is the widest interval
    assert np.all(coverage[reachable] >= confidence)
    assert np.all(j[~reachable] == 1) and np.all(k[~reachable] == n[~reachable])
    # and not needlessly wide: one rank further in on both sides would undercover
    inner = stats.binom.cdf(k - 2, n, 0.5) - stats.binom.cdf(j, n, 0.5)
    assert np.all(inner[reachable & (k - j >= 2)] < confidence)


def test_median_interval_covers_in_simulation() -> None:
    """20,000 skewed samples of 25: the ranks from median_ranks cover the true median."""
    rng = np.random.default_rng(20240501)
    samples = np.sort(rng.exponential(size=(20_000, 25)), axis=1)
    lower, upper = (int(rank) - 1 for rank in median_ranks(25))
    covered = (samples[:, lower] <= np.log(2)) & (np.log(2) <= samples[:, upper])
    assert covered.mean() >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / 20_000)


def test_median_ranks_of_nothing_are_nan() -> None:
    lower, upper = median_ranks([0, np.nan, 1])
    np.testing.assert_array_equal(lower, [np.nan, np.nan, 1.0])
    np.testing.assert_array_equal(upper, [np.nan, np.nan, 1.0])
