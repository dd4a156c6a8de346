"""Whom to send a coupon: rank by expected net value, and what such a policy is worth.

**Decision rule.** A customer's expected net value of arm ``a`` is
``uplift_a(x) * value - cost_a``: the extra outcome the coupon causes, in money, minus what the
coupon costs. Each customer gets the arm with the highest net value, and a coupon is sent only
where that is positive; with a budget of ``N`` coupons, only the ``N`` best (ties keep input
order).

**Policy value.** On a randomized experiment's held-out rows (each scored by a model that never
saw it) a policy ``pi`` is valued by

* IPW (Horvitz-Thompson): ``psi_i = 1[T_i = pi(x_i)] * Y_i / e(T_i)``;
* doubly robust (AIPW): ``psi_i = mu_pi(x_i) + 1[T_i = pi(x_i)] * (Y_i - mu_pi(x_i)) / e(T_i)``,

with ``e`` the arm's share in the experiment and ``mu_a`` an out-of-fold outcome model. The
mean of ``psi`` estimates the outcome per customer under the policy; the net value per
customer is ``value * psi_i - cost(pi(x_i))`` averaged. Intervals are normal, from the
per-customer contributions; differences against treat-all and treat-none are paired
(same customers), so their intervals are much narrower than the two values' own.

Example:
    >>> est = estimate_policy_value(
    ...     outcome=[1, 0, 0, 1], treatment=["c", "n", "c", "n"], assigned=["c", "c", "n", "n"],
    ...     propensity={"c": 0.5, "n": 0.5}, control="n")
    >>> est.estimator, est.outcome_per_customer
    ('ipw', 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from scipy import stats

from couponlens._results import Result
from couponlens.errors import InputError

ArrayLike: TypeAlias = Sequence[Any] | np.ndarray | pd.Series

#: Columns :func:`decide_targets` adds.
DECISION_COLUMNS: tuple[str, ...] = ("uplift", "net_value", "send")


# ----------------------------------------------------------------------------------------
# Decision rule
# ----------------------------------------------------------------------------------------


def _costs(cost: float | Mapping[str, float], arms: Sequence[str]) -> np.ndarray:
    if isinstance(cost, Mapping):
        missing = [a for a in arms if a not in cost]
        if missing:
            raise InputError(f"no cost given for arm(s) {missing}")
        return np.array([float(cost[a]) for a in arms])
    return np.full(len(arms), float(cost))


def decide_targets(
    uplift: np.ndarray | pd.DataFrame | Sequence[float],
    value: float,
    cost: float | Mapping[str, float],
    budget: int | None = None,
    arms: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Choose an arm per customer and whether to send it.

    ``uplift`` is one column per treated arm (a 1-d array for one arm). Returns a frame with
    ``arm`` (best arm by net value), ``uplift`` and ``net_value`` of that arm, ``send`` and
    ``rank`` (1 = most valuable; among all customers).

    Example:
        >>> decide_targets([0.10, 0.02, 0.05, 0.30], value=10.0, cost=0.4, budget=2)
               arm  uplift  net_value   send  rank
        0  treated    0.10        0.6   True     2
        1  treated    0.02       -0.2  False     4
        2  treated    0.05        0.1  False     3
        3  treated    0.30        2.6   True     1
    """
    if isinstance(uplift, pd.DataFrame):
        arms = list(arms) if arms is not None else [str(c) for c in uplift.columns]
        matrix = uplift.to_numpy(dtype=np.float64)
    else:
        matrix = np.asarray(uplift, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        arms = (
            list(arms)
            if arms is not None
            else (
                ["treated"]
                if matrix.shape[1] == 1
                else [f"arm_{i}" for i in range(matrix.shape[1])]
            )
        )
    if matrix.ndim != 2 or matrix.shape[1] != len(arms):
        raise InputError(
            f"uplift has {matrix.shape[-1]} column(s) but {len(arms)} arm(s) are named"
        )
    if np.isnan(matrix).any():
        raise InputError("uplift has missing values")
    if not math.isfinite(value):
        raise InputError(f"value must be a finite number, got {value}")
    if budget is not None and budget < 0:
        raise InputError(f"budget must be at least 0 coupons, got {budget}")
    costs = _costs(cost, arms)
    net = matrix * value - costs[None, :]
    best = np.argmax(net, axis=1)
    rows = np.arange(len(matrix))
    best_net = net[rows, best]
    order = np.argsort(-best_net, kind="stable")
    rank = np.empty(len(matrix), dtype=np.int64)
    rank[order] = np.arange(1, len(matrix) + 1)
    send = best_net > 0
    if budget is not None:
        send &= rank <= budget
    return pd.DataFrame(
        {
            "arm": np.asarray(arms, dtype=object)[best],
            "uplift": matrix[rows, best],
            "net_value": best_net,
            "send": send,
            "rank": rank,
        }
    )


# ----------------------------------------------------------------------------------------
# Policy value
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class PolicyEstimate(Result):
    """The value of one policy by one estimator, per customer, with a normal CI."""

    policy: str
    estimator: str
    n: int
    share_sent: float
    outcome_per_customer: float
    outcome_ci_low: float
    outcome_ci_high: float
    net_value_per_customer: float
    net_ci_low: float
    net_ci_high: float


@dataclass(frozen=True, repr=False)
class PolicyDifference(Result):
    """Net value per customer of ``policy`` minus ``baseline`` (paired), with CI and p."""

    policy: str
    baseline: str
    estimator: str
    net_difference: float
    ci_low: float
    ci_high: float
    p: float


@dataclass(frozen=True, repr=False)
class PolicyComparison(Result):
    """The targeting policy against treat-none and treat-all (one per arm), IPW and DR."""

    value: float
    costs: dict[str, float]
    budget_share: float | None
    estimates: list[PolicyEstimate] = field(default_factory=list)
    differences: list[PolicyDifference] = field(default_factory=list)

    def estimate(self, policy: str, estimator: str = "dr") -> PolicyEstimate:
        for e in self.estimates:
            if e.policy == policy and e.estimator == estimator:
                return e
        raise KeyError(f"no estimate for policy {policy!r} by {estimator!r}")

    def difference(self, baseline: str, estimator: str = "dr") -> PolicyDifference:
        for d in self.differences:
            if d.baseline == baseline and d.estimator == estimator:
                return d
        raise KeyError(f"no difference against {baseline!r} by {estimator!r}")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([e.to_dict() for e in self.estimates])


def _mean_ci(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.norm.ppf(0.5 + confidence / 2) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def _contributions(
    outcome: np.ndarray,
    treatment: np.ndarray,
    assigned: np.ndarray,
    propensity: Mapping[str, float],
    mu: Mapping[str, np.ndarray] | None,
) -> np.ndarray:
    e = np.array([propensity[a] for a in treatment], dtype=np.float64)
    match = (treatment == assigned).astype(np.float64)
    if mu is None:
        return match * outcome / e
    mu_assigned = np.empty(len(outcome))
    for arm in np.unique(assigned):
        rows = assigned == arm
        mu_assigned[rows] = np.asarray(mu[arm], dtype=np.float64)[rows]
    return mu_assigned + match * (outcome - mu_assigned) / e


def _check_policy_inputs(
    outcome: ArrayLike,
    treatment: ArrayLike,
    assigned: ArrayLike,
    propensity: Mapping[str, float],
    mu: Mapping[str, ArrayLike] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray] | None]:
    y = np.asarray(outcome, dtype=np.float64)
    t = np.asarray([str(v) for v in treatment], dtype=object)
    a = np.asarray([str(v) for v in assigned], dtype=object)
    if not (len(y) == len(t) == len(a)) or len(y) == 0:
        raise InputError(
            f"outcome, treatment and assigned must be non-empty and of one length: "
            f"{len(y)}, {len(t)}, {len(a)}"
        )
    if np.isnan(y).any():
        raise InputError("outcome has missing values")
    for arm in set(t) | set(a):
        share = propensity.get(arm)
        if share is None or not 0 < share <= 1:
            raise InputError(f"not estimable: arm {arm!r} has no propensity in (0, 1]: {share}")
    mu_arrays = None
    if mu is not None:
        mu_arrays = {str(k): np.asarray(v, dtype=np.float64) for k, v in mu.items()}
        for arm in set(a):
            if arm not in mu_arrays or len(mu_arrays[arm]) != len(y):
                raise InputError(f"no outcome prediction (mu) of length {len(y)} for arm {arm!r}")
            if np.isnan(mu_arrays[arm]).any():
                raise InputError(f"outcome prediction (mu) for arm {arm!r} has missing values")
    return y, t, a, mu_arrays


def estimate_policy_value(
    outcome: ArrayLike,
    treatment: ArrayLike,
    assigned: ArrayLike,
    propensity: Mapping[str, float],
    control: Any,
    mu: Mapping[str, ArrayLike] | None = None,
    value: float = 1.0,
    cost: float | Mapping[str, float] = 0.0,
    policy: str = "policy",
    confidence: float = 0.95,
) -> PolicyEstimate:
    """Value of a policy that gives customer ``i`` the arm ``assigned[i]``.

    IPW when ``mu`` is None, doubly robust when ``mu`` (arm -> predicted outcome per row) is
    given. ``cost`` is per coupon sent (the control arm costs nothing).

    Example:
        >>> est = estimate_policy_value(
        ...     outcome=[1, 0, 0, 1], treatment=[1, 0, 1, 0], assigned=[1, 1, 0, 0],
        ...     propensity={"1": 0.5, "0": 0.5}, control=0, value=10, cost=2)
        >>> est.outcome_per_customer, est.net_value_per_customer, est.share_sent
        (1.0, 9.0, 0.5)
    """
    y, t, a, mu_arrays = _check_policy_inputs(outcome, treatment, assigned, propensity, mu)
    psi = _contributions(y, t, a, propensity, mu_arrays)
    net = _net(psi, a, str(control), value, cost)
    out_mean, out_low, out_high = _mean_ci(psi, confidence)
    net_mean, net_low, net_high = _mean_ci(net, confidence)
    return PolicyEstimate(
        policy=policy,
        estimator="ipw" if mu is None else "dr",
        n=len(y),
        share_sent=float((a != str(control)).mean()),
        outcome_per_customer=out_mean,
        outcome_ci_low=out_low,
        outcome_ci_high=out_high,
        net_value_per_customer=net_mean,
        net_ci_low=net_low,
        net_ci_high=net_high,
    )


def _net(
    psi: np.ndarray,
    assigned: np.ndarray,
    control: str,
    value: float,
    cost: float | Mapping[str, float],
) -> np.ndarray:
    if isinstance(cost, Mapping):
        per_row = np.array([0.0 if v == control else float(cost[v]) for v in assigned])
    else:
        per_row = np.where(assigned == control, 0.0, float(cost))
    return value * psi - per_row


def compare_policies(
    outcome: ArrayLike,
    treatment: ArrayLike,
    policies: Mapping[str, ArrayLike],
    control: Any,
    propensity: Mapping[str, float] | None = None,
    mu: Mapping[str, ArrayLike] | None = None,
    value: float = 1.0,
    cost: float | Mapping[str, float] = 0.0,
    budget_share: float | None = None,
    confidence: float = 0.95,
) -> PolicyComparison:
    """Value each named policy (IPW, and DR when ``mu`` is given) and compare the first one
    with every other (paired differences in net value per customer).

    ``propensity`` defaults to each arm's share of the rows (a randomized experiment).

    Example:
        >>> cmp = compare_policies(
        ...     outcome=[1, 0, 0, 1, 1, 0], treatment=list("tcctct"),
        ...     policies={"policy": list("tctcct"), "treat_none": list("cccccc")}, control="c")
        >>> round(cmp.estimate("policy", "ipw").outcome_per_customer, 4)
        0.6667
    """
    t = np.asarray([str(v) for v in treatment], dtype=object)
    if propensity is None:
        labels, counts = np.unique(t, return_counts=True)
        propensity = {str(k): float(c) / len(t) for k, c in zip(labels, counts, strict=True)}
    names = list(policies)
    if not names:
        raise InputError("compare_policies needs at least one policy")
    estimators: list[tuple[str, Mapping[str, ArrayLike] | None]] = [("ipw", None)]
    if mu is not None:
        estimators.append(("dr", mu))
    estimates: list[PolicyEstimate] = []
    differences: list[PolicyDifference] = []
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    for estimator, mu_used in estimators:
        nets: dict[str, np.ndarray] = {}
        for name in names:
            y, t_arr, a, mu_arrays = _check_policy_inputs(
                outcome, t, policies[name], propensity, mu_used
            )
            psi = _contributions(y, t_arr, a, propensity, mu_arrays)
            nets[name] = _net(psi, a, str(control), value, cost)
            out_mean, out_low, out_high = _mean_ci(psi, confidence)
            net_mean, net_low, net_high = _mean_ci(nets[name], confidence)
            estimates.append(
                PolicyEstimate(
                    name,
                    estimator,
                    len(y),
                    float((a != str(control)).mean()),
                    out_mean,
                    out_low,
                    out_high,
                    net_mean,
                    net_low,
                    net_high,
                )
            )
        first = names[0]
        for baseline in names[1:]:
            diff = nets[first] - nets[baseline]
            mean = float(diff.mean())
            se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("nan")
            p = float(2 * stats.norm.sf(abs(mean) / se)) if se > 0 else 1.0 if mean == 0 else 0.0
            differences.append(
                PolicyDifference(first, baseline, estimator, mean, mean - z * se, mean + z * se, p)
            )
    costs = (
        {str(k): float(v) for k, v in cost.items()}
        if isinstance(cost, Mapping)
        else {"per_coupon": float(cost)}
    )
    return PolicyComparison(value, costs, budget_share, estimates, differences)


def evaluate_targeting(
    holdout: pd.DataFrame,
    arms: Sequence[str],
    control: str,
    value: float,
    cost: float | Mapping[str, float],
    budget_share: float | None = None,
    confidence: float = 0.95,
    budget: int | None = None,
) -> PolicyComparison:
    """Value the net-value targeting rule on a held-out table, against treat-none and treat-all.

    ``holdout`` has the layout of :class:`~couponlens.experiments.uplift_selection.UpliftFit`:
    ``treatment``, ``outcome``, ``uplift_<i>``, ``mu_control``, ``mu_<i>``. ``budget_share``
    caps the share of customers sent a coupon (a budget of N coupons for M candidates is
    ``N / M``); ``budget`` caps their number instead (it wins when both are given).

    Example:
        >>> holdout = pd.DataFrame({"treatment": ["c", "t", "c", "t"], "outcome": [0, 1, 1, 0],
        ...     "uplift_0": [0.5, 0.4, 0.0, 0.0], "mu_control": [0.5] * 4, "mu_0": [0.5] * 4})
        >>> cmp = evaluate_targeting(holdout, ["t"], "c", value=1.0, cost=0.1)
        >>> round(cmp.estimate("targeting", "ipw").net_value_per_customer, 4)
        0.95
    """
    needed = ["treatment", "outcome", "mu_control"] + [
        f"{p}_{i}" for i in range(len(arms)) for p in ("uplift", "mu")
    ]
    missing = [c for c in needed if c not in holdout.columns]
    if missing:
        raise InputError(f"the holdout table lacks column(s) {missing}")
    if budget_share is not None and not budget_share >= 0:
        raise InputError(f"budget share must be at least 0, got {budget_share}")
    uplift = holdout[[f"uplift_{i}" for i in range(len(arms))]].to_numpy()
    if budget is not None and budget < 0:
        raise InputError(f"budget must be at least 0 coupons, got {budget}")
    if budget is None and budget_share is not None and budget_share < 1:
        budget = int(math.floor(budget_share * len(holdout) + 1e-9))
    decision = decide_targets(uplift, value, cost, budget, arms)
    assigned = np.where(decision["send"], decision["arm"], control)
    policies: dict[str, Any] = {"targeting": assigned, "treat_none": [control] * len(holdout)}
    for arm in arms:
        name = "treat_all" if len(arms) == 1 else f"treat_all[{arm}]"
        policies[name] = [arm] * len(holdout)
    mu = {control: holdout["mu_control"].to_numpy()}
    for i, arm in enumerate(arms):
        mu[arm] = holdout[f"mu_{i}"].to_numpy()
    return compare_policies(
        holdout["outcome"].to_numpy(),
        holdout["treatment"].astype(str).to_numpy(),
        policies,
        control,
        mu=mu,
        value=value,
        cost=cost,
        budget_share=budget_share,
        confidence=confidence,
    )
