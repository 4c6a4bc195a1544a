"""Estimates, intervals and funnel limits as columns of the results frame.

The statistics themselves live in `indicators.intervals` and `indicators.funnel` and take
numpy arrays; here they are applied to whole columns at once (masked by indicator type),
funnels too: every indicator × period × level (the group a funnel's limits are defined over)
in one call, each row labelled with its group.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import polars as pl

from indicators.funnel import FunnelLimits, proportion_funnel, ratio_funnel
from indicators.intervals import mean_t, median_ranks, ratio_interval, wilson

FloatArray = npt.NDArray[np.float64]

FUNNEL_COLUMNS = ("funnel_lower_95", "funnel_upper_95", "funnel_lower_998", "funnel_upper_998")


def _floats(frame: pl.DataFrame, column: str) -> FloatArray:
    return frame[column].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64)


def _series(name: str, values: FloatArray) -> pl.Series:
    return pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)


def _masked(
    mask: npt.NDArray[np.bool_],
    function: Callable[..., tuple[FloatArray, FloatArray]],
    *columns: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    lower, upper = np.full(mask.size, np.nan), np.full(mask.size, np.nan)
    if mask.any():
        lower[mask], upper[mask] = function(*(column[mask] for column in columns))
    return lower, upper


def estimate_columns(results: pl.DataFrame, medians: pl.DataFrame) -> list[pl.Series]:
    """`estimate`, `lower`, `upper` for each row: a proportion with its Wilson interval, a
    mean with its t interval (from the mean and M2), or the median found in `medians`.

    `results` needs `indicator`, `period`, `unit_id`, `type`, `numerator`, `denominator`,
    `mean` and `m2`; `medians` is `median_columns` of all median indicators.
    """
    kind = results["type"].to_numpy()
    numerator, denominator = _floats(results, "numerator"), _floats(results, "denominator")
    mean, m2 = _floats(results, "mean"), _floats(results, "m2")
    proportion, averaged = kind == "proportion", kind == "mean"
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(m2 / (denominator - 1.0))
        estimate = np.where(proportion, numerator / denominator, np.where(averaged, mean, np.nan))
    lower, upper = _masked(proportion, wilson, numerator, denominator)
    mean_lower, mean_upper = _masked(averaged, mean_t, mean, sd, denominator)
    lower, upper = np.where(averaged, mean_lower, lower), np.where(averaged, mean_upper, upper)
    if not medians.is_empty():
        found = results.select("indicator", "period", "unit_id").join(
            medians, on=["indicator", "period", "unit_id"], how="left", maintain_order="left"
        )
        median = kind == "median"
        estimate = np.where(median, _floats(found, "estimate"), estimate)
        lower = np.where(median, _floats(found, "lower"), lower)
        upper = np.where(median, _floats(found, "upper"), upper)
    return [_series("estimate", estimate), _series("lower", lower), _series("upper", upper)]


def median_columns(values: pl.DataFrame) -> pl.DataFrame:
    """Median and its order-statistic interval per (`unit_id`, `period`) of counted `values`.

    `values` holds each distinct value with its `count`, sorted by unit, period and value
    (see `aggregate.median_values`), so each group is a run, and its k-th smallest value is
    the first of the run whose running count reaches the run's start + k.
    """
    groups = values.group_by("unit_id", "period", maintain_order=True).agg(
        pl.col("count").sum().alias("n")
    )
    n = groups["n"].to_numpy().astype(np.int64)
    start = np.cumsum(n) - n
    running = np.cumsum(values["count"].to_numpy().astype(np.int64))
    value = values["value"].to_numpy().astype(np.float64)

    def kth(rank: npt.NDArray[np.int64]) -> FloatArray:
        """The rank-th smallest value (1-based) of each group."""
        found: FloatArray = value[np.searchsorted(running, start + rank, side="left")]
        return found

    lower_rank, upper_rank = median_ranks(n)
    return groups.select("unit_id", "period").with_columns(
        _series("estimate", (kth((n - 1) // 2 + 1) + kth(n // 2 + 1)) / 2.0),
        _series("lower", kth(lower_rank.astype(np.int64))),
        _series("upper", kth(upper_rank.astype(np.int64))),
    )


def ratio_columns(results: pl.DataFrame) -> list[pl.Series]:
    """`oe_ratio`, `oe_lower`, `oe_upper`: exact Poisson limits below 10 observed, Byar's
    from 10, with the expected count taken as fixed."""
    observed, expected = _floats(results, "observed"), _floats(results, "expected")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / expected, np.nan)
    lower, upper = _masked(np.isfinite(ratio), ratio_interval, observed, expected)
    return [_series("oe_ratio", ratio), _series("oe_lower", lower), _series("oe_upper", upper)]


def funnel_columns(results: pl.DataFrame) -> list[pl.Series]:
    """Funnel limits and position of each row among the units of its indicator, period and
    level: on O/E for risk-adjusted indicators, on the proportion otherwise; none for
    unadjusted means and medians, and none for a unit without peers (the nation).

    Every funnel is drawn in one call per kind, each row labelled with its funnel.
    """
    funnel = pl.struct("indicator", "period", "level").rank("dense").cast(pl.Int64)
    peers = pl.len().over("indicator", "period", "level") >= 2
    rows = results.select(
        funnel.alias("funnel"),
        (peers & pl.col("risk_adjusted")).alias("ratio"),
        (peers & ~pl.col("risk_adjusted") & (pl.col("type") == "proportion")).alias("proportion"),
        "overdispersion",
    )
    limits = {name: np.full(results.height, np.nan) for name in FUNNEL_COLUMNS}
    position = np.full(results.height, None, dtype=object)
    for kind, sizes, draw in (
        ("ratio", ("observed", "expected"), ratio_funnel),
        ("proportion", ("numerator", "denominator"), proportion_funnel),
    ):
        mask = rows[kind].to_numpy()
        if not mask.any():
            continue
        found: FunnelLimits = draw(
            *(_floats(results, name)[mask] for name in sizes),
            overdispersion=rows["overdispersion"].to_numpy()[mask],
            groups=rows["funnel"].to_numpy()[mask],
        )
        for name in FUNNEL_COLUMNS:
            limits[name][mask] = getattr(found, name.removeprefix("funnel_"))
        position[mask] = found.position
    return [
        *(_series(name, values) for name, values in limits.items()),
        pl.Series("funnel_position", position.tolist(), dtype=pl.String),
    ]
