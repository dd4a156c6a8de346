"""How well a score ranks customers by uplift: Qini and uplift curves, Qini coefficient, AUUC,
uplift at k%, with stratified bootstrap confidence intervals.

All functions take ``(y, uplift, treatment)`` like scikit-uplift: the observed outcome, the
score to rank by (higher = target first) and a 0/1 treatment flag. Customers are sorted by
score, best first; customers with tied scores enter together (the curves have one point per
distinct score). With ``N`` customers of whom ``N_t`` treated, and, among the top ``k``,
``n_t(k)``/``n_c(k)`` treated/control customers whose outcomes sum to ``Y_t(k)``/``Y_c(k)``:

* **Qini curve** (Radcliffe 2007), per treated customer:
  ``Q(k) = (Y_t(k) - Y_c(k) * n_t(k) / n_c(k)) / N_t``, plotted against ``k / N``. It ends at
  the average treatment effect. The **Qini coefficient** is the area between the curve and
  the random-targeting diagonal from ``(0, 0)`` to ``(1, Q(N))`` (trapezoids); a random
  ranking scores 0 on average.
* **Uplift curve** (cumulative gain): ``G(k) = (Y_t(k)/n_t(k) - Y_c(k)/n_c(k)) * k / N``, also
  ending at the average effect. **AUUC** is the area under it; a random ranking scores about
  ``ATE / 2``.
* **Uplift at k%**: the treated-minus-control mean outcome among the top ``k``% of customers.

An empty group contributes 0 to a ratio (as in scikit-uplift). Confidence intervals resample
treated and control customers separately (the design's group sizes are fixed) and take
percentiles; the ranking order is the score's, so a bootstrap replicate costs cumulative sums
only.

Example:
    >>> y = [1, 0, 1, 0]
    >>> uplift = [0.4, 0.3, 0.2, 0.1]
    >>> treatment = [1, 0, 0, 1]
    >>> qini_curve(y, uplift, treatment).value
    [0.0, 0.5, 0.5, 0.25, 0.0]
    >>> qini_coefficient(y, uplift, treatment)
    0.3125
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import pandas as pd

from couponlens._results import Result
from couponlens.errors import InputError

ArrayLike: TypeAlias = Sequence[float] | np.ndarray | pd.Series

#: Fractions reported by default for "uplift at k%".
DEFAULT_FRACTIONS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True, repr=False)
class UpliftCurve(Result):
    """A Qini or uplift curve: ``value`` against the share targeted ``fraction``."""

    kind: str
    fraction: list[float]
    value: list[float]
    random: list[float]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"fraction": self.fraction, "value": self.value, "random": self.random})


@dataclass(frozen=True, repr=False)
class UpliftAtK(Result):
    """Uplift among the top ``fraction`` of customers by score, with its bootstrap CI."""

    fraction: float
    uplift: float
    ci_low: float
    ci_high: float
    n_treated: int
    n_control: int


@dataclass(frozen=True, repr=False)
class UpliftScores(Result):
    """Qini coefficient, AUUC and uplift at k% of one score, each with a bootstrap CI."""

    n_treated: int
    n_control: int
    average_uplift: float
    qini: float
    qini_ci_low: float
    qini_ci_high: float
    auuc: float
    auuc_ci_low: float
    auuc_ci_high: float
    uplift_at_k: list[UpliftAtK] = field(default_factory=list)
    n_bootstrap: int = 0
    confidence: float = 0.95

    def at(self, fraction: float) -> UpliftAtK:
        """The uplift-at-k entry for ``fraction``."""
        for item in self.uplift_at_k:
            if abs(item.fraction - fraction) < 1e-12:
                return item
        raise KeyError(f"no uplift at {fraction}: have {[u.fraction for u in self.uplift_at_k]}")

    def to_frame(self) -> pd.DataFrame:
        data = self.to_dict()
        rows = data.pop("uplift_at_k")
        base = pd.DataFrame([data])
        for row in rows:
            pct = f"{100 * row['fraction']:g}"
            base[f"uplift_at_{pct}"] = row["uplift"]
            base[f"uplift_at_{pct}_ci_low"] = row["ci_low"]
            base[f"uplift_at_{pct}_ci_high"] = row["ci_high"]
        return base


# ----------------------------------------------------------------------------------------
# Core: cumulative sums along the score order, optionally for many bootstrap weight rows
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ordered:
    y: np.ndarray
    t: np.ndarray
    ends: np.ndarray  # last position of each group of tied scores
    order: np.ndarray


def _prepare(y: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> _Ordered:
    y_arr = np.asarray(y, dtype=np.float64)
    score = np.asarray(uplift, dtype=np.float64)
    t_raw = np.asarray(treatment)
    if not (y_arr.ndim == score.ndim == t_raw.ndim == 1):
        raise InputError("y, uplift and treatment must be one-dimensional")
    if not (len(y_arr) == len(score) == len(t_raw)):
        raise InputError(
            f"y, uplift and treatment differ in length: {len(y_arr)}, {len(score)}, {len(t_raw)}"
        )
    if not np.isin(t_raw, (0, 1)).all():
        raise InputError("treatment must be 0 (control) or 1 (treated)")
    if np.isnan(y_arr).any() or np.isnan(score).any():
        raise InputError("y and uplift must not contain missing values")
    t = t_raw.astype(np.float64)
    if t.sum() == 0 or t.sum() == len(t):
        raise InputError("not estimable: uplift metrics need both treated and control customers")
    order = np.argsort(-score, kind="stable")
    sorted_score = score[order]
    ends = np.r_[np.flatnonzero(sorted_score[1:] != sorted_score[:-1]), len(score) - 1]
    return _Ordered(y_arr[order], t[order], ends, order)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _cumulative(o: _Ordered, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cumulative n_t, n_c, Y_t, Y_c along the order; ``weights`` is (n,) or (B, n)."""
    wt = weights * o.t
    wc = weights * (1.0 - o.t)
    return (
        np.cumsum(wt, axis=-1),
        np.cumsum(wc, axis=-1),
        np.cumsum(wt * o.y, axis=-1),
        np.cumsum(wc * o.y, axis=-1),
    )


def _with_origin(values: np.ndarray) -> np.ndarray:
    zeros = np.zeros(values.shape[:-1] + (1,))
    return np.concatenate([zeros, values], axis=-1)


def _trapezoid(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.asarray(np.trapezoid(values, x, axis=-1))


def _curves(o: _Ordered, weights: np.ndarray) -> dict[str, np.ndarray]:
    nt, nc, yt, yc = _cumulative(o, weights)
    total = nt[..., -1:] + nc[..., -1:]
    treated_total = nt[..., -1:]
    e = o.ends
    nt_e, nc_e, yt_e, yc_e = nt[..., e], nc[..., e], yt[..., e], yc[..., e]
    fraction = _with_origin((nt_e + nc_e) / total)
    qini = _with_origin((yt_e - yc_e * _ratio(nt_e, nc_e)) / treated_total)
    gain = _with_origin((_ratio(yt_e, nt_e) - _ratio(yc_e, nc_e)) * (nt_e + nc_e) / total)
    return {
        "fraction": fraction,
        "qini": qini,
        "gain": gain,
        "nt": nt,
        "nc": nc,
        "yt": yt,
        "yc": yc,
        "total": total,
    }


def _qini_coefficient(c: dict[str, np.ndarray]) -> np.ndarray:
    return _trapezoid(c["qini"], c["fraction"]) - c["qini"][..., -1] / 2.0


def _auuc(c: dict[str, np.ndarray]) -> np.ndarray:
    return _trapezoid(c["gain"], c["fraction"])


def _uplift_at(
    c: dict[str, np.ndarray], fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uplift, n_treated, n_control) among the first rows that make up ``fraction`` of the total."""
    n_cum = c["nt"] + c["nc"]
    target = fraction * c["total"] - 1e-9
    index = np.argmax(n_cum >= target, axis=-1)
    index = np.atleast_1d(index)
    nt = np.take_along_axis(np.atleast_2d(c["nt"]), index[:, None], axis=-1)[:, 0]
    nc = np.take_along_axis(np.atleast_2d(c["nc"]), index[:, None], axis=-1)[:, 0]
    yt = np.take_along_axis(np.atleast_2d(c["yt"]), index[:, None], axis=-1)[:, 0]
    yc = np.take_along_axis(np.atleast_2d(c["yc"]), index[:, None], axis=-1)[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        uplift = np.where((nt > 0) & (nc > 0), yt / nt - yc / nc, np.nan)
    return uplift, nt, nc


def _check_fraction(fraction: float) -> None:
    if not 0 < fraction <= 1:
        raise InputError(f"k must be a fraction in (0, 1], got {fraction}")


# ----------------------------------------------------------------------------------------
# Public metrics
# ----------------------------------------------------------------------------------------


def qini_curve(y: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> UpliftCurve:
    """The Qini curve per treated customer, with the random-targeting line.

    Example:
        >>> curve = qini_curve([1, 0, 0, 1], [0.9, 0.8, 0.1, 0.0], [1, 0, 1, 0])
        >>> curve.fraction, curve.value
        ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 0.5, 0.5, 0.0])
    """
    o = _prepare(y, uplift, treatment)
    c = _curves(o, np.ones(len(o.y)))
    fraction = c["fraction"]
    return UpliftCurve(
        "qini", fraction.tolist(), c["qini"].tolist(), (fraction * c["qini"][-1]).tolist()
    )


def uplift_curve(y: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> UpliftCurve:
    """The uplift (cumulative gain) curve, with the random-targeting line.

    Example:
        >>> uplift_curve([1, 0, 0, 1], [0.9, 0.8, 0.1, 0.0], [1, 0, 1, 0]).value
        [0.0, 0.25, 0.5, 0.375, 0.0]
    """
    o = _prepare(y, uplift, treatment)
    c = _curves(o, np.ones(len(o.y)))
    fraction = c["fraction"]
    return UpliftCurve(
        "uplift", fraction.tolist(), c["gain"].tolist(), (fraction * c["gain"][-1]).tolist()
    )


def qini_coefficient(y: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> float:
    """Area between the Qini curve and the random diagonal (0 for a random ranking).

    Example:
        >>> qini_coefficient([1, 0, 0, 1], [0.9, 0.8, 0.1, 0.0], [1, 0, 1, 0])
        0.375
    """
    o = _prepare(y, uplift, treatment)
    return float(_qini_coefficient(_curves(o, np.ones(len(o.y)))))


def auuc(y: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> float:
    """Area under the uplift curve (about ``ATE / 2`` for a random ranking).

    Example:
        >>> auuc([1, 0, 0, 1], [0.9, 0.8, 0.1, 0.0], [1, 0, 1, 0])
        0.28125
    """
    o = _prepare(y, uplift, treatment)
    return float(_auuc(_curves(o, np.ones(len(o.y)))))


def uplift_at_k(y: ArrayLike, uplift: ArrayLike, treatment: ArrayLike, k: float) -> float:
    """Treated-minus-control mean outcome among the top ``k`` (a fraction) by score.

    ``nan`` when the top ``k`` holds no treated or no control customer.

    Example:
        >>> uplift_at_k([1, 0, 0, 1], [0.9, 0.8, 0.1, 0.0], [1, 0, 1, 0], 0.5)
        1.0
    """
    _check_fraction(k)
    o = _prepare(y, uplift, treatment)
    value, _, _ = _uplift_at(_curves(o, np.ones(len(o.y))), k)
    return float(value[0])


def uplift_scores(
    y: ArrayLike,
    uplift: ArrayLike,
    treatment: ArrayLike,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    random_state: int = 0,
) -> UpliftScores:
    """Qini coefficient, AUUC and uplift at each fraction, with stratified bootstrap CIs.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> x = rng.uniform(size=3000)
        >>> t = rng.integers(0, 2, 3000)
        >>> y = (rng.uniform(size=3000) < 0.1 + 0.3 * t * x).astype(int)
        >>> s = uplift_scores(y, x, t, fractions=[0.3], n_bootstrap=100)
        >>> bool(s.qini_ci_low > 0), bool(s.at(0.3).uplift > s.average_uplift)
        (True, True)
    """
    for k in fractions:
        _check_fraction(k)
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 0:
        raise InputError(f"n_bootstrap must be at least 0, got {n_bootstrap}")
    o = _prepare(y, uplift, treatment)
    point = _curves(o, np.ones(len(o.y)))
    qini_point = float(_qini_coefficient(point))
    auuc_point = float(_auuc(point))
    at_point = [_uplift_at(point, k) for k in fractions]

    qini_boot: list[np.ndarray] = []
    auuc_boot: list[np.ndarray] = []
    at_boot: list[list[np.ndarray]] = [[] for _ in fractions]
    rng = np.random.default_rng(random_state)
    treated_pos = np.flatnonzero(o.t == 1)
    control_pos = np.flatnonzero(o.t == 0)
    chunk = max(1, min(n_bootstrap, 2_000_000 // max(len(o.y), 1)))
    done = 0
    while done < n_bootstrap:
        b = min(chunk, n_bootstrap - done)
        weights = np.zeros((b, len(o.y)))
        for positions in (treated_pos, control_pos):
            counts = rng.multinomial(len(positions), np.full(len(positions), 1 / len(positions)), b)
            weights[:, positions] = counts
        c = _curves(o, weights)
        qini_boot.append(_qini_coefficient(c))
        auuc_boot.append(_auuc(c))
        for i, k in enumerate(fractions):
            at_boot[i].append(_uplift_at(c, k)[0])
        done += b

    alpha = (1 - confidence) / 2

    def interval(samples: list[np.ndarray]) -> tuple[float, float]:
        if not samples:
            return float("nan"), float("nan")
        values = np.concatenate(samples)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            return float("nan"), float("nan")
        low, high = np.quantile(values, [alpha, 1 - alpha])
        return float(low), float(high)

    at_k = []
    for i, k in enumerate(fractions):
        value, nt, nc = at_point[i]
        low, high = interval(at_boot[i])
        at_k.append(UpliftAtK(float(k), float(value[0]), low, high, int(nt[0]), int(nc[0])))
    q_low, q_high = interval(qini_boot)
    a_low, a_high = interval(auuc_boot)
    n_t = int(point["nt"][-1])
    n_c = int(point["nc"][-1])
    average = float(point["yt"][-1] / n_t - point["yc"][-1] / n_c)
    return UpliftScores(
        n_treated=n_t,
        n_control=n_c,
        average_uplift=average,
        qini=qini_point,
        qini_ci_low=q_low,
        qini_ci_high=q_high,
        auuc=auuc_point,
        auuc_ci_low=a_low,
        auuc_ci_high=a_high,
        uplift_at_k=at_k,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
    )
