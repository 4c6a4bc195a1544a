"""Logistic and Poisson regression with statsmodels' `GLM`, on collapsed covariate patterns.

Each row of the fit is one covariate pattern: `y` is its mean outcome (a proportion or a mean
count) and `weight` its number of registrations, passed as `var_weights`, which gives the
coefficients and standard errors of the fit on single registrations.

The fit is Newton–Raphson on the expected information (`method="newton"`,
`optim_hessian="eim"`), which for these canonical links (logit, log) is the observed one and
the same iteration as statsmodels' default IRLS, but works on the p × p information matrix
instead of solving a least-squares problem on the whole design every step (several times
slower on the tens of thousands of patterns of a national registry). It needs a start (without one,
statsmodels would run three IRLS steps to find it): the caller's, typically the previous
period's coefficients, else the intercept-only model. It stops when no coefficient moves by
more than 1e-8, so the start changes the answer by far less than that.

Terms that are linear combinations of the others (for example two missing-value flags that
are always set together) are dropped before the fit and named, as R's `glm` reports them as
aliased, so the information matrix can be inverted. Separation and non-convergence are
reported (`converged`, `warnings`), never raised.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import statsmodels.api as sm

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

ALIASED = 1e-10
"""A term is aliased when, scaled to unit length, less than this share of its weighted sum of
squares lies outside the span of the terms before it."""


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


class _FullRankGLM(sm.GLM):  # type: ignore[misc]  # statsmodels has no type hints
    """statsmodels' GLM for a design of full column rank. GLM computes the rank by a
    singular value decomposition of the whole design when it is made, only for its degrees
    of freedom; `independent_columns` has established the rank already, and the SVD was an
    eighth of each fit's time."""

    def initialize(self) -> None:
        self.df_model = self.exog.shape[1] - 1
        self.wnobs = self.exog.shape[0]
        self.df_resid = self.wnobs - self.df_model - 1


def _family(family: Family) -> sm.families.Family:
    return sm.families.Binomial() if family == "binomial" else sm.families.Poisson()


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


def fit_glm(
    family: Family,
    y: FloatArray,
    matrix: FloatArray,
    weight: FloatArray,
    start: FloatArray | None = None,
) -> GlmFit:
    """Fit mean outcome `y` on `matrix` (full column rank, as `independent_columns` leaves
    it; first column the intercept) with `weight` registrations per row, from `start` (the
    intercept-only model if None)."""
    if start is None:
        start = null_start(family, y, weight, matrix.shape[1])
    model = _FullRankGLM(y, matrix, family=_family(family), var_weights=weight, missing="none")
    # statsmodels warns where a fit is not clean; the report states it instead (see
    # `risk._fit_notes`), so warnings are kept as text, and numpy's overflow of exp at
    # separation is expected.
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        result = model.fit(
            method="newton",
            optim_hessian="eim",
            start_params=start,
            maxiter=MAX_ITERATIONS,
            tol=TOLERANCE,
            disp=False,
            warn_convergence=False,
        )
        params = np.asarray(result.params, dtype=np.float64)
        bse = np.asarray(result.bse, dtype=np.float64)
        linear = np.asarray(matrix @ params, dtype=np.float64)
        fitted = np.asarray(model.predict(params), dtype=np.float64)
    retvals = result.mle_retvals
    return GlmFit(
        params=params,
        bse=bse,
        fitted=fitted,
        linear=linear,
        converged=bool(retvals["converged"]) and bool(np.isfinite(params).all()),
        iterations=int(retvals["iterations"]),
        warnings=tuple(dict.fromkeys(str(item.message) for item in caught)),
    )
