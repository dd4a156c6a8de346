"""The whole experiment analysis: checks, effects by segment, interactions, composition, findings.

:func:`analyze_experiment` runs one group-by on the engine (see ``sufficient.py``), plus, for
amount outcomes only, one bounded row sample per segment for the bootstrap and Mann-Whitney,
and computes everything else from the aggregates. Every treated arm is compared with the
control. ``p_adjusted`` is Holm across the primary outcomes (and arms) for the ``all`` rows,
and Benjamini-Hochberg across segments within each outcome and arm for segment rows.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.experiment import load_experiment
    >>> from couponlens.datasets.experiment_synthetic import write_experiment
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "exp.csv"
    >>> _ = write_experiment(path, 4000, seed=7)
    >>> data = load_experiment(path, treatment="treatment", control="control",
    ...                        outcomes=["trans_after", "revenue_after"], covariates=["gender"])
    >>> result = analyze_experiment(data, ["B=channel_acq == 2 & num_past_purch <= 2"])
    >>> row = result.effect("trans_after", segment="B")
    >>> row.status, row.diff > 0
    ('ok', True)
    >>> {"arms", "srm", "balance", "effects", "interactions", "composition"} <= set(result.results_json())
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from couponlens._results import Result, jsonable
from couponlens.datasets.experiment import ARM_COLUMN, ExperimentData
from couponlens.errors import InputError
from couponlens.experiments.checks import (
    BalanceRow,
    OmnibusBalance,
    SampleRatioCheck,
    balance_row,
    hotelling_balance,
    sample_ratio_mismatch,
)
from couponlens.experiments.composition import CompositionRow, segment_composition
from couponlens.experiments.effects import bootstrap_difference, interaction_test, welch_difference
from couponlens.experiments.multiplicity import benjamini_hochberg, holm
from couponlens.experiments.segments import SegmentRule, parse_segment_rule
from couponlens.experiments.sufficient import (
    ALL,
    Moments,
    MomentTable,
    aggregate_moments,
    dummy_name,
    outcome_kind,
)
from couponlens.experiments.variance import lin_adjusted_difference
from couponlens.sampling import sample_rows


@dataclass(frozen=True, repr=False)
class ArmCount(Result):
    """An arm's size and share."""

    arm: str
    n: int
    share: float
    planned_share: float
    is_control: bool


@dataclass(frozen=True, repr=False)
class Effect(Result):
    """One outcome x treated arm x segment comparison with the control.

    ``diff``/``ci_low``/``ci_high``/``p`` are Welch figures; ``ancova_*`` the Lin-adjusted ones
    (when pre-period columns are given); ``bootstrap_*`` and ``mann_whitney_p`` are for amounts.
    """

    outcome: str
    segment: str
    arm: str
    kind: str
    n_control: int
    n_treatment: int
    control_mean: float | None
    treatment_mean: float | None
    diff: float | None
    se: float | None
    df: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    p_adjusted: float | None
    p_adjusted_method: str
    rel_lift: float | None
    rel_ci_low: float | None
    rel_ci_high: float | None
    ancova_diff: float | None = None
    ancova_se: float | None = None
    ancova_ci_low: float | None = None
    ancova_ci_high: float | None = None
    ancova_p: float | None = None
    ancova_status: str = "not estimable: no pre-period covariates"
    bootstrap_ci_low: float | None = None
    bootstrap_ci_high: float | None = None
    mann_whitney_p: float | None = None
    n_sampled_control: int | None = None
    n_sampled_treatment: int | None = None
    amount_status: str = "not an amount outcome"
    status: str = "ok"


@dataclass(frozen=True, repr=False)
class Interaction(Result):
    """Effect inside a segment minus the effect in the rest (treatment x segment interaction)."""

    outcome: str
    segment: str
    arm: str
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    effect_in_segment: float | None
    effect_in_rest: float | None
    status: str


@dataclass(frozen=True, repr=False)
class Recommendation(Result):
    """The segment to target next for an outcome, and why."""

    outcome: str
    arm: str
    segment: str | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_adjusted: float | None
    reason: str


@dataclass(frozen=True, repr=False)
class ExperimentAnalysis(Result):
    """Everything :func:`analyze_experiment` found; ``results_json()`` is the machine-readable form."""

    source: str
    treatment: str
    control: str
    outcomes: list[str]
    primary: list[str]
    outcome_kinds: dict[str, str]
    pre_period: list[str]
    segments: dict[str, str]
    arms: list[ArmCount]
    srm: SampleRatioCheck
    balance: list[BalanceRow]
    omnibus: list[OmnibusBalance]
    effects: list[Effect]
    interactions: list[Interaction]
    composition: list[CompositionRow]
    recommendations: list[Recommendation]
    findings: list[str]
    alpha: float
    status: str = "ok"
    options: dict[str, Any] = field(default_factory=dict)

    def effect(self, outcome: str, arm: str | None = None, segment: str = ALL) -> Effect:
        """The effect row for ``outcome`` (first treated arm by default) in ``segment``."""
        for row in self.effects:
            if (
                row.outcome == outcome
                and row.segment == segment
                and (arm is None or row.arm == arm)
            ):
                return row
        raise KeyError(f"no effect row for outcome={outcome!r}, arm={arm!r}, segment={segment!r}")

    def effects_frame(self) -> pd.DataFrame:
        """The effects as a table, one row per outcome x arm x segment."""
        return pd.DataFrame([r.to_dict() for r in self.effects])

    def to_frame(self) -> pd.DataFrame:
        """The effects table (the natural table of an experiment analysis)."""
        return self.effects_frame()

    def results_json(self) -> dict[str, Any]:
        """The ``results.json`` content (keys of issue 4 item 7, plus details)."""
        return jsonable(
            {
                "source": self.source,
                "status": self.status,
                "treatment": self.treatment,
                "control": self.control,
                "outcomes": self.outcomes,
                "primary_outcomes": self.primary,
                "outcome_kinds": self.outcome_kinds,
                "pre_period": self.pre_period,
                "segments": [{"segment": k, "rule": v} for k, v in self.segments.items()],
                "arms": [a.to_dict() for a in self.arms],
                "srm": {
                    "chi2": self.srm.chi2,
                    "p": self.srm.p,
                    "expected_split": self.srm.expected_split,
                    "observed": self.srm.observed,
                    "test": self.srm.test,
                    "alarm": self.srm.alarm,
                    "status": self.srm.status,
                },
                "balance": [b.to_dict() for b in self.balance],
                "balance_omnibus": [o.to_dict() for o in self.omnibus],
                "effects": [e.to_dict() for e in self.effects],
                "interactions": [i.to_dict() for i in self.interactions],
                "composition": [c.to_dict() for c in self.composition],
                "recommendations": [r.to_dict() for r in self.recommendations],
                "findings": self.findings,
                "alpha": self.alpha,
                "options": self.options,
            }
        )


def _rules(segments: Sequence[str | SegmentRule]) -> list[SegmentRule]:
    rules = [parse_segment_rule(s) if isinstance(s, str) else s for s in segments]
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise InputError(
                f"two segments are named {rule.name!r}; give each segment its own name"
            )
        seen.add(rule.name)
    return rules


def _planned_split(data: ExperimentData, split: Sequence[float] | None) -> dict[str, float] | None:
    if split is None:
        return None
    order = [data.control, *data.treated_arms]
    if len(split) != len(order):
        raise InputError(
            f"--split gives {len(split)} shares but the data has {len(order)} arms "
            f"(in split order: {', '.join(order)})"
        )
    if any(s < 0 for s in split) or sum(split) <= 0:
        raise InputError("--split shares must be non-negative and not all 0")
    total = float(sum(split))
    return {arm: float(s) / total for arm, s in zip(order, split, strict=True)}


def _mean_or_none(m: Moments, name: str) -> float | None:
    return m.mean(name) if m.n > 0 else None


def _sample_amounts(
    data: ExperimentData,
    rule: SegmentRule | None,
    outcomes: list[str],
    arm_sizes: dict[str, float],
    cap: int,
    seed: int,
) -> pd.DataFrame:
    """Rows of the amount outcomes in a segment, at most about ``cap`` per arm.

    The rows come back in a fixed order (by arm, then values), so the bootstrap does not
    depend on the order an engine returns them in. Above ``cap`` the engine draws the row
    sample (:func:`~couponlens.sampling.sample_rows`: seeded, but DuckDB and Spark pick
    different rows).
    """
    table = data.table
    rows = table if rule is None else table.filter(rule.to_ibis(table))
    rows = rows.select(ARM_COLUMN, *outcomes)
    smallest = min((n for n in arm_sizes.values() if n > 0), default=0)
    if smallest > cap:
        rows = sample_rows(rows, min(1.0, 1.5 * cap / smallest), seed=seed)
    frame = rows.execute().sort_values([ARM_COLUMN, *outcomes], kind="stable", ignore_index=True)
    rng = np.random.default_rng(seed)
    parts = []
    for _, part in frame.groupby(ARM_COLUMN, sort=False):
        if len(part) > cap:
            part = part.iloc[np.sort(rng.choice(len(part), size=cap, replace=False))]
        parts.append(part)
    return pd.concat(parts) if parts else frame


def _effect_row(
    outcome: str,
    segment: str,
    arm: str,
    kind: str,
    treated: Moments,
    control: Moments,
    pre_period: list[str],
    alpha: float,
) -> Effect:
    welch = welch_difference(
        n_control=control.n,
        mean_control=control.mean(outcome) if control.n else 0.0,
        var_control=control.variance(outcome) if control.n > 1 else 0.0,
        n_treatment=treated.n,
        mean_treatment=treated.mean(outcome) if treated.n else 0.0,
        var_treatment=treated.variance(outcome) if treated.n > 1 else 0.0,
        alpha=alpha,
    )
    status = welch.status
    if control.n == 0 and treated.n == 0:
        status = "not estimable: the segment is empty"
    row = Effect(
        outcome=outcome,
        segment=segment,
        arm=arm,
        kind=kind,
        n_control=int(control.n),
        n_treatment=int(treated.n),
        control_mean=_mean_or_none(control, outcome),
        treatment_mean=_mean_or_none(treated, outcome),
        diff=welch.diff,
        se=welch.se,
        df=welch.df,
        ci_low=welch.ci_low,
        ci_high=welch.ci_high,
        p=welch.p,
        p_adjusted=None,
        p_adjusted_method="none",
        rel_lift=welch.rel_lift,
        rel_ci_low=welch.rel_ci_low,
        rel_ci_high=welch.rel_ci_high,
        status=status,
    )
    if welch.status == "ok" and welch.rel_lift is None:
        row = replace(row, status="ok (relative lift not estimable: the control mean is 0)")
    if pre_period:
        if welch.status != "ok":
            return replace(row, ancova_status=status)
        adjusted = lin_adjusted_difference(treated, control, outcome, pre_period, alpha)
        row = replace(
            row,
            ancova_diff=adjusted.diff,
            ancova_se=adjusted.se,
            ancova_ci_low=adjusted.ci_low,
            ancova_ci_high=adjusted.ci_high,
            ancova_p=adjusted.p,
            ancova_status=adjusted.status,
        )
    return row


def _adjust(effects: list[Effect], primary: list[str]) -> list[Effect]:
    index = {id(e): i for i, e in enumerate(effects)}
    out = list(effects)
    family = [e for e in effects if e.segment == ALL and e.outcome in primary]
    for e, p in zip(family, holm([e.p for e in family]), strict=True):
        out[index[id(e)]] = replace(
            e, p_adjusted=p, p_adjusted_method="Holm across primary outcomes and arms"
        )
    for e in effects:
        if e.segment == ALL and e.outcome not in primary:
            out[index[id(e)]] = replace(
                e, p_adjusted=e.p, p_adjusted_method="none (secondary outcome)"
            )
    keys = {(e.outcome, e.arm) for e in effects if e.segment != ALL}
    for outcome, arm in sorted(keys):
        group = [e for e in effects if e.segment != ALL and e.outcome == outcome and e.arm == arm]
        for e, p in zip(group, benjamini_hochberg([e.p for e in group]), strict=True):
            out[index[id(e)]] = replace(
                e, p_adjusted=p, p_adjusted_method="Benjamini-Hochberg across segments"
            )
    return out


def _omnibus_variables(data: ExperimentData, moments: MomentTable) -> list[str]:
    everyone = moments.select()
    names: list[str] = []
    for name in dict.fromkeys([*data.covariates, *data.pre_period]):
        if name in data.categorical:
            names.extend(dummy_name(name, level) for level in data.categorical[name][1:])
        elif everyone.count(name) == everyone.n:
            names.append(name)
    return names


def analyze_experiment(
    data: ExperimentData,
    segments: Sequence[str | SegmentRule] = (),
    *,
    split: Sequence[float] | None = None,
    primary: Sequence[str] | None = None,
    alpha: float = 0.05,
    bootstrap_resamples: int = 1000,
    sample_cap: int = 10_000,
    recommend_by: str | None = None,
    seed: int = 0,
) -> ExperimentAnalysis:
    """Analyse a randomized experiment (see the module docstring).

    Args:
        data: the loaded experiment (:func:`~couponlens.datasets.experiment.load_experiment`).
        segments: rules ``NAME=EXPR`` (or parsed :class:`SegmentRule`); ``all`` is always added.
        split: planned shares, control first then the other arms in sorted order (equal if
            ``None``).
        primary: the primary outcomes for Holm (all outcomes by default).
        alpha: 1 - confidence level.
        bootstrap_resamples: bootstrap resamples for amount outcomes (0 skips the bootstrap
            and Mann-Whitney).
        sample_cap: at most about this many rows per arm and segment are pulled for them.
        recommend_by: the outcome that picks the recommended segment (the first primary one).
        seed: seed of the row sample and the bootstrap.
    """
    rules = _rules(segments)
    primary_list = list(primary) if primary else list(data.outcomes)
    for name in primary_list:
        if name not in data.outcomes:
            raise InputError(f"primary outcome {name!r} is not among the outcomes {data.outcomes}")
    target = recommend_by or primary_list[0]
    if target not in data.outcomes:
        raise InputError(
            f"recommend_by outcome {target!r} is not among the outcomes {data.outcomes}"
        )
    planned = _planned_split(data, split)
    for rule in rules:
        rule.to_ibis(data.table)  # column and type errors point at the rule text before any work
    moments = aggregate_moments(data, rules)
    segment_names = [ALL, *[r.name for r in rules]]

    everyone = moments.select()
    kinds = {y: outcome_kind(everyone, y) for y in data.outcomes}
    arm_moments = {arm: moments.select(arm=arm) for arm in data.arms}
    shares = planned or {a: 1 / len(data.arms) for a in data.arms}
    arms = [
        ArmCount(arm, int(m.n), m.n / everyone.n, shares.get(arm, 0.0), arm == data.control)
        for arm, m in arm_moments.items()
    ]
    srm = sample_ratio_mismatch({a: int(m.n) for a, m in arm_moments.items()}, planned, seed=seed)

    balance: list[BalanceRow] = []
    omnibus: list[OmnibusBalance] = []
    control_all = arm_moments[data.control]
    omnibus_vars = _omnibus_variables(data, moments)
    for arm in data.treated_arms:
        for name in dict.fromkeys([*data.covariates, *data.pre_period]):
            balance.append(
                balance_row(arm, name, data.categorical.get(name), arm_moments[arm], control_all)
            )
        omnibus.append(hotelling_balance(arm, omnibus_vars, arm_moments[arm], control_all))

    effects: list[Effect] = []
    cell: dict[tuple[str, str], Moments] = {}
    rest: dict[tuple[str, str], Moments] = {}
    for segment in segment_names:
        for arm in data.arms:
            cell[(arm, segment)] = moments.select(arm=arm, segment=segment)
            if segment != ALL:
                rest[(arm, segment)] = moments.select(arm=arm, segment=segment, rest=True)
    for outcome in data.outcomes:
        for arm in data.treated_arms:
            for segment in segment_names:
                effects.append(
                    _effect_row(
                        outcome,
                        segment,
                        arm,
                        kinds[outcome],
                        cell[(arm, segment)],
                        cell[(data.control, segment)],
                        data.pre_period,
                        alpha,
                    )
                )

    amount_outcomes = [y for y in data.outcomes if kinds[y] == "amount"]
    if amount_outcomes and bootstrap_resamples > 0 and data.treated_arms:
        by_key = {(e.outcome, e.arm, e.segment): i for i, e in enumerate(effects)}
        rule_of = {r.name: r for r in rules}
        for segment in segment_names:
            sizes = {arm: cell[(arm, segment)].n for arm in data.arms}
            if sizes[data.control] < 2 or max(sizes[a] for a in data.treated_arms) < 2:
                for outcome in amount_outcomes:
                    for arm in data.treated_arms:
                        i = by_key[(outcome, arm, segment)]
                        effects[i] = replace(
                            effects[i], amount_status="not estimable: fewer than 2 units in an arm"
                        )
                continue
            sample = _sample_amounts(
                data, rule_of.get(segment), amount_outcomes, sizes, sample_cap, seed
            )
            groups = {str(a): g for a, g in sample.groupby(ARM_COLUMN, sort=False)}
            control_rows = groups.get(data.control)
            for outcome in amount_outcomes:
                for arm in data.treated_arms:
                    i = by_key[(outcome, arm, segment)]
                    e = effects[i]
                    treated_rows = groups.get(arm)
                    if control_rows is None or treated_rows is None:
                        effects[i] = replace(
                            e, amount_status="not estimable: an arm has no units in the segment"
                        )
                        continue
                    checks = bootstrap_difference(
                        control_rows[outcome].to_numpy(float),
                        treated_rows[outcome].to_numpy(float),
                        n_control=e.n_control,
                        n_treatment=e.n_treatment,
                        mean_control=e.control_mean,
                        mean_treatment=e.treatment_mean,
                        resamples=bootstrap_resamples,
                        alpha=alpha,
                        seed=seed,
                    )
                    effects[i] = replace(
                        e,
                        bootstrap_ci_low=checks.bootstrap_ci_low,
                        bootstrap_ci_high=checks.bootstrap_ci_high,
                        mann_whitney_p=checks.mann_whitney_p,
                        n_sampled_control=checks.n_sampled_control,
                        n_sampled_treatment=checks.n_sampled_treatment,
                        amount_status=checks.status,
                    )
    effects = _adjust(effects, primary_list)

    interactions: list[Interaction] = []
    for outcome in data.outcomes:
        for arm in data.treated_arms:
            for segment in segment_names[1:]:
                groups4 = [
                    cell[(arm, segment)],
                    cell[(data.control, segment)],
                    rest[(arm, segment)],
                    rest[(data.control, segment)],
                ]
                stats4 = [
                    (m.n, m.mean(outcome) if m.n else 0.0, m.variance(outcome) if m.n > 1 else 0.0)
                    for m in groups4
                ]
                test = interaction_test(stats4, alpha)
                inside = (
                    stats4[0][1] - stats4[1][1] if min(stats4[0][0], stats4[1][0]) > 0 else None
                )
                outside = (
                    stats4[2][1] - stats4[3][1] if min(stats4[2][0], stats4[3][0]) > 0 else None
                )
                interactions.append(
                    Interaction(
                        outcome,
                        segment,
                        arm,
                        test.estimate,
                        test.se,
                        test.ci_low,
                        test.ci_high,
                        test.p,
                        inside,
                        outside,
                        test.status,
                    )
                )

    composition: list[CompositionRow] = []
    for segment in segment_names[1:]:
        composition.extend(segment_composition(data, moments, segment))

    status = "ok"
    if not data.treated_arms:
        status = f"not estimable: only one arm ({data.control}) in the data"
    recommendations = [_recommend(effects, target, arm, alpha) for arm in data.treated_arms]
    analysis = ExperimentAnalysis(
        source=data.source,
        treatment=data.treatment,
        control=data.control,
        outcomes=list(data.outcomes),
        primary=primary_list,
        outcome_kinds=kinds,
        pre_period=list(data.pre_period),
        segments={r.name: r.expression for r in rules},
        arms=arms,
        srm=srm,
        balance=balance,
        omnibus=omnibus,
        effects=effects,
        interactions=interactions,
        composition=composition,
        recommendations=recommendations,
        findings=[],
        alpha=alpha,
        status=status,
        options={
            "split": planned,
            "alpha": alpha,
            "bootstrap_resamples": bootstrap_resamples,
            "sample_cap": sample_cap,
            "recommend_by": target,
            "seed": seed,
        },
    )
    from couponlens.experiments.findings import write_findings

    return replace(analysis, findings=write_findings(analysis))


def _recommend(effects: list[Effect], outcome: str, arm: str, alpha: float) -> Recommendation:
    rows = [
        e
        for e in effects
        if e.outcome == outcome and e.arm == arm and e.segment != ALL and e.diff is not None
    ]
    if not rows:
        return Recommendation(
            outcome,
            arm,
            None,
            None,
            None,
            None,
            None,
            "no segment rules were given, or no segment could be estimated",
        )
    winners = [
        e for e in rows if e.p_adjusted is not None and e.p_adjusted < alpha and (e.diff or 0) > 0
    ]
    if winners:
        best = max(winners, key=lambda e: e.ci_low if e.ci_low is not None else -math.inf)
        reason = (
            f"the largest lower 95% bound among segments with a significant positive effect on "
            f"{outcome} (Benjamini-Hochberg adjusted p < {alpha:g})"
        )
        return Recommendation(
            outcome,
            arm,
            best.segment,
            best.diff,
            best.ci_low,
            best.ci_high,
            best.p_adjusted,
            reason,
        )
    best = max(rows, key=lambda e: e.diff if e.diff is not None else -math.inf)
    return Recommendation(
        outcome,
        arm,
        None,
        best.diff,
        best.ci_low,
        best.ci_high,
        best.p_adjusted,
        f"no segment shows a significant positive effect on {outcome}; the largest point estimate "
        f"is in {best.segment}, but it could be noise",
    )
