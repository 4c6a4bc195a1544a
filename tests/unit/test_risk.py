"""Risk adjustment: the pattern fit equals statsmodels' fit on single registrations; the stated
rule for missing covariates; expected, O/E and the risk-standardised estimate; the report."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from scipy import stats

from indicators import Indicator, compute_results, fit_risk_models
from indicators.funnel import ratio_funnel
from indicators.risk import c_statistic

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
TITLE = {"nb": "Tittel", "en": "Title"}
TREE = pl.DataFrame(
    {
        "unit_id": [1, 10, 100, 1000, 10001, 10002, 10003],
        "parent_id": [None, 1, 10, 100, 1000, 1000, 1000],
        "level": ["nation", "region", "trust", "hospital"] + ["department"] * 3,
        "name": ["n", "r", "t", "h", "d1", "d2", "d3"],
        "short_name": ["n", "r", "t", "h", "d1", "d2", "d3"],
    },
    schema_overrides={"parent_id": pl.Int64},
)


def make_indicator(key: str, **fields: object) -> Indicator:
    return Indicator.model_validate(
        {
            "key": key,
            "title": TITLE,
            "description": TITLE,
            "type": "proportion",
            "direction": "higher",
            **fields,
        }
    )


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    """Registrations with a 0/1 outcome and a count, depending on age (integer, some missing),
    sex (two levels, some missing) and severity (three levels), at three departments of
    different case mix and quality, in two years."""
    rng = np.random.default_rng(11)
    n = 6000
    unit = rng.choice([10001, 10002, 10003], size=n, p=[0.5, 0.3, 0.2])
    age = rng.integers(50, 95, n) + np.where(unit == 10003, 5, 0)
    sex = rng.choice([1, 2], size=n, p=[0.45, 0.55])
    severity = rng.choice(["mild", "moderate", "severe"], size=n, p=[0.5, 0.3, 0.2])
    quality = np.select([unit == 10001, unit == 10002], [0.0, 0.4], -0.3)
    linear = (
        -4
        + 0.04 * (age - 50)
        + 0.3 * (sex == 2)
        + np.select([severity == "moderate", severity == "severe"], [0.7, 1.6], 0.0)
    )
    died = rng.random(n) < 1 / (1 + np.exp(-(linear + quality)))
    stay = rng.poisson(np.exp(1.2 + 0.01 * (age - 50) + 0.2 * (severity == "severe")))
    year = rng.choice([2023, 2024], size=n)
    frame = pl.DataFrame(
        {
            "unit_id": unit,
            "event_date": [date(int(value), 5, 1) for value in year],
            "age": age.astype(float),
            "sex": sex,
            "severity": severity,
            "died": died.astype(np.int64),
            "length_of_stay": stay.astype(float),
            "age_blank": rng.random(n) < 0.03,
            "sex_blank": rng.random(n) < 0.02,
        }
    )
    return frame.select(
        pl.col("unit_id").cast(pl.Int64),
        "event_date",
        pl.when(~pl.col("age_blank")).then(pl.col("age")).alias("age"),
        pl.when(~pl.col("sex_blank")).then(pl.col("sex")).alias("sex"),
        "severity",
        "died",
        "length_of_stay",
    )


MODEL = {"covariates": ["age", "sex", "severity"], "categorical": ["sex", "severity"]}
DEATH = make_indicator("death", numerator="died = 1", risk_model={"family": "binomial", **MODEL})
STAY = make_indicator(
    "stay",
    type="mean",
    value="length_of_stay",
    direction="lower",
    risk_model={"family": "poisson", **MODEL},
)


def row_level_design(rows: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """The stated rule, applied independently: a missing age is the period's median plus a
    flag; a missing sex is the level `missing`; dummies against the most frequent level."""
    design = rows.select(
        pl.lit(1.0).alias("intercept"),
        pl.col("age").fill_null(pl.col("age").median()).alias("age"),
        pl.col("age").is_null().cast(pl.Float64).alias("age_missing"),
    )
    references: dict[str, str] = {}
    for name in ("sex", "severity"):
        levels = rows[name].cast(pl.String).fill_null("missing")
        counts = levels.value_counts(sort=True)
        ordered = counts.sort(["count", name], descending=[True, False])[name].to_list()
        references[name] = ordered[0]
        for level in ordered[1:]:
            design = design.with_columns(
                (levels == level).cast(pl.Float64).alias(f"{name}={level}")
            )
    return design, references


@pytest.mark.parametrize("indicator", [DEATH, STAY], ids=["binomial", "poisson"])
def test_pattern_fit_equals_the_fit_on_single_registrations(
    frame: pl.DataFrame, indicator: Indicator
) -> None:
    reports = fit_risk_models(frame, [indicator])
    assert sorted(reports) == [(indicator.key, 2023), (indicator.key, 2024)]
    for year in (2023, 2024):
        rows = frame.filter(pl.col("event_date").dt.year() == year)
        design, references = row_level_design(rows)
        if indicator is DEATH:
            outcome, family = rows["died"], sm.families.Binomial()
        else:
            outcome, family = rows["length_of_stay"], sm.families.Poisson()
        fitted = sm.GLM(outcome.to_numpy(), design.to_numpy(), family=family).fit()
        report = reports[(indicator.key, year)]
        assert list(report.coefficients) == design.columns
        np.testing.assert_allclose(list(report.coefficients.values()), fitted.params, rtol=1e-7)
        np.testing.assert_allclose(list(report.standard_errors.values()), fitted.bse, rtol=1e-6)
        assert report.reference_levels == references
        assert report.n == rows.height
        assert report.events == pytest.approx(outcome.sum())
        assert report.missing == {
            "age": rows["age"].null_count(),
            "sex": rows["sex"].null_count(),
            "severity": 0,
        }
        assert report.imputed == {"age": rows["age"].median()}
        assert report.converged


def test_expected_is_the_sum_of_predictions_at_every_level(frame: pl.DataFrame) -> None:
    results = compute_results(frame, [DEATH], TREE)
    for year in (2023, 2024):
        rows = frame.filter(pl.col("event_date").dt.year() == year)
        design, _ = row_level_design(rows)
        fitted = sm.GLM(rows["died"].to_numpy(), design.to_numpy(), sm.families.Binomial()).fit()
        predicted = rows.with_columns(pl.Series("p", fitted.predict(design.to_numpy())))
        by_unit = predicted.group_by("unit_id").agg(pl.col("p").sum(), pl.col("died").sum())
        found = results.filter(pl.col("period") == year)
        for unit, expected, observed in by_unit.iter_rows():
            row = found.filter(pl.col("unit_id") == unit)
            assert row["expected"].item() == pytest.approx(expected, rel=1e-7)
            assert row["observed"].item() == observed
        nation = found.filter(pl.col("level") == "nation")
        # A logistic model with an intercept predicts the nation's total exactly.
        assert nation["expected"].item() == pytest.approx(nation["observed"].item(), rel=1e-9)
        assert nation["oe_ratio"].item() == pytest.approx(1.0, rel=1e-9)
        hospital = found.filter(pl.col("level") == "hospital")
        assert hospital["expected"].item() == pytest.approx(predicted["p"].sum(), rel=1e-9)


def test_oe_ratio_and_risk_standardised_estimate(frame: pl.DataFrame) -> None:
    results = compute_results(frame, [DEATH, STAY], TREE)
    for key in ("death", "stay"):
        rows = results.filter(pl.col("indicator") == key)
        nation = rows.filter(pl.col("level") == "nation").select("period", "estimate")
        joined = rows.join(nation, on="period", suffix="_nation")
        np.testing.assert_allclose(
            joined["oe_ratio"], joined["observed"] / joined["expected"], rtol=1e-12
        )
        np.testing.assert_allclose(
            joined["risk_standardised"], joined["oe_ratio"] * joined["estimate_nation"], rtol=1e-12
        )
        assert (rows["oe_lower"] < rows["oe_ratio"]).all()
        assert (rows["oe_ratio"] < rows["oe_upper"]).all()
    stay = results.filter(pl.col("indicator") == "stay")
    assert stay["observed"].to_list() == pytest.approx(
        (stay["estimate"] * stay["denominator"]).to_list()
    )


def test_risk_adjusted_funnels_are_on_the_ratio(frame: pl.DataFrame) -> None:
    results = compute_results(frame, [DEATH], TREE)
    departments = results.filter(pl.col("level") == "department", pl.col("period") == 2024)
    limits = ratio_funnel(departments["observed"], departments["expected"])
    np.testing.assert_allclose(departments["funnel_lower_95"].to_numpy(), limits.lower_95)
    np.testing.assert_allclose(departments["funnel_upper_998"].to_numpy(), limits.upper_998)
    assert departments["funnel_position"].to_list() == list(limits.position)


def test_adjustment_removes_case_mix_but_keeps_quality(frame: pl.DataFrame) -> None:
    """Department 10003 has older patients and better care (planted effect −0.3), 10002 worse
    care (+0.4): adjusted, their order must follow quality."""
    found = compute_results(frame, [DEATH], TREE).filter(pl.col("level") == "department")
    ratio = dict(found.group_by("unit_id").agg(pl.col("oe_ratio").mean()).iter_rows())
    assert ratio[10002] > ratio[10001] > ratio[10003]


def test_a_stored_expected_value_is_summed_not_fitted(frame: pl.DataFrame) -> None:
    with_expected = frame.with_columns(
        pl.when(pl.col("unit_id") != 10003).then(pl.lit(0.1)).alias("expected_death")
    )
    stored = make_indicator(
        "stored", numerator="died = 1", risk_model={"expected": "expected_death"}
    )
    results = compute_results(with_expected, [stored], TREE)
    assert fit_risk_models(with_expected, [stored]) == {}
    department = results.filter(pl.col("unit_id") == 10001, pl.col("period") == 2024)
    rows = with_expected.filter(pl.col("unit_id") == 10001, pl.col("event_date").dt.year() == 2024)
    assert department["expected"].item() == pytest.approx(0.1 * rows.height)
    assert department["observed"].item() == rows["died"].sum()
    # Registrations without an expected value are left out of both sums.
    without = results.filter(pl.col("unit_id") == 10003)
    assert without["expected"].to_list() == [0.0, 0.0]
    assert without["oe_ratio"].null_count() == 2


def test_c_statistic_equals_the_mann_whitney_auc_of_single_registrations() -> None:
    rng = np.random.default_rng(3)
    predicted = rng.choice([0.1, 0.2, 0.2, 0.35, 0.6], size=400)
    outcome = (rng.random(400) < predicted).astype(float)
    patterns = (
        pl.DataFrame({"p": predicted, "y": outcome})
        .group_by("p")
        .agg(pl.len().cast(pl.Float64).alias("n"), pl.col("y").sum())
    )
    found = c_statistic(
        patterns["p"].to_numpy(), patterns["y"].to_numpy(), patterns["n"].to_numpy()
    )
    u = stats.mannwhitneyu(predicted[outcome == 1], predicted[outcome == 0]).statistic
    assert found == pytest.approx(u / ((outcome == 1).sum() * (outcome == 0).sum()), rel=1e-12)
    assert c_statistic(np.array([0.5]), np.array([0.0]), np.array([3.0])) is None


def test_a_covariate_that_does_not_vary_is_dropped_and_said(frame: pl.DataFrame) -> None:
    constant = frame.with_columns(pl.lit(1.0).alias("age"))
    report = fit_risk_models(constant, [DEATH])[("death", 2024)]
    assert "age" not in report.coefficients
    assert any("age" in note for note in report.notes)


def test_separation_is_reported_not_raised(frame: pl.DataFrame) -> None:
    separated = frame.with_columns(
        pl.when(pl.col("severity") == "severe").then(1).otherwise(pl.col("died")).alias("died")
    )
    report = fit_risk_models(separated, [DEATH])[("death", 2024)]
    assert any("separation" in note for note in report.notes)


def test_poisson_fit_reproduces_the_published_medpar_model() -> None:
    """FunnelPlotR's README fits glm(los ~ hmo + died + age80 + factor(type), poisson) to the
    medpar stays (R package COUNT) and publishes the coefficients to five decimals."""
    stays = pl.read_csv(REFERENCE / "medpar.csv").with_columns(
        pl.lit(10001, dtype=pl.Int64).alias("unit_id"),
        pl.lit(date(1991, 6, 1)).alias("event_date"),
        pl.col("los").cast(pl.Float64),
    )
    stay = make_indicator(
        "los",
        type="mean",
        value="los",
        direction="lower",
        risk_model={
            "family": "poisson",
            "covariates": ["hmo", "died", "age80", "type"],
            "categorical": ["type"],
        },
    )
    report = fit_risk_models(stays, [stay])[("los", 1991)]
    assert list(report.coefficients) == ["intercept", "hmo", "died", "age80", "type=2", "type=3"]
    published = [2.26875, -0.07637, -0.24574, -0.02141, 0.24921, 0.74869]
    np.testing.assert_allclose(list(report.coefficients.values()), published, atol=5e-6)
    assert report.reference_levels == {"type": "1"}
    assert report.n == 1495 and report.converged and report.notes == ()


def test_a_term_that_copies_another_is_dropped_and_said(frame: pl.DataFrame) -> None:
    """Sex blank exactly where age is blank: `sex=missing` equals `age_missing`, so it is
    dropped (with a note) and the rest is the row-level fit without it."""
    together = frame.with_columns(
        pl.when(pl.col("age").is_not_null()).then(pl.col("sex").fill_null(1)).alias("sex")
    )
    report = fit_risk_models(together, [DEATH])[("death", 2024)]
    assert "sex=missing" not in report.coefficients
    assert any(note.startswith("sex=missing dropped") for note in report.notes)
    rows = together.filter(pl.col("event_date").dt.year() == 2024)
    design, _ = row_level_design(rows)
    design = design.drop("sex=missing")
    fitted = sm.GLM(rows["died"].to_numpy(), design.to_numpy(), sm.families.Binomial()).fit()
    assert list(report.coefficients) == design.columns
    np.testing.assert_allclose(list(report.coefficients.values()), fitted.params, rtol=1e-7)
    np.testing.assert_allclose(list(report.standard_errors.values()), fitted.bse, rtol=1e-6)
    assert report.converged
