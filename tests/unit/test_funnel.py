"""Funnel limits against PHEindicatormethods' published tables and FunnelPlotR's medpar example.

PHE's funnels (v2.1.0, `calculate_funnel_limits`, `assign_funnel_significance`) have no
overdispersion and differ from FunnelPlotR's default scales, so they are checked through
`method="phe"`. FunnelPlotR's default method is checked against the results its README and
vignette publish for the `medpar` data (a Poisson GLM of length of stay, 54 providers), and
its unadjusted ratio limits against PHE's exact Poisson values, which are the same quantity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm

from indicators.funnel import FunnelLimits, proportion_funnel, ratio_funnel

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
PHE = REFERENCE / "phe"
SIGNIFICANCE = {
    "High (0.001)": "high_998",
    "High (0.025)": "high_95",
    "Not significant": "within",
    "Low (0.025)": "low_95",
    "Low (0.001)": "low_998",
}
LIMITS = ["lower_95", "upper_95", "lower_998", "upper_998"]


def read_phe(name: str) -> pl.DataFrame:
    """A reference sheet with clean column names (BOMs; a newline inside one header cell)."""
    frame = pl.read_csv(PHE / name, encoding="utf8-lossy", infer_schema_length=None)
    return frame.rename(lambda column: column.lstrip("\ufeff").strip())


def column(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].cast(pl.Float64).to_numpy()


# --- PHE: proportions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "max_denominator"),
    [
        ("testdata_funnel_prop_outputs.csv", None),
        ("testdata_funnel_prop_outputs_with_axis_variation.csv", 31_000),
    ],
)
def test_phe_proportion_limits(table: str, max_denominator: int | None) -> None:
    """PHE's 100-row table, in percent rounded to 6 decimals: compared to 1e-6 absolute."""
    inputs = read_phe("testdata_funnel_prop_inputs.csv")
    if max_denominator is not None:
        inputs = inputs.filter(pl.col("denominator") < max_denominator)
    units = proportion_funnel(
        column(inputs, "numerator"), column(inputs, "denominator"), method="phe"
    )
    expected = read_phe(table)
    assert 100 * units.target == pytest.approx(expected["Baseline"][0], abs=1e-6)

    population = column(expected, "Population")
    grid = proportion_funnel(
        np.zeros_like(population), population, method="phe", target=units.target
    )
    for ours, theirs in zip(
        LIMITS,
        ["Lower2s0025limit", "Upper2s0025limit", "Lower3s0001limit", "Upper3s0001limit"],
        strict=True,
    ):
        np.testing.assert_allclose(
            100 * getattr(grid, ours), column(expected, theirs), rtol=0, atol=1e-6
        )


def test_phe_proportion_significance() -> None:
    inputs = read_phe("testdata_funnel_prop_inputs.csv")
    funnel = proportion_funnel(
        column(inputs, "numerator"), column(inputs, "denominator"), method="phe"
    )
    expected = inputs["significance"].replace_strict(SIGNIFICANCE).to_list()
    assert inputs.height == 303
    assert funnel.position.tolist() == expected
    assert funnel.tau2 == 0.0


# --- PHE: ratios ---------------------------------------------------------------------------


def phe_ratio_table() -> pl.DataFrame:
    table = read_phe("testdata_funnel_ratio_outputs.csv")
    assert table.columns[0] == "Observed_events"  # the header cell with a newline in it
    return table


def bisection_coordinate(observed: np.ndarray, expected_events: np.ndarray) -> np.ndarray:
    """PHE's `poisson_funnel` bisects on v = E / (E + O + 1) until the step is below 1e-7."""
    return expected_events / (expected_events + observed + 1)


@pytest.mark.parametrize(
    ("limit", "level"),
    [
        ("lower_95", "lower_2s"),
        ("upper_95", "upper_2s"),
        ("lower_998", "lower_3s"),
        ("upper_998", "upper_3s"),
    ],
)
def test_phe_ratio_limits(limit: str, level: str) -> None:
    """PHE's ratio limits are O/E* with E* from a bisection accurate to 1e-7 in v.

    Their values are therefore only as good as that: up to 5e-5 relative at O = 1, which a
    1e-6 relative comparison would wrongly call a failure. The comparison is made in the
    bisection's own coordinate v, to its own tolerance 1e-7 (absolute), for E* and for the
    ISR column (the "count" column is the same ratio minus 1).
    """
    table = phe_ratio_table()
    observed = column(table, "Observed_events")
    funnel = ratio_funnel(observed, np.ones_like(observed), method="phe")
    ratio = getattr(funnel, limit)
    their_events = column(table, f"{level}_exp_events")
    their_ratio = column(table, f"{level}_isr") / 100
    ours = bisection_coordinate(observed, observed / ratio)
    for theirs in (their_events, observed / their_ratio):
        np.testing.assert_allclose(ours, bisection_coordinate(observed, theirs), rtol=0, atol=1e-7)


def test_phe_ratio_significance() -> None:
    inputs = read_phe("testdata_funnel_ratio_inputs.csv")
    funnel = ratio_funnel(column(inputs, "obs"), column(inputs, "expected"), method="phe")
    assert inputs.height == 300
    assert (inputs["obs"] == 0).any()  # a unit with no events is still judged
    assert funnel.position.tolist() == inputs["significance"].replace_strict(SIGNIFICANCE).to_list()


# --- FunnelPlotR: ratios ------------------------------------------------------------------


def test_unadjusted_ratio_limits_are_phe_exact_poisson_limits() -> None:
    """FunnelPlotR's unadjusted limits at E are the exact limits of a count E, divided by E.

    PHE's ratio table holds those counts for E = 1..716 (upper limit at E from PHE's
    `lower_2s_exp_events` at O = E, and so on), to its bisection's precision.
    """
    table = phe_ratio_table()
    e = column(table, "Observed_events")
    funnel = ratio_funnel(np.full_like(e, np.nan), e, overdispersion=False)
    for ours, theirs in [
        ("upper_95", "lower_2s"),
        ("upper_998", "lower_3s"),
        ("lower_95", "upper_2s"),
        ("lower_998", "upper_3s"),
    ]:
        np.testing.assert_allclose(
            bisection_coordinate(e, getattr(funnel, ours) * e),
            bisection_coordinate(e, column(table, f"{theirs}_exp_events")),
            rtol=0,
            atol=1e-7,
        )


@pytest.fixture(scope="module")
def medpar() -> pl.DataFrame:
    """Observed and expected length of stay per provider, from FunnelPlotR's README model."""
    stays = pl.read_csv(REFERENCE / "medpar.csv", schema_overrides={"provnum": pl.Utf8})
    design = sm.add_constant(
        np.column_stack([column(stays, c) for c in ("hmo", "died", "age80", "type2", "type3")])
    )
    model = sm.GLM(column(stays, "los"), design, family=sm.families.Poisson()).fit()
    # README: glm(los ~ hmo + died + age80 + factor(type), family = "poisson")
    np.testing.assert_allclose(
        model.params, [2.26875, -0.07637, -0.24574, -0.02141, 0.24921, 0.74869], atol=5e-6
    )
    return (
        stays.with_columns(expected=pl.Series(model.predict(design)))
        .group_by("provnum")
        .agg(pl.col("los").sum().alias("observed"), pl.col("expected").sum())
        .sort("provnum")
    )


def outliers_998(funnel: FunnelLimits) -> int:
    return int(np.isin(funnel.position, ["high_998", "low_998"]).sum())


@pytest.mark.parametrize(("overdispersion", "outliers"), [(False, 25), (True, 9)])
def test_medpar_outliers_as_funnelplotr_publishes(
    medpar: pl.DataFrame, overdispersion: bool, outliers: int
) -> None:
    """README: "54 points of which 25 are outliers" unadjusted, 9 with SHMI overdispersion."""
    funnel = ratio_funnel(
        column(medpar, "observed"), column(medpar, "expected"), overdispersion=overdispersion
    )
    assert medpar.height == 54
    assert outliers_998(funnel) == outliers
    assert funnel.target == 1.0
    assert (funnel.tau2 > 0) == overdispersion
    assert funnel.phi > 1


def test_overdispersed_ratio_limits_are_symmetric_on_the_log_scale(medpar: pl.DataFrame) -> None:
    e = column(medpar, "expected")
    funnel = ratio_funnel(column(medpar, "observed"), e)
    spread = np.log(funnel.upper_95) / np.sqrt(1 / e + funnel.tau2)
    np.testing.assert_allclose(spread, 1.959963984540054, rtol=1e-12)
    np.testing.assert_allclose(np.log(funnel.lower_998), -np.log(funnel.upper_998), rtol=1e-12)


def test_no_detected_overdispersion_falls_back_to_exact_poisson() -> None:
    """Units exactly on target: φ = 0 < 1, so τ² = 0 and the limits are the exact ones."""
    e = np.array([5.0, 20.0, 80.0, 300.0])
    adjusted = ratio_funnel(e, e)
    assert adjusted.tau2 == 0.0
    for limit in LIMITS:
        np.testing.assert_array_equal(
            getattr(adjusted, limit), getattr(ratio_funnel(e, e, overdispersion=False), limit)
        )
    assert adjusted.position.tolist() == ["within"] * 4


def test_units_without_events_do_not_make_dispersion_infinite() -> None:
    observed = np.array([0, 0, 0, 12, 30, 45, 60, 80, 95, 110, 150, 200], dtype=float)
    expected = np.array([3, 4, 5, 15, 28, 50, 55, 85, 90, 120, 140, 210], dtype=float)
    funnel = ratio_funnel(observed, expected)
    assert np.isfinite(funnel.phi) and np.isfinite(funnel.tau2)
    assert np.all(np.isfinite(funnel.upper_998))


# --- FunnelPlotR: proportions -------------------------------------------------------------


def test_proportion_dispersion_finds_planted_between_unit_variance() -> None:
    """200 units whose true proportions spread by τ = 0.05 on the arcsine scale, and 200 without.

    No published FunnelPlotR reference exists for proportions, so this checks what the
    estimator promises. Winsorising 10% at each tail shrinks the z-scores, so τ² comes out
    below the planted 0.0025 (normal z-scores keep about 68% of their variance): the
    adjustment is conservative by design (Spiegelhalter 2005).
    """
    rng = np.random.default_rng(5)
    n = rng.integers(100, 2_000, size=200)
    angle = np.arcsin(np.sqrt(0.3)) + rng.normal(0, 0.05, size=200)
    events = rng.binomial(n, np.sin(angle) ** 2)
    spread = proportion_funnel(events, n)
    assert 0.4 * 0.05**2 < spread.tau2 < 0.05**2
    assert spread.phi > 2
    assert np.mean(spread.position == "within") > 0.8
    unadjusted = proportion_funnel(events, n, overdispersion=False)
    assert unadjusted.tau2 == 0.0 and unadjusted.phi == spread.phi
    assert np.mean(unadjusted.position == "within") < 0.6

    homogeneous = proportion_funnel(rng.binomial(n, 0.3), n)
    assert homogeneous.tau2 < 0.0002
    assert homogeneous.target == pytest.approx(0.3, abs=0.01)
    assert np.isin(homogeneous.position, ["within"]).mean() > 0.9


def test_proportion_limits_on_the_arcsine_scale() -> None:
    x, n = np.array([10.0, 45, 300, 0]), np.array([50.0, 100, 1_000, 4])
    funnel = proportion_funnel(x, n, overdispersion=False)
    target = x.sum() / n.sum()
    assert funnel.target == target
    assert funnel.tau2 == 0.0
    half_width = np.arcsin(np.sqrt(funnel.upper_95)) - np.arcsin(np.sqrt(target))
    np.testing.assert_allclose(half_width, 1.959963984540054 / (2 * np.sqrt(n)), rtol=1e-12)
    assert funnel.lower_998[3] == 0.0  # the arcsine angle passes 0: clipped, not folded back
    assert np.all((funnel.lower_998 <= funnel.lower_95) & (funnel.upper_95 <= funnel.upper_998))


def test_units_without_size_get_no_limits_and_no_position() -> None:
    funnel = proportion_funnel([5.0, 3.0, np.nan, 7.0], [20.0, 0.0, 10.0, np.nan])
    assert funnel.position.tolist()[1:] == [None, None, None]
    assert np.isnan(funnel.lower_95[[1, 3]]).all()
    assert np.isfinite(funnel.lower_95[2])  # its size is known, only its count is missing
    ratios = ratio_funnel([5.0, 2.0], [0.0, 4.0])
    assert ratios.position.tolist() == [None, "within"]
