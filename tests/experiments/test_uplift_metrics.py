"""Qini, AUUC and uplift at k% against hand calculations on tiny examples; bootstrap CIs."""

from __future__ import annotations

import numpy as np
import pytest

from couponlens.errors import InputError
from couponlens.experiments.uplift_metrics import (
    auuc,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_curve,
    uplift_scores,
)

# Six customers, best score first. Treated: a, c, e; control: b, d, f.
Y = [1, 0, 1, 1, 0, 0]
SCORE = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
T = [1, 0, 1, 0, 1, 0]


def test_qini_curve_by_hand() -> None:
    # k: n_t n_c Y_t Y_c -> Q(k) = (Y_t - Y_c * n_t / n_c) / N_t, N_t = 3
    # 1: 1 0 1 0 -> 1/3        (no control yet: Y_c term is 0)
    # 2: 1 1 1 0 -> 1/3
    # 3: 2 1 2 0 -> 2/3
    # 4: 2 2 2 1 -> (2 - 1) / 3 = 1/3
    # 5: 3 2 2 1 -> (2 - 1.5) / 3 = 1/6
    # 6: 3 3 2 1 -> (2 - 1) / 3 = 1/3
    curve = qini_curve(Y, SCORE, T)
    assert curve.fraction == pytest.approx([0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1])
    assert curve.value == pytest.approx([0, 1 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 6, 1 / 3])
    assert curve.random == pytest.approx([f / 3 for f in curve.fraction])


def test_qini_coefficient_by_hand() -> None:
    q = [0, 1 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 6, 1 / 3]
    area = sum((a + b) / 2 * (1 / 6) for a, b in zip(q[:-1], q[1:], strict=True))
    expected = area - (1 / 3) / 2  # minus the random diagonal's triangle
    # trapezoids: 1/6 * (1/6 + 1/3 + 1/2 + 1/2 + 1/4 + 1/4) = 1/3; diagonal: 1/3 / 2 = 1/6
    assert expected == pytest.approx(1 / 6)
    assert qini_coefficient(Y, SCORE, T) == pytest.approx(1 / 6)


def test_auuc_by_hand() -> None:
    # G(k) = (Y_t/n_t - Y_c/n_c) * k / N
    gains = [
        0.0,
        (1 / 1 - 0) * 1 / 6,
        (1 / 1 - 0 / 1) * 2 / 6,
        (2 / 2 - 0 / 1) * 3 / 6,
        (2 / 2 - 1 / 2) * 4 / 6,
        (2 / 3 - 1 / 2) * 5 / 6,
        (2 / 3 - 1 / 3) * 6 / 6,
    ]
    assert uplift_curve(Y, SCORE, T).value == pytest.approx(gains)
    area = sum((a + b) / 2 * (1 / 6) for a, b in zip(gains[:-1], gains[1:], strict=True))
    assert auuc(Y, SCORE, T) == pytest.approx(area)


def test_uplift_at_k_by_hand() -> None:
    # top 50%: a, b, c -> treated mean (1 + 1) / 2 = 1, control mean 0 / 1 = 0
    assert uplift_at_k(Y, SCORE, T, 0.5) == pytest.approx(1.0)
    # everyone: 2/3 - 1/3
    assert uplift_at_k(Y, SCORE, T, 1.0) == pytest.approx(1 / 3)
    # top 1/6 holds no control customer: not estimable
    assert np.isnan(uplift_at_k(Y, SCORE, T, 1 / 6))


def test_ties_enter_together() -> None:
    # all scores tied: one step from (0, 0) to (1, ATE); the Qini coefficient is 0
    curve = qini_curve(Y, [0.5] * 6, T)
    assert curve.fraction == [0.0, 1.0]
    assert qini_coefficient(Y, [0.5] * 6, T) == pytest.approx(0.0)


def test_perfect_ranking_beats_reverse() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.uniform(size=n)
    t = rng.integers(0, 2, n)
    y = (rng.uniform(size=n) < 0.1 + 0.4 * t * x).astype(int)
    assert qini_coefficient(y, x, t) > 0.02 > 0 > qini_coefficient(y, -x, t)
    random_scores = [qini_coefficient(y, rng.uniform(size=n), t) for _ in range(20)]
    assert abs(float(np.mean(random_scores))) < 0.01
    assert auuc(y, x, t) > auuc(y, -x, t)


def test_bootstrap_intervals_cover_the_point_and_shrink_with_n() -> None:
    rng = np.random.default_rng(1)

    def width(n: int) -> float:
        x = rng.uniform(size=n)
        t = rng.integers(0, 2, n)
        y = (rng.uniform(size=n) < 0.1 + 0.3 * t * x).astype(int)
        s = uplift_scores(y, x, t, fractions=[0.2, 0.5], n_bootstrap=150, random_state=2)
        assert s.qini_ci_low <= s.qini <= s.qini_ci_high
        assert s.auuc_ci_low <= s.auuc <= s.auuc_ci_high
        for u in s.uplift_at_k:
            assert u.ci_low <= u.uplift <= u.ci_high
            assert u.n_treated + u.n_control == pytest.approx(u.fraction * n, abs=1)
        assert s.n_treated + s.n_control == n
        return s.qini_ci_high - s.qini_ci_low

    assert width(8000) < width(1000)


def test_scores_are_reproducible_and_serialisable() -> None:
    a = uplift_scores(Y * 20, SCORE * 20, T * 20, n_bootstrap=30, random_state=5)
    b = uplift_scores(Y * 20, SCORE * 20, T * 20, n_bootstrap=30, random_state=5)
    assert a.to_dict() == b.to_dict()
    frame = a.to_frame()
    assert {"qini", "auuc", "uplift_at_30", "uplift_at_30_ci_low"} <= set(frame.columns)
    assert "qini=" in repr(a)


@pytest.mark.parametrize(
    ("y", "score", "t", "message"),
    [
        ([1, 0], [0.1], [1, 0], "differ in length"),
        ([1, 0], [0.1, 0.2], [1, 2], r"0 \(control\) or 1"),
        ([1, 0], [0.1, 0.2], [1, 1], "not estimable"),
        ([1, float("nan")], [0.1, 0.2], [1, 0], "missing"),
    ],
)
def test_bad_inputs_are_explained(y: list, score: list, t: list, message: str) -> None:
    with pytest.raises(InputError, match=message):
        qini_coefficient(y, score, t)


def test_bad_fraction() -> None:
    with pytest.raises(InputError, match="fraction"):
        uplift_at_k(Y, SCORE, T, 1.5)
