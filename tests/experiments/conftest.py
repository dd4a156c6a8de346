"""A three-arm synthetic experiment shared by the statistics tests (engine table + rows)."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from couponlens.datasets.experiment import ExperimentData, experiment_from_table
from couponlens.datasets.experiment_synthetic import generate_experiment
from couponlens.engine import connect

SEGMENTS = [
    "A=channel_acq == 3 & num_past_purch <= 2",
    "B=channel_acq == 2 & num_past_purch <= 2",
    "loyal=num_past_purch >= 5",
]


def experiment_from_frame(frame: pd.DataFrame, **kwargs: object) -> ExperimentData:
    """Put a pandas frame on a fresh engine and describe it as an experiment."""
    con = connect(threads=2)
    table = con.create_table(f"t_{uuid.uuid4().hex[:8]}", frame)
    return experiment_from_table(table, con, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def three_arm_frame() -> pd.DataFrame:
    sim = generate_experiment(6000, seed=11, arms=("control", "coupon10", "coupon20"))
    frame = sim.frame.copy()
    rng = np.random.default_rng(5)
    frame.loc[rng.random(len(frame)) < 0.05, "income"] = np.nan  # a covariate with gaps
    return frame


@pytest.fixture(scope="module")
def three_arm(three_arm_frame: pd.DataFrame) -> ExperimentData:
    return experiment_from_frame(
        three_arm_frame,
        treatment="treatment",
        control="control",
        outcomes=["trans_after", "revenue_after", "converted"],
        covariates=["gender", "income", "weeks_since_visit", "cart"],
        pre_period=["trans_before", "revenue_before"],
    )
