"""Risk adjustment (casemix-justering): expected outcomes per unit from a national model.

A hospital that treats older, sicker patients will have more deaths than one that does not,
whatever its quality. The engine therefore compares each unit's observed outcomes with those
expected for its own patients under a model fitted on the whole nation's registrations of the
period. This module holds the statistics; `indicators.engine` decides which rows go in.

The model (logistic for 0/1 outcomes, Poisson for counts) is fitted by statsmodels' Newton
steps (`indicators.glm`) on collapsed covariate patterns: registrations with the same
covariate values are one row of the fit, weighted by their number. A GLM on the patterns'
mean outcome with those weights gives the same coefficients as the fit on single
registrations (unit tests hold the two together, and to published coefficients), in a
fraction of the time wherever the covariates are discrete, and no worse where they are not.
Models that share their covariates are collapsed in one pass. Every term any period may use
is one column of a single design matrix over all periods' patterns; each period takes its
block of rows and its own terms. Periods are fitted in order, each starting from the
previous period's coefficients, which saves Newton steps and not precision. Expected values
are then summed per unit in one more pass over the registrations, with each period's
coefficients joined on, rather than per unit pattern.

Missing covariates are never dropped silently: a missing number is set to the national median
of the period and flagged by a term `<name>_missing`; a missing category is its own level
`missing`. Every registration in the denominator is therefore in the model and in `expected`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from indicators.aggregate import exact_parts, exact_parts_sum, exact_sum, fixed_order_sum
from indicators.definition import RiskModel
from indicators.glm import Family, GlmFit, fit_glm, independent_columns
from indicators.packed_key import packed_key

MISSING_LEVEL = "missing"
"""The level a missing categorical covariate takes."""

MISSING_SUFFIX = "_missing"
"""Suffix of the 0/1 term that flags an imputed numeric covariate."""

FloatArray = npt.NDArray[np.float64]

SEPARATION_LOG_ODDS = 15.0
"""A fitted log-odds beyond ±15 (a probability within 3e-7 of 0 or 1) signals separation."""

OBSERVED_EXPECTED: dict[str, pl.DataType] = {
    "period": pl.Int32(),
    "unit_id": pl.Int64(),
    "observed": pl.Float64(),
    "expected": pl.Float64(),
}
"""Observed and expected per registering unit and year, as risk adjustment returns them."""


@dataclass(frozen=True)
class ModelReport:
    """What the methods page shows about one fitted risk model (one indicator, one period).

    `coefficients` are on the scale of the linear predictor (log-odds for binomial, log rate
    for poisson), named `intercept`, `<numeric>`, `<numeric>_missing` and `<categorical>=<level>`
    against `reference_levels`. `imputed` holds the median used for each numeric covariate,
    `missing` the number of registrations with the covariate missing. `c_statistic` is the
    area under the ROC curve of the fitted probabilities (binomial only).
    """

    indicator: str
    period: int
    family: Family
    n: int
    events: float
    coefficients: dict[str, float]
    standard_errors: dict[str, float]
    c_statistic: float | None
    reference_levels: dict[str, str]
    imputed: dict[str, float]
    missing: dict[str, int]
    converged: bool
    notes: tuple[str, ...] = field(default=())


def numeric_covariates(model: RiskModel) -> list[str]:
    return [name for name in model.covariates if name not in model.categorical]


def _median_column(name: str) -> str:
    return f"_median_{name}"


def national_patterns(rows: pl.LazyFrame, models: Sequence[RiskModel]) -> pl.LazyFrame:
    """The nation's registrations collapsed to (period, covariate values), for models that
    share their covariates, in one pass: per pattern and k-th model the number of its
    registrations (`_count<k>`) and their outcome sum (`_outcome<k>`), and per period each
    numeric covariate's median over them (what a blank is set to). `model_patterns` takes
    one model's share.

    `rows` holds `period`, the covariates and, for the k-th model, `_counted<k>` (the
    registration is in its fit) and `_outcome<k>` (null where not counted). Values are
    grouped as they are, a blank being a group of its own, and the patterns are sorted, so
    the fit sees them in the same order on every run.
    """
    schema = rows.collect_schema()
    covariates = models[0].covariates
    medians = rows.group_by("period").agg(
        pl.col(name)
        .filter(pl.col(f"_counted{k}"))
        .cast(pl.Float64)
        .median()
        .alias(f"{_median_column(name)}{k}")
        for k, model in enumerate(models)
        for name in numeric_covariates(model)
    )
    sums = [
        *(pl.col(f"_counted{k}").sum().alias(f"_count{k}") for k in range(len(models))),
        *(
            exact_sum(pl.col(f"_outcome{k}"), schema[f"_outcome{k}"]).alias(f"_outcome{k}")
            for k in range(len(models))
        ),
    ]
    packing = packed_key(rows, ["period", *covariates])
    if packing is None:
        patterns = rows.group_by("period", *covariates).agg(sums)
        patterns = patterns.sort("period", *covariates, nulls_last=False)
    else:
        patterns = (
            rows.group_by(packing.key().alias("_pattern"))
            .agg(sums)
            .sort("_pattern")
            .select(
                *packing.columns_of("_pattern", schema),
                *(column.meta.output_name() for column in sums),
            )
        )
    return patterns.join(medians, on="period", how="left", maintain_order="left")


def model_patterns(patterns: pl.DataFrame, k: int, model: RiskModel) -> pl.DataFrame:
    """The k-th model's patterns out of `national_patterns`: those with registrations in its
    fit, with `count`, `outcome` and the medians, as `fit_national` reads them."""
    return patterns.filter(pl.col(f"_count{k}") > 0).select(
        "period",
        *model.covariates,
        pl.col(f"_count{k}").alias("count"),
        pl.col(f"_outcome{k}").alias("outcome"),
        *(
            pl.col(f"{_median_column(name)}{k}").alias(_median_column(name))
            for name in numeric_covariates(model)
        ),
    )


@dataclass(frozen=True)
class FittedModel:
    """A risk model fitted in every period: what expected values are computed from.

    `coefficients` has one row per period: the medians blanks are set to and one column
    `_b<i>` per term of `terms` (zero where the term is not in that period's model).
    """

    family: Family
    terms: dict[str, pl.Expr]
    coefficients: pl.DataFrame

    def expected_by_unit(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """Observed (sum of outcomes) and expected (sum of predictions) per unit and period.

        Each period's rows get its medians and coefficients as literals, which spares
        joining a column per term onto every registration; the prediction is a column
        before grouping, since inside the aggregation polars would evaluate it group by
        group. Rows come in any order: the sums do not depend on it.
        """
        if not self.terms:  # nothing was fitted: no registrations in any period
            return pl.LazyFrame(schema=OBSERVED_EXPECTED)
        periods = []
        for row in self.coefficients.iter_rows(named=True):
            linear = pl.sum_horizontal(
                expression * row[f"_b{i}"] for i, expression in enumerate(self.terms.values())
            )
            if self.family == "binomial":
                predicted = 1.0 / (1.0 + (-linear).exp())
            else:
                predicted = linear.clip(upper_bound=700.0).exp()
            medians = [
                pl.lit(value, dtype=pl.Float64).alias(name)
                for name, value in row.items()
                if name.startswith(_median_column(""))
            ]
            periods.append(
                rows.filter(pl.col("period") == row["period"])
                .with_columns(medians)
                .select("period", "unit_id", "outcome", predicted.alias("predicted"))
            )
        return (
            pl.concat(periods)
            .with_columns(exact_parts(pl.col("predicted"), "_predicted"))
            .group_by("period", "unit_id")
            .agg(
                exact_sum(pl.col("outcome"), rows.collect_schema()["outcome"]).alias("observed"),
                exact_parts_sum("_predicted").alias("expected"),
            )
            .select(pl.col(name).cast(dtype) for name, dtype in OBSERVED_EXPECTED.items())
        )


def fit_national(
    patterns: pl.DataFrame, indicator: str, model: RiskModel
) -> tuple[FittedModel, dict[tuple[str, int], ModelReport]]:
    """Fit the model in each period on the nation's patterns (see `national_patterns`).

    Returns the fitted model and one `ModelReport` per period keyed by (indicator, period).
    Each period's fit starts from the coefficients of the period before (where it converged),
    the intercept-only model otherwise.
    """
    family: Family = model.family or "binomial"
    candidates = _candidates(patterns, model)
    names = list(candidates.terms)
    count_all = patterns["count"].to_numpy().astype(np.float64)
    outcome_all = patterns["outcome"].to_numpy().astype(np.float64)
    used: set[int] = set()
    rows: list[dict[str, float]] = []
    reports: dict[tuple[str, int], ModelReport] = {}
    previous: dict[str, float] = {}
    start = 0
    for summary in _period_summaries(patterns, model).iter_rows(named=True):
        period, size = summary["period"], summary["patterns"]
        span = slice(start, start + size)
        start += size
        count, outcome = count_all[span], outcome_all[span]
        design = _period_design(candidates, candidates.matrix[span], count, model)
        matrix = candidates.matrix[span][:, design.columns]
        kept = independent_columns(matrix, count)
        design, matrix = design.keeping(kept, names), matrix[:, kept]
        period_terms = [names[column] for column in design.columns]
        begin = np.array([previous.get(term, 0.0) for term in period_terms]) if previous else None
        fitted = fit_glm(family, outcome / count, matrix, count, begin)
        if begin is not None and not fitted.converged:  # a start can mislead Newton; not twice
            fitted = fit_glm(family, outcome / count, matrix, count)
        used.update(design.columns)
        coefficients = dict(zip(period_terms, fitted.params.tolist(), strict=True))
        previous = coefficients if fitted.converged else {}
        medians = {
            name: 0.0 if summary[_median_column(name)] is None else summary[_median_column(name)]
            for name in numeric_covariates(model)
        }
        rows.append(
            {"period": period}
            | {_median_column(name): value for name, value in medians.items()}
            | coefficients
        )
        missing = {name: summary[_missing_column(name)] for name in model.covariates}
        reports[(indicator, int(period))] = ModelReport(
            indicator=indicator,
            period=int(period),
            family=family,
            n=int(count.sum()),
            events=float(outcome.sum()),
            coefficients=coefficients,
            standard_errors=dict(zip(period_terms, fitted.bse.tolist(), strict=True)),
            c_statistic=(
                c_statistic(fitted.fitted, outcome, count) if family == "binomial" else None
            ),
            reference_levels=design.reference_levels,
            imputed={name: value for name, value in medians.items() if missing[name]},
            missing=missing,
            converged=fitted.converged,
            notes=(*design.notes, *_fit_notes(family, fitted)),
        )
    fitted_terms = [names[column] for column in sorted(used)]
    table = pl.DataFrame(
        {
            "period": pl.Series([row["period"] for row in rows], dtype=pl.Int32),
            **{
                _median_column(name): pl.Series(
                    [row.get(_median_column(name)) for row in rows], dtype=pl.Float64
                )
                for name in numeric_covariates(model)
            },
            **{
                f"_b{i}": pl.Series([row.get(term, 0.0) for row in rows], dtype=pl.Float64)
                for i, term in enumerate(fitted_terms)
            },
        }
    )
    terms = {term: candidates.terms[term] for term in fitted_terms}
    return FittedModel(family, terms, table), reports


def _missing_column(name: str) -> str:
    return f"_missing_{name}"


def _period_summaries(patterns: pl.DataFrame, model: RiskModel) -> pl.DataFrame:
    """Per period, in order: its number of patterns (the patterns are sorted by period, so
    each period is one run), each numeric covariate's median and each covariate's number of
    registrations with it missing."""
    return patterns.group_by("period", maintain_order=True).agg(
        pl.len().alias("patterns"),
        *(pl.col(_median_column(name)).first() for name in numeric_covariates(model)),
        *(
            pl.col("count").filter(pl.col(name).is_null()).sum().alias(_missing_column(name))
            for name in model.covariates
        ),
    )


@dataclass(frozen=True)
class _Candidates:
    """Every term a period's model may have, as expressions over the covariates and the
    median columns, and as the columns of one design matrix over the patterns of all
    periods (C order, so that a period is a block of rows); `levels` lists each
    categorical's level labels, whose dummies are `<name>=<label>`."""

    terms: dict[str, pl.Expr]
    matrix: FloatArray
    levels: dict[str, list[str]]


def _candidates(patterns: pl.DataFrame, model: RiskModel) -> _Candidates:
    """The missing-value rule as terms: a blank number is the period's median plus a
    `<name>_missing` flag; a blank category is the level `missing`; one dummy per level seen
    in any period (`_period_design` leaves out each period's reference level)."""
    terms: dict[str, pl.Expr] = {"intercept": pl.lit(1.0)}
    for name in numeric_covariates(model):
        terms[name] = (
            pl.col(name).cast(pl.Float64).fill_null(pl.col(_median_column(name)).fill_null(0.0))
        )
        terms[name + MISSING_SUFFIX] = pl.col(name).is_null().cast(pl.Float64)
    levels: dict[str, list[str]] = {}
    for name in model.categorical:
        found = (
            patterns.select(pl.col(name).unique())
            .with_columns(pl.col(name).cast(pl.String).fill_null(MISSING_LEVEL).alias("_label"))
            .sort("_label")
        )
        levels[name] = found["_label"].to_list()
        for level, label in found.rows():
            terms[f"{name}={label}"] = (
                pl.col(name).is_null()
                if level is None
                else (pl.col(name) == pl.lit(level, dtype=patterns[name].dtype)).fill_null(False)
            ).cast(pl.Float64)
    matrix = patterns.select(expression.alias(term) for term, expression in terms.items()).to_numpy(
        order="c"
    )
    return _Candidates(terms, matrix.astype(np.float64, copy=False), levels)


@dataclass(frozen=True)
class _Design:
    """One period's terms, as columns of the candidates' matrix, with what the report says."""

    columns: list[int]
    reference_levels: dict[str, str]
    notes: list[str]

    def keeping(self, kept: list[int], names: list[str]) -> _Design:
        """The design with only the terms at positions `kept`; each term left out is a linear
        combination of the others in this period (aliased), and said so in a note."""
        aliased = [names[column] for i, column in enumerate(self.columns) if i not in kept]
        return _Design(
            [self.columns[i] for i in kept],
            self.reference_levels,
            [
                *self.notes,
                *(f"{name} dropped: it is a combination of the other terms" for name in aliased),
            ],
        )


def _period_design(
    candidates: _Candidates, matrix: FloatArray, count: FloatArray, model: RiskModel
) -> _Design:
    """One period's terms among the candidates (`matrix` holds the period's rows): dummies
    for the levels present, against the most frequent level (ties by name); terms that do
    not vary in the period dropped, with a note unless a `_missing` flag."""
    index = {term: column for column, term in enumerate(candidates.terms)}
    varies = np.ptp(matrix, axis=0) > 0
    columns, notes = [index["intercept"]], []
    for name in numeric_covariates(model):
        columns += [index[name], index[name + MISSING_SUFFIX]]
    reference_levels: dict[str, str] = {}
    for name in model.categorical:
        dummies = [index[f"{name}={label}"] for label in candidates.levels[name]]
        sizes = count @ matrix[:, dummies]
        present = sorted(
            (-size, label, column)
            for size, label, column in zip(sizes, candidates.levels[name], dummies, strict=True)
            if size > 0
        )
        reference_levels[name] = present[0][1]
        columns += [column for _, _, column in present[1:]]
    names = list(candidates.terms)
    for column in columns[1:]:
        if not varies[column] and not names[column].endswith(MISSING_SUFFIX):
            notes.append(f"{names[column]} dropped: it does not vary in this period")
    return _Design(
        [column for column in columns if column == 0 or varies[column]], reference_levels, notes
    )


def _fit_notes(family: Family, fitted: GlmFit) -> list[str]:
    """What a reader of the model should know about a fit that is not a clean one."""
    notes = [] if fitted.converged else [f"did not converge in {fitted.iterations} steps"]
    notes += list(fitted.warnings)
    if family == "binomial" and (np.abs(fitted.linear) > SEPARATION_LOG_ODDS).any():
        notes.append(
            "separation: some covariate patterns are predicted with near certainty, so "
            "some coefficients are not estimable (their size is arbitrary)"
        )
    return notes


def c_statistic(predicted: FloatArray, events: FloatArray, count: FloatArray) -> float | None:
    """Area under the ROC curve from patterns: the chance that a registration with the event
    has a higher predicted risk than one without (ties count half). Equals the AUC computed on
    single registrations, since a pattern's registrations share one prediction."""
    non_events = count - events
    total_events, total_non_events = events.sum(), non_events.sum()
    if total_events <= 0 or total_non_events <= 0:
        return None
    _, tie = np.unique(predicted, return_inverse=True)
    events_at = np.bincount(tie, weights=events)
    non_events_at = np.bincount(tie, weights=non_events)
    below = np.cumsum(non_events_at) - non_events_at
    concordant = (events_at * (below + 0.5 * non_events_at)).sum()
    return float(concordant / (total_events * total_non_events))


def stored_expected(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Observed and expected per unit from an expected value the registry holds per patient
    (SAPS II, EuroSCORE). Registrations without an expected value are left out of both."""
    known = pl.col("expected_value").is_not_null()
    outcome = pl.col("outcome").filter(known)
    return rows.group_by("period", "unit_id").agg(
        exact_sum(outcome, rows.collect_schema()["outcome"]).alias("observed"),
        fixed_order_sum(pl.col("expected_value").filter(known)).alias("expected"),
    )
