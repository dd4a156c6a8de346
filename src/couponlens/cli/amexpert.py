"""``couponlens amexpert train|predict`` and ``couponlens generate amexpert``: AmExpert 2019 redemption.

The data folder holds the competition's tables under their own names (``train.csv``,
``campaign_data.csv``, ``coupon_item_mapping.csv``, ``item_data.csv``,
``customer_demographics.csv``; ``test.csv`` and ``customer_transaction_data.csv`` optional).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer
from ibis.backends import BaseBackend

from couponlens.cli._app import app, console, generate_app
from couponlens.cli._engine import ENGINE_HELP, SPARK_MASTER_HELP, job_engine
from couponlens.cli._resources import MemoryLimit
from couponlens.datasets.amexpert import TABLES, AmExpertData, load_amexpert, load_candidates
from couponlens.datasets.amexpert_synthetic import write_amexpert
from couponlens.errors import InputError
from couponlens.models.amexpert import (
    CV_STRATEGIES,
    DEFAULT_ROUNDS,
    TrainedAmExpert,
    load_amexpert_model,
    predict_amexpert,
    save_amexpert_model,
    train_amexpert,
)
from couponlens.outputs import (
    check_model_and_report,
    check_writable,
    replacing_folder,
)
from couponlens.report.model_report import AMEXPERT_WORDING, write_model_report
from couponlens.report.site import SiteEntry
from couponlens.table_output import write_frame

#: The competition's submission columns, exactly.
SCORE_COLUMNS = ["id", "redemption_status"]

amexpert_app = typer.Typer(
    help="AmExpert 2019 coupon offers (seven tables): redemption model, scores.",
    no_args_is_help=True,
)
app.add_typer(amexpert_app, name="amexpert")


def _fmt(value: float | None) -> str:
    return "not estimable" if value is None else f"{value:.4f}"


def _load(folder: Path, con: BaseBackend | None = None) -> AmExpertData:
    data = load_amexpert(folder, con)
    counts = ", ".join(f"{TABLES[name][0]} {n:,}" for name, n in data.report.rows.items())
    console.print(
        f"rows read = kept (a bad value stops the load): {counts}", highlight=False, soft_wrap=True
    )
    for note in data.report.warnings:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    return data


def _write_report(
    out_dir: Path, trained: TrainedAmExpert, source: str, truth: np.ndarray | None = None
) -> Path:
    cv = trained.cv
    folds = pd.DataFrame(
        {
            "fold": [f"fold{i + 1}" for i in range(cv.folds)],
            "LightGBM AUC": cv.fold_aucs,
        }
    )
    # the model stores a kept blend in the stack's format; the report names what was chosen
    info = {**trained.model.info, "cv": f"{cv.strategy} ({cv.folds} folds)", "chosen": cv.chosen}
    return write_model_report(
        out_dir,
        trained.out_of_fold,
        title="AmExpert redemption model: out-of-fold validation",
        info=info,
        importance=trained.importance,
        truth=truth,
        source=source,
        folds=folds,
        wording=AMEXPERT_WORDING,
    )


def _print_training(trained: TrainedAmExpert, model: Path) -> None:
    cv = trained.cv
    uses = bool(trained.model.info.get("uses_transactions"))
    console.print(
        f"{cv.rows:,} offers in {cv.campaigns} campaigns, {cv.positives:,} redeemed; "
        f"purchase-history features: {'on' if uses else 'off'}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"CV AUC ({cv.strategy}, {cv.folds} folds): LightGBM {_fmt(cv.auc)}, "
        f"logistic baseline {_fmt(cv.baseline_auc)}, their blend {_fmt(cv.blend_auc)}; "
        f"chosen: {cv.chosen}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"model: {model}", highlight=False)


@amexpert_app.command("train")
def train_command(
    data_dir: Path = typer.Argument(
        ..., help="Folder holding the AmExpert tables (CSV, or Parquet files or folders of parts)."
    ),
    model: Path = typer.Option(..., "--model", help="Folder to write the model to."),
    cv: str = typer.Option(
        "campaign", "--cv", help=f"Validation: {' | '.join(CV_STRATEGIES)} (grouped by campaign)."
    ),
    folds: int = typer.Option(5, "--folds", min=2, help="CV folds (at most one per campaign)."),
    rounds: int = typer.Option(DEFAULT_ROUNDS, "--rounds", min=1, help="LightGBM rounds."),
    transactions: bool = typer.Option(
        True,
        "--transactions/--no-transactions",
        help="Use purchase-history features when customer_transaction_data.csv is present.",
    ),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(
        1, "--threads", min=1, help="LightGBM threads (1 is fastest on small data)."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Also write the validation report (report.html) here."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing model or report."),
    engine: str | None = typer.Option(None, "--engine", help=ENGINE_HELP),
    spark_master: str | None = typer.Option(None, "--spark-master", help=SPARK_MASTER_HELP),
    memory_limit: MemoryLimit = None,
) -> None:
    """Train a redemption model on point-in-time features and print its CV AUC."""
    check_model_and_report(model, report, force=force)
    if cv not in CV_STRATEGIES:
        raise InputError(f"--cv: expected one of {', '.join(CV_STRATEGIES)}, got {cv!r}")
    data = _load(data_dir, job_engine(engine, spark_master, memory_limit, "amexpert train"))
    with console.status("building features and training"):
        trained = train_amexpert(
            data,
            use_transactions=data.has_transactions and transactions,
            cv=cv,
            n_splits=folds,
            rounds=rounds,
            seed=seed,
            threads=threads,
        )
    with replacing_folder(model, force=force) as work:
        save_amexpert_model(trained.model, work)
    _print_training(trained, model)
    if report is not None:
        with replacing_folder(report, force=force) as work:
            _write_report(work, trained, str(data_dir))
        console.print(f"report: {report / 'report.html'}", highlight=False)


@amexpert_app.command("predict")
def predict_command(
    model: Path = typer.Argument(..., help="Model folder from `couponlens amexpert train`."),
    candidates: Path = typer.Argument(
        ..., help="Offers to score, in the test layout: id,campaign_id,coupon_id,customer_id."
    ),
    data_dir: Path = typer.Option(
        ..., "--data", help="Folder holding the AmExpert tables the features come from."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Scores id,redemption_status: CSV, or Parquet for a .parquet name."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing scores file."),
    engine: str | None = typer.Option(None, "--engine", help=ENGINE_HELP),
    spark_master: str | None = typer.Option(None, "--spark-master", help=SPARK_MASTER_HELP),
    memory_limit: MemoryLimit = None,
) -> None:
    """Score candidate offers: one output row per input row, in input order."""
    check_writable(out, force=force)
    loaded = load_amexpert_model(model)
    if not candidates.exists():
        raise InputError(
            f"{candidates}: no such file; expected a CSV with id,campaign_id,coupon_id,customer_id"
        )
    data = _load(data_dir, job_engine(engine, spark_master, memory_limit, "amexpert predict"))
    cands = load_candidates(candidates, data)
    scores = predict_amexpert(loaded, data, cands)
    write_frame(scores[SCORE_COLUMNS], out, force=force, float_format="%.8g")
    console.print(
        f"scored {len(scores):,} offers, mean probability "
        f"{scores['redemption_status'].mean():.4f}: {out}",
        highlight=False,
    )


@generate_app.command("amexpert")
def generate_amexpert_command(
    out: Path = typer.Option(..., "--out", help="Folder to write the seven tables to."),
    seed: int = typer.Option(
        0, "--seed", help="Random seed; the same options give the same files."
    ),
    customers: int = typer.Option(1000, "--customers", min=10, help="Customers to draw."),
    transactions: bool = typer.Option(
        True,
        "--transactions/--no-transactions",
        help="Write customer_transaction_data.csv (the shared real data lacks it).",
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing folder (everything in it)."
    ),
) -> None:
    """Synthetic AmExpert tables with consistent ids and a planted redemption signal."""
    with replacing_folder(out, force=force) as work:
        result = write_amexpert(work, seed=seed, customers=customers, transactions=transactions)
    console.print(
        f"wrote {out}: {result.train_rows:,} train offers (redemption rate "
        f"{result.train_redemption_rate:.2%}), {result.test_rows:,} test offers, "
        f"{result.transactions:,} transactions; truth: {out / 'synthetic_truth.csv'}",
        highlight=False,
        soft_wrap=True,
    )


def demo_amexpert(out: Path, seed: int) -> SiteEntry:
    """Generate AmExpert tables, train the model, write its report; the demo site's entry.

    Writes the tables to ``out/data/amexpert``, the model to ``out/amexpert/model`` and the
    report to ``out/amexpert/report.html``.

    Example:
        >>> import contextlib, io, tempfile, pathlib
        >>> with contextlib.redirect_stdout(io.StringIO()):
        ...     entry = demo_amexpert(pathlib.Path(tempfile.mkdtemp()), seed=1)
        >>> entry.link
        'amexpert/report.html'
    """
    folder = out / "data" / "amexpert"
    console.print(f"generating AmExpert tables -> {folder}", highlight=False)
    generated = write_amexpert(folder, seed=seed, customers=500)
    console.rule("AmExpert redemption model")
    data = load_amexpert(folder)
    trained = train_amexpert(data, n_splits=5, seed=seed)
    model_dir = save_amexpert_model(trained.model, out / "amexpert" / "model")
    _print_training(trained, model_dir)
    truth = pd.read_csv(folder / "synthetic_truth.csv")
    oracle = (
        trained.out_of_fold[["id"]]
        .merge(truth, on="id", how="left")["redemption_probability"]
        .to_numpy()
    )
    _write_report(out / "amexpert", trained, str(folder), truth=oracle)
    cv = trained.cv
    y = trained.out_of_fold["label"].to_numpy()
    from sklearn.metrics import roc_auc_score

    oracle_auc = float(roc_auc_score(y, oracle))
    return SiteEntry(
        title="AmExpert coupon redemption model",
        link="amexpert/report.html",
        question="Which customers will redeem a campaign's coupon, judged on campaigns the model never saw?",
        figures={
            "offers (train)": f"{generated.train_rows:,}",
            "redemption rate": f"{100 * generated.train_redemption_rate:.1f}%",
            "campaign-grouped CV AUC": _fmt(
                {"lightgbm": cv.auc, "logistic": cv.baseline_auc, "blend": cv.blend_auc}[cv.chosen]
            ),
            "LightGBM / logistic / blend": (
                f"{_fmt(cv.auc)} / {_fmt(cv.baseline_auc)} / {_fmt(cv.blend_auc)}"
            ),
            "true-probability AUC (ceiling)": f"{oracle_auc:.4f}",
            "chosen model": cv.chosen,
        },
        notes=[
            "Features use only purchases before each campaign's start and outcomes of campaigns "
            "that ended before it (point in time)."
        ],
    )
