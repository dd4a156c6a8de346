"""The model report page: metrics, ROC, per-coupon AUC, calibration, lift, importance.

Every page states on its banner whether the model read label-window ("leakage") features.

Example:
    >>> import tempfile, numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random(500) < 0.2).astype(int)
    >>> scored = pd.DataFrame({"coupon_id": rng.integers(0, 10, 500), "label": y,
    ...                        "probability": np.clip(0.2 + 0.3 * y + rng.normal(0, 0.2, 500), 0, 1)})
    >>> out = write_model_report(tempfile.mkdtemp(), scored, title="Demo model",
    ...                          info={"leakage_features": False, "chosen": "lightgbm"})
    >>> (out / "report.html").exists()
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from couponlens.models.metrics import ModelMetrics, evaluate_scores, mean_coupon_auc, roc_points
from couponlens.report.html import Report, Section, write_report


@dataclass(frozen=True)
class Wording:
    """What the scored rows and their outcome are called in a model report."""

    rows: str = "receipts"
    positive: str = "used in time"
    verb: str = "used"
    skipped: str = "as the Tianchi metric does"
    history: str = "history before the scored receipts"
    metric: str = "mean per-coupon AUC (Tianchi)"
    outcomes: str = "uses"


#: The O2O model's words (the default).
O2O_WORDING = Wording()
#: The AmExpert model's words: offers, redeemed, features as of each campaign's start.
AMEXPERT_WORDING = Wording(
    rows="offers",
    positive="redeemed",
    verb="redeemed",
    skipped="which the per-coupon AUC cannot rank",
    history="transactions and campaigns before each campaign's start",
    metric="mean per-coupon AUC",
    outcomes="redemptions",
)


def leakage_banner(leakage: bool, wording: Wording = O2O_WORDING) -> str:
    """The one line every report and score file carries about leakage features."""
    if leakage:
        return (
            "LEAKAGE FEATURES ON: this model reads the label window itself (receipts on the same day "
            "and later in the month). Its scores are for competition-style evaluation, not for production."
        )
    return f"Leakage features off: every feature comes from {wording.history} (point in time)."


def _fmt(value: float | None, digits: int = 4) -> str:
    return "not estimable" if value is None else f"{value:.{digits}f}"


def _metrics_table(
    metrics: ModelMetrics, ceiling: ModelMetrics | None, wording: Wording
) -> pd.DataFrame:
    rows = [
        (
            wording.metric,
            metrics.mean_coupon_auc,
            None if ceiling is None else ceiling.mean_coupon_auc,
        ),
        ("overall ROC AUC", metrics.auc, None if ceiling is None else ceiling.auc),
        ("PR AUC (average precision)", metrics.pr_auc, None if ceiling is None else ceiling.pr_auc),
        ("log loss", metrics.log_loss, None if ceiling is None else ceiling.log_loss),
    ]
    frame = pd.DataFrame(rows, columns=["metric", "model", "true probabilities"])
    if ceiling is None:
        frame = frame.drop(columns="true probabilities")
    return frame


def _roc_chart(scored: pd.DataFrame, rows: str) -> go.Figure:
    points = roc_points(scored["label"], scored["probability"])
    fig = go.Figure(
        go.Scatter(x=points["false_positive_rate"], y=points["true_positive_rate"], name="model")
    )
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], name="chance", line={"dash": "dot", "color": "grey"})
    )
    fig.update_layout(
        title=f"ROC curve (all {rows})",
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
    )
    return fig


def _per_coupon_chart(per_coupon: pd.DataFrame) -> go.Figure:
    values = per_coupon["auc"].dropna()
    fig = go.Figure(go.Histogram(x=values, nbinsx=30, name="coupons"))
    fig.update_layout(
        title=f"Per-coupon AUC over {len(values):,} coupons with both outcomes",
        xaxis_title="AUC within the coupon",
        yaxis_title="coupons",
    )
    return fig


def _calibration_chart(metrics: ModelMetrics) -> go.Figure:
    cal = metrics.calibration
    fig = go.Figure(
        go.Scatter(
            x=cal["mean_predicted"], y=cal["observed_rate"], mode="lines+markers", name="model"
        )
    )
    top = (
        float(max(cal["mean_predicted"].max(), cal["observed_rate"].max(), 0.01))
        if len(cal)
        else 1.0
    )
    fig.add_trace(
        go.Scatter(x=[0, top], y=[0, top], name="perfect", line={"dash": "dot", "color": "grey"})
    )
    fig.update_layout(
        title="Calibration (deciles of the score)",
        xaxis_title="mean predicted probability",
        yaxis_title="observed use rate",
    )
    return fig


def _lift_chart(scored: pd.DataFrame, wording: Wording) -> go.Figure:
    order = np.argsort(-scored["probability"].to_numpy(), kind="stable")
    y = scored["label"].to_numpy()[order]
    share = np.arange(1, len(y) + 1) / len(y)
    captured = np.cumsum(y) / max(y.sum(), 1)
    keep = np.unique(np.linspace(0, len(y) - 1, min(len(y), 300)).astype(int))
    fig = go.Figure(go.Scatter(x=share[keep], y=captured[keep], name="model"))
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], name="random", line={"dash": "dot", "color": "grey"})
    )
    fig.update_layout(
        title=f"Cumulative {wording.outcomes} captured by sending to the top-scored share",
        xaxis_title=f"share of {wording.rows} sent",
        yaxis_title=f"share of {wording.outcomes} captured",
    )
    return fig


def _importance_chart(importance: pd.DataFrame, top: int = 20) -> go.Figure:
    head = importance.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=head["gain_share"], y=head["feature"], orientation="h"))
    fig.update_layout(
        title=f"LightGBM importance: share of total gain (top {top})",
        xaxis_title="share of gain",
        height=520,
    )
    return fig


def build_model_report(
    scored: pd.DataFrame,
    *,
    title: str,
    info: dict[str, Any],
    importance: pd.DataFrame | None = None,
    truth: np.ndarray | None = None,
    source: str = "",
    folds: pd.DataFrame | None = None,
    wording: Wording = O2O_WORDING,
) -> tuple[Report, dict[str, Any]]:
    """The report page and its results for scored receipts (``coupon_id``, ``label``, ``probability``).

    ``truth``: the generator's true probabilities for the same rows, shown as the ceiling.
    """
    metrics = evaluate_scores(scored["coupon_id"], scored["label"], scored["probability"])
    per_coupon = mean_coupon_auc(scored["coupon_id"], scored["label"], scored["probability"])
    ceiling = (
        evaluate_scores(scored["coupon_id"], scored["label"], truth) if truth is not None else None
    )
    leakage = bool(info.get("leakage_features", False))
    report = Report(
        title=title,
        subtitle=f"model: {info.get('chosen', 'lightgbm')}; label: {info.get('label_rule', {}).get('text', 'used within 15 days')}",
        source=source,
        options={
            "leakage_features": leakage,
            "cv": info.get("cv", "time"),
            "chosen": info.get("chosen", "lightgbm"),
        },
        banner=leakage_banner(leakage, wording),
    )
    findings = [
        f"Mean per-coupon AUC {_fmt(metrics.mean_coupon_auc)} over {metrics.coupons_scored:,} coupons "
        f"({metrics.coupons_skipped:,} coupons with {wording.rows} of one outcome only are skipped, {wording.skipped}).",
        f"Overall ROC AUC {_fmt(metrics.auc)} on {metrics.receipts:,} {wording.rows} ({metrics.positives:,} {wording.positive}, "
        f"base rate {metrics.base_rate:.2%}); it is higher than the per-coupon mean because ranking across coupons is easier "
        f"than ranking the {wording.rows} of one coupon.",
    ]
    if (
        ceiling is not None
        and ceiling.mean_coupon_auc is not None
        and metrics.mean_coupon_auc is not None
    ):
        findings.append(
            f"The generator's true probabilities reach {ceiling.mean_coupon_auc:.4f} on the same {wording.rows}: the ceiling "
            f"no model can pass. The model recovers {metrics.mean_coupon_auc - 0.5:.4f} of the "
            f"{ceiling.mean_coupon_auc - 0.5:.4f} AUC points above chance."
        )
    lift10 = metrics.lift.get("0.1")
    if lift10 is not None:
        findings.append(
            f"The top-scored 10% of {wording.rows} are {wording.verb} {lift10:.1f} times as often as the average."
        )
    report.add(
        Section(
            title="Summary",
            findings=findings,
            tables=[_metrics_table(metrics, ceiling, wording)],
            notes=[leakage_banner(leakage, wording)],
        )
    )
    report.add(
        Section(
            title="Ranking",
            findings=[
                f"{(per_coupon.per_coupon['auc'] > 0.5).sum():,} of {per_coupon.coupons_scored:,} scored coupons rank their {wording.positive} {wording.rows} above the others more often than not."
            ]
            if per_coupon.coupons_scored
            else [
                f"No coupon has {wording.rows} of both outcomes: the per-coupon AUC is not estimable."
            ],
            charts=[_roc_chart(scored, wording.rows), _per_coupon_chart(per_coupon.per_coupon)]
            if metrics.auc is not None
            else [],
        )
    )
    if len(metrics.calibration):
        cal = metrics.calibration
        worst = float((cal["observed_rate"] - cal["mean_predicted"]).abs().max())
        report.add(
            Section(
                title="Calibration",
                findings=[
                    f"Across score deciles the observed use rate differs from the predicted probability by at most {worst:.3f}."
                ],
                charts=[_calibration_chart(metrics)],
                tables=[cal],
            )
        )
    lift_table = pd.DataFrame(
        {"top share": list(metrics.lift), "lift": list(metrics.lift.values())}
    )
    report.add(
        Section(
            title="Lift",
            charts=[_lift_chart(scored, wording)] if metrics.positives else [],
            tables=[lift_table],
        )
    )
    if importance is not None and len(importance):
        top = importance.iloc[0]
        report.add(
            Section(
                title="Importance",
                findings=[
                    f"The most useful feature is {top['feature']} ({top['gain_share']:.1%} of the total gain)."
                ],
                charts=[_importance_chart(importance)],
                tables=[importance.head(30)],
                notes=[
                    "Per-row contributions (LightGBM's SHAP values) are available from O2OModel.contributions()."
                ],
            )
        )
    if folds is not None and len(folds):
        report.add(Section(title="Validation folds", tables=[folds]))
    results = {
        "leakage_features": leakage,
        "metrics": metrics.to_dict(),
        "ceiling": ceiling.to_dict() if ceiling is not None else None,
        "model": {k: info.get(k) for k in ("chosen", "cv", "label_rule", "windows") if k in info},
    }
    return report, results


def write_model_report(
    out_dir: str | Path,
    scored: pd.DataFrame,
    *,
    title: str,
    info: dict[str, Any],
    importance: pd.DataFrame | None = None,
    truth: np.ndarray | None = None,
    source: str = "",
    folds: pd.DataFrame | None = None,
    wording: Wording = O2O_WORDING,
) -> Path:
    """Write ``report.html`` and ``results.json`` for scored receipts into ``out_dir``."""
    report, results = build_model_report(
        scored,
        title=title,
        info=info,
        importance=importance,
        truth=truth,
        source=source,
        folds=folds,
        wording=wording,
    )
    return write_report(report, out_dir, results)
