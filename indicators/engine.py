"""`compute_results`: registrations, indicators and the unit tree in, results out.

DESIGN.md, "The engine's contract", fixes the entry point and the columns; docs/methods.md
says what each number means. The registrations are read by three batches of queries: the
covariate patterns of risk models (one query for all models that share their covariates);
the counts of every indicator and how often each value of a median occurs, read while the
models are fitted; and, by each fitted risk model as soon as it is fitted, each
registration's prediction, summed per unit. Everything else works on frames the size of
the results.

A mean's or median's `denominator` is the number of registrations in the denominator with a
known value, the n of its estimate. Registrations without an `event_date` have no period and
are not counted; a registration at a unit missing from the tree is an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import polars as pl
from threadpoolctl import threadpool_limits

from indicators.achievement import achievement_level, coverage_by_unit
from indicators.aggregate import (
    UNIT_LEVEL,
    check_units,
    fixed_order_sum,
    mean_parts,
    median_values,
    registration_columns,
    sums_by_unit,
    unit_aggregates,
    unit_ancestors,
    unit_tree,
)
from indicators.compiled import CompiledIndicator, compile_indicators, indicator_meta
from indicators.definition import Indicator, RiskModel
from indicators.estimates import estimate_columns, funnel_columns, median_columns, ratio_columns
from indicators.risk import (
    FittedModel,
    ModelReport,
    fit_national,
    model_patterns,
    national_patterns,
    stored_expected,
)
from indicators.suppression import suppress

RESULT_SCHEMA: dict[str, pl.DataType] = {
    "indicator": pl.String(),
    "period": pl.Int32(),
    "unit_id": pl.Int64(),
    "level": UNIT_LEVEL,
    "numerator": pl.Int64(),
    "denominator": pl.Int64(),
    "estimate": pl.Float64(),
    "lower": pl.Float64(),
    "upper": pl.Float64(),
    "achievement": pl.String(),
    "coverage": pl.Float64(),
    "suppressed": pl.Boolean(),
    "observed": pl.Float64(),
    "expected": pl.Float64(),
    "oe_ratio": pl.Float64(),
    "oe_lower": pl.Float64(),
    "oe_upper": pl.Float64(),
    "risk_standardised": pl.Float64(),
    "funnel_lower_95": pl.Float64(),
    "funnel_upper_95": pl.Float64(),
    "funnel_lower_998": pl.Float64(),
    "funnel_upper_998": pl.Float64(),
    "funnel_position": pl.String(),
}
"""The columns `compute_results` returns, in order (DESIGN.md, "The engine's contract")."""

_KEY = ["indicator", "period", "unit_id"]
_OBSERVED_EXPECTED = {
    "indicator": pl.String(),
    "period": pl.Int32(),
    "unit_id": pl.Int64(),
    "observed": pl.Float64(),
    "expected": pl.Float64(),
}


def compute_results(
    registrations: pl.DataFrame | pl.LazyFrame,
    indicators: Iterable[Indicator],
    units: pl.DataFrame,
    *,
    coverage: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Results of every indicator for every period and every unit at every level.

    One row per indicator × period × unit with at least one registration in the denominator,
    with the columns of `RESULT_SCHEMA`, sorted by indicator (in the order given), period,
    level and unit. `coverage` extends the contract (the design's "optional source of
    coverage"): eligible patients per registering unit and year (`unit_id`, `year`,
    `eligible`); without it coverage is null and does not hold back a target level.
    """
    frame = registrations.lazy()
    compiled = compile_indicators(list(indicators), frame.collect_schema())
    if not compiled:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    tree = unit_tree(units)
    ancestors = unit_ancestors(tree)
    shared = _sharing_covariates(compiled)
    fitted = [item for items in shared for item in items]
    stored = [item for item in compiled if _stored(item)]
    # The risk models' patterns are read first. Then the models are fitted one after another
    # (numpy, one core), and meanwhile another thread (polars releases the GIL) counts and
    # builds the results up to their risk-adjusted columns, then reads each model's expected
    # values as soon as it is fitted.
    [shared_patterns] = _collect_batches([_national_patterns(frame, items) for items in shared])
    with ThreadPoolExecutor(max_workers=1) as background:
        counting = background.submit(
            _counted_results, frame, compiled, stored, tree, ancestors, coverage=coverage
        )
        patterns = _patterns_by_model(shared, shared_patterns)
        # The fits' matrices are tens of thousands of rows by a dozen terms: BLAS threads
        # save little there and spin on the core the other thread needs (a third of the
        # fits' CPU at a million registrations).
        with threadpool_limits(limits=1, user_api="blas"):
            expecting = [
                background.submit(
                    _fit(item, found)[0].expected_by_unit(_risk_rows(frame, item)).collect
                )
                for item, found in zip(fitted, patterns, strict=True)
            ]
        results, stored_sums = counting.result()
        fitted_sums = [expected.result() for expected in expecting]
    observed_expected = [
        found.with_columns(pl.lit(item.key).alias("indicator"))
        for item, found in zip([*stored, *fitted], [*stored_sums, *fitted_sums], strict=True)
    ]
    results = _with_risk(results, observed_expected, ancestors)
    results = results.with_columns(achievement_level().alias("achievement"))
    results = results.with_columns(suppress(results, tree), *funnel_columns(results))
    return results.select(pl.col(name).cast(dtype) for name, dtype in RESULT_SCHEMA.items())


def _counted_results(
    frame: pl.LazyFrame,
    compiled: Sequence[CompiledIndicator],
    stored: Sequence[CompiledIndicator],
    tree: pl.DataFrame,
    ancestors: pl.LazyFrame,
    *,
    coverage: pl.DataFrame | None,
) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """The results without their risk-adjusted columns (counts, estimates and intervals,
    coverage), sorted, and the observed and expected sums of the `stored` models (those
    with `expected:`), in their order."""
    rows = _with_period(frame).select("unit_id", "period", *registration_columns(compiled))
    medians = [item for item in compiled if item.indicator.type == "median"]
    [per_unit], median_counts, stored_sums = _collect_batches(
        # Per-unit frames come in any row order: their sums do not depend on it, and the
        # results are sorted by their key.
        [
            rows.with_columns(mean_parts(compiled))
            .group_by("unit_id", "period")
            .agg(unit_aggregates(compiled))
        ],
        [median_values(rows, item, ancestors) for item in medians],
        [stored_expected(_risk_rows(frame, item)) for item in stored],
    )
    check_units(per_unit, tree)
    median_frames = [
        median_columns(values).with_columns(pl.lit(item.key).alias("indicator"))
        for item, values in zip(medians, median_counts, strict=True)
    ]
    results = (
        sums_by_unit(compiled, per_unit, ancestors)
        .join(tree.select("unit_id", "level"), on="unit_id", how="left")
        .join(indicator_meta(compiled), on="indicator", how="left")
        .sort("order", "period", "level", "unit_id")
    )
    medians_found = pl.concat(median_frames) if median_frames else pl.DataFrame()
    results = results.with_columns(estimate_columns(results, medians_found))
    return _with_coverage(results, per_unit, coverage, ancestors), stored_sums


def fit_risk_models(
    registrations: pl.DataFrame | pl.LazyFrame, indicators: Iterable[Indicator]
) -> dict[tuple[str, int], ModelReport]:
    """The fitted risk models keyed by (indicator, period), for the methods page.

    The same fits that give `expected` in `compute_results`; indicators without a risk
    model, or with `expected:` (nothing is fitted), have none.
    """
    frame = registrations.lazy()
    compiled = compile_indicators(list(indicators), frame.collect_schema())
    shared = _sharing_covariates(compiled)
    fitted = [item for items in shared for item in items]
    collected = pl.collect_all([_national_patterns(frame, items) for items in shared])
    patterns = _patterns_by_model(shared, collected)
    reports: dict[tuple[str, int], ModelReport] = {}
    for item, found in zip(fitted, patterns, strict=True):
        reports |= _fit(item, found)[1]
    return reports


def _collect_batches(*batches: Sequence[pl.LazyFrame]) -> list[list[pl.DataFrame]]:
    """Collect lists of queries in one parallel run, so the registrations are read together,
    and hand the frames back in the same lists."""
    frames = iter(pl.collect_all([query for batch in batches for query in batch]))
    return [[next(frames) for _ in batch] for batch in batches]


def _fitted(item: CompiledIndicator) -> bool:
    model = item.indicator.risk_model
    return model is not None and model.family is not None


def _stored(item: CompiledIndicator) -> bool:
    model = item.indicator.risk_model
    return model is not None and model.expected is not None


def _with_period(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(
        pl.col("unit_id").cast(pl.Int64),
        pl.col("event_date").dt.year().cast(pl.Int32).alias("period"),
    ).filter(pl.col("period").is_not_null())


def _counted_outcome(frame: pl.LazyFrame, item: CompiledIndicator) -> tuple[pl.Expr, pl.Expr]:
    """Which registrations a risk model sees, those in the denominator (with a known value,
    for means and medians), and their outcome. The outcome stays a whole number (Int64)
    where it is one, so that it sums exactly."""
    outcome = item.outcome
    counted = (
        item.denominator if item.value is None else item.denominator & item.value.is_not_null()
    )
    kind = frame.select(outcome).collect_schema().dtypes()[0]
    whole = kind.is_integer() or kind == pl.Boolean()
    return counted, outcome.cast(pl.Int64 if whole else pl.Float64)


def _risk_rows(frame: pl.LazyFrame, item: CompiledIndicator) -> pl.LazyFrame:
    """What a risk model sees (see `_counted_outcome`), with the covariates or the stored
    expected value."""
    model = item.indicator.risk_model
    assert model is not None
    counted, outcome = _counted_outcome(frame, item)
    rows = _with_period(frame).filter(counted)
    if model.expected:
        expected = pl.col(model.expected).cast(pl.Float64).alias("expected_value")
        return rows.select("period", "unit_id", outcome.alias("outcome"), expected)
    return rows.select("period", "unit_id", outcome.alias("outcome"), *model.covariates)


def _sharing_covariates(compiled: Sequence[CompiledIndicator]) -> list[list[CompiledIndicator]]:
    """The indicators with a fitted risk model, grouped by their covariates: models that
    share them are collapsed to patterns in one pass over the registrations."""
    groups: dict[tuple[str, ...], list[CompiledIndicator]] = {}
    for item in compiled:
        if _fitted(item):
            assert item.indicator.risk_model is not None
            groups.setdefault(tuple(item.indicator.risk_model.covariates), []).append(item)
    return list(groups.values())


def _national_patterns(frame: pl.LazyFrame, items: Sequence[CompiledIndicator]) -> pl.LazyFrame:
    """The patterns of models that share their covariates (see `risk.national_patterns`)."""
    models: list[RiskModel] = []
    columns: list[pl.Expr] = []
    for k, item in enumerate(items):
        assert item.indicator.risk_model is not None
        models.append(item.indicator.risk_model)
        counted, outcome = _counted_outcome(frame, item)
        columns += [
            counted.alias(f"_counted{k}"),
            pl.when(counted).then(outcome).alias(f"_outcome{k}"),
        ]
    rows = _with_period(frame).select("period", *models[0].covariates, *columns)
    return national_patterns(rows, models)


def _patterns_by_model(
    shared: Sequence[Sequence[CompiledIndicator]], found: Sequence[pl.DataFrame]
) -> list[pl.DataFrame]:
    """Each fitted model's own patterns, in the order of the flattened `shared`."""
    by_model = []
    for items, patterns in zip(shared, found, strict=True):
        for k, item in enumerate(items):
            assert item.indicator.risk_model is not None
            by_model.append(model_patterns(patterns, k, item.indicator.risk_model))
    return by_model


def _fit(
    item: CompiledIndicator, patterns: pl.DataFrame
) -> tuple[FittedModel, dict[tuple[str, int], ModelReport]]:
    model = item.indicator.risk_model
    assert model is not None
    return fit_national(patterns, item.key, model)


def _with_risk(
    results: pl.DataFrame, observed_expected: Sequence[pl.DataFrame], ancestors: pl.LazyFrame
) -> pl.DataFrame:
    """Observed and expected summed up the tree; O/E with its interval; the risk-standardised
    estimate, O/E × the nation's crude estimate of the period."""
    columns = list(_OBSERVED_EXPECTED)
    summed = (
        pl.concat(
            [
                pl.DataFrame(schema=_OBSERVED_EXPECTED),
                *(frame.select(columns) for frame in observed_expected),
            ]
        )
        .lazy()
        .join(ancestors, on="unit_id", maintain_order="left")
        .group_by(
            "indicator", "period", pl.col("ancestor_id").alias("unit_id"), maintain_order=True
        )
        .agg(fixed_order_sum(pl.col("observed")), fixed_order_sum(pl.col("expected")))
        .collect()
    )
    results = results.join(summed, on=_KEY, how="left", maintain_order="left")
    nation = (
        pl.col("estimate").filter(pl.col("level") == "nation").first().over("indicator", "period")
    )
    return results.with_columns(ratio_columns(results)).with_columns(
        (pl.col("oe_ratio") * nation).alias("risk_standardised")
    )


def _with_coverage(
    results: pl.DataFrame,
    per_unit: pl.DataFrame,
    coverage: pl.DataFrame | None,
    ancestors: pl.LazyFrame,
) -> pl.DataFrame:
    if coverage is None:
        return results.with_columns(pl.lit(None, dtype=pl.Float64).alias("coverage"))
    shares = coverage_by_unit(
        per_unit.lazy().select("unit_id", "period", "registrations"), coverage, ancestors
    ).collect()
    return results.join(shares, on=["unit_id", "period"], how="left", maintain_order="left")
