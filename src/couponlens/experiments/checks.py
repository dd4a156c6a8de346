"""Randomization checks: sample-ratio mismatch, covariate balance and an omnibus balance test.

* **SRM**: the arm counts against the planned split. Two arms and fewer than 10,000 units: the
  exact binomial test (scipy); otherwise Pearson's chi-square goodness of fit; three or more arms
  with an expected count below 5: a Monte Carlo multinomial test (100,000 draws, fixed seed).
  The alarm is raised at p < 0.001, as the experimentation platforms do.
* **Balance** per treated arm vs control and covariate: the standardized mean difference
  ``(mean_t - mean_c) / sqrt((var_t + var_c) / 2)``, and Welch's t-test for a numeric covariate
  or Pearson's chi-square on the arm x level table for a categorical one (reporting the level
  with the largest |SMD|).
* **Omnibus**: Hotelling's two-sample T^2 on all covariates jointly (categoricals as indicators
  with the first level dropped), with its exact F distribution. Why Hotelling rather than a
  logistic regression of the arm on the covariates: it needs only the means and the pooled
  covariance, i.e. the sufficient statistics already aggregated on the engine, so it costs
  nothing on a 10 M-row table, while a logistic fit needs row-level passes. For two groups it
  is exactly the F-test of a linear regression of the arm indicator on the covariates (and of
  a one-way MANOVA), which is asymptotically equivalent to the logistic likelihood-ratio test
  under the null of balance. Collinear or constant covariates are dropped (rank of the pooled
  covariance), and the number used is reported.

Example:
    >>> srm = sample_ratio_mismatch({"control": 505, "coupon": 495})
    >>> srm.test, round(srm.p, 3), srm.alarm
    ('exact binomial', 0.776, False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from couponlens._results import Result
from couponlens.experiments.sufficient import Moments, dummy_name

SRM_ALPHA = 0.001
EXACT_BELOW = 10_000


@dataclass(frozen=True, repr=False)
class SampleRatioCheck(Result):
    """Observed arm counts against the planned split."""

    observed: dict[str, int]
    expected_split: dict[str, float]
    expected: dict[str, float]
    chi2: float | None
    p: float | None
    test: str
    alarm: bool
    status: str = "ok"


def sample_ratio_mismatch(
    counts: Mapping[str, int],
    expected_split: Mapping[str, float] | None = None,
    *,
    alpha: float = SRM_ALPHA,
    seed: int = 0,
) -> SampleRatioCheck:
    """Test the arm counts against the planned split (equal shares when ``None``).

    Example:
        >>> sample_ratio_mismatch({"a": 820, "b": 1180}).alarm
        True
    """
    arms = list(counts)
    observed = np.array([counts[a] for a in arms], dtype=float)
    if expected_split is None:
        split = {a: 1 / len(arms) for a in arms}
    else:
        total_share = sum(expected_split.values())
        split = {a: float(expected_split.get(a, 0.0)) / total_share for a in expected_split}
        for a in arms:
            split.setdefault(a, 0.0)
    arms = list(split)
    observed = np.array([counts.get(a, 0) for a in arms], dtype=float)
    shares = np.array([split[a] for a in arms])
    n = observed.sum()
    expected = shares * n
    observed_dict = {a: int(counts.get(a, 0)) for a in arms}
    expected_dict = {a: float(e) for a, e in zip(arms, expected, strict=True)}
    if len(arms) < 2:
        return SampleRatioCheck(
            observed_dict,
            split,
            expected_dict,
            None,
            None,
            "none",
            False,
            "not estimable: only one arm",
        )
    if n == 0:
        return SampleRatioCheck(
            observed_dict,
            split,
            expected_dict,
            None,
            None,
            "none",
            False,
            "not estimable: no units",
        )
    if np.any((shares == 0) & (observed > 0)):
        bad = [a for a, s, o in zip(arms, shares, observed, strict=True) if s == 0 and o > 0]
        return SampleRatioCheck(
            observed_dict,
            split,
            expected_dict,
            None,
            0.0,
            "planned share 0",
            True,
            f"units found in arm(s) {bad} planned to get none",
        )
    keep = shares > 0
    chi2 = float((((observed - expected) ** 2)[keep] / expected[keep]).sum())
    df = int(keep.sum()) - 1
    if df < 1:
        return SampleRatioCheck(
            observed_dict,
            split,
            expected_dict,
            chi2,
            None,
            "none",
            False,
            "not estimable: only one arm is planned to get units",
        )
    if df == 1 and n < EXACT_BELOW:
        i = int(np.flatnonzero(keep)[0])
        p = float(stats.binomtest(int(observed[i]), int(n), float(shares[i])).pvalue)
        test = "exact binomial"
    elif expected[keep].min() < 5:
        rng = np.random.default_rng(seed)
        draws = rng.multinomial(int(n), shares[keep], size=100_000)
        sim = (((draws - expected[keep]) ** 2) / expected[keep]).sum(axis=1)
        p = float((np.sum(sim >= chi2 - 1e-9) + 1) / (len(sim) + 1))
        test = "Monte Carlo multinomial"
    else:
        p = float(stats.chi2.sf(chi2, df))
        test = "chi-square"
    return SampleRatioCheck(observed_dict, split, expected_dict, chi2, p, test, p < alpha)


@dataclass(frozen=True, repr=False)
class BalanceRow(Result):
    """One covariate's balance between a treated arm and the control."""

    arm: str
    covariate: str
    level: str | None
    control_mean: float | None
    treatment_mean: float | None
    smd: float | None
    p: float | None
    test: str
    status: str = "ok"


def _smd(m1: float, v1: float, m0: float, v0: float) -> float | None:
    spread = np.sqrt((v1 + v0) / 2)
    if not np.isfinite(spread) or spread == 0:
        return 0.0 if m1 == m0 else None
    return float((m1 - m0) / spread)


def _welch_p(m1: float, v1: float, n1: float, m0: float, v0: float, n0: float) -> float | None:
    if n1 < 2 or n0 < 2:
        return None
    se2 = v1 / n1 + v0 / n0
    if se2 <= 0:
        return None
    t = (m1 - m0) / np.sqrt(se2)
    df = se2**2 / ((v1 / n1) ** 2 / (n1 - 1) + (v0 / n0) ** 2 / (n0 - 1))
    return float(2 * stats.t.sf(abs(t), df))


def _chi_square_p(table: np.ndarray) -> float | None:
    table = table[:, table.sum(axis=0) > 0]
    table = table[table.sum(axis=1) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return None
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def balance_row(
    arm: str,
    covariate: str,
    levels: Sequence[str] | None,
    treated: Moments,
    control: Moments,
) -> BalanceRow:
    """Balance of one covariate (``levels`` for a categorical) between two groups' moments."""
    if treated.n < 2 or control.n < 2:
        return BalanceRow(
            arm,
            covariate,
            None,
            None,
            None,
            None,
            None,
            "none",
            "not estimable: fewer than 2 units in an arm",
        )
    if levels is None:
        n1, n0 = treated.count(covariate), control.count(covariate)
        m1, m0 = treated.mean(covariate), control.mean(covariate)
        v1, v0 = treated.variance(covariate), control.variance(covariate)
        if n1 < 2 or n0 < 2:
            return BalanceRow(
                arm,
                covariate,
                None,
                None,
                None,
                None,
                None,
                "Welch t",
                "not estimable: fewer than 2 non-missing values in an arm",
            )
        smd = _smd(m1, v1, m0, v0)
        p = _welch_p(m1, v1, n1, m0, v0, n0)
        status = "ok" if p is not None else "not estimable: the covariate is constant in both arms"
        return BalanceRow(arm, covariate, None, m0, m1, smd, p, "Welch t", status)
    names = [dummy_name(covariate, level) for level in levels]
    counts = np.array([[control.total(d) for d in names], [treated.total(d) for d in names]])
    worst: tuple[float, str, float, float, float] | None = None
    for level, d in zip(levels, names, strict=True):
        m1, m0 = treated.mean(d), control.mean(d)
        smd = _smd(m1, treated.variance(d), m0, control.variance(d))
        if smd is not None and (worst is None or abs(smd) > abs(worst[0])):
            worst = (smd, level, m0, m1, smd)
    p = _chi_square_p(counts)
    if worst is None or p is None:
        return BalanceRow(
            arm,
            covariate,
            None,
            None,
            None,
            None,
            None,
            "chi-square",
            "not estimable: the covariate has one level only",
        )
    return BalanceRow(arm, covariate, worst[1], worst[2], worst[3], worst[0], p, "chi-square")


@dataclass(frozen=True, repr=False)
class OmnibusBalance(Result):
    """Hotelling's T^2 test that all covariate means are equal between a treated arm and control."""

    arm: str
    covariates_used: list[str]
    t2: float | None
    f: float | None
    df1: int | None
    df2: int | None
    p: float | None
    test: str = "Hotelling T2"
    status: str = "ok"
    dropped: list[str] = field(default_factory=list)


def hotelling_balance(
    arm: str,
    variables: Sequence[str],
    treated: Moments,
    control: Moments,
) -> OmnibusBalance:
    """Hotelling's two-sample T^2 from moments over ``variables`` (complete numeric columns).

    Variables that are constant or linearly dependent on earlier ones are dropped greedily.
    """
    n1, n0 = treated.n, control.n
    if not variables:
        return OmnibusBalance(
            arm, [], None, None, None, None, None, status="not estimable: no covariates"
        )
    if n1 < 2 or n0 < 2:
        return OmnibusBalance(
            arm,
            [],
            None,
            None,
            None,
            None,
            None,
            status="not estimable: fewer than 2 units in an arm",
        )

    def scatter(m: Moments, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        mean = np.array([m.total(a) for a in names]) / m.n
        cross = np.array([[m.total(a, b) for b in names] for a in names])
        return mean, cross - m.n * np.outer(mean, mean)

    kept: list[str] = []
    dropped: list[str] = []
    for name in variables:
        trial = [*kept, name]
        _, s1 = scatter(treated, trial)
        _, s0 = scatter(control, trial)
        pooled = (s1 + s0) / (n1 + n0 - 2)
        scale = np.sqrt(np.clip(np.diag(pooled), 0, None))
        if scale[-1] <= 1e-12 * max(1.0, float(np.abs(pooled).max())):
            dropped.append(name)
            continue
        corr = pooled / np.outer(scale, scale)
        if np.linalg.eigvalsh(corr).min() < 1e-8:
            dropped.append(name)
            continue
        kept.append(name)
    p_dim = len(kept)
    total = n1 + n0
    if p_dim == 0 or total - p_dim - 1 < 1:
        return OmnibusBalance(
            arm,
            kept,
            None,
            None,
            None,
            None,
            None,
            dropped=dropped,
            status="not estimable: too few units for the number of covariates"
            if p_dim
            else "not estimable: every covariate is constant",
        )
    m1, s1 = scatter(treated, kept)
    m0, s0 = scatter(control, kept)
    pooled = (s1 + s0) / (total - 2)
    diff = m1 - m0
    t2 = float(n1 * n0 / total * diff @ np.linalg.solve(pooled, diff))
    f = t2 * (total - p_dim - 1) / (p_dim * (total - 2))
    df2 = int(total - p_dim - 1)
    p = float(stats.f.sf(f, p_dim, df2))
    return OmnibusBalance(arm, kept, t2, float(f), p_dim, df2, p, dropped=dropped)
