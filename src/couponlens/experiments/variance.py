"""Variance reduction with pre-period covariates: Lin (2013) ANCOVA with HC1 robust errors.

Lin's estimator is the coefficient on the treatment indicator in the fully interacted
regression ``y ~ 1 + T + (x - xbar) + T:(x - xbar)``, ``xbar`` being the mean over both arms
compared; with HC robust standard errors it is never less precise asymptotically than the
difference in means, and unlike classic ANCOVA it stays consistent when the effect varies with
``x``. (CUPED with a pooled theta is the special case without the interaction.)

The interacted regression is two separate regressions, one per arm, of ``y`` on ``z = (1, x)``;
the coefficient on ``T`` is ``a_t - a_c`` with ``a_k = (1, xbar) . beta_k`` (each arm's fitted
value at ``xbar``). Its HC0 variance is the sum of the two arms' sandwich variances, and HC1
multiplies by ``N / (N - K)`` with ``K = 2 (p + 1)``. Every piece is a sum of products:

* ``Z'Z`` and ``Z'y``: moments of degree <= 2 in ``(x, y)``;
* the meat ``sum e^2 z z'`` with ``e = y - z'beta`` expands to
  ``sum y^2 z z' - 2 sum_c beta_c sum y z_c z z' + sum_cd beta_c beta_d sum z_c z_d z z'``,

which :mod:`couponlens.experiments.sufficient` aggregates on the engine. The result equals
``statsmodels`` OLS with ``cov_type="HC1"`` on the rows (normal-based CI and p-value, as
statsmodels reports for robust covariances).

Example:
    >>> import numpy as np, pandas as pd, ibis
    >>> from couponlens.engine import connect
    >>> from couponlens.datasets.experiment import experiment_from_table
    >>> from couponlens.experiments.sufficient import aggregate_moments
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400); arm = np.repeat(["c", "t"], 200)
    >>> y = x + (arm == "t") * 0.5 + rng.normal(scale=0.3, size=400)
    >>> con = connect()
    >>> t = con.create_table("d", pd.DataFrame({"arm": arm, "x": x, "y": y}))
    >>> data = experiment_from_table(t, con, treatment="arm", control="c", outcomes=["y"], pre_period=["x"])
    >>> m = aggregate_moments(data, [])
    >>> r = lin_adjusted_difference(m.select(arm="t"), m.select(arm="c"), "y", ["x"])
    >>> round(r.diff, 2), r.se < 0.05
    (0.49, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from couponlens.experiments.sufficient import Moments


@dataclass(frozen=True)
class AdjustedDifference:
    """The Lin-adjusted difference in means with its HC1 normal interval."""

    diff: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    status: str


def _arm_fit(
    m: Moments, y: str, terms: list[tuple[str, ...]]
) -> tuple[np.ndarray, np.ndarray] | str:
    """(beta, HC0 covariance) of the regression of ``y`` on ``terms`` (``()`` is the intercept)."""
    k = len(terms)
    zz = np.array([[m.total(*a, *b) for b in terms] for a in terms])
    zy = np.array([m.total(y, *a) for a in terms])
    scale = np.sqrt(np.clip(np.diag(zz), 0, None))
    if np.any(scale == 0):
        return "a pre-period covariate is always 0"
    corr = zz / np.outer(scale, scale)
    if np.linalg.eigvalsh(corr).min() < 1e-10:
        return "the pre-period covariates are constant or collinear"
    beta = np.linalg.solve(zz, zy)
    meat = np.empty((k, k))
    for i, a in enumerate(terms):
        for j, b in enumerate(terms[i:], start=i):
            value = m.total(y, y, *a, *b)
            value -= 2 * sum(beta[c] * m.total(y, *terms[c], *a, *b) for c in range(k))
            value += sum(
                beta[c] * beta[d] * m.total(*terms[c], *terms[d], *a, *b)
                for c in range(k)
                for d in range(k)
            )
            meat[i, j] = meat[j, i] = value
    bread = np.linalg.inv(zz)
    return beta, bread @ meat @ bread


def lin_adjusted_difference(
    treated: Moments,
    control: Moments,
    outcome: str,
    pre_period: Sequence[str],
    alpha: float = 0.05,
) -> AdjustedDifference:
    """Lin (2013) interacted-regression effect of treatment on ``outcome``, HC1 standard error."""
    p = len(pre_period)
    if p == 0:
        return AdjustedDifference(
            None, None, None, None, None, "not estimable: no pre-period covariates"
        )
    n1, n0 = treated.n, control.n
    if min(n1, n0) < p + 2:
        return AdjustedDifference(
            None, None, None, None, None, f"not estimable: fewer than {p + 2} units in an arm"
        )
    terms: list[tuple[str, ...]] = [(), *[(x,) for x in pre_period]]
    xbar = np.array([(treated.total(x) + control.total(x)) / (n1 + n0) for x in pre_period])
    weights = np.concatenate([[1.0], xbar])
    fits = []
    for m, name in ((treated, "treated"), (control, "control")):
        fit = _arm_fit(m, outcome, terms)
        if isinstance(fit, str):
            return AdjustedDifference(
                None, None, None, None, None, f"not estimable: {fit} in the {name} arm"
            )
        fits.append(fit)
    (b1, v1), (b0, v0) = fits
    diff = float(weights @ b1 - weights @ b0)
    total = n1 + n0
    hc1 = total / (total - 2 * (p + 1))
    var = float((weights @ v1 @ weights + weights @ v0 @ weights) * hc1)
    if not np.isfinite(var) or var <= 0:
        return AdjustedDifference(
            None,
            None,
            None,
            None,
            None,
            "not estimable: the residuals are zero (the outcome is fitted exactly)",
        )
    se = float(np.sqrt(var))
    z = float(stats.norm.ppf(1 - alpha / 2))
    p_value = float(2 * stats.norm.sf(abs(diff) / se))
    return AdjustedDifference(diff, se, diff - z * se, diff + z * se, p_value, "ok")
