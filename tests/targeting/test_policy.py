"""Targeting: budgets respected exactly, optimality against brute force and a MILP."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from couponlens.errors import InputError
from couponlens.targeting.policy import choose_recipients, cost_if_used


def _brute_force(p, cost, user, budget, max_cost, cap):
    best = 0.0
    n = len(p)
    for k in range(n + 1):
        for combo in itertools.combinations(range(n), k):
            idx = list(combo)
            if budget is not None and k > budget:
                continue
            if max_cost is not None and (p[idx] * cost[idx]).sum() > max_cost:
                continue
            if cap is not None and idx and np.bincount(user[idx]).max() > cap:
                continue
            best = max(best, p[idx].sum())
    return best


@pytest.mark.parametrize("seed", range(6))
def test_count_budget_with_user_cap_is_optimal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 11
    p, user = rng.random(n), rng.integers(0, 4, n)
    budget, cap = int(rng.integers(1, 7)), int(rng.integers(1, 3))
    choice = choose_recipients(p, user=user, budget=budget, per_user_cap=cap)
    assert choice.sent <= budget
    assert np.bincount(user[choice.selected]).max() <= cap
    assert choice.expected_redemptions == pytest.approx(
        _brute_force(p, None, user, budget, None, cap)
    )


@pytest.mark.parametrize("seed", range(6))
def test_cost_limit_is_respected_and_near_optimal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 11
    p = rng.random(n)
    cost = rng.choice([5.0, 10.0, 20.0, 30.0], n)
    user = rng.integers(0, 4, n)
    max_cost = float((p * cost).sum() * 0.4)
    choice = choose_recipients(p, user=user, cost=cost, max_cost=max_cost, per_user_cap=2, budget=6)
    assert (p * cost)[choice.selected].sum() <= max_cost
    assert choice.sent <= 6
    assert np.bincount(user[choice.selected]).max() <= 2
    exact = _brute_force(p, cost, user, 6, max_cost, 2)
    assert choice.upper_bound is not None and choice.upper_bound >= exact - 1e-9
    assert choice.expected_redemptions <= exact + 1e-9
    assert choice.expected_redemptions >= exact - choice.optimality_gap - 1e-9


def test_cost_limit_at_scale_matches_milp_and_holds_exactly() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    p = rng.beta(1, 8, n)
    cost = rng.choice([5.0, 10.0, 20.0, 30.0], n) * rng.uniform(0.8, 1.2, n)
    max_cost = 400.0
    choice = choose_recipients(p, cost=cost, max_cost=max_cost)
    assert (p * cost)[choice.selected].sum() <= max_cost
    exact = milp(
        -p,
        constraints=LinearConstraint((p * cost).reshape(1, -1), -np.inf, max_cost),
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 1e-6, "time_limit": 30},
    )
    assert choice.expected_redemptions == pytest.approx(-exact.fun, rel=1e-3)
    assert choice.optimality_gap < 1e-3 * choice.expected_redemptions
    assert choice.expected_redemptions > choice.random_expected_redemptions


def test_budget_is_exact_and_beats_random() -> None:
    rng = np.random.default_rng(1)
    p = rng.beta(1, 10, 5000)
    user = rng.integers(0, 3000, 5000)
    choice = choose_recipients(p, user=user, budget=700, per_user_cap=1)
    assert choice.sent == 700
    assert len(set(user[choice.selected])) == 700
    assert choice.random_expected_redemptions == pytest.approx(700 * p.mean())
    assert choice.lift_over_random is not None and choice.lift_over_random > 2


def test_bad_requests_are_refused() -> None:
    p = np.array([0.1, 0.2])
    with pytest.raises(InputError, match="budget"):
        choose_recipients(p)
    with pytest.raises(InputError, match="cost of each"):
        choose_recipients(p, max_cost=1.0)
    with pytest.raises(InputError, match="user"):
        choose_recipients(p, budget=1, per_user_cap=1)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        choose_recipients(np.array([1.5]), budget=1)
    costs = cost_if_used(["spend_save", "rate"], [0.9, 0.8], [10.0, np.nan], rate_basket=50)
    assert costs.tolist() == pytest.approx([10.0, 10.0])
