"""Uplift on the real Hillstrom e-mail test (DOMAIN section 3).

On the Womens arm (visit) targeting by a model helps: the top 30% by predicted uplift respond
well above the 4.5 pp average (the seed's T-learner: about 8.3 pp). Here every figure is
measured on held-out folds, which is stricter than the seed's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from couponlens.experiments.uplift_job import train_uplift_model

FEATURES = ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]


@pytest.mark.realdata
def test_womens_arm_top_30_percent_beats_the_average(
    real_file: Callable[[str], Path], tmp_path: Path
) -> None:
    job = train_uplift_model(
        real_file("hillstrom/hillstrom.csv"),
        treatment="segment",
        control="No E-Mail",
        outcome="visit",
        features=FEATURES,
        model_dir=tmp_path / "model",
        arms=["Womens E-Mail"],
        learners=["t"],
        n_folds=2,
        n_bootstrap=50,
        fractions=[0.3],
        n_estimators=40,
    )
    scores = job.fit.validation.best("Womens E-Mail").scores
    assert scores.n_treated == 21387 and scores.n_control == 21306
    assert scores.average_uplift == pytest.approx(0.1514 - 0.1062, abs=0.0005)
    top = scores.at(0.3)
    assert 0.055 < top.uplift < 0.10  # held out; the seed reports about 0.083 in its split
    assert top.ci_low > scores.average_uplift - 0.005
    assert scores.qini_ci_low > 0
    assert (tmp_path / "model" / "report.html").is_file()
