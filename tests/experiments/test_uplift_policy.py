"""Targeting decisions (net value, budget) and policy values (IPW, DR) against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from couponlens.errors import InputError
from couponlens.experiments.policy import (
    compare_policies,
    decide_targets,
    estimate_policy_value,
    evaluate_targeting,
)


def test_decide_sends_only_positive_net_value() -> None:
    d = decide_targets([0.10, 0.02, 0.05, 0.30, -0.2], value=10.0, cost=0.4)
    assert d["net_value"].tolist() == pytest.approx([0.6, -0.2, 0.1, 2.6, -2.4])
    assert d["send"].tolist() == [True, False, True, True, False]
    assert d["rank"].tolist() == [2, 4, 3, 1, 5]


@pytest.mark.parametrize("budget", [0, 1, 7, 50, 499, 500, 10_000])
def test_budget_is_respected_exactly(budget: int) -> None:
    rng = np.random.default_rng(budget)
    uplift = rng.normal(0.05, 0.05, 2000)
    d = decide_targets(uplift, value=10.0, cost=0.3, budget=budget)
    positive = int((uplift * 10 - 0.3 > 0).sum())
    assert int(d["send"].sum()) == min(budget, positive)
    if d["send"].any() and (~d["send"]).any():
        # whoever is sent is worth at least as much as whoever is not
        assert d.loc[d["send"], "net_value"].min() >= d.loc[~d["send"], "net_value"].max()


def test_ties_at_the_budget_keep_input_order() -> None:
    d = decide_targets([0.5, 0.5, 0.5, 0.5], value=1.0, cost=0.1, budget=2)
    assert d["send"].tolist() == [True, True, False, False]


def test_several_arms_choose_the_best_net_value() -> None:
    uplift = pd.DataFrame({"c10": [0.10, 0.30, 0.01], "c20": [0.25, 0.32, 0.02]})
    d = decide_targets(uplift, value=10.0, cost={"c10": 0.5, "c20": 1.0})
    # net: c10 0.5, 2.5, -0.4 ; c20 1.5, 2.2, -0.8
    assert d["arm"].tolist() == ["c20", "c10", "c10"]
    assert d["net_value"].tolist() == pytest.approx([1.5, 2.5, -0.4])
    assert d["send"].tolist() == [True, True, False]


def test_ipw_policy_value_by_hand() -> None:
    # 6 customers; treatment shares: t 3/6, c 3/6 (propensity 0.5 each)
    outcome = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    treatment = ["t", "c", "t", "c", "t", "c"]
    assigned = ["t", "t", "c", "c", "t", "c"]
    # match: yes, no, no, yes, yes, yes -> psi = y / 0.5 on matches
    psi = np.array([1 / 0.5, 0, 0, 0 / 0.5, 1 / 0.5, 1 / 0.5])
    est = estimate_policy_value(
        outcome,
        treatment,
        assigned,
        propensity={"t": 0.5, "c": 0.5},
        control="c",
        value=10.0,
        cost=2.0,
    )
    assert est.estimator == "ipw"
    assert est.outcome_per_customer == pytest.approx(psi.mean())  # 1.0
    net = 10 * psi - np.array([2, 2, 0, 0, 2, 0])
    assert est.net_value_per_customer == pytest.approx(net.mean())  # 9.0
    half = 1.959963984540054 * net.std(ddof=1) / math.sqrt(6)
    assert est.net_ci_low == pytest.approx(net.mean() - half)
    assert est.net_ci_high == pytest.approx(net.mean() + half)
    assert est.share_sent == pytest.approx(0.5)


def test_dr_policy_value_by_hand() -> None:
    outcome = [1.0, 0.0, 1.0, 0.0]
    treatment = ["t", "c", "c", "t"]
    assigned = ["t", "t", "c", "c"]
    mu = {"t": [0.8, 0.6, 0.4, 0.2], "c": [0.5, 0.3, 0.7, 0.1]}
    e = {"t": 0.5, "c": 0.5}
    # psi = mu_pi + 1[T = pi] (y - mu_pi) / e
    expected = [
        0.8 + (1.0 - 0.8) / 0.5,  # matched, pi = t
        0.6,  # not matched, pi = t
        0.7 + (1.0 - 0.7) / 0.5,  # matched, pi = c
        0.1,  # not matched, pi = c
    ]
    est = estimate_policy_value(outcome, treatment, assigned, e, control="c", mu=mu)
    assert est.estimator == "dr"
    assert est.outcome_per_customer == pytest.approx(np.mean(expected))


def test_compare_uses_arm_shares_and_pairs_differences() -> None:
    outcome = [1, 0, 0, 1, 1, 0, 1, 1]
    treatment = list("ttcttccc")  # t 4/8, c 4/8
    policies = {"targeting": list("tcctcctc"), "treat_none": ["c"] * 8, "treat_all": ["t"] * 8}
    cmp = compare_policies(outcome, treatment, policies, control="c", value=1.0, cost=0.25)
    ipw = {e.policy: e for e in cmp.estimates if e.estimator == "ipw"}
    # treat-none: control outcomes 0,0,1,1 (rows 3,6,7,8 -> 0, 0, 1, 1) / 0.5 / 8
    assert ipw["treat_none"].outcome_per_customer == pytest.approx((0 + 0 + 1 + 1) / 0.5 / 8)
    assert ipw["treat_all"].outcome_per_customer == pytest.approx((1 + 0 + 1 + 1) / 0.5 / 8)
    assert ipw["treat_all"].net_value_per_customer == pytest.approx(0.75 - 0.25)
    diff = cmp.difference("treat_none", "ipw")
    assert diff.net_difference == pytest.approx(
        ipw["targeting"].net_value_per_customer - ipw["treat_none"].net_value_per_customer
    )
    assert diff.ci_low < diff.net_difference < diff.ci_high


def test_dr_targeting_on_a_known_effect_beats_treat_all_and_none() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    x = rng.uniform(size=n)
    t = rng.integers(0, 2, n)
    tau = np.where(x > 0.5, 0.4, -0.1)
    y = rng.normal(1 + t * tau, 1)
    holdout = pd.DataFrame(
        {
            "treatment": np.where(t == 1, "t", "c"),
            "outcome": y,
            "uplift_0": tau,
            "mu_control": np.ones(n),
            "mu_0": 1 + tau,
        }
    )
    cmp = evaluate_targeting(holdout, ["t"], "c", value=1.0, cost=0.05)
    target = cmp.estimate("targeting", "dr")
    assert target.share_sent == pytest.approx(0.5, abs=0.02)
    # true value per customer: 1 + 0.5 * (0.4 - 0.05) = 1.175
    assert target.net_ci_low < 1.175 < target.net_ci_high
    assert cmp.difference("treat_all", "dr").ci_low > 0
    assert cmp.difference("treat_none", "dr").ci_low > 0
    capped = evaluate_targeting(holdout, ["t"], "c", value=1.0, cost=0.05, budget=1000)
    assert capped.estimate("targeting", "ipw").share_sent == pytest.approx(1000 / n)


def test_policy_input_errors() -> None:
    with pytest.raises(InputError, match="propensity"):
        estimate_policy_value([1, 0], ["t", "c"], ["t", "x"], {"t": 0.5, "c": 0.5}, control="c")
    with pytest.raises(InputError, match="budget"):
        decide_targets([0.1], value=1.0, cost=0.0, budget=-1)
    with pytest.raises(InputError, match="missing"):
        decide_targets([float("nan")], value=1.0, cost=0.0)
    with pytest.raises(InputError, match="lacks column"):
        evaluate_targeting(pd.DataFrame({"treatment": ["c"]}), ["t"], "c", 1.0, 0.0)
