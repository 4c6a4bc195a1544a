"""Logistic and Poisson regression on collapsed covariate patterns, by Newton–Raphson.

Each row of the fit is one covariate pattern: `y` is its mean outcome (a proportion or a mean
count) and `weight` its number of registrations, which gives the coefficients and standard
errors of the fit on single registrations (statsmodels' `var_weights`).

The iteration is statsmodels' `GLM.fit(method="newton", optim_hessian="eim")` step for step:
from the start, β ← β + (I + 1e-10·n·1)⁻¹ U with the score U = Xᵀw(y − μ) and the expected
information I = Xᵀ diag(w·v(μ)) X (for these canonical links, logit and log, the observed
one too, and the same iteration as IRLS), stopping when no coefficient moves by more than
1e-8 or after 25 steps. Written out in numpy because statsmodels, for the same steps, finds
the design's rank by a singular value decomposition of the whole design and evaluates the
means several times a step, which made the fits most of `compute_results` at a million
registrations; the unit tests hold the coefficients and standard errors to statsmodels' fit
on single registrations. The caller gives the start, typically the previous period's
coefficients, else the intercept-only model; the start changes the answer by far less than
the tolerance.

Terms that are linear combinations of the others (for example two missing-value flags that
are always set together) are dropped before the fit and named, as R's `glm` reports them as
aliased, so the information matrix can be inverted. Separation and non-convergence are
reported (`converged`, `warnings`), never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Family = Literal["binomial", "poisson"]

MAX_ITERATIONS = 25
"""R's `glm.control(maxit = 25)`. A fit that has not converged by then is separated (a
coefficient drifting towards infinity by about one per step, its patterns' predictions
already within 1e-7 of 0 or 1), and more steps change no expected count that matters but
cost time: at a few hundred registrations a year, where separation is common, 100 steps
made the risk fits most of a recomputation after each change of data."""
TOLERANCE = 1e-8
"""Newton stops when no coefficient changes by more than this (statsmodels' default)."""

RIDGE = 1e-10
"""Added to the diagonal of the information per pattern, as statsmodels' Newton does (its
`ridge_factor`), so that a step at near-separation does not fail on a singular matrix."""

EPSILON = float(np.finfo(np.float64).eps)
"""Means are kept this far from the ends of their range in the variance, as statsmodels'
families clip them, so the information stays positive when predictions reach 0 or 1."""

ALIASED = 1e-10
"""A term is aliased when, scaled to unit length, less than this share of its weighted sum of
squares lies outside the span of the terms before it."""

SINGULAR = "Inverting hessian failed, no bse or cov_params available"
"""What statsmodels says when the information at the estimate cannot be inverted."""


@dataclass(frozen=True)
class GlmFit:
    """A fitted model: coefficients, standard errors and fitted means per pattern."""

    params: FloatArray
    bse: FloatArray
    fitted: FloatArray
    linear: FloatArray
    converged: bool
    iterations: int
    warnings: tuple[str, ...]


def null_start(family: Family, y: FloatArray, weight: FloatArray, terms: int) -> FloatArray:
    """The intercept-only model (first column the intercept): the link of the mean outcome."""
    mean = float(np.average(y, weights=weight))
    start = np.zeros(terms)
    if family == "binomial":
        mean = min(max(mean, 1e-10), 1.0 - 1e-10)
        start[0] = np.log(mean / (1.0 - mean))
    else:
        start[0] = np.log(max(mean, 1e-10))
    return start


def independent_columns(matrix: FloatArray, weight: FloatArray) -> list[int]:
    """The columns to keep, in order: each one unless it is (nearly) a linear combination of
    the kept columns before it, judged on the weighted p × p cross-product, so the check costs
    one pass over the design."""
    gram = (matrix.T * weight) @ matrix
    scale = np.sqrt(np.clip(np.diag(gram), 1e-300, None))
    gram = gram / np.outer(scale, scale)
    kept: list[int] = []
    for column in range(matrix.shape[1]):
        if gram[column, column] <= 0.0:
            continue
        if kept:
            block = gram[np.ix_(kept, kept)]
            cross = gram[kept, column]
            residual = 1.0 - float(cross @ np.linalg.lstsq(block, cross, rcond=None)[0])
            if residual < ALIASED:
                continue
        kept.append(column)
    return kept


def _mean_and_variance(family: Family, linear: FloatArray) -> tuple[FloatArray, FloatArray]:
    """μ from the linear predictor, and the variance function v(μ) with μ clipped away from
    the ends of its range."""
    if family == "binomial":
        mean = 1.0 / (1.0 + np.exp(-linear))
        clipped = np.clip(mean, EPSILON, 1.0 - EPSILON)
        return mean, clipped * (1.0 - clipped)
    mean = np.exp(linear)
    return mean, np.clip(mean, EPSILON, None)


def _linear(matrix: FloatArray, params: FloatArray) -> FloatArray:
    """X·β. Matrix–vector products here are einsum loops, not `@`: OpenBLAS spreads them over
    threads, which on a busy machine wait for cores, and they were ten to twenty times
    slower than the loop (the p × p information, a matrix product, gains from BLAS)."""
    linear: FloatArray = np.einsum("ij,j->i", matrix, params)
    return linear


def _score(matrix: FloatArray, residual: FloatArray) -> FloatArray:
    """Xᵀr, as `_linear`."""
    score: FloatArray = np.einsum("ij,i->j", matrix, residual)
    return score


def _information(matrix: FloatArray, weight: FloatArray, variance: FloatArray) -> FloatArray:
    return (matrix.T * (weight * variance)) @ matrix


def fit_glm(
    family: Family,
    y: FloatArray,
    matrix: FloatArray,
    weight: FloatArray,
    start: FloatArray | None = None,
) -> GlmFit:
    """Fit mean outcome `y` on `matrix` (full column rank, first column the intercept) with
    `weight` registrations per row, from `start` (the intercept-only model if None)."""
    params = null_start(family, y, weight, matrix.shape[1]) if start is None else start
    ridge = RIDGE * y.size * np.eye(matrix.shape[1])
    previous = np.full_like(params, np.inf)
    iterations = 0
    # exp overflows at separation, where the means are 0 or 1 as they should be.
    with np.errstate(over="ignore", invalid="ignore"):
        while iterations < MAX_ITERATIONS and np.any(np.abs(params - previous) > TOLERANCE):
            mean, variance = _mean_and_variance(family, _linear(matrix, params))
            score = _score(matrix, weight * (y - mean))
            information = _information(matrix, weight, variance) + ridge
            previous, params = params, params + np.linalg.solve(information, score)
            iterations += 1
        linear = _linear(matrix, params)
        mean, variance = _mean_and_variance(family, linear)
        notes: tuple[str, ...] = ()
        try:
            bse = np.sqrt(np.diag(np.linalg.inv(_information(matrix, weight, variance))))
        except np.linalg.LinAlgError:
            bse, notes = np.full_like(params, np.nan), (SINGULAR,)
    return GlmFit(
        params=params,
        bse=bse,
        fitted=mean,
        linear=linear,
        # statsmodels counts a fit that stops at the last allowed step as not converged.
        converged=iterations < MAX_ITERATIONS and bool(np.isfinite(params).all()),
        iterations=iterations,
        warnings=notes,
    )
