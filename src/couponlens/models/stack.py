"""Combining diverse models: rank blending and a logistic stack, kept only when they help.

The stack is a logistic regression on the base models' log-odds, fitted on validation-window
predictions (which the base models did not train on). Whether it beats the best single model
is judged honestly: its own predictions come from coupon-grouped cross-fitting on that window,
and it is kept only when its mean per-coupon AUC is higher than the best single model's on the
same receipts. Its parameters are a handful of numbers, stored as JSON.

Example:
    >>> import numpy as np
    >>> rank_blend([np.array([0.1, 0.9, 0.5]), np.array([0.3, 0.2, 0.1])], [0.5, 0.5]).round(3).tolist()
    [0.667, 0.833, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from couponlens._results import Result
from couponlens.models.metrics import mean_coupon_auc


def rank_blend(scores: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted average of each score's normalised rank (0..1], ties sharing their average."""
    total = np.zeros(len(scores[0]))
    for score, weight in zip(scores, weights, strict=True):
        total += weight * rankdata(score) / len(score)
    return total / float(sum(weights))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass(frozen=True, repr=False)
class StackParams(Result):
    """A logistic stack: probability = sigmoid(intercept + sum(coef_i * logit(p_i)))."""

    models: list[str]
    coef: list[float]
    intercept: float

    def predict(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        """Stacked probability from the base models' probabilities (in ``models`` order)."""
        z = np.full(len(probabilities[0]), self.intercept, dtype=np.float64)
        for c, p in zip(self.coef, probabilities, strict=True):
            z += c * _logit(p)
        return 1.0 / (1.0 + np.exp(-z))

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> StackParams:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            models=[str(m) for m in data["models"]],  # type: ignore[attr-defined]
            coef=[float(c) for c in data["coef"]],  # type: ignore[attr-defined]
            intercept=float(data["intercept"]),  # type: ignore[arg-type]
        )


@dataclass(frozen=True, repr=False)
class StackDecision(Result):
    """Whether the stack beat the best single model on the validation receipts."""

    kept: bool
    best_single: str
    best_single_mean_coupon_auc: float | None
    stack_mean_coupon_auc: float | None
    rank_blend_mean_coupon_auc: float | None
    params: StackParams | None
    reason: str


def _fit(x: np.ndarray, y: np.ndarray, seed: int) -> LogisticRegression:
    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(x, y)


def decide_stack(
    probabilities: dict[str, np.ndarray],
    label: np.ndarray,
    coupon: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
) -> StackDecision:
    """Fit a logistic stack on validation predictions; keep it only if it beats every single model.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = (rng.random(4000) < 0.3).astype(int)
        >>> a = np.clip(0.3 + 0.2 * y + rng.normal(0, 0.2, 4000), 0.01, 0.99)
        >>> b = np.clip(0.3 + 0.2 * y + rng.normal(0, 0.2, 4000), 0.01, 0.99)
        >>> d = decide_stack({"a": a, "b": b}, y, rng.integers(0, 40, 4000))
        >>> d.kept, d.best_single in ("a", "b")
        (True, True)
    """
    names = list(probabilities)
    y = np.asarray(label).astype(int)
    coupon = np.asarray(coupon)
    singles = {n: mean_coupon_auc(coupon, y, probabilities[n]).mean_auc for n in names}
    best = max(names, key=lambda n: -1.0 if singles[n] is None else float(singles[n]))  # type: ignore[arg-type]
    best_auc = singles[best]
    blend_auc = mean_coupon_auc(
        coupon, y, rank_blend([probabilities[n] for n in names], [1.0] * len(names))
    ).mean_auc
    if len(names) < 2 or best_auc is None or len(np.unique(y)) < 2:
        return StackDecision(
            False, best, best_auc, None, blend_auc, None, "one model, or labels of one class"
        )
    x = np.column_stack([_logit(probabilities[n]) for n in names])
    groups = len(np.unique(coupon))
    if groups < 2:
        return StackDecision(
            False, best, best_auc, None, blend_auc, None, "too few coupons to cross-fit"
        )
    oof = np.empty(len(y))
    for train_idx, test_idx in GroupKFold(n_splits=min(folds, groups)).split(x, y, coupon):
        if len(np.unique(y[train_idx])) < 2:
            oof[test_idx] = probabilities[best][test_idx]
            continue
        oof[test_idx] = _fit(x[train_idx], y[train_idx], seed).predict_proba(x[test_idx])[:, 1]
    stack_auc = mean_coupon_auc(coupon, y, oof).mean_auc
    model = _fit(x, y, seed)
    params = StackParams(names, [float(c) for c in model.coef_[0]], float(model.intercept_[0]))
    kept = stack_auc is not None and stack_auc > best_auc
    reason = (
        f"stack {stack_auc:.4f} vs best single ({best}) {best_auc:.4f} mean per-coupon AUC "
        f"on cross-fitted validation predictions"
    )
    return StackDecision(
        kept, best, best_auc, stack_auc, blend_auc, params if kept else None, reason
    )
