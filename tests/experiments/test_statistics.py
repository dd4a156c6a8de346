"""Every statistic computed from engine aggregates, checked against scipy/statsmodels on rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.multivariate.manova import MANOVA
from statsmodels.stats.multitest import multipletests

from couponlens.datasets.experiment import ExperimentData
from couponlens.experiments.analysis import ExperimentAnalysis, analyze_experiment
from couponlens.experiments.checks import sample_ratio_mismatch
from couponlens.experiments.effects import bootstrap_difference
from couponlens.experiments.multiplicity import benjamini_hochberg, holm

from .conftest import SEGMENTS

OUTCOMES = ["trans_after", "revenue_after", "converted"]


@pytest.fixture(scope="module")
def analysis(three_arm: ExperimentData) -> ExperimentAnalysis:
    return analyze_experiment(three_arm, SEGMENTS, bootstrap_resamples=300, sample_cap=800)


def _rows(frame: pd.DataFrame, segment: str) -> pd.DataFrame:
    if segment == "all":
        return frame
    rule = dict(s.split("=", 1) for s in SEGMENTS)[segment]
    return frame.query(rule)


def test_welch_and_relative_lift_match_scipy_on_rows(
    analysis: ExperimentAnalysis, three_arm_frame: pd.DataFrame
) -> None:
    assert len(analysis.effects) == 3 * 2 * 4
    for e in analysis.effects:
        rows = _rows(three_arm_frame, e.segment)
        t = rows.loc[rows.treatment == e.arm, e.outcome].to_numpy(float)
        c = rows.loc[rows.treatment == "control", e.outcome].to_numpy(float)
        ref = stats.ttest_ind(t, c, equal_var=False)
        ci = ref.confidence_interval()
        assert (e.n_treatment, e.n_control) == (len(t), len(c))
        assert e.diff == pytest.approx(t.mean() - c.mean(), rel=1e-9, abs=1e-12)
        assert e.ci_low == pytest.approx(ci.low, rel=1e-7)
        assert e.ci_high == pytest.approx(ci.high, rel=1e-7)
        assert e.p == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
        # delta method by hand
        var_rel = (
            t.var(ddof=1) / len(t) / c.mean() ** 2
            + t.mean() ** 2 * c.var(ddof=1) / len(c) / c.mean() ** 4
        )
        assert e.rel_lift == pytest.approx(t.mean() / c.mean() - 1, rel=1e-9)
        assert e.rel_ci_high - e.rel_lift == pytest.approx(1.959963985 * np.sqrt(var_rel), rel=1e-7)


def test_lin_ancova_matches_statsmodels_hc1(
    analysis: ExperimentAnalysis, three_arm_frame: pd.DataFrame
) -> None:
    checked = 0
    for e in analysis.effects:
        rows = _rows(three_arm_frame, e.segment)
        rows = rows[rows.treatment.isin(["control", e.arm])]
        x = rows[["trans_before", "revenue_before"]].to_numpy(float)
        xc = x - x.mean(axis=0)
        treated = (rows.treatment == e.arm).to_numpy(float)[:, None]
        design = np.column_stack([np.ones(len(rows)), treated, xc, treated * xc])
        fit = sm.OLS(rows[e.outcome].to_numpy(float), design).fit(cov_type="HC1")
        assert e.ancova_status == "ok"
        assert e.ancova_diff == pytest.approx(fit.params[1], rel=1e-7)
        assert e.ancova_se == pytest.approx(fit.bse[1], rel=1e-6)
        assert e.ancova_p == pytest.approx(fit.pvalues[1], rel=1e-5, abs=1e-300)
        assert e.ancova_ci_low == pytest.approx(fit.conf_int()[1, 0], rel=1e-6)
        checked += 1
    assert checked == 24


def test_interaction_matches_saturated_regression_hc2(
    analysis: ExperimentAnalysis, three_arm_frame: pd.DataFrame
) -> None:
    for i in analysis.interactions:
        rows = three_arm_frame[three_arm_frame.treatment.isin(["control", i.arm])]
        inside = rows.eval(dict(s.split("=", 1) for s in SEGMENTS)[i.segment]).to_numpy(float)
        treated = (rows.treatment == i.arm).to_numpy(float)
        design = np.column_stack([np.ones(len(rows)), treated, inside, treated * inside])
        fit = sm.OLS(rows[i.outcome].to_numpy(float), design).fit(cov_type="HC2")
        assert i.estimate == pytest.approx(fit.params[3], rel=1e-8)
        assert i.se == pytest.approx(fit.bse[3], rel=1e-8)
        assert i.p == pytest.approx(fit.pvalues[3], rel=1e-6)


def test_balance_and_omnibus_match_scipy_and_manova(
    analysis: ExperimentAnalysis, three_arm_frame: pd.DataFrame
) -> None:
    frame = three_arm_frame
    for b in analysis.balance:
        pair = frame[frame.treatment.isin(["control", b.arm])]
        if b.covariate == "gender":
            table = pd.crosstab(pair.treatment, pair.gender).to_numpy()
            assert b.p == pytest.approx(
                stats.chi2_contingency(table, correction=False).pvalue, rel=1e-9
            )
            assert b.test == "chi-square"
            continue
        t = pair.loc[pair.treatment == b.arm, b.covariate].dropna()
        c = pair.loc[pair.treatment == "control", b.covariate].dropna()
        assert b.p == pytest.approx(stats.ttest_ind(t, c, equal_var=False).pvalue, rel=1e-7)
        assert b.smd == pytest.approx(
            (t.mean() - c.mean()) / np.sqrt((t.var() + c.var()) / 2), rel=1e-8
        )
    for o in analysis.omnibus:
        pair = frame[frame.treatment.isin(["control", o.arm])].copy()
        pair["gender_M"] = (pair.gender == "M").astype(float)
        columns = ["gender_M" if c == "gender=M" else c for c in o.covariates_used]
        assert "income" not in columns  # has gaps: left out of the omnibus
        manova = MANOVA(
            pair[columns].to_numpy(float),
            sm.add_constant((pair.treatment == o.arm).to_numpy(float)),
        )
        result = manova.mv_test().results["x1"]["stat"]
        assert o.p == pytest.approx(result.loc["Hotelling-Lawley trace", "Pr > F"], rel=1e-6)
        assert o.f == pytest.approx(result.loc["Hotelling-Lawley trace", "F Value"], rel=1e-6)


def test_composition_matches_scipy(
    analysis: ExperimentAnalysis, three_arm_frame: pd.DataFrame
) -> None:
    rules = dict(s.split("=", 1) for s in SEGMENTS)
    for c in analysis.composition:
        inside = three_arm_frame.eval(rules[c.segment])
        if c.variable == "gender":
            table = pd.crosstab(inside, three_arm_frame.gender).to_numpy()
            assert c.p == pytest.approx(
                stats.chi2_contingency(table, correction=False).pvalue, rel=1e-8
            )
            share = (three_arm_frame.loc[inside, "gender"] == c.level).mean()
            assert c.segment_value == pytest.approx(share, rel=1e-12)
            continue
        a = three_arm_frame.loc[inside, c.variable].dropna()
        b = three_arm_frame.loc[~inside, c.variable].dropna()
        assert c.segment_value == pytest.approx(a.mean(), rel=1e-10)
        assert c.rest_value == pytest.approx(b.mean(), rel=1e-10)
        assert c.p == pytest.approx(
            stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-6, abs=1e-300
        )
    # the planted demographic difference: Instagram segment A has more women
    gender_a = [
        c
        for c in analysis.composition
        if c.segment == "A" and c.variable == "gender" and c.level == "F"
    ]
    assert gender_a[0].p < 1e-6 and gender_a[0].segment_value > gender_a[0].rest_value


def test_amount_bootstrap_and_mann_whitney(
    analysis: ExperimentAnalysis, three_arm_frame: pd.DataFrame
) -> None:
    assert analysis.outcome_kinds == {
        "trans_after": "count",
        "revenue_after": "amount",
        "converted": "binary",
    }
    rows = [e for e in analysis.effects if e.outcome == "revenue_after"]
    assert all(e.amount_status == "ok" for e in rows)
    for e in rows:
        # bounded sample per arm, and the interval close to Welch's
        assert e.n_sampled_control <= 800 and e.n_sampled_treatment <= 800
        width = e.ci_high - e.ci_low
        assert abs(e.bootstrap_ci_low - e.ci_low) < 0.25 * width
        assert abs(e.bootstrap_ci_high - e.ci_high) < 0.25 * width
    # Unsampled: Mann-Whitney equals scipy on the rows
    small = [e for e in rows if e.segment == "B"][0]
    seg = three_arm_frame.query(dict(s.split("=", 1) for s in SEGMENTS)["B"])
    t = seg.loc[seg.treatment == small.arm, "revenue_after"]
    c = seg.loc[seg.treatment == "control", "revenue_after"]
    assert small.n_sampled_treatment == len(t)
    assert small.mann_whitney_p == pytest.approx(stats.mannwhitneyu(t, c).pvalue, rel=1e-9)
    assert all(e.bootstrap_ci_low is None for e in analysis.effects if e.outcome != "revenue_after")


def test_bootstrap_interval_covers_like_welch() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 4000), rng.normal(0.1, 1, 4000)
    r = bootstrap_difference(a, b, resamples=2000, seed=1)
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval()
    assert r.bootstrap_ci_low == pytest.approx(ci.low, abs=0.006)
    assert r.bootstrap_ci_high == pytest.approx(ci.high, abs=0.006)
    # subsample rescaling: a 2,000-row sample of each arm stands for the full 4,000-row arms
    r2 = bootstrap_difference(
        a[:2000],
        b[:2000],
        n_control=4000,
        n_treatment=4000,
        mean_control=a.mean(),
        mean_treatment=b.mean(),
        resamples=2000,
        seed=1,
    )
    assert (r2.bootstrap_ci_high - r2.bootstrap_ci_low) == pytest.approx(ci.high - ci.low, rel=0.08)


def test_p_adjusted_holm_and_bh(analysis: ExperimentAnalysis) -> None:
    overall = [e for e in analysis.effects if e.segment == "all"]
    expected = multipletests([e.p for e in overall], method="holm")[1]
    assert [e.p_adjusted for e in overall] == pytest.approx(list(expected), rel=1e-12)
    for outcome in OUTCOMES:
        for arm in ("coupon10", "coupon20"):
            rows = [
                e
                for e in analysis.effects
                if e.segment != "all" and e.outcome == outcome and e.arm == arm
            ]
            expected = multipletests([e.p for e in rows], method="fdr_bh")[1]
            assert [e.p_adjusted for e in rows] == pytest.approx(list(expected), rel=1e-12)


def test_multiplicity_functions_against_statsmodels() -> None:
    rng = np.random.default_rng(0)
    for size in (1, 2, 7, 40):
        p = rng.uniform(0, 0.2, size) ** 2
        p[0] = p[-1]  # a tie
        assert holm(list(p)) == pytest.approx(list(multipletests(p, method="holm")[1]), rel=1e-12)
        assert benjamini_hochberg(list(p)) == pytest.approx(
            list(multipletests(p, method="fdr_bh")[1]), rel=1e-12
        )
    assert holm([0.01, None, 0.02]) == pytest.approx([0.02, None, 0.02])
    assert benjamini_hochberg([None]) == [None]


def test_srm_against_scipy() -> None:
    big = sample_ratio_mismatch({"c": 50_400, "t": 49_600})
    assert big.test == "chi-square"
    assert big.p == pytest.approx(stats.chisquare([50_400, 49_600]).pvalue, rel=1e-10)
    assert not big.alarm
    small = sample_ratio_mismatch({"c": 60, "t": 40}, {"c": 0.5, "t": 0.5})
    assert small.test == "exact binomial"
    assert small.p == pytest.approx(stats.binomtest(60, 100, 0.5).pvalue, rel=1e-12)
    skewed = sample_ratio_mismatch({"c": 2_000, "t": 8_400}, {"c": 0.2, "t": 0.8})
    assert skewed.p == pytest.approx(
        stats.chisquare([2_000, 8_400], [2_080, 8_320]).pvalue, rel=1e-10
    )
    alarm = sample_ratio_mismatch({"a": 10_000, "b": 10_600, "c": 10_000})
    assert alarm.alarm and alarm.p < 0.001
    tiny = sample_ratio_mismatch({"a": 3, "b": 1, "c": 0})
    assert tiny.test == "Monte Carlo multinomial" and 0 < tiny.p <= 1
