"""``couponlens o2o train|predict|evaluate`` and ``couponlens target``: redemption models and targeting."""
# ruff: noqa: B008  (typer.Option/Argument defaults are Typer's documented idiom)

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from ibis.backends import BaseBackend

from couponlens.cli._app import app, console, o2o_app
from couponlens.cli._engine import ENGINE_HELP, SPARK_MASTER_HELP, job_engine
from couponlens.cli._options import date_option
from couponlens.cli._resources import MemoryLimit
from couponlens.datasets.o2o import O2OData, load_o2o
from couponlens.errors import InputError
from couponlens.features.windows import DEFAULT_LABEL_WINDOW_DAYS, MIN_FEATURE_DAYS
from couponlens.models.artifact import load_model, save_model
from couponlens.models.cv import STRATEGIES
from couponlens.models.train import (
    DEFAULT_MAX_TRAINING_ROWS,
    Scores,
    TrainOptions,
    evaluate_o2o,
    score_o2o,
    train_o2o,
)
from couponlens.outputs import (
    check_model_and_report,
    check_writable,
    replacing_folder,
)
from couponlens.report.html import write_text_atomic
from couponlens.report.model_report import leakage_banner, write_model_report
from couponlens.table_output import write_frame
from couponlens.targeting.policy import choose_recipients, cost_if_used
from couponlens.targeting.values import load_receipt_values, values_for

#: The competition's submission columns, exactly.
SCORE_COLUMNS = ["User_id", "Coupon_id", "Date_received", "Probability"]


def _load(path: Path, con: object, what: str, strict: bool = False) -> O2OData:
    data = load_o2o(path, con, strict=strict)  # type: ignore[arg-type]
    report = data.report
    if report.rows_quarantined:
        console.print(
            f"{what}: {report.rows_quarantined:,} bad rows set aside (of {report.rows_read:,})"
        )
    return data


def _date_text(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.strftime("%Y%m%d")


def _sidecar(out: Path, model_dir: Path, scores: Scores, extra: dict[str, object]) -> Path:
    path = out.with_name(out.name + ".json")
    manifest = json.loads((model_dir / "manifest.json").read_text())
    data = {
        "scores": str(out),
        "model": str(model_dir),
        "model_manifest_sha256": manifest.get("manifest_sha256"),
        "chosen": manifest.get("chosen"),
        "leakage_features": scores.leakage_features,
        "note": leakage_banner(scores.leakage_features),
        "feature_window": scores.window.to_dict(),
        "warnings": scores.warnings,
        **extra,
    }
    write_text_atomic(path, json.dumps(data, indent=1, default=str) + "\n")
    return path


def _score(
    model_dir: Path, candidates: Path, history: Path, con: BaseBackend
) -> tuple[Scores, O2OData]:
    model = load_model(model_dir)
    past = _load(history, con, "history")
    if not past.has_purchase_dates:
        raise InputError(f"{history}: the history needs the train layout (with the Date column)")
    cands = _load(candidates, con, "candidates", strict=True)
    scores = score_o2o(model, past.table, cands.table)
    if len(scores.frame) != cands.report.rows_read:
        raise InputError(
            f"{candidates}: scored {len(scores.frame)} of {cands.report.rows_read} rows"
        )
    for note in scores.warnings:
        console.print(f"warning: {note}", highlight=False)
    return scores, cands


@o2o_app.command("train")
def train_command(
    history: Path = typer.Argument(..., help="O2O log in the Tianchi train layout (with Date)."),
    model: Path = typer.Option(..., "--model", help="Folder to write the model to."),
    leakage_features: bool = typer.Option(
        False,
        "--leakage-features",
        help="Also read the label window itself (competition mode; not for production).",
    ),
    cv: str = typer.Option("time", "--cv", help=f"Validation: {' | '.join(STRATEGIES)}."),
    label_days: int = typer.Option(
        15, "--label-days", min=0, help="A receipt is positive when used within this many days."
    ),
    pairs: int = typer.Option(
        2, "--pairs", min=2, help="(feature, label) window pairs to train on."
    ),
    label_window_days: int = typer.Option(
        DEFAULT_LABEL_WINDOW_DAYS,
        "--label-window-days",
        min=1,
        help="Days of receipts in each label window.",
    ),
    feature_days: int | None = typer.Option(
        None,
        "--feature-days",
        min=MIN_FEATURE_DAYS,
        help="Days of history in each feature window (default: as long as the oldest pair allows).",
    ),
    label_end: str | None = typer.Option(
        None,
        "--label-end",
        help="Last receipt day (YYYY-MM-DD) of the latest label window (default: the last one "
        "the history can label).",
    ),
    n_estimators: int = typer.Option(
        1500, "--n-estimators", min=1, help="Most boosting rounds (early stopping picks fewer)."
    ),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(2, "--threads", min=1),
    report: Path | None = typer.Option(
        None, "--report", help="Also write the validation report (report.html) here."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing model or report."),
    max_train_rows: int = typer.Option(
        DEFAULT_MAX_TRAINING_ROWS,
        "--max-train-rows",
        min=0,
        help="Train on a sample when the label windows hold more receipts than this (0: never).",
    ),
    engine: str | None = typer.Option(None, "--engine", help=ENGINE_HELP),
    spark_master: str | None = typer.Option(None, "--spark-master", help=SPARK_MASTER_HELP),
    memory_limit: MemoryLimit = None,
) -> None:
    """Train a redemption model on point-in-time windows and save it with its manifest."""
    check_model_and_report(model, report, force=force)
    if cv not in STRATEGIES:
        raise InputError(f"--cv: expected one of {', '.join(STRATEGIES)}, got {cv!r}")
    data = _load(history, job_engine(engine, spark_master, memory_limit, "o2o train"), "history")
    if not data.has_purchase_dates:
        raise InputError(f"{history}: training needs the train layout (with the Date column)")
    options = TrainOptions(
        label_days=label_days,
        pairs=pairs,
        label_window_days=label_window_days,
        feature_days=feature_days,
        label_end=date_option("--label-end", label_end),
        leakage_features=leakage_features,
        cv=cv,
        n_estimators=n_estimators,
        seed=seed,
        threads=threads,
        max_training_rows=max_train_rows or None,
    )
    with console.status("building features and training"):
        result = train_o2o(data.table, options)
    if result.sample is not None:
        console.print(result.sample.note(), highlight=False)
    with replacing_folder(model, force=force) as work:
        save_model(result.model, work)
    v = result.validation
    console.print(leakage_banner(leakage_features), highlight=False)
    for pair in result.plan.pairs:
        console.print(
            f"window {pair.name}: features {pair.feature_start}..{pair.feature_end} -> labels {pair.label_start}..{pair.label_end}"
        )
    console.print(
        f"validation ({cv}): mean per-coupon AUC {v.mean_coupon_auc if v.mean_coupon_auc is None else round(v.mean_coupon_auc, 4)} "
        f"over {v.coupons_scored:,} coupons, overall AUC {v.auc if v.auc is None else round(v.auc, 4)}, "
        f"{v.receipts:,} receipts; model: {result.chosen} ({result.stack.reason})",
        highlight=False,
    )
    if report is not None:
        folds = pd.DataFrame(
            [
                {
                    "split": f.name,
                    "train receipts": f.train_receipts,
                    "validation receipts": f.valid_receipts,
                    "best iteration": f.best_iteration,
                    "LightGBM mean coupon AUC": f.lightgbm.mean_coupon_auc,
                    "logistic mean coupon AUC": f.logistic.mean_coupon_auc,
                }
                for f in result.folds
            ]
        )
        with replacing_folder(report, force=force) as work:
            write_model_report(
                work,
                result.validation_predictions,
                title="O2O redemption model: validation",
                info=result.model.info,
                importance=result.importance,
                source=str(history),
                folds=folds,
            )
        console.print(f"report: {report / 'report.html'}")
    console.print(f"model: {model}")


@o2o_app.command("predict")
def predict_command(
    model: Path = typer.Argument(..., help="Model folder from `couponlens o2o train`."),
    candidates: Path = typer.Argument(..., help="Receipts to score, in the Tianchi test layout."),
    history: Path = typer.Option(
        ..., "--history", help="The O2O log before the candidates (train layout)."
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Scores User_id,Coupon_id,Date_received,Probability: CSV, or Parquet for .parquet.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing scores file."),
    engine: str | None = typer.Option(None, "--engine", help=ENGINE_HELP),
    spark_master: str | None = typer.Option(None, "--spark-master", help=SPARK_MASTER_HELP),
    memory_limit: MemoryLimit = None,
) -> None:
    """Score candidate receipts; one output row per input row, in input order."""
    check_writable(out, force=force)
    scores, _ = _score(
        model, candidates, history, job_engine(engine, spark_master, memory_limit, "o2o predict")
    )
    f = scores.frame
    table = pd.DataFrame(
        {
            "User_id": f["user_id"],
            "Coupon_id": f["coupon_id"],
            "Date_received": _date_text(f["date_received"]),
            "Probability": f["probability"],
        }
    )
    kind = write_frame(table, out, force=force, float_format="%.8g")
    side = _sidecar(out, model, scores, {"rows": len(table), "format": kind})
    console.print(leakage_banner(scores.leakage_features), highlight=False)
    console.print(
        f"scored {len(table):,} receipts, mean probability {table['Probability'].mean():.4f}: {out} (about: {side})"
    )


@o2o_app.command("evaluate")
def evaluate_command(
    model: Path = typer.Argument(..., help="Model folder from `couponlens o2o train`."),
    labelled: Path = typer.Argument(
        ..., help="Receipts with outcomes (train layout) to evaluate on."
    ),
    history: Path = typer.Option(
        ..., "--history", help="The O2O log before the labelled receipts (train layout)."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for report.html and results.json."),
    since: str | None = typer.Option(
        None, "--since", help="Only receipts on or after this date (YYYY-MM-DD)."
    ),
    truth: Path | None = typer.Option(
        None, "--truth", help="Generator truth file: shows the true-probability ceiling."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing report folder."),
    engine: str | None = typer.Option(None, "--engine", help=ENGINE_HELP),
    spark_master: str | None = typer.Option(None, "--spark-master", help=SPARK_MASTER_HELP),
    memory_limit: MemoryLimit = None,
) -> None:
    """Measure a model on labelled receipts and write the model report."""
    check_writable(out, force=force)
    loaded = load_model(model)
    con = job_engine(engine, spark_master, memory_limit, "o2o evaluate")
    past = _load(history, con, "history")
    rows = _load(labelled, con, "labelled")
    start = date_option("--since", since)
    evaluation = evaluate_o2o(loaded, past.table, rows.table, since=start)
    truth_values = None
    if truth is not None:
        t = pd.read_csv(truth)
        if not {"line_number", "probability"} <= set(t.columns):
            raise InputError(f"{truth}: expected columns line_number,...,probability")
        truth_values = (
            evaluation.scored[["line_number"]]
            .merge(t, on="line_number", how="left")["probability"]
            .to_numpy()
        )
        if np.isnan(truth_values).any():
            raise InputError(
                f"{truth}: does not cover every evaluated receipt (is it the labelled file's truth?)"
            )
    with replacing_folder(out, force=force) as work:
        write_model_report(
            work,
            evaluation.scored,
            title="O2O redemption model: evaluation",
            info=loaded.info,
            importance=loaded.importance(),
            truth=truth_values,
            source=str(labelled),
        )
    m = evaluation.metrics
    console.print(leakage_banner(loaded.leakage_features), highlight=False)
    console.print(
        f"mean per-coupon AUC {m.mean_coupon_auc if m.mean_coupon_auc is None else round(m.mean_coupon_auc, 4)} over "
        f"{m.coupons_scored:,} coupons; overall AUC {m.auc if m.auc is None else round(m.auc, 4)}; "
        f"{m.receipts:,} receipts. report: {out / 'report.html'}",
        highlight=False,
    )


@app.command("target")
def target_command(
    model: Path = typer.Argument(..., help="Model folder from `couponlens o2o train`."),
    candidates: Path = typer.Argument(..., help="Candidate receipts, in the Tianchi test layout."),
    history: Path = typer.Option(
        ..., "--history", help="The O2O log before the candidates (train layout)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="The chosen receipts: CSV, or Parquet for a .parquet name."
    ),
    budget: int | None = typer.Option(
        None, "--budget", min=0, help="Send at most this many coupons."
    ),
    max_cost: float | None = typer.Option(
        None, "--max-cost", min=0, help="Expected discount paid at most this."
    ),
    per_user_cap: int | None = typer.Option(
        None, "--per-user-cap", min=1, help="At most this many coupons per user."
    ),
    rate_basket: float = typer.Option(
        100.0,
        "--rate-basket",
        min=0,
        help="Basket a plain-rate coupon applies to, for its cost (rate coupons only).",
    ),
    values: Path | None = typer.Option(
        None,
        "--values",
        help="What a use of each receipt is worth (CSV User_id,Coupon_id,Date_received,Value): "
        "maximise expected value instead of expected redemptions.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing recipients file."),
    engine: str | None = typer.Option(None, "--engine", help=ENGINE_HELP),
    spark_master: str | None = typer.Option(None, "--spark-master", help=SPARK_MASTER_HELP),
    memory_limit: MemoryLimit = None,
) -> None:
    """Choose the receipts that maximise expected redemptions (or, with --values, expected
    value) under a budget or cost limit."""
    check_writable(out, force=force)
    if budget is None and max_cost is None:
        raise InputError("give --budget N (coupons) or --max-cost AMOUNT (expected discount paid)")
    worth = None if values is None else load_receipt_values(values)
    scores, _ = _score(
        model, candidates, history, job_engine(engine, spark_master, memory_limit, "target")
    )
    f = scores.frame
    value = None if worth is None or values is None else values_for(f, worth, values)
    kind = np.where(f["discount_is_spend_save"] == 1, "spend_save", "rate")
    cost = cost_if_used(kind, f["discount_rate"], f["discount_amount"], rate_basket=rate_basket)
    choice = choose_recipients(
        f["probability"].to_numpy(),
        user=f["user_id"].to_numpy(),
        cost=cost,
        value=value,
        budget=budget,
        max_cost=max_cost,
        per_user_cap=per_user_cap,
    )
    chosen = f.iloc[choice.selected]
    columns = {
        "User_id": chosen["user_id"],
        "Merchant_id": chosen["merchant_id"],
        "Coupon_id": chosen["coupon_id"],
        "Date_received": _date_text(chosen["date_received"]),
        "Probability": chosen["probability"],
        "Cost_if_used": cost[choice.selected],
        "Expected_cost": chosen["probability"].to_numpy() * cost[choice.selected],
    }
    if value is not None:
        columns["Value"] = value[choice.selected]
        columns["Expected_value"] = chosen["probability"].to_numpy() * value[choice.selected]
    write_frame(pd.DataFrame(columns), out, force=force, float_format="%.8g")
    _sidecar(out, model, scores, {"targeting": choice.to_dict()})
    console.print(leakage_banner(scores.leakage_features), highlight=False)
    lift = choice.lift_over_random
    worth_line = ""
    if value is not None:
        value_lift = choice.value_lift_over_random
        worth_line = (
            f"expected value {choice.expected_value:,.1f} against {choice.random_expected_value:,.1f} "
            "sending at random"
            + (f" -> {value_lift:.2f}x" if value_lift is not None else "")
            + "\n"
        )
    console.print(
        worth_line
        + f"chose {choice.sent:,} of {choice.candidates:,} receipts: expected redemptions {choice.expected_redemptions:,.1f}, "
        f"expected discount paid {choice.expected_cost:,.1f}\n"
        f"sending at random ({choice.random_sent:,.0f} coupons under the same limit): expected redemptions "
        f"{choice.random_expected_redemptions:,.1f}, discount paid {choice.random_expected_cost:,.1f}"
        + (f" -> {lift:.2f}x the redemptions" if lift is not None else "")
        + f"\nmethod: {choice.method}"
        + (f"; gap to the LP bound {choice.optimality_gap:.3g}" if max_cost is not None else "")
        + f"\nrecipients: {out}",
        highlight=False,
    )
