"""Per-coupon AUC against scikit-learn, and the other metrics against their definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from couponlens.models.metrics import evaluate_scores, lift_at, mean_coupon_auc


def _sklearn_mean_coupon_auc(coupon, label, score) -> tuple[float, int, int]:
    frame = pd.DataFrame({"c": coupon, "y": label, "s": score})
    aucs, skipped = [], 0
    for _, g in frame.groupby("c"):
        if g["y"].nunique() < 2:
            skipped += 1
            continue
        aucs.append(roc_auc_score(g["y"], g["s"]))
    return float(np.mean(aucs)), len(aucs), skipped


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_coupon_auc_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    coupon = rng.integers(0, 60, n)
    label = (rng.random(n) < 0.2).astype(int)
    # heavy ties: rounded scores, plus a signal
    score = np.round(rng.random(n) + 0.3 * label, 1)
    label[coupon >= 55] = 0  # single-class coupons are skipped
    ours = mean_coupon_auc(coupon, label, score)
    mean, scored, skipped = _sklearn_mean_coupon_auc(coupon, label, score)
    assert ours.mean_auc == pytest.approx(mean, abs=1e-12)
    assert (ours.coupons_scored, ours.coupons_skipped) == (scored, skipped)
    assert skipped > 0  # the skip rule was exercised
    per = ours.per_coupon.dropna().set_index("coupon_id")["auc"]
    for c in per.index[:20]:
        mask = coupon == c
        assert per[c] == pytest.approx(roc_auc_score(label[mask], score[mask]), abs=1e-12)


def test_mean_coupon_auc_on_a_million_rows_and_ten_thousand_coupons() -> None:
    """Random scores rank at chance in every coupon (its speed is a benchmark, not a test)."""
    rng = np.random.default_rng(0)
    n = 1_000_000
    coupon = rng.integers(0, 10_000, n)
    label = (rng.random(n) < 0.1).astype(int)
    score = rng.random(n)
    result = mean_coupon_auc(coupon, label, score)
    assert result.mean_auc == pytest.approx(0.5, abs=0.01)


def test_degenerate_inputs_give_a_state() -> None:
    assert mean_coupon_auc([], [], []).state.startswith("not estimable")
    one_class = mean_coupon_auc([1, 1, 2], [0, 0, 1], [0.1, 0.2, 0.3])
    assert one_class.mean_auc is None and one_class.state.startswith("not estimable")
    metrics = evaluate_scores([1, 2], [0, 0], [0.1, 0.2])
    assert metrics.auc is None and metrics.state.startswith("not estimable")


def test_evaluate_scores_against_sklearn() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    label = (rng.random(n) < 0.15).astype(int)
    proba = np.clip(0.1 + 0.3 * label + rng.normal(0, 0.15, n), 0.01, 0.99)
    coupon = rng.integers(0, 30, n)
    m = evaluate_scores(coupon, label, proba)
    assert m.auc == pytest.approx(roc_auc_score(label, proba))
    assert m.pr_auc == pytest.approx(average_precision_score(label, proba))
    assert m.log_loss == pytest.approx(log_loss(label, proba))
    top = np.argsort(-proba)[: int(np.ceil(0.1 * n))]
    assert m.lift["0.1"] == pytest.approx(label[top].mean() / label.mean())
    assert 5 <= len(m.calibration) <= 10
    assert lift_at([0, 0], [0.1, 0.2], 0.5) is None
