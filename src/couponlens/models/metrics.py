"""Model metrics for redemption scores: the Tianchi per-coupon AUC and the usual companions.

The O2O competition metric is the mean over ``Coupon_id`` of each coupon's ROC AUC, skipping
coupons whose receipts are all one class. It is computed here without a per-group loop: sort
by (coupon, score), give tied scores their average rank within the coupon, and use the
Mann-Whitney identity ``AUC = (sum of positive ranks - P(P+1)/2) / (P N)`` per coupon.

Example:
    >>> import numpy as np
    >>> coupon = np.array([1, 1, 1, 2, 2, 3])
    >>> label = np.array([1, 0, 0, 1, 0, 1])
    >>> score = np.array([0.9, 0.2, 0.95, 0.1, 0.3, 0.5])
    >>> result = mean_coupon_auc(coupon, label, score)
    >>> round(result.mean_auc, 4), result.coupons_scored, result.coupons_skipped
    (0.25, 2, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score, roc_curve

from couponlens._results import Result

ArrayLike = npt.ArrayLike


@dataclass(frozen=True, repr=False)
class CouponAUC(Result):
    """The per-coupon AUC: its mean over scored coupons, and each coupon's value."""

    mean_auc: float | None
    coupons_scored: int
    coupons_skipped: int
    receipts_scored: int
    per_coupon: pd.DataFrame = field(default_factory=pd.DataFrame)
    state: str = "ok"

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data.pop("per_coupon")
        return data


def _average_ranks_within(groups: np.ndarray, score: np.ndarray) -> np.ndarray:
    """1-based ranks of ``score`` within each group, ties sharing their average rank."""
    order = np.lexsort((score, groups))
    g, s = groups[order], score[order]
    n = len(g)
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    new_group[1:] = g[1:] != g[:-1]
    new_tie = new_group.copy()
    new_tie[1:] |= s[1:] != s[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    tie_id = np.cumsum(new_tie) - 1
    tie_first = np.flatnonzero(new_tie)
    tie_last = np.append(tie_first[1:], n) - 1
    average = (tie_first[tie_id] + tie_last[tie_id]) / 2.0 - group_start + 1.0
    ranks = np.empty(n)
    ranks[order] = average
    return ranks


def mean_coupon_auc(coupon: ArrayLike, label: ArrayLike, score: ArrayLike) -> CouponAUC:
    """Mean over coupons of the ROC AUC of ``score`` for ``label``, single-class coupons skipped.

    Example:
        >>> mean_coupon_auc([7, 7, 7, 7], [0, 1, 0, 1], [0.1, 0.4, 0.5, 0.8]).mean_auc
        0.75
    """
    coupon_arr = np.asarray(coupon)
    y = np.asarray(label).astype(np.int64)
    s = np.asarray(score, dtype=np.float64)
    if not (len(coupon_arr) == len(y) == len(s)):
        raise ValueError("coupon, label and score must have the same length")
    if len(y) == 0:
        return CouponAUC(None, 0, 0, 0, state="not estimable: no receipts")
    codes, uniques = pd.factorize(pd.Series(coupon_arr), use_na_sentinel=False)
    codes = np.asarray(codes, dtype=np.int64)
    ranks = _average_ranks_within(codes, s)
    k = len(uniques)
    n = np.bincount(codes, minlength=k).astype(np.float64)
    pos = np.bincount(codes, weights=y, minlength=k)
    rank_pos = np.bincount(codes, weights=ranks * y, minlength=k)
    neg = n - pos
    scored = (pos > 0) & (neg > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_pos - pos * (pos + 1) / 2.0) / (pos * neg)
    per_coupon = pd.DataFrame(
        {
            "coupon_id": uniques,
            "receipts": n.astype(np.int64),
            "positives": pos.astype(np.int64),
            "auc": np.where(scored, auc, np.nan),
        }
    )
    if not scored.any():
        return CouponAUC(
            None,
            0,
            int(k),
            0,
            per_coupon,
            state="not estimable: every coupon's receipts are all used or all unused",
        )
    return CouponAUC(
        mean_auc=float(auc[scored].mean()),
        coupons_scored=int(scored.sum()),
        coupons_skipped=int(k - scored.sum()),
        receipts_scored=int(n[scored].sum()),
        per_coupon=per_coupon,
    )


@dataclass(frozen=True, repr=False)
class ModelMetrics(Result):
    """Validation metrics of a probability score."""

    receipts: int
    positives: int
    base_rate: float
    mean_coupon_auc: float | None
    coupons_scored: int
    coupons_skipped: int
    auc: float | None
    pr_auc: float | None
    log_loss: float | None
    lift: dict[str, float | None]
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    state: str = "ok"


def lift_at(label: ArrayLike, score: ArrayLike, share: float) -> float | None:
    """Use rate among the top ``share`` of scores divided by the overall use rate.

    Example:
        >>> lift_at([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3], 0.25)
        4.0
    """
    y = np.asarray(label, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    if len(y) == 0 or y.mean() == 0:
        return None
    top = max(1, int(np.ceil(share * len(y))))
    order = np.argsort(-s, kind="stable")[:top]
    return float(y[order].mean() / y.mean())


def evaluate_scores(
    coupon: ArrayLike,
    label: ArrayLike,
    probability: ArrayLike,
    *,
    lift_shares: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5),
    calibration_bins: int = 10,
) -> ModelMetrics:
    """All validation metrics of ``probability`` for ``label``.

    Example:
        >>> m = evaluate_scores([1, 1, 2, 2], [0, 1, 0, 1], [0.2, 0.7, 0.4, 0.6])
        >>> m.mean_coupon_auc, m.auc
        (1.0, 1.0)
    """
    y = np.asarray(label).astype(np.int64)
    p = np.clip(np.asarray(probability, dtype=np.float64), 1e-15, 1 - 1e-15)
    per_coupon = mean_coupon_auc(coupon, y, p)
    positives = int(y.sum())
    two_classes = 0 < positives < len(y)
    calibration = pd.DataFrame(columns=["mean_predicted", "observed_rate"])
    if two_classes:
        observed, predicted = calibration_curve(y, p, n_bins=calibration_bins, strategy="quantile")
        calibration = pd.DataFrame({"mean_predicted": predicted, "observed_rate": observed})
    return ModelMetrics(
        receipts=len(y),
        positives=positives,
        base_rate=float(y.mean()) if len(y) else float("nan"),
        mean_coupon_auc=per_coupon.mean_auc,
        coupons_scored=per_coupon.coupons_scored,
        coupons_skipped=per_coupon.coupons_skipped,
        auc=float(roc_auc_score(y, p)) if two_classes else None,
        pr_auc=float(average_precision_score(y, p)) if two_classes else None,
        log_loss=float(log_loss(y, p, labels=[0, 1])) if len(y) else None,
        lift={f"{share:g}": lift_at(y, p, share) for share in lift_shares},
        calibration=calibration,
        state="ok" if two_classes else "not estimable: the labels are all one class",
    )


def roc_points(label: ArrayLike, score: ArrayLike, max_points: int = 400) -> pd.DataFrame:
    """The ROC curve (false/true positive rate), thinned to at most ``max_points`` for charts."""
    fpr, tpr, _ = roc_curve(np.asarray(label), np.asarray(score))
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return pd.DataFrame({"false_positive_rate": fpr, "true_positive_rate": tpr})
