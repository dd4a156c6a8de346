"""Designing a test: sample size for a planned effect, or the minimum detectable effect.

Two metric kinds:

* ``mean`` (counts, amounts): a two-sample t-test with a common standard deviation ``sd``;
  statsmodels' :class:`~statsmodels.stats.power.TTestIndPower` with Cohen's ``d = mde / sd``.
* ``binary`` (conversion rates): the normal test of two proportions with each arm's own
  variance, ``p(1-p)``, via statsmodels' :class:`~statsmodels.stats.power.NormalIndPower` on the
  effect size ``mde / sqrt((p0 q0 + p1 q1) / 2)``. The minimum detectable effect is solved
  numerically because the variance moves with the effect.

``treatment_share`` is the share of units in the treatment arm (0.5 for an even split), and the
effect can be absolute or relative to the baseline. Two-sided tests.

Example:
    >>> plan = plan_sample_size(baseline=0.10, mde=0.02)
    >>> plan.n_control, plan.n_treatment
    (3839, 3839)
    >>> round(minimum_detectable_effect(baseline=0.10, n_total=7678).mde, 4)
    0.02
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from couponlens._results import Result
from couponlens.errors import InputError


@dataclass(frozen=True, repr=False)
class PowerPlan(Result):
    """A planned test: the effect it detects and the units it needs."""

    metric: str
    baseline: float
    sd: float | None
    mde: float
    relative: bool
    absolute_mde: float
    alpha: float
    power: float
    treatment_share: float
    n_control: int
    n_treatment: int
    n_total: int
    status: str = "ok"


def _check(baseline: float, sd: float | None, alpha: float, power: float, share: float) -> str:
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be between 0 and 1, got {alpha}")
    if not 0 < power < 1:
        raise InputError(f"power must be between 0 and 1, got {power}")
    if not 0 < share < 1:
        raise InputError(f"the treatment share must be between 0 and 1, got {share}")
    if sd is None:
        if not 0 < baseline < 1:
            raise InputError(
                f"a binary metric's baseline rate must be between 0 and 1, got {baseline}; give --sd for a mean metric"
            )
        return "binary"
    if sd <= 0:
        raise InputError(f"the standard deviation must be positive, got {sd}")
    return "mean"


def _effect_size(metric: str, baseline: float, sd: float | None, delta: float) -> float:
    if metric == "mean":
        assert sd is not None
        return delta / sd
    treated = baseline + delta
    return delta / math.sqrt((baseline * (1 - baseline) + treated * (1 - treated)) / 2)


def plan_sample_size(
    *,
    baseline: float,
    mde: float,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
    relative: bool = False,
) -> PowerPlan:
    """Units needed per arm to detect ``mde`` with the given power.

    Example:
        >>> plan_sample_size(baseline=2.0, sd=4.0, mde=0.1, relative=True).n_total
        12562
    """
    metric = _check(baseline, sd, alpha, power, treatment_share)
    delta = mde * baseline if relative else mde
    if delta == 0:
        raise InputError("the effect to detect must not be 0")
    if metric == "binary" and not 0 < baseline + delta < 1:
        raise InputError(f"baseline {baseline} plus the effect {delta} leaves the range 0..1")
    ratio = treatment_share / (1 - treatment_share)
    size = abs(_effect_size(metric, baseline, sd, delta))
    solver = TTestIndPower() if metric == "mean" else NormalIndPower()
    n_control_float = float(
        solver.solve_power(effect_size=size, alpha=alpha, power=power, ratio=ratio)
    )
    n_control = math.ceil(n_control_float - 1e-9)
    n_treatment = math.ceil(n_control_float * ratio - 1e-9)
    return PowerPlan(
        metric,
        baseline,
        sd,
        mde,
        relative,
        delta,
        alpha,
        power,
        treatment_share,
        n_control,
        n_treatment,
        n_control + n_treatment,
    )


def minimum_detectable_effect(
    *,
    baseline: float,
    n_total: int,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
    relative: bool = False,
) -> PowerPlan:
    """The smallest upward effect ``n_total`` units detect with the given power.

    Example:
        >>> round(minimum_detectable_effect(baseline=2.0, sd=4.0, n_total=12562).mde, 3)
        0.2
    """
    metric = _check(baseline, sd, alpha, power, treatment_share)
    n_control = n_total * (1 - treatment_share)
    n_treatment = n_total * treatment_share
    if n_control < 2 or n_treatment < 2:
        raise InputError(f"{n_total} units leave fewer than 2 in an arm")
    ratio = n_treatment / n_control
    solver = TTestIndPower() if metric == "mean" else NormalIndPower()

    def gap(delta: float) -> float:
        size = _effect_size(metric, baseline, sd, delta)
        return (
            float(solver.power(effect_size=size, nobs1=n_control, alpha=alpha, ratio=ratio)) - power
        )

    if metric == "binary":
        upper = (1 - baseline) * (1 - 1e-9)
    else:
        upper = 1e-3 * float(sd or 1.0)
        while gap(upper) < 0 and upper < 100 * float(sd or 1.0):
            upper *= 2
    if not gap(upper) >= 0:
        return PowerPlan(
            metric,
            baseline,
            sd,
            math.nan,
            relative,
            math.nan,
            alpha,
            power,
            treatment_share,
            math.floor(n_control),
            math.ceil(n_treatment),
            n_total,
            "not estimable: no effect within the metric's range reaches that power",
        )
    delta = float(optimize.brentq(gap, 1e-12, upper, xtol=1e-12))
    mde = delta / baseline if relative else delta
    return PowerPlan(
        metric,
        baseline,
        sd,
        mde,
        relative,
        delta,
        alpha,
        power,
        treatment_share,
        round(n_control),
        round(n_treatment),
        n_total,
    )
