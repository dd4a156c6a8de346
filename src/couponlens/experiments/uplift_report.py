"""The uplift report: learners compared on held-out folds, Qini curves, uplift at k%.

:func:`uplift_report` turns an :class:`~couponlens.experiments.uplift_selection.UpliftValidation`
into report sections and a results dictionary; :func:`write_uplift_report` writes
``report.html`` and ``results.json``. Findings are sentences built from the numbers.

Example:
    >>> import numpy as np, pandas as pd, tempfile
    >>> from couponlens.experiments.uplift_selection import fit_uplift
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.uniform(size=2000)})
    >>> t = rng.integers(0, 2, 2000)
    >>> y = (rng.uniform(size=2000) < 0.1 + 0.3 * t * X["x"]).astype(int)
    >>> fit = fit_uplift(X, t, y, control=0, learners=["t"], n_folds=2, n_bootstrap=20,
    ...                  n_estimators=20)
    >>> report, results = uplift_report(fit.validation, outcome="y", source="sim")
    >>> results["chosen_learner"], [s.title for s in report.sections][:1]
    ('t', ['Learners on held-out folds'])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from couponlens.experiments.policy import PolicyComparison
from couponlens.experiments.uplift_selection import (
    ReferenceQini,
    UpliftValidation,
    learner_name,
)
from couponlens.report.html import Report, Section, write_report


def _ci(low: float, high: float, digits: int = 4) -> str:
    return f"95% CI {low:.{digits}f} to {high:.{digits}f}"


def _findings(validation: UpliftValidation, outcome: str) -> list[str]:
    findings = []
    chosen = validation.chosen
    ranked = sorted(validation.learners, key=validation.mean_qini, reverse=True)
    others = [
        f"{learner_name(name)} {validation.mean_qini(name):.4f}"
        for name in ranked
        if name != chosen
    ]
    sentence = (
        f"The {learner_name(chosen)} ranks customers best on held-out folds: mean Qini "
        f"{validation.mean_qini(chosen):.4f}"
    )
    findings.append(sentence + (f" (vs {', '.join(others)})." if others else "."))
    for arm in validation.arms:
        best = validation.best(arm).scores
        if best.qini_ci_low > 0:
            verdict = "clearly better than random targeting"
        elif best.qini_ci_high < 0:
            verdict = "worse than random targeting"
        else:
            verdict = "not distinguishable from random targeting"
        findings.append(
            f"{arm}: the chosen model's Qini is {best.qini:.4f} ({_ci(best.qini_ci_low, best.qini_ci_high)}), "
            f"{verdict}."
        )
        if best.uplift_at_k:
            top = min(best.uplift_at_k, key=lambda u: abs(u.fraction - 0.3))
            findings.append(
                f"{arm}: among the top {100 * top.fraction:g}% by predicted uplift the {outcome} rises "
                f"by {top.uplift:.4f} per customer ({_ci(top.ci_low, top.ci_high)}), against "
                f"{best.average_uplift:.4f} on average over everyone."
            )
    return findings


def _reference_findings(
    validation: UpliftValidation, references: list[ReferenceQini] | None
) -> list[str]:
    sentences = []
    for ref in references or []:
        if ref.arm not in validation.arms:
            continue
        best = validation.best(ref.arm).scores.qini
        share = f", {100 * best / ref.qini:.0f}% of it" if ref.qini > 0 else ""
        label = "the true effect (oracle)" if ref.name == "oracle" else ref.name
        sentences.append(
            f"{ref.arm}: ranking by {label} would score a Qini of {ref.qini:.4f}; the chosen "
            f"model reaches {best:.4f}{share}."
        )
    return sentences


def _qini_chart(
    validation: UpliftValidation, arm: str, references: list[ReferenceQini] | None = None
) -> go.Figure:
    figure = go.Figure()
    for ref in references or []:
        if ref.arm == arm:
            figure.add_trace(
                go.Scatter(
                    x=ref.curve.fraction,
                    y=ref.curve.qini,
                    mode="lines",
                    name=f"{ref.name} (true effect)" if ref.name == "oracle" else ref.name,
                    line={"dash": "dot", "color": "black", "width": 1.5},
                )
            )
    random_drawn = False
    for series in validation.curves:
        if series.arm != arm:
            continue
        label = learner_name(series.learner) + (
            " (chosen)" if series.learner == validation.chosen else ""
        )
        figure.add_trace(
            go.Scatter(
                x=series.fraction,
                y=series.qini,
                mode="lines",
                name=label,
                line={"width": 3 if series.learner == validation.chosen else 1.5},
            )
        )
        if not random_drawn:
            figure.add_trace(
                go.Scatter(
                    x=series.fraction,
                    y=series.random,
                    mode="lines",
                    name="random targeting",
                    line={"dash": "dash", "color": "grey"},
                )
            )
            random_drawn = True
    figure.update_layout(
        title=f"Qini curves on held-out folds: {arm} vs {validation.control}",
        xaxis_title="share of customers targeted (by predicted uplift)",
        yaxis_title="incremental outcome per treated customer",
    )
    return figure


def _uplift_at_k_chart(validation: UpliftValidation, arm: str) -> go.Figure:
    figure = go.Figure()
    for name in validation.learners:
        scores = validation.get(name, arm).scores
        figure.add_trace(
            go.Bar(
                x=[f"top {100 * u.fraction:g}%" for u in scores.uplift_at_k],
                y=[u.uplift for u in scores.uplift_at_k],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [u.ci_high - u.uplift for u in scores.uplift_at_k],
                    "arrayminus": [u.uplift - u.ci_low for u in scores.uplift_at_k],
                },
                name=learner_name(name),
            )
        )
    average = validation.get(validation.chosen, arm).scores.average_uplift
    figure.add_hline(y=average, line_dash="dash", annotation_text="average uplift")
    figure.update_layout(
        title=f"Uplift among the top k% by predicted uplift: {arm}",
        barmode="group",
        yaxis_title="treated minus control mean",
    )
    return figure


def validation_table(validation: UpliftValidation) -> pd.DataFrame:
    """One row per learner and arm with Qini, AUUC and uplift at k%, and their CIs.

    Example:
        >>> import numpy as np
        >>> from couponlens.experiments.uplift_selection import fit_uplift
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"x": rng.uniform(size=1000)})
        >>> t = rng.integers(0, 2, 1000)
        >>> fit = fit_uplift(X, t, X["x"] * t + rng.normal(size=1000), control=0,
        ...                  learners=["t"], n_folds=2, n_bootstrap=10, n_estimators=10)
        >>> validation_table(fit.validation).columns.tolist()[:4]
        ['learner', 'arm', 'qini', 'qini 95% CI']
    """
    rows = []
    level = f"{100 * validation.results[0].scores.confidence:g}%" if validation.results else "95%"
    for r in validation.results:
        s = r.scores
        row: dict[str, object] = {
            "learner": learner_name(r.learner),
            "arm": r.arm,
            "qini": s.qini,
            f"qini {level} CI": _interval(s.qini_ci_low, s.qini_ci_high),
            "auuc": s.auuc,
        }
        for u in s.uplift_at_k:
            row[f"top {100 * u.fraction:g}%"] = u.uplift
        row["everyone"] = s.average_uplift
        row["chosen"] = "yes" if r.learner == validation.chosen else ""
        rows.append(row)
    return pd.DataFrame(rows)


def _interval(low: float, high: float) -> str:
    return f"[{low:.4f}, {high:.4f}]"


def uplift_report(
    validation: UpliftValidation,
    *,
    outcome: str,
    source: str = "",
    treatment: str = "",
    features: list[str] | None = None,
    model_dir: str | None = None,
    options: dict[str, Any] | None = None,
    policy: PolicyComparison | None = None,
    references: list[ReferenceQini] | None = None,
) -> tuple[Report, dict[str, Any]]:
    """Build the report page and the results dictionary for an uplift validation.

    Example: see the module docstring.
    """
    report = Report(
        title="Uplift model",
        subtitle=(
            f"Who responds to the coupon: {outcome}, {', '.join(validation.arms)} vs "
            f"{validation.control}"
        ),
        source=source,
        options=options or {},
    )
    tables = [validation_table(validation)]
    report.add(
        Section(
            title="Learners on held-out folds",
            findings=_findings(validation, outcome) + _reference_findings(validation, references),
            charts=[_qini_chart(validation, arm, references) for arm in validation.arms],
            tables=tables,
            table_captions=[
                "Learner comparison: held-out Qini and AUUC; uplift among the top k% by "
                "predicted uplift and in everyone (all CIs in results.json)"
            ],
            notes=[
                f"Every customer is scored by a model fitted on the other {validation.n_folds - 1} "
                "of the folds; the learner with the highest mean Qini is chosen and refitted on all rows.",
                "Qini: area between the Qini curve (incremental outcome per treated customer) and "
                "the random-targeting diagonal; 0 for a random ranking. AUUC: area under the "
                "cumulative-gain curve; about half the average uplift for a random ranking.",
                "CIs resample treated and control customers separately (percentile bootstrap).",
            ],
        )
    )
    if policy is not None:
        report.add(policy_section(policy))
    report.add(
        Section(
            title="Uplift at k%",
            findings=[],
            charts=[_uplift_at_k_chart(validation, arm) for arm in validation.arms],
            notes=[
                "Treated-minus-control mean outcome among the customers a learner ranks in the "
                "top k% (held-out scores); error bars are bootstrap 95% CIs."
            ],
        )
    )
    results: dict[str, Any] = {
        "outcome": outcome,
        "outcome_kind": validation.outcome_kind,
        "treatment": treatment,
        "control": validation.control,
        "arms": validation.arms,
        "features": features or [],
        "n_folds": validation.n_folds,
        "chosen_learner": validation.chosen,
        "learners": [
            {"learner": r.learner, "arm": r.arm, **r.scores.to_dict(), "fold_qini": r.fold_qini}
            for r in validation.results
        ],
        "qini_curves": [c.to_dict() for c in validation.curves],
        "model_dir": model_dir,
        "references": [{"name": r.name, "arm": r.arm, "qini": r.qini} for r in references or []],
    }
    if policy is not None:
        results["policy"] = policy.to_dict()
        results["recommendation"] = recommendation(policy)
    results["findings"] = [sentence for section in report.sections for sentence in section.findings]
    return report, results


def recommendation(policy: PolicyComparison, estimator: str = "dr") -> str:
    """One sentence naming the policy with the highest estimated net value per customer.

    Example:
        >>> from couponlens.experiments.policy import compare_policies
        >>> cmp = compare_policies([1, 0, 0, 1, 1, 0], list("tcctct"),
        ...     {"targeting": list("tctcct"), "treat_none": list("cccccc")}, control="c")
        >>> recommendation(cmp, "ipw").startswith("Recommended: targeting")
        True
    """
    rows = [e for e in policy.estimates if e.estimator == estimator]
    if not rows:
        raise KeyError(f"no estimates by {estimator!r}")
    best = max(rows, key=lambda e: e.net_value_per_customer)
    what = {
        "targeting": "send the coupon only where predicted uplift x value exceeds its cost",
        "treat_none": "send no coupon",
    }.get(best.policy, f"send the coupon to everyone ({best.policy.replace('_', '-')})")
    return (
        f"Recommended: {best.policy.replace('_', '-')} ({what}); expected value "
        f"{best.net_value_per_customer:.4f} per customer net of coupon costs "
        f"({_ci(best.net_ci_low, best.net_ci_high)}), sending to {100 * best.share_sent:.1f}% "
        "of customers."
    )


def policy_section(policy: PolicyComparison) -> Section:
    """A report section valuing the targeting rule against treat-all and treat-none.

    Example:
        >>> from couponlens.experiments.policy import compare_policies
        >>> cmp = compare_policies([1, 0, 0, 1, 1, 0], list("tcctct"),
        ...     {"targeting": list("tctcct"), "treat_none": list("cccccc")}, control="c",
        ...     mu={"t": [0.5] * 6, "c": [0.4] * 6})
        >>> policy_section(cmp).title
        'Recommended policy'
    """
    findings = [recommendation(policy)]
    target = policy.estimate("targeting", "dr")
    findings.append(
        f"Sending the coupon where its expected net value is positive reaches "
        f"{100 * target.share_sent:.1f}% of customers and is worth {target.net_value_per_customer:.4f} "
        f"per customer in outcome value net of coupon costs (doubly robust, "
        f"{_ci(target.net_ci_low, target.net_ci_high)})."
    )
    for d in policy.differences:
        if d.estimator != "dr":
            continue
        direction = "more" if d.net_difference > 0 else "less"
        findings.append(
            f"That is {abs(d.net_difference):.4f} per customer {direction} than {d.baseline.replace('_', '-')} "
            f"({_ci(d.ci_low, d.ci_high)}, p = {d.p:.3g})."
        )
    return Section(
        title="Recommended policy",
        findings=findings,
        tables=[
            policy.to_frame().drop(columns=["outcome_ci_low", "outcome_ci_high"]),
            pd.DataFrame([d.to_dict() for d in policy.differences]),
        ],
        table_captions=["Value per customer by policy and estimator", "Paired differences"],
        notes=[
            "Valued on the experiment's held-out rows: IPW weighs customers whose actual arm matches "
            "the policy by the inverse of that arm's share; the doubly robust estimate adds an "
            "out-of-fold outcome model."
        ],
    )


def write_uplift_report(report: Report, results: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``report.html`` and ``results.json`` into ``out_dir``; returns the folder.

    Example: see the module docstring.
    """
    write_report(report, out_dir, results)
    return Path(out_dir)
