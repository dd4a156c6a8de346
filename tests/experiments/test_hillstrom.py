"""Hillstrom's e-mail test (real data): arms, SRM, balance and every effect figure in DOMAIN §3."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from couponlens.datasets.experiment import load_hillstrom
from couponlens.experiments.analysis import ExperimentAnalysis, analyze_experiment

pytestmark = pytest.mark.realdata

MEANS = {  # visit %, conversion %, spend $
    "Mens E-Mail": ("18.28", "1.253", "1.423"),
    "Womens E-Mail": ("15.14", "0.884", "1.077"),
    "No E-Mail": ("10.62", "0.573", "0.653"),
}
EFFECTS = {  # (diff, low, high): visit and conversion in percentage points, spend in $
    ("Mens E-Mail", "visit"): ("7.66", "6.99", "8.32"),
    ("Mens E-Mail", "conversion"): ("0.681", "0.500", "0.861"),
    ("Mens E-Mail", "spend"): ("0.770", "0.485", "1.055"),
    ("Womens E-Mail", "visit"): ("4.52", "3.89", "5.16"),
    ("Womens E-Mail", "conversion"): ("0.311", "0.150", "0.472"),
    ("Womens E-Mail", "spend"): ("0.424", "0.169", "0.680"),
}


def agrees(value: float | None, published: str) -> bool:
    """``value`` rounds to the published figure (0.6 of its last digit, so 6.9953 matches '6.99')."""
    assert value is not None
    decimals = len(published.split(".")[1]) if "." in published else 0
    return abs(value - float(published)) <= 0.6 * 10**-decimals


@pytest.fixture(scope="module")
def hillstrom(real_file: Callable[[str], Path]) -> ExperimentAnalysis:
    data = load_hillstrom(real_file("hillstrom/hillstrom.csv"))
    return analyze_experiment(
        data,
        ["past_womens=womens == 1", "other=womens == 0"],
        bootstrap_resamples=200,
        sample_cap=3000,
    )


def test_arms_srm_and_balance(hillstrom: ExperimentAnalysis) -> None:
    assert {a.arm: a.n for a in hillstrom.arms} == {
        "Mens E-Mail": 21307,
        "No E-Mail": 21306,
        "Womens E-Mail": 21387,
    }
    assert hillstrom.control == "No E-Mail"
    assert hillstrom.srm.test == "chi-square"
    assert round(hillstrom.srm.p, 2) == 0.90
    assert not hillstrom.srm.alarm
    numeric = [b for b in hillstrom.balance if b.level is None]
    assert len(numeric) == 2 * 5
    assert all(abs(b.smd) < 0.01 for b in numeric)
    # categorical levels (zip code, channel) are a little above 0.01 at most, far below 0.1
    assert all(abs(b.smd) < 0.02 for b in hillstrom.balance)
    assert all(o.p > 0.5 for o in hillstrom.omnibus)


def test_means_and_welch_effects(hillstrom: ExperimentAnalysis) -> None:
    for arm, (visit, conversion, spend) in MEANS.items():
        for outcome, published, scale in (
            ("visit", visit, 100),
            ("conversion", conversion, 100),
            ("spend", spend, 1),
        ):
            row = hillstrom.effect(outcome, arm="Mens E-Mail")
            mean = (
                row.control_mean
                if arm == "No E-Mail"
                else hillstrom.effect(outcome, arm=arm).treatment_mean
            )
            assert agrees(mean * scale, published), (arm, outcome, mean)
    for (arm, outcome), (diff, low, high) in EFFECTS.items():
        row = hillstrom.effect(outcome, arm=arm)
        scale = 1 if outcome == "spend" else 100
        assert agrees(row.diff * scale, diff), (arm, outcome, row.diff)
        assert agrees(row.ci_low * scale, low), (arm, outcome, row.ci_low)
        assert agrees(row.ci_high * scale, high), (arm, outcome, row.ci_high)
        assert row.p_adjusted < 0.01


def test_heterogeneity_among_past_womens_buyers(hillstrom: ExperimentAnalysis) -> None:
    inside = hillstrom.effect("visit", arm="Womens E-Mail", segment="past_womens")
    outside = hillstrom.effect("visit", arm="Womens E-Mail", segment="other")
    assert agrees(inside.diff * 100, "7.3") and agrees(outside.diff * 100, "1.1")
    interaction = [
        i
        for i in hillstrom.interactions
        if i.outcome == "visit" and i.arm == "Womens E-Mail" and i.segment == "past_womens"
    ][0]
    assert interaction.estimate == pytest.approx(inside.diff - outside.diff)
    assert interaction.p < 1e-10
    womens = [r for r in hillstrom.recommendations if r.arm == "Womens E-Mail"][0]
    assert womens.segment == "past_womens"
