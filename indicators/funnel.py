"""Funnel-plot control limits (95% and 99.8%) and each unit's position against them.

A funnel plot compares every unit of one level in one period with the same target, at the
unit's own size, so a small hospital is not flagged for noise and a large one cannot hide.
The default method is Spiegelhalter's (2005), as FunnelPlotR (Mainey et al., v0.5/0.6,
CRAN) computes it by default; `method="phe"` reproduces PHEindicatormethods' funnels
instead, so the tests can check this module against PHE's published values.

FunnelPlotR (R/od_adjustment.R `transformed_zscore`, `winsorisation`, `truncation`,
`phi_func`, `tau_func`; R/calculate_limits.R; R/funnel_plot.R; R/outliers_func.R):

- Ratios O/E (data_type "SR", sr_method "SHMI"): target 1. z-scores √E · log(O/E); the
  units are ranked into 10 groups, floor(rank · 10 / (m + 1)), and the lowest and highest
  groups are left out (10% truncation at each tail). φ = mean z² of the rest; with Q = mφ
  and weights w = 1/s² = E, DerSimonian & Laird's τ² = (Q − (m − 1)) / (Σw − Σw²/Σw),
  and 0 when Q < m − 1. Limits: exp(±z·√(1/E + τ²)) when τ² > 0; otherwise (and with
  overdispersion off) exact Poisson limits around 1 at E: χ²(α/2; 2E)/2/E and
  χ²(1 − α/2; 2E + 2)/2/E.
- Proportions (data_type "PR"): target = pooled proportion Σx/Σn; scale arcsin√p with
  s = 1/(2√n); z = (arcsin√p − arcsin√target)/s, winsorised at its 10th and 90th
  percentiles (R's default quantile type 7); φ and τ² as above with w = 4n. Limits
  sin²(arcsin√target ± z·√(s² + τ²)), τ² = 0 without overdispersion.
- A unit is outside a limit only when strictly beyond it.

Deliberate differences from FunnelPlotR, none of which changes a result FunnelPlotR gets
right: the normal quantiles are exact (FunnelPlotR types 1.959964 and 3.090232); expected
counts are not rounded to two decimals (its `SHMI_rounding`), so limits match the engine's
O/E; units whose z-score is infinite (O = 0 on the log scale) are ranked but never enter φ
(FunnelPlotR would make φ infinite); units with no size (n or E ≤ 0, or missing) are left
out and get NaN limits; with fewer than two usable units τ² = 0. FunnelPlotR truncates
proportion limits at 0 and 1 and, where the arcsine angle passes 0 or π/2, sets the limit
to 0 or 1 along its plotting grid; here the angle is clipped to [0, π/2], which is the same
thing without a grid.

PHEindicatormethods (v2.1.0, R/Funnels.R `calculate_funnel_limits`,
`assign_funnel_significance`, `sigma_adjustment`; R/utils.R `funnel_ratio_significance`;
Fingertips technical guidance): no overdispersion. Proportions: target ± z·√(target(1 −
target)/n), clipped to [0, 1] (`sigma_adjustment` is this normal approximation written as
the root of a quadratic). Ratios: at a unit's observed count O the limits on O/E are
O / (exact Poisson limits of O), while significance asks whether the interval of O/E
(exact below 10, Byar's from 10, as `ratio_interval`) excludes 1 — so a unit with O = 0
can still be low.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats

from indicators.intervals import _floats, poisson_exact, ratio_interval

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Method = Literal["funnelplotr", "phe"]

CONFIDENCE_95 = 0.95
CONFIDENCE_998 = 0.998
TRIM = 0.1  # FunnelPlotR's trim_by: 10% winsorised or truncated at each tail
POSITIONS = ("high_998", "high_95", "low_998", "low_95")


@dataclass(frozen=True)
class FunnelLimits:
    """Limits and positions aligned with the input units (NaN/None where undefined).

    `position` holds "high_998", "high_95", "within", "low_95", "low_998" or None;
    `tau2` is the between-unit variance actually added (0 when none is detected or
    overdispersion is off); `phi` is the dispersion ratio of the units, reported even
    when it is not used (NaN for `method="phe"`). They and `target` are numbers for one
    funnel, and arrays aligned with the units (each its funnel's) when `groups` is given.
    """

    lower_95: FloatArray
    upper_95: FloatArray
    lower_998: FloatArray
    upper_998: FloatArray
    position: npt.NDArray[np.object_]
    tau2: float | FloatArray
    target: float | FloatArray
    phi: float | FloatArray = float("nan")


@cache
def _z(confidence: float) -> float:
    """Two-sided normal quantile; cached, since every funnel asks for the same two."""
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def _positions(
    defined: BoolArray,
    high_998: BoolArray,
    high_95: BoolArray,
    low_998: BoolArray,
    low_95: BoolArray,
) -> npt.NDArray[np.object_]:
    """The first of high_998, high_95, low_998, low_95 that holds, else within (PHE's order)."""
    labels = np.select([high_998, high_95, low_998, low_95], list(POSITIONS), "within")
    position = labels.astype(object)
    position[~defined] = None
    return position


def _against_limits(value: FloatArray, limits: FunnelLimits) -> npt.NDArray[np.object_]:
    defined = np.isfinite(value) & np.isfinite(limits.lower_95) & np.isfinite(limits.upper_95)
    return _positions(
        defined,
        value > limits.upper_998,
        value > limits.upper_95,
        value < limits.lower_998,
        value < limits.lower_95,
    )


def _by_group(groups: IntArray, **columns: FloatArray) -> pl.DataFrame:
    """The units as a frame: their funnel (`group`) and columns, NaN as null."""
    return pl.DataFrame(
        {"group": groups}
        | {
            name: pl.Series(values, dtype=pl.Float64, nan_to_null=True)
            for name, values in columns.items()
        }
    )


def _array(frame: pl.DataFrame, column: str) -> FloatArray:
    return frame[column].fill_null(np.nan).to_numpy().astype(np.float64)


def _dispersion(
    z: FloatArray, weight: FloatArray, groups: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Per unit, over the units of its funnel with a finite z: φ = mean z², and
    DerSimonian–Laird τ² = max(0, (mφ − (m − 1)) / (Σw − Σw²/Σw)), 0 when m < 2 or mφ < m − 1."""
    frame = _by_group(groups, z=np.where(np.isfinite(z), z, np.nan), weight=weight)
    m = pl.col("z").count().cast(pl.Float64)
    phi = (pl.col("z") ** 2).mean()
    weight_used = pl.when(pl.col("z").is_not_null()).then(pl.col("weight"))
    total = weight_used.sum()
    tau2 = (m * phi - (m - 1.0)) / (total - (weight_used**2).sum() / total)
    found = frame.select(
        phi.over("group").alias("phi"),
        pl.when((m >= 2.0) & (m * phi >= m - 1.0))
        .then(tau2.clip(lower_bound=0.0))
        .otherwise(0.0)
        .over("group")
        .alias("tau2"),
    )
    return _array(found, "phi"), _array(found, "tau2")


def _winsorised(z: FloatArray, trim: float, groups: IntArray) -> FloatArray:
    """z clipped to its funnel's `trim` and 1 − `trim` quantiles (R's type 7) of finite z."""
    z = np.where(np.isfinite(z), z, np.nan)
    values = pl.col("z")
    low, high = (values.quantile(q, interpolation="linear").over("group") for q in (trim, 1 - trim))
    return _array(_by_group(groups, z=z).select(values.clip(low, high)), "z")


def _truncated(z: FloatArray, trim: float, groups: IntArray) -> FloatArray:
    """NaN for the units in the lowest and highest of 1/trim rank groups of their funnel
    (NHS Digital's SHMI); z NaN is not ranked, −∞ is (lowest)."""
    bands = 1.0 / trim
    values = pl.col("z")
    band = (values.rank("average") * bands / (values.count() + 1)).floor().over("group")
    kept = pl.when((band > 0) & (band < bands - 1)).then(values)
    return _array(_by_group(groups, z=z).select(kept.alias("z")), "z")


def _groups(groups: npt.ArrayLike | None, size: int) -> IntArray:
    return np.zeros(size, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)


def _one(values: FloatArray, grouped: bool, empty: float) -> float | FloatArray:
    """Per-unit values as given (grouped), else the one funnel's number."""
    if grouped:
        return values
    return float(values[0]) if values.size else empty


def proportion_funnel(
    numerator: npt.ArrayLike,
    denominator: npt.ArrayLike,
    *,
    overdispersion: bool | npt.ArrayLike = True,
    method: Method = "funnelplotr",
    target: float | None = None,
    groups: npt.ArrayLike | None = None,
) -> FunnelLimits:
    """Limits for the proportions numerator/denominator of units of one level and period.

    `target` defaults to the pooled proportion of the units; pass one to draw limits at
    sizes that are not the units' own (PHE's 100-point table) or around another standard.
    `method="phe"` has no overdispersion, so `overdispersion` is ignored there. `groups`
    (FunnelPlotR's method) labels each unit's funnel, so that many funnels are drawn in one
    call; `overdispersion` may then be given per unit.
    """
    x, n = _floats(numerator, denominator)
    usable = np.isfinite(x) & (n > 0) & (x >= 0) & (x <= n)
    safe_n = np.where(usable, n, 1.0)
    value = np.where(usable, x / safe_n, np.nan)
    size_known = np.isfinite(n) & (n > 0)

    if method == "phe":
        if groups is not None:
            raise ValueError("method='phe' draws one funnel; groups are not supported")
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = float(x[usable].sum() / n[usable].sum()) if target is None else target
        se = np.sqrt(centre * (1.0 - centre) / np.where(size_known, n, 1.0))
        bounds = {
            c: (
                np.clip(centre - _z(c) * se, 0.0, 1.0),
                np.clip(centre + _z(c) * se, 0.0, 1.0),
            )
            for c in (CONFIDENCE_95, CONFIDENCE_998)
        }
        return _limits(bounds, size_known, value, tau2=0.0, target=centre, phi=float("nan"))

    labels = _groups(groups, x.size)
    if target is None:
        pooled = _by_group(labels, x=np.where(usable, x, 0.0), n=np.where(usable, n, 0.0))
        centres = _array(
            pooled.select(pl.col("x").sum().over("group") / pl.col("n").sum().over("group")), "x"
        )
    else:
        centres = np.full(x.size, float(target))
    angle = np.arcsin(np.sqrt(centres))
    s = 1.0 / (2.0 * np.sqrt(np.where(size_known, n, 1.0)))
    z = np.where(usable, (np.arcsin(np.sqrt(np.where(usable, value, 0.0))) - angle) / s, np.nan)
    weight = np.where(usable, 1.0 / s**2, np.nan)
    phi, tau2 = _dispersion(_winsorised(z, TRIM, labels), weight, labels)
    tau2 = np.where(overdispersion, tau2, 0.0)
    spread = np.sqrt(s**2 + tau2)
    bounds = {
        c: (
            np.sin(np.clip(angle - _z(c) * spread, 0.0, np.pi / 2)) ** 2,
            np.sin(np.clip(angle + _z(c) * spread, 0.0, np.pi / 2)) ** 2,
        )
        for c in (CONFIDENCE_95, CONFIDENCE_998)
    }
    grouped = groups is not None
    return _limits(
        bounds,
        size_known,
        value,
        tau2=_one(tau2, grouped, 0.0),
        target=_one(centres, grouped, float("nan")) if target is None else target,
        phi=_one(phi, grouped, float("nan")),
    )


def ratio_funnel(
    observed: npt.ArrayLike,
    expected: npt.ArrayLike,
    *,
    overdispersion: bool | npt.ArrayLike = True,
    method: Method = "funnelplotr",
    groups: npt.ArrayLike | None = None,
) -> FunnelLimits:
    """Limits for indirectly standardised ratios O/E of units of one level and period.

    With FunnelPlotR's method the limits depend on each unit's E (the x-axis); with
    `method="phe"` on its O, and `overdispersion` is ignored (PHE has none). `groups` and a
    per-unit `overdispersion` as for `proportion_funnel`.
    """
    o, e = _floats(observed, expected)
    size_known = np.isfinite(e) & (e > 0)
    usable = size_known & np.isfinite(o) & (o >= 0)
    safe_e = np.where(size_known, e, 1.0)
    value = np.where(usable, o / safe_e, np.nan)

    if method == "phe":
        if groups is not None:
            raise ValueError("method='phe' draws one funnel; groups are not supported")
        return _phe_ratio(o, e, usable, value)

    labels = _groups(groups, o.size)
    with np.errstate(divide="ignore"):
        z = np.where(usable, np.sqrt(safe_e) * np.log(np.where(usable, value, 1.0)), np.nan)
    truncated = _truncated(z, TRIM, labels)
    phi, tau2 = _dispersion(truncated, np.where(usable, safe_e, np.nan), labels)
    tau2 = np.where(overdispersion, tau2, 0.0)
    # Log-scale limits where τ² > 0 (the spread is only taken there), exact Poisson elsewhere.
    spread = np.sqrt(1.0 / safe_e + tau2, where=tau2 > 0, out=np.zeros_like(safe_e))
    bounds = {}
    for c in (CONFIDENCE_95, CONFIDENCE_998):
        lower, upper = poisson_exact(safe_e, c)
        bounds[c] = (
            np.where(tau2 > 0, np.exp(-_z(c) * spread), lower / safe_e),
            np.where(tau2 > 0, np.exp(_z(c) * spread), upper / safe_e),
        )
    grouped = groups is not None
    return _limits(
        bounds,
        size_known,
        value,
        tau2=_one(tau2, grouped, 0.0),
        target=1.0,
        phi=_one(phi, grouped, float("nan")),
    )


def _limits(
    bounds: dict[float, tuple[FloatArray, FloatArray]],
    size_known: BoolArray,
    value: FloatArray,
    *,
    tau2: float | FloatArray,
    target: float | FloatArray,
    phi: float | FloatArray,
) -> FunnelLimits:
    def known(array: FloatArray) -> FloatArray:
        return np.where(size_known & np.isfinite(target), array, np.nan)

    limits = FunnelLimits(
        lower_95=known(bounds[CONFIDENCE_95][0]),
        upper_95=known(bounds[CONFIDENCE_95][1]),
        lower_998=known(bounds[CONFIDENCE_998][0]),
        upper_998=known(bounds[CONFIDENCE_998][1]),
        position=np.empty(0, dtype=object),
        tau2=tau2,
        target=target,
        phi=phi,
    )
    return replace(limits, position=_against_limits(value, limits))


def _phe_ratio(o: FloatArray, e: FloatArray, usable: BoolArray, value: FloatArray) -> FunnelLimits:
    """PHE: limits O/exact(O) at the unit's count; significance from O/E's interval vs 1."""
    counted = np.isfinite(o) & (o >= 0)
    safe_o = np.where(counted, o, 0.0)
    bounds: dict[float, tuple[FloatArray, FloatArray]] = {}
    flags: list[BoolArray] = []
    for c in (CONFIDENCE_998, CONFIDENCE_95):
        count_lower, count_upper = poisson_exact(safe_o, c)
        with np.errstate(divide="ignore", invalid="ignore"):
            bounds[c] = (
                np.where(counted, safe_o / count_upper, np.nan),
                np.where(counted & (safe_o > 0), safe_o / count_lower, np.nan),
            )
        lower, upper = ratio_interval(o, e, c)
        flags.extend([lower > 1.0, upper < 1.0])
    high_998, low_998, high_95, low_95 = flags
    position = _positions(usable, high_998, high_95, low_998, low_95)
    return FunnelLimits(
        lower_95=bounds[CONFIDENCE_95][0],
        upper_95=bounds[CONFIDENCE_95][1],
        lower_998=bounds[CONFIDENCE_998][0],
        upper_998=bounds[CONFIDENCE_998][1],
        position=position,
        tau2=0.0,
        target=1.0,
        phi=float("nan"),
    )
