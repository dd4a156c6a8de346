"""Over 200 simulated experiments the 95% Welch CIs cover the planted truth 93-97% of the time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from couponlens.datasets.experiment_synthetic import draw_covariates, generate_experiment, true_cate
from couponlens.experiments.analysis import _effect_row
from couponlens.experiments.segments import parse_segment_rule
from couponlens.experiments.sufficient import aggregate_moments

from .conftest import experiment_from_frame

REPLICATES = 200
ROWS = 3000
RULES = [
    "A=channel_acq == 3 & num_past_purch <= 2",
    "B=channel_acq == 2 & num_past_purch <= 2",
]
OUTCOMES = ["trans_after", "converted", "revenue_after"]


def _truth() -> dict[tuple[str, str], float]:
    """Population mean of the true CATE per outcome and segment (2 M covariate draws)."""
    x = draw_covariates(2_000_000, np.random.default_rng(99))
    masks = {"all": np.ones(len(x), bool)}
    masks.update({r.split("=", 1)[0]: x.eval(r.split("=", 1)[1]).to_numpy(bool) for r in RULES})
    return {
        (outcome, segment): float(true_cate(x, outcome, 1.0)[mask].mean())
        for outcome in OUTCOMES
        for segment, mask in masks.items()
    }


def test_ci_coverage_over_200_replicates() -> None:
    frames = []
    for replicate in range(REPLICATES):
        frame = generate_experiment(ROWS, seed=1000 + replicate).frame
        frames.append(frame.assign(replicate=replicate))
    stacked = pd.concat(frames, ignore_index=True)
    data = experiment_from_frame(
        stacked[["replicate", "treatment", "channel_acq", "num_past_purch", *OUTCOMES]],
        treatment="treatment",
        control="control",
        outcomes=OUTCOMES,
    )
    rules = [parse_segment_rule(r) for r in RULES]
    moments = aggregate_moments(data, rules, by=["replicate"])  # one group-by for all replicates
    truth = _truth()
    covered: dict[tuple[str, str], list[bool]] = {key: [] for key in truth}
    relative: list[bool] = []
    for replicate in range(REPLICATES):
        where = {"replicate": replicate}
        for segment in ["all", "A", "B"]:
            treated = moments.select(arm="coupon", segment=segment, where=where)
            control = moments.select(arm="control", segment=segment, where=where)
            for outcome in OUTCOMES:
                row = _effect_row(outcome, segment, "coupon", "count", treated, control, [], 0.05)
                assert row.status.startswith("ok")
                covered[(outcome, segment)].append(
                    row.ci_low <= truth[(outcome, segment)] <= row.ci_high
                )
                if outcome == "trans_after" and segment == "all":
                    base = float(np.mean(_baseline_trans()))
                    true_rel = truth[(outcome, segment)] / base
                    relative.append(row.rel_ci_low <= true_rel <= row.rel_ci_high)
    rates = {key: float(np.mean(hits)) for key, hits in covered.items()}
    pooled = float(np.mean([hit for hits in covered.values() for hit in hits]))
    print(f"pooled coverage {pooled:.4f}", rates, f"relative {np.mean(relative):.3f}")
    assert 0.93 <= pooled <= 0.97, (pooled, rates)
    for key, rate in rates.items():
        assert 0.90 <= rate <= 0.985, (key, rate)
    assert 0.93 <= rates[("trans_after", "all")] <= 0.97, rates
    assert 0.91 <= float(np.mean(relative)) <= 0.985


_BASE_CACHE: list[np.ndarray] = []


def _baseline_trans() -> np.ndarray:
    """E[trans_after | x] in the control arm over many covariate draws (base rate x mean activity 1)."""
    if not _BASE_CACHE:
        from couponlens.datasets.experiment_synthetic import _base_rate

        _BASE_CACHE.append(_base_rate(draw_covariates(1_000_000, np.random.default_rng(98))))
    return _BASE_CACHE[0]
