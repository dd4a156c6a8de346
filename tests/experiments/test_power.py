"""Sample size and MDE, checked against statsmodels' own proportion power and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.proportion import power_proportions_2indep

from couponlens.errors import InputError
from couponlens.experiments.power import minimum_detectable_effect, plan_sample_size


def test_binary_sample_size_reaches_the_power_by_statsmodels_proportions() -> None:
    for baseline, mde, share in ((0.1, 0.02, 0.5), (0.3, -0.05, 0.5), (0.05, 0.01, 0.3)):
        plan = plan_sample_size(baseline=baseline, mde=mde, treatment_share=share)
        reached = power_proportions_2indep(
            mde, baseline, plan.n_control, ratio=plan.n_treatment / plan.n_control, alpha=0.05
        ).power
        assert reached == pytest.approx(0.8, abs=0.01)
        fewer = power_proportions_2indep(
            mde, baseline, 0.9 * plan.n_control, ratio=plan.n_treatment / plan.n_control, alpha=0.05
        ).power
        assert fewer < 0.8


def test_mean_metric_matches_ttest_power_and_inverts() -> None:
    plan = plan_sample_size(baseline=2.0, sd=4.0, mde=0.1, relative=True, power=0.9)
    assert plan.absolute_mde == pytest.approx(0.2)
    n = TTestIndPower().solve_power(effect_size=0.05, alpha=0.05, power=0.9, ratio=1.0)
    assert plan.n_control == int(np.ceil(n))
    back = minimum_detectable_effect(
        baseline=2.0, sd=4.0, n_total=plan.n_total, power=0.9, relative=True
    )
    assert back.mde == pytest.approx(0.1, rel=1e-3)
    # the closed-form normal approximation agrees to within a unit or two
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.9)
    assert plan.n_control == pytest.approx(2 * (z * 4.0 / 0.2) ** 2, abs=3)


def test_simulated_power_of_the_welch_test() -> None:
    plan = plan_sample_size(baseline=0.2, mde=0.05)
    rng = np.random.default_rng(0)
    sims = 2000
    c = rng.binomial(plan.n_control, 0.2, sims) / plan.n_control
    t = rng.binomial(plan.n_treatment, 0.25, sims) / plan.n_treatment
    se = np.sqrt(c * (1 - c) / plan.n_control + t * (1 - t) / plan.n_treatment)
    rejected = np.abs(t - c) / se > stats.norm.ppf(0.975)
    assert rejected.mean() == pytest.approx(0.8, abs=0.03)


def test_binary_mde_and_bad_inputs() -> None:
    plan = minimum_detectable_effect(baseline=0.1, n_total=7678)
    assert plan.mde == pytest.approx(0.02, abs=2e-5)
    with pytest.raises(InputError, match="baseline rate must be between 0 and 1"):
        plan_sample_size(baseline=2.0, mde=0.1)
    with pytest.raises(InputError, match="leaves the range"):
        plan_sample_size(baseline=0.95, mde=0.1)
    assert minimum_detectable_effect(baseline=0.5, n_total=6).status.startswith("not estimable")
