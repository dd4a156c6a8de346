"""The experiment report: ``report.html`` (checks, forest plots, composition, findings) + ``results.json``.

Other analyses (the uplift models' Qini curves and targeting policy) add their own sections
through ``extra_sections`` and their own keys through ``extra_results``; the report has a place
for them after the segment effects.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.experiment import load_experiment
    >>> from couponlens.datasets.experiment_synthetic import write_experiment
    >>> from couponlens.experiments.analysis import analyze_experiment
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_experiment(d / "exp.csv", 2000, seed=2)
    >>> data = load_experiment(d / "exp.csv", treatment="treatment", control="control",
    ...                        outcomes=["trans_after"])
    >>> out = write_experiment_report(analyze_experiment(data, ["A=channel_acq == 3"]), d / "report")
    >>> sorted(p.name for p in out.iterdir())
    ['report.html', 'results.json']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from couponlens.experiments.analysis import ExperimentAnalysis
from couponlens.report.html import Report, Section, write_report

ALL = "all"
_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def forest_plot(analysis: ExperimentAnalysis, outcome: str) -> go.Figure:
    """Effects on ``outcome`` by segment (rows) and arm (colours) with 95% Welch intervals."""
    figure = go.Figure()
    arms = [a.arm for a in analysis.arms if not a.is_control]
    for i, arm in enumerate(arms):
        rows = [
            e
            for e in analysis.effects
            if e.outcome == outcome and e.arm == arm and e.diff is not None
        ]
        if not rows:
            continue
        labels = [f"{e.segment} (n={e.n_control + e.n_treatment:,})" for e in rows]
        figure.add_trace(
            go.Scatter(
                x=[e.diff for e in rows],
                y=labels,
                mode="markers",
                name=arm,
                marker={"size": 10, "color": _COLOURS[i % len(_COLOURS)]},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [(e.ci_high or 0) - (e.diff or 0) for e in rows],
                    "arrayminus": [(e.diff or 0) - (e.ci_low or 0) for e in rows],
                },
                hovertemplate="%{y}: %{x:.4g}<extra>" + arm + "</extra>",
            )
        )
    figure.add_vline(x=0, line_dash="dash", line_color="grey")
    figure.update_layout(
        title=f"Effect on {outcome} by segment (difference vs control, 95% Welch CI)",
        xaxis_title=f"{outcome}: treatment mean - control mean",
        yaxis={"autorange": "reversed"},
        height=200 + 60 * max(1, len(analysis.segments) + 1),
    )
    return figure


def _effects_table(analysis: ExperimentAnalysis, outcome: str) -> pd.DataFrame:
    columns = [
        "segment",
        "arm",
        "n_control",
        "n_treatment",
        "control_mean",
        "treatment_mean",
        "diff",
        "ci_low",
        "ci_high",
        "p",
        "p_adjusted",
        "rel_lift",
        "rel_ci_low",
        "rel_ci_high",
    ]
    frame = analysis.effects_frame()
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame[frame["outcome"] == outcome]
    if analysis.pre_period:
        columns += ["ancova_diff", "ancova_ci_low", "ancova_ci_high", "ancova_p"]
    if analysis.outcome_kinds.get(outcome) == "amount":
        columns += ["bootstrap_ci_low", "bootstrap_ci_high", "mann_whitney_p"]
    return frame[[*columns, "status"]]


def build_report(analysis: ExperimentAnalysis, extra_sections: Sequence[Section] = ()) -> Report:
    """The report page for an analysis (``extra_sections`` go after the segment effects)."""
    report = Report(
        title="Coupon experiment",
        subtitle=f"{analysis.treatment}: {', '.join(a.arm for a in analysis.arms)} (control {analysis.control})",
        source=analysis.source,
        options=analysis.options
        | {
            "outcomes": analysis.outcomes,
            "segments": analysis.segments,
            "pre_period": analysis.pre_period,
        },
    )
    if analysis.srm.alarm:
        report.banner = "Sample-ratio mismatch (p < 0.001): the effects below may be biased."
    report.add(Section(title="Findings", findings=analysis.findings))

    arms = pd.DataFrame([a.to_dict() for a in analysis.arms])
    srm = analysis.srm
    checks = Section(
        title="Randomization check",
        findings=analysis.findings[:2],
        tables=[
            arms,
            pd.DataFrame([b.to_dict() for b in analysis.balance]),
            pd.DataFrame([o.to_dict() for o in analysis.omnibus]),
        ],
        table_captions=[
            f"Arms and sample-ratio test ({srm.test}, chi-square {srm.chi2 if srm.chi2 is None else round(srm.chi2, 3)}, "
            f"p = {srm.p if srm.p is None else round(srm.p, 4)}; alarm below 0.001)",
            "Balance per covariate (SMD; Welch t or chi-square); for a categorical the level with the largest |SMD|",
            "Omnibus balance: Hotelling's T^2 on all covariates",
        ],
    )
    if not analysis.balance:
        checks.notes.append("No covariates were given, so balance was not checked.")
    report.add(checks)

    effects = Section(
        title="Effects",
        intro="Welch difference in means (treatment - control) with 95% CI; relative lift with a delta-method CI. "
        "p_adjusted: Holm across primary outcomes for 'all', Benjamini-Hochberg across segments otherwise.",
    )
    for outcome in analysis.outcomes:
        effects.charts.append(forest_plot(analysis, outcome))
        effects.tables.append(_effects_table(analysis, outcome))
        effects.table_captions.append(f"{outcome} ({analysis.outcome_kinds.get(outcome, '')})")
    if analysis.pre_period:
        effects.notes.append(
            f"ancova_*: Lin (2013) interacted regression on {', '.join(analysis.pre_period)} with HC1 standard errors."
        )
    report.add(effects)

    if analysis.interactions:
        report.add(
            Section(
                title="Heterogeneity",
                intro="Effect inside each segment minus the effect in the rest (treatment x segment interaction, "
                "robust normal test).",
                tables=[pd.DataFrame([i.to_dict() for i in analysis.interactions])],
            )
        )
    for section in extra_sections:
        report.add(section)
    if analysis.composition:
        frame = pd.DataFrame([c.to_dict() for c in analysis.composition])
        report.add(
            Section(
                title="Segment composition",
                intro="Each covariate inside the segment vs the rest (all arms pooled): means with Welch t, "
                "level shares with chi-square.",
                tables=[frame[frame["segment"] == s] for s in analysis.segments],
                table_captions=[f"Segment {s}: {rule}" for s, rule in analysis.segments.items()],
            )
        )
    recommendation = Section(title="Recommendation")
    for r in analysis.recommendations:
        if r.segment is not None:
            recommendation.findings.append(
                f"{r.arm}: target segment {r.segment} ({analysis.segments[r.segment]}), expected {r.outcome} "
                f"gain {r.diff:.4g} per customer (95% CI {r.ci_low:.4g} to {r.ci_high:.4g})."
            )
        else:
            recommendation.findings.append(f"{r.arm}: {r.reason}.")
    report.add(recommendation)
    return report


def write_experiment_report(
    analysis: ExperimentAnalysis,
    out_dir: str | Path,
    *,
    extra_sections: Sequence[Section] = (),
    extra_results: dict[str, Any] | None = None,
) -> Path:
    """Write ``report.html`` and ``results.json`` into ``out_dir``; returns the folder."""
    results = analysis.results_json() | (extra_results or {})
    return write_report(build_report(analysis, extra_sections), out_dir, results)
