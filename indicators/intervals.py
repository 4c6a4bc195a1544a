"""Confidence intervals for the engine's estimates, vectorised over units.

Every function takes numpy arrays (or anything `np.asarray` accepts: lists, polars Series,
scalars), broadcasts them against each other and returns `(lower, upper)` as float arrays
of the broadcast shape. Where an interval is undefined — a zero or missing denominator, a
negative count, a numerator above its denominator, a mean of fewer than two values — both
bounds are NaN, so the engine never has to special-case a unit: NaN becomes null.

The methods and their conventions are those of PHEindicatormethods (UKHSA, v2.1.0), whose
published test values the unit tests reproduce:

- proportions: Wilson score interval (Wilson 1927; Newcombe & Altman in *Statistics with
  Confidence*, 2000), PHEindicatormethods `wilson_lower`/`wilson_upper` in R/utils.R;
- counts: exact limits from the chi-square (gamma) quantiles, and Byar's approximation
  (Breslow & Day 1987), `byars_lower`/`byars_upper`; rates and indirectly standardised
  ratios use exact limits below 10 observed and Byar's from 10 (R/Rates.R, R/ISRatio.R);
- means: Student's t (R/Means.R);
- medians: the distribution-free interval between two order statistics, whose ranks come
  from the Binomial(n, 1/2) distribution (Conover, *Practical Nonparametric Statistics*,
  3rd ed., 1999, §3.2; Campbell & Gardner in *Statistics with Confidence*, 2000).

`confidence` is two-sided: 0.95 gives the 2.5% and 97.5% points, 0.998 the 0.1% and 99.9%.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
Interval = tuple[FloatArray, FloatArray]

BYAR_FROM = 10  # PHEindicatormethods: exact limits below 10 events, Byar's from 10


def _floats(*values: npt.ArrayLike) -> list[FloatArray]:
    arrays = np.broadcast_arrays(*(np.asarray(value, dtype=np.float64) for value in values))
    return [np.array(array, dtype=np.float64) for array in arrays]


def _tail(confidence: float) -> float:
    """The probability in each tail of a two-sided interval."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    return (1.0 - confidence) / 2.0


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(1.0 - _tail(confidence)))


def wilson(
    numerator: npt.ArrayLike, denominator: npt.ArrayLike, confidence: float = 0.95
) -> Interval:
    """Wilson score interval of the proportion numerator/denominator.

    Chosen over the Wald interval because it stays inside [0, 1] and keeps its coverage for
    small units and proportions near 0 or 1, which is where registries' hospitals are.
    Non-integer numerators are accepted (PHE's reference includes 0.445 of 1).
    """
    x, n = _floats(numerator, denominator)
    z = _z(confidence)
    valid = (n > 0) & (x >= 0) & (x <= n)
    x, n = np.where(valid, x, 0.0), np.where(valid, n, 1.0)
    half_width = z * np.sqrt(z**2 + 4.0 * x * (1.0 - x / n))
    lower = (2.0 * x + z**2 - half_width) / 2.0 / (n + z**2)
    upper = (2.0 * x + z**2 + half_width) / 2.0 / (n + z**2)
    return np.where(valid, lower, np.nan), np.where(valid, upper, np.nan)


def poisson_exact(observed: npt.ArrayLike, confidence: float = 0.95) -> Interval:
    """Exact limits of a Poisson count from chi-square quantiles (Garwood 1936).

    lower = χ²(α/2; 2x)/2 (0 for x = 0), upper = χ²(1 − α/2; 2x + 2)/2. Defined for any
    real x ≥ 0 through the gamma distribution, which FunnelPlotR relies on when it puts an
    expected (non-integer) count in place of x.
    """
    (x,) = _floats(observed)
    alpha = _tail(confidence)
    valid = x >= 0
    safe = np.where(valid, x, 0.0)
    positive = safe > 0
    lower = np.where(positive, stats.chi2.ppf(alpha, 2.0 * np.where(positive, safe, 1.0)), 0.0)
    upper = stats.chi2.ppf(1.0 - alpha, 2.0 * safe + 2.0)
    return np.where(valid, lower / 2.0, np.nan), np.where(valid, upper / 2.0, np.nan)


def byar(observed: npt.ArrayLike, confidence: float = 0.95) -> Interval:
    """Byar's approximation to the exact Poisson limits (Breslow & Day 1987).

    As in PHEindicatormethods, a lower limit the approximation makes negative (small counts
    at high confidence, and x = 0) is NaN rather than clipped: the approximation is not
    meant for those counts, and `count_interval` uses exact limits there.
    """
    (x,) = _floats(observed)
    z = _z(confidence)
    valid = x >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = x * (1.0 - 1.0 / (9.0 * x) - z / (3.0 * np.sqrt(x))) ** 3
    x1 = np.where(valid, x, 0.0) + 1.0
    upper = x1 * (1.0 - 1.0 / (9.0 * x1) + z / (3.0 * np.sqrt(x1))) ** 3
    lower = np.where(valid & (x > 0) & (lower >= 0), lower, np.nan)
    return lower, np.where(valid, upper, np.nan)


def count_interval(observed: npt.ArrayLike, confidence: float = 0.95) -> Interval:
    """Limits of a count: exact below 10 observed, Byar's from 10 (PHEindicatormethods' rule)."""
    (x,) = _floats(observed)
    exact_lower, exact_upper = poisson_exact(x, confidence)
    byar_lower, byar_upper = byar(x, confidence)
    small = x < BYAR_FROM
    return np.where(small, exact_lower, byar_lower), np.where(small, exact_upper, byar_upper)


def ratio_interval(
    observed: npt.ArrayLike, expected: npt.ArrayLike, confidence: float = 0.95
) -> Interval:
    """Interval of an indirectly standardised ratio O/E: the count's interval divided by E.

    The expected count is treated as fixed (it comes from a model fitted on the whole
    nation), as in PHEindicatormethods' `calculate_ISRatio`.
    """
    o, e = _floats(observed, expected)
    lower, upper = count_interval(o, confidence)
    valid = e > 0
    safe = np.where(valid, e, 1.0)
    return np.where(valid, lower / safe, np.nan), np.where(valid, upper / safe, np.nan)


def mean_t(
    mean: npt.ArrayLike, sd: npt.ArrayLike, n: npt.ArrayLike, confidence: float = 0.95
) -> Interval:
    """Student's t interval of a mean: mean ± t(1 − α/2; n − 1) · sd / √n.

    `sd` is the sample standard deviation (divisor n − 1); n < 2 gives NaN.
    """
    m, s, count = _floats(mean, sd, n)
    valid = (count >= 2) & (s >= 0)
    df = np.where(valid, count - 1.0, 1.0)
    half_width = stats.t.ppf(1.0 - _tail(confidence), df) * s / np.sqrt(np.where(valid, count, 1))
    return np.where(valid, m - half_width, np.nan), np.where(valid, m + half_width, np.nan)


def median_ranks(n: npt.ArrayLike, confidence: float = 0.95) -> Interval:
    """1-based ranks (j, k) of the order statistics x₍ⱼ₎ ≤ median ≤ x₍ₖ₎, distribution-free.

    The number of values below the population median is Binomial(n, 1/2), so
    P(x₍ⱼ₎ ≤ median ≤ x₍ₖ₎) = P(j ≤ B ≤ k − 1). j is the Binomial(n, 1/2) quantile at α/2
    (R's `qbinom`), which makes P(B ≤ j − 1) < α/2, and k = n + 1 − j by symmetry, so the
    coverage is at least `confidence` whenever any pair of ranks can reach it. For small n
    (n ≤ 5 at 95%) no pair can, and the ranks are clipped to 1..n: the interval is then the
    sample's range, with coverage 1 − 2⁽¹⁻ⁿ⁾, below nominal.

    Example: n = 10 at 95% gives ranks 2 and 9 (coverage 97.9%); n = 100 gives 40 and 61.
    Ranks are floats so that n < 1 can be NaN.
    """
    (size,) = _floats(n)
    valid = size >= 1
    safe = np.where(valid, np.floor(size), 1.0)
    j = stats.binom.ppf(_tail(confidence), safe, 0.5)
    k = safe + 1.0 - j
    lower = np.clip(j, 1.0, safe)
    upper = np.clip(k, 1.0, safe)
    return np.where(valid, lower, np.nan), np.where(valid, upper, np.nan)
