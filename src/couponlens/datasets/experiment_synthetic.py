"""A synthetic randomized coupon test with planted segment effects and known CATE.

The layout follows seed 003: customers acquired through a channel (``channel_acq``: 1 Google,
2 Facebook, 3 Instagram, 4 Referral, 5 Other) with a purchase history, randomised to a control
arm and one or more coupon arms, with outcomes ``trans_after`` (a count), ``revenue_after`` (a
heavy-tailed amount) and ``converted`` (0/1, at least one transaction), and pre-period
measures ``trans_before`` / ``revenue_before``.

How it is generated (``u`` is an unobserved activity level, Gamma with mean 1):

* ``trans_before ~ Poisson(base(x) * u)``, ``trans_after ~ Poisson(base(x) * u + tau_arm(x))``
* each transaction's basket is LogNormal with mean ``basket(x)``; a coupon arm takes its
  discount off every basket, so ``revenue_after = trans_after * basket * (1 - discount)``.

So the true conditional effects (CATE, expectation over ``u`` and the baskets) are known:

* transactions: ``tau_arm(x)``
* revenue: ``basket(x) * ((base(x) + tau_arm(x)) * (1 - discount) - base(x))``
* converted: ``(1 + base(x) * scale) ** -shape * (1 - exp(-tau_arm(x)))``

``tau`` is largest for Facebook customers with at most two past purchases (segment B), smaller
for Instagram ones (segment A), and grows with cart and browsing time, so revenue rises in B
but hardly in A, and transactions rise in both, as in the seed. The segments' demographic mix
differs (Instagram customers are younger, more often female, with lower income).

Example:
    >>> sim = generate_experiment(1000, seed=1)
    >>> sim.frame.shape[0], sim.cate_column("trans_after")
    (1000, 'true_cate_trans_after')
    >>> sorted(sim.frame["treatment"].unique())
    ['control', 'coupon']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from couponlens.outputs import replacing_file

#: Outcomes the generator writes, and their kind.
OUTCOMES: dict[str, str] = {
    "trans_after": "count",
    "revenue_after": "amount",
    "converted": "binary",
}
#: Covariates (pre-treatment) and pre-period measures.
COVARIATES: tuple[str, ...] = (
    "channel_acq",
    "num_past_purch",
    "spent_last_purchase",
    "weeks_since_visit",
    "browsing_minutes",
    "cart",
    "gender",
    "minority",
    "income",
)
PRE_PERIOD: tuple[str, ...] = ("trans_before", "revenue_before")
#: The seed's two segments, written as rules.
SEGMENTS: tuple[str, ...] = (
    "A=channel_acq == 3 & num_past_purch <= 2",
    "B=channel_acq == 2 & num_past_purch <= 2",
)
#: Three more segments, for a five-segment analysis.
EXTRA_SEGMENTS: tuple[str, ...] = (
    "loyal=num_past_purch >= 5",
    "carted=cart == 1 & browsing_minutes > 20",
    "referral=channel_acq in [4, 5]",
)

_CHANNEL_P = np.array([0.30, 0.20, 0.22, 0.14, 0.14])
_GAMMA_SHAPE = 2.0
_GAMMA_SCALE = 0.5
_BASKET_SIGMA = 0.8


@dataclass(frozen=True)
class SyntheticExperiment:
    """A generated experiment: the table, its arms and the names of its true-CATE columns.

    ``frame`` has one row per customer; ``true_cate_<outcome>`` columns hold each customer's true
    effect of their own arm's coupon... for two arms. With more arms there is one column per
    treated arm: ``true_cate_<outcome>__<arm>``. (The true effect is defined for every customer,
    treated or not.)
    """

    frame: pd.DataFrame
    arms: tuple[str, ...]
    seed: int
    treatment: str = "treatment"
    control: str = "control"
    outcomes: tuple[str, ...] = tuple(OUTCOMES)
    covariates: tuple[str, ...] = COVARIATES
    pre_period: tuple[str, ...] = PRE_PERIOD
    segments: tuple[str, ...] = SEGMENTS
    cate_columns: dict[tuple[str, str], str] = field(default_factory=dict)

    def cate_column(self, outcome: str = "trans_after", arm: str | None = None) -> str:
        """The true-CATE column of ``outcome`` for ``arm`` (the first coupon arm by default)."""
        arm = arm if arm is not None else self.arms[1]
        return self.cate_columns[(outcome, arm)]

    def write(self, path: str | Path) -> Path:
        """Write the table as CSV (or Parquet by suffix); returns the path."""
        path = Path(path)
        # Written under a temporary name and renamed: an interrupted write leaves no partial file.
        with replacing_file(path, force=True) as tmp:
            if path.suffix.lower() in (".parquet", ".pq"):
                self.frame.to_parquet(tmp, index=False)
            else:
                self.frame.to_csv(tmp, index=False)
        return path


def _arm_strengths(arms: Sequence[str], strengths: Sequence[float] | None) -> dict[str, float]:
    treated = list(arms[1:])
    if strengths is None:
        strengths = [(i + 1) / len(treated) for i in range(len(treated))]
    if len(strengths) != len(treated):
        raise ValueError(f"give one strength per coupon arm ({len(treated)}), got {len(strengths)}")
    return {arm: float(s) for arm, s in zip(treated, strengths, strict=True)}


def draw_covariates(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``n`` customers' pre-treatment covariates (vectorised).

    Example:
        >>> draw_covariates(5, np.random.default_rng(0)).columns.tolist()[:3]
        ['channel_acq', 'num_past_purch', 'spent_last_purchase']
    """
    channel = rng.choice(np.arange(1, 6), size=n, p=_CHANNEL_P)
    past = rng.negative_binomial(2, 0.4, size=n)
    insta = channel == 3
    female_p = np.where(insta, 0.68, np.where(channel == 2, 0.55, 0.45))
    gender = np.where(rng.random(n) < female_p, "F", "M")
    income = np.round(rng.lognormal(np.log(np.where(insta, 42.0, 58.0)), 0.35), 1)
    return pd.DataFrame(
        {
            "channel_acq": channel.astype(np.int64),
            "num_past_purch": past.astype(np.int64),
            "spent_last_purchase": np.round(rng.lognormal(3.6, 0.6, size=n), 2),
            "weeks_since_visit": rng.poisson(4.0, size=n).astype(np.int64),
            "browsing_minutes": np.round(rng.gamma(2.0, 8.0, size=n), 1),
            "cart": (rng.random(n) < 0.3).astype(np.int64),
            "gender": gender,
            "minority": (rng.random(n) < np.where(insta, 0.35, 0.25)).astype(np.int64),
            "income": income,
        }
    )


def _base_rate(x: pd.DataFrame) -> np.ndarray:
    past = np.minimum(x["num_past_purch"].to_numpy(), 10)
    return np.exp(
        -0.2 + 0.08 * past - 0.04 * x["weeks_since_visit"].to_numpy() + 0.2 * x["cart"].to_numpy()
    )


def _basket_mean(x: pd.DataFrame) -> np.ndarray:
    return 20.0 + 0.3 * x["income"].to_numpy()


def _tau(x: pd.DataFrame, strength: float) -> np.ndarray:
    channel = x["channel_acq"].to_numpy()
    few = x["num_past_purch"].to_numpy() <= 2
    effect = (
        0.04
        + 0.30 * ((channel == 2) & few)
        + 0.10 * ((channel == 3) & few)
        + 0.06 * x["cart"].to_numpy()
        + 0.002 * np.minimum(x["browsing_minutes"].to_numpy(), 60.0)
    )
    return strength * effect


def true_cate(x: pd.DataFrame, outcome: str, strength: float) -> np.ndarray:
    """Each customer's true effect on ``outcome`` of a coupon arm of the given strength.

    The discount is ``0.2 * strength``.

    Example:
        >>> x = draw_covariates(3, np.random.default_rng(0))
        >>> bool((true_cate(x, "trans_after", 1.0) > 0).all())
        True
    """
    tau = _tau(x, strength)
    base = _base_rate(x)
    if outcome == "trans_after":
        return tau
    if outcome == "revenue_after":
        discount = 0.2 * strength
        return _basket_mean(x) * ((base + tau) * (1 - discount) - base)
    if outcome == "converted":
        return (1 + base * _GAMMA_SCALE) ** -_GAMMA_SHAPE * (1 - np.exp(-tau))
    raise ValueError(f"unknown outcome {outcome!r}; expected one of {list(OUTCOMES)}")


def generate_experiment(
    n: int,
    seed: int = 0,
    *,
    arms: Sequence[str] = ("control", "coupon"),
    split: Sequence[float] | None = None,
    strengths: Sequence[float] | None = None,
) -> SyntheticExperiment:
    """Generate ``n`` customers randomised to ``arms`` (the first is the control).

    Args:
        n: rows.
        seed: random seed (the same seed gives the same table).
        arms: arm names, control first.
        split: planned shares per arm (default equal).
        strengths: each coupon arm's effect multiplier (default ``1/k, 2/k, ..., 1``); the
            discount of an arm is ``0.2 * strength``.

    Returns:
        :class:`SyntheticExperiment`.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if len(arms) < 2 or len(set(arms)) != len(arms):
        raise ValueError("give at least two distinct arm names, control first")
    share = np.full(len(arms), 1 / len(arms)) if split is None else np.asarray(split, float)
    if share.shape != (len(arms),) or np.any(share < 0) or not np.isclose(share.sum(), 1.0):
        raise ValueError("split must give one non-negative share per arm, summing to 1")
    power = _arm_strengths(arms, strengths)
    rng = np.random.default_rng(seed)
    x = draw_covariates(n, rng)
    arm_index = rng.choice(len(arms), size=n, p=share)
    arm_names = np.asarray(arms, dtype=object)[arm_index]

    base = _base_rate(x)
    activity = rng.gamma(_GAMMA_SHAPE, _GAMMA_SCALE, size=n)
    strength_of_row = np.zeros(n)
    for i, arm in enumerate(arms[1:], start=1):
        strength_of_row[arm_index == i] = power[arm]
    tau = _tau(x, 1.0) * strength_of_row
    trans_before = rng.poisson(base * activity)
    trans_after = rng.poisson(base * activity + tau)
    basket_mu = np.log(_basket_mean(x)) - _BASKET_SIGMA**2 / 2
    before_basket = rng.lognormal(basket_mu, _BASKET_SIGMA)
    after_basket = rng.lognormal(basket_mu, _BASKET_SIGMA) * (1 - 0.2 * strength_of_row)

    frame = pd.DataFrame(
        {"customer_id": np.arange(1, n + 1, dtype=np.int64), "treatment": arm_names}
    )
    frame = pd.concat([frame, x], axis=1)
    frame["trans_before"] = trans_before.astype(np.int64)
    frame["revenue_before"] = np.round(trans_before * before_basket, 2)
    frame["trans_after"] = trans_after.astype(np.int64)
    frame["revenue_after"] = np.round(trans_after * after_basket, 2)
    frame["converted"] = (trans_after > 0).astype(np.int64)

    cate_columns: dict[tuple[str, str], str] = {}
    for arm in arms[1:]:
        for outcome in OUTCOMES:
            name = f"true_cate_{outcome}" if len(arms) == 2 else f"true_cate_{outcome}__{arm}"
            frame[name] = true_cate(x, outcome, power[arm])
            cate_columns[(outcome, arm)] = name
    return SyntheticExperiment(
        frame=frame,
        arms=tuple(arms),
        seed=seed,
        control=arms[0],
        cate_columns=cate_columns,
    )


def population_effect(
    outcome: str,
    strength: float = 1.0,
    mask: str | None = None,
    *,
    n: int = 2_000_000,
    seed: int = 12345,
) -> float:
    """The population average true effect, in everyone or in the rows a pandas query selects.

    Computed by Monte Carlo over ``n`` fresh covariate draws (its error is far below any CI
    the tests check).

    Example:
        >>> round(population_effect("trans_after", mask="channel_acq == 2 & num_past_purch <= 2", n=200_000), 2)
        0.39
    """
    x = draw_covariates(n, np.random.default_rng(seed))
    effect = true_cate(x, outcome, strength)
    if mask is not None:
        keep = x.eval(mask).to_numpy(dtype=bool)
        effect = effect[keep]
    return float(effect.mean())


def write_experiment(
    out: str | Path,
    n: int,
    seed: int = 0,
    *,
    arms: Sequence[str] = ("control", "coupon"),
    split: Sequence[float] | None = None,
) -> SyntheticExperiment:
    """Generate an experiment and write it to ``out`` (CSV, or Parquet by suffix).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "exp.csv"
        >>> sim = write_experiment(path, 200, seed=3)
        >>> path.read_text().splitlines()[0].split(",")[:3]
        ['customer_id', 'treatment', 'channel_acq']
    """
    sim = generate_experiment(n, seed, arms=arms, split=split)
    sim.write(out)
    return sim
