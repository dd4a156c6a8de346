"""Treatment effects from sufficient statistics: Welch difference, relative lift, interactions.

* **Difference in means** with the Welch-Satterthwaite t interval and p-value (what
  ``scipy.stats.ttest_ind(equal_var=False)`` gives on the rows).
* **Relative lift** ``mean_t / mean_c - 1`` with a delta-method normal interval:
  ``var = var(mean_t) / mean_c^2 + mean_t^2 var(mean_c) / mean_c^4``.
* **Treatment x segment interaction**: the difference between the effect inside a segment and
  outside it, ``(t_in - c_in) - (t_out - c_out)``, with the normal test on the sum of the four
  cells' ``var / n``: exactly the interaction coefficient of the saturated regression
  ``y ~ treated * in_segment`` with HC2 robust standard errors.
* **Bootstrap CI and Mann-Whitney** for amounts (heavy tails) from a bounded row sample:
  see :func:`bootstrap_difference`.

Every function returns an explicit ``status``; a degenerate input (an empty arm, a single unit,
zero variance) gives ``"not estimable: <reason>"`` and ``None`` figures, never NaN.

Example:
    >>> w = welch_difference(n_control=4, mean_control=1.0, var_control=1.0,
    ...                      n_treatment=4, mean_treatment=3.0, var_treatment=1.0)
    >>> round(w.diff, 3), round(w.p, 4), w.status
    (2.0, 0.03, 'ok')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class WelchDifference:
    """Difference in means with its Welch interval, and the relative lift with its delta CI."""

    diff: float | None
    se: float | None
    df: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    rel_lift: float | None
    rel_ci_low: float | None
    rel_ci_high: float | None
    status: str


def _none_result(status: str) -> WelchDifference:
    return WelchDifference(None, None, None, None, None, None, None, None, None, status)


def welch_difference(
    *,
    n_control: float,
    mean_control: float,
    var_control: float,
    n_treatment: float,
    mean_treatment: float,
    var_treatment: float,
    alpha: float = 0.05,
) -> WelchDifference:
    """Welch-Satterthwaite difference (treatment - control) and delta-method relative lift.

    Variances are sample variances (ddof 1).

    Example:
        >>> welch_difference(n_control=0, mean_control=0, var_control=0,
        ...                  n_treatment=5, mean_treatment=1, var_treatment=1).status
        'not estimable: the control arm has no units'
    """
    if n_control < 1:
        return _none_result("not estimable: the control arm has no units")
    if n_treatment < 1:
        return _none_result("not estimable: the treatment arm has no units")
    if n_control < 2 or n_treatment < 2:
        return _none_result("not estimable: fewer than 2 units in an arm")
    a = var_treatment / n_treatment
    b = var_control / n_control
    se2 = a + b
    diff = mean_treatment - mean_control
    if not np.isfinite(se2) or se2 <= 0:
        if diff == 0:
            constant = f" (all {mean_control:g})" if mean_control == mean_treatment else ""
            return _none_result(f"not estimable: the outcome is constant in both arms{constant}")
        return _none_result("not estimable: zero variance in both arms")
    se = float(np.sqrt(se2))
    df = se2**2 / (a**2 / (n_treatment - 1) + b**2 / (n_control - 1))
    q = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    rel = rel_low = rel_high = None
    if mean_control != 0:
        rel = mean_treatment / mean_control - 1
        rel_var = a / mean_control**2 + mean_treatment**2 * b / mean_control**4
        z = float(stats.norm.ppf(1 - alpha / 2))
        half = z * float(np.sqrt(rel_var))
        rel_low, rel_high = rel - half, rel + half
    return WelchDifference(
        diff=float(diff),
        se=se,
        df=float(df),
        ci_low=float(diff - q * se),
        ci_high=float(diff + q * se),
        p=p,
        rel_lift=None if rel is None else float(rel),
        rel_ci_low=None if rel_low is None else float(rel_low),
        rel_ci_high=None if rel_high is None else float(rel_high),
        status="ok",
    )


@dataclass(frozen=True)
class InteractionTest:
    """Effect inside a segment minus the effect outside it, with a robust normal test."""

    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    status: str


def interaction_test(
    cells: list[tuple[float, float, float]], alpha: float = 0.05
) -> InteractionTest:
    """Treatment x segment interaction from four ``(n, mean, var)`` cells.

    ``cells`` is ``[treated_in, control_in, treated_out, control_out]``.

    Example:
        >>> r = interaction_test([(50, 2.0, 1.0), (50, 1.0, 1.0), (50, 1.2, 1.0), (50, 1.0, 1.0)])
        >>> round(r.estimate, 2), round(r.se, 3)
        (0.8, 0.283)
    """
    names = [
        "treated units in the segment",
        "control units in the segment",
        "treated units outside the segment",
        "control units outside the segment",
    ]
    for (n, _, _), name in zip(cells, names, strict=True):
        if n < 2:
            return InteractionTest(
                None, None, None, None, None, f"not estimable: fewer than 2 {name}"
            )
    (n1, m1, v1), (n2, m2, v2), (n3, m3, v3), (n4, m4, v4) = cells
    estimate = (m1 - m2) - (m3 - m4)
    se2 = v1 / n1 + v2 / n2 + v3 / n3 + v4 / n4
    if se2 <= 0:
        return InteractionTest(
            None, None, None, None, None, "not estimable: the outcome is constant"
        )
    se = float(np.sqrt(se2))
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = float(2 * stats.norm.sf(abs(estimate) / se))
    return InteractionTest(float(estimate), se, estimate - z * se, estimate + z * se, p, "ok")


@dataclass(frozen=True)
class AmountChecks:
    """Bootstrap percentile CI of the difference in means and the Mann-Whitney U test."""

    bootstrap_ci_low: float | None
    bootstrap_ci_high: float | None
    mann_whitney_p: float | None
    n_sampled_control: int
    n_sampled_treatment: int
    status: str


def bootstrap_difference(
    control: np.ndarray,
    treatment: np.ndarray,
    *,
    n_control: float | None = None,
    n_treatment: float | None = None,
    mean_control: float | None = None,
    mean_treatment: float | None = None,
    resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> AmountChecks:
    """Bootstrap CI of ``mean(treatment) - mean(control)`` and Mann-Whitney p, from row samples.

    When the arrays are uniform random samples of larger arms (``n_control``/``n_treatment``
    rows, full means ``mean_control``/``mean_treatment``), each arm's bootstrap deviations are
    scaled by ``sqrt(sample size / arm size)`` and centred on the full means, so the interval is
    for the full data while the work stays bounded. Without them it is the plain percentile
    bootstrap. Mann-Whitney runs on the samples as they are (two-sided, asymptotic).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> r = bootstrap_difference(rng.exponential(1, 500), rng.exponential(1.5, 500))
        >>> r.bootstrap_ci_low > 0, r.mann_whitney_p < 0.01
        (True, True)
    """
    control = np.asarray(control, dtype=float)
    treatment = np.asarray(treatment, dtype=float)
    k0, k1 = len(control), len(treatment)
    if k0 < 2 or k1 < 2:
        return AmountChecks(None, None, None, k0, k1, "not estimable: fewer than 2 units in an arm")
    if np.ptp(np.concatenate([control, treatment])) == 0:
        return AmountChecks(None, None, None, k0, k1, "not estimable: the outcome is constant")
    rng = np.random.default_rng(seed)
    full0 = float(n_control) if n_control else float(k0)
    full1 = float(n_treatment) if n_treatment else float(k1)
    centre0 = float(mean_control) if mean_control is not None else float(control.mean())
    centre1 = float(mean_treatment) if mean_treatment is not None else float(treatment.mean())
    scale0 = np.sqrt(k0 / max(full0, k0))
    scale1 = np.sqrt(k1 / max(full1, k1))
    diffs = np.empty(resamples)
    chunk = max(1, int(2_000_000 // max(k0, k1)))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        b0 = control[rng.integers(0, k0, size=(size, k0))].mean(axis=1)
        b1 = treatment[rng.integers(0, k1, size=(size, k1))].mean(axis=1)
        boot0 = centre0 + (b0 - control.mean()) * scale0
        boot1 = centre1 + (b1 - treatment.mean()) * scale1
        diffs[start : start + size] = boot1 - boot0
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    mw = stats.mannwhitneyu(treatment, control, alternative="two-sided")
    return AmountChecks(float(low), float(high), float(mw.pvalue), k0, k1, "ok")
