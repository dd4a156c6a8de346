"""Train, validate and apply the O2O redemption model.

:func:`train_o2o` plans point-in-time windows over a history, builds one feature table per
(feature, label) pair on the engine, validates LightGBM (early stopping on the later window)
and a logistic-regression baseline with the chosen CV strategy, keeps a logistic stack of the
two only when it beats the better one on validation, and refits the final models on every
window. :func:`score_o2o` scores candidate receipts (the Tianchi test layout) from a history.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.o2o_synthetic import generate_o2o
    >>> from couponlens.datasets.o2o import load_o2o
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = generate_o2o(6_000, seed=3, out=d / "h.csv")
    >>> result = train_o2o(load_o2o(d / "h.csv").table, TrainOptions(n_estimators=30))
    >>> result.model.leakage_features, 0.5 < result.validation.auc < 1.0
    (False, True)
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import ibis.expr.types as ir
import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from couponlens._results import Result
from couponlens.engine import engine_name
from couponlens.errors import InputError
from couponlens.features.o2o import build_features, feature_names, to_frame
from couponlens.features.o2o_table import pair_features
from couponlens.features.windows import (
    DEFAULT_LABEL_DAYS,
    DEFAULT_LABEL_WINDOW_DAYS,
    DEFAULT_PAIRS,
    WindowPair,
    WindowPlan,
    history_dates,
    label_rows,
    plan_for_history,
)
from couponlens.handoff import backend_of
from couponlens.models.artifact import LogisticParams, O2OModel, signed_log1p
from couponlens.models.cv import STRATEGIES, make_splits
from couponlens.models.metrics import ModelMetrics, evaluate_scores
from couponlens.models.stack import StackDecision, decide_stack

#: The label rule, in words, as stored in a model's manifest.
LABEL_RULE = "used within {days} days of receipt (purchase_date - date_received <= {days})"

#: Labelled receipts pulled into memory for training at most, by default: the feature table
#: (about 90 columns) takes some 750 bytes a row in pandas, so 4 M rows are about 3 GB.
DEFAULT_MAX_TRAINING_ROWS = 4_000_000


@dataclass(frozen=True)
class TrainOptions:
    """How to build the training set and fit the models."""

    label_days: int = DEFAULT_LABEL_DAYS
    label_window_days: int = DEFAULT_LABEL_WINDOW_DAYS
    pairs: int = DEFAULT_PAIRS
    feature_days: int | None = None
    #: The last receipt day of the latest label window (default: the last one the history
    #: can label).
    label_end: dt.date | None = None
    leakage_features: bool = False
    cv: str = "time"
    folds: int = 5
    n_estimators: int = 1500
    learning_rate: float = 0.05
    num_leaves: int = 63
    min_child_samples: int = 100
    feature_fraction: float = 0.8
    early_stopping_rounds: int = 50
    stack: bool = True
    seed: int = 0
    threads: int = 2
    #: Train on a sample of the labelled receipts when the windows hold more than this
    #: (``None``: never sample). See :class:`TrainingSample`.
    max_training_rows: int | None = DEFAULT_MAX_TRAINING_ROWS

    def __post_init__(self) -> None:
        if self.cv not in STRATEGIES:
            raise InputError(
                f"unknown CV strategy {self.cv!r}: expected one of {', '.join(STRATEGIES)}"
            )
        if self.n_estimators < 1:
            raise InputError("n_estimators must be at least 1")
        if self.max_training_rows is not None and self.max_training_rows < 1:
            raise InputError("max_training_rows must be at least 1")

    def lightgbm_params(self) -> dict[str, Any]:
        """The LightGBM parameters these options stand for."""
        return {
            "objective": "binary",
            "metric": "auc",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": 0.9,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.seed,
            "num_threads": self.threads,
            "verbose": -1,
            "deterministic": True,
            "force_col_wise": True,
        }


@dataclass(frozen=True, repr=False)
class TrainingSample(Result):
    """How many labelled receipts the label windows hold and how many training used.

    Above ``max_rows`` the feature table is filtered on the engine before it is pulled into
    memory, keeping a share ``fraction`` of receipts chosen by their line number
    (:func:`~couponlens.sampling.keep_share`): the same receipts on every engine for a seed,
    and each kept receipt's features are computed from the full history.

    Example:
        >>> TrainingSample(receipts=10, used=10, fraction=1.0, max_rows=None, engine="duckdb").note()
        'trained on all 10 labelled receipts (engine: duckdb)'
    """

    receipts: int
    used: int
    fraction: float
    max_rows: int | None
    engine: str

    @property
    def sampled(self) -> bool:
        """True when training used a sample."""
        return self.fraction < 1

    def note(self) -> str:
        """One line for stdout and the manifest."""
        if not self.sampled:
            return f"trained on all {self.receipts:,} labelled receipts (engine: {self.engine})"
        return (
            f"trained on a sample of {self.used:,} of {self.receipts:,} labelled receipts "
            f"({self.fraction:.1%}, by line number; the row cap is {self.max_rows:,}; "
            f"engine: {self.engine})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "sampled": self.sampled, "note": self.note()}


def training_sample(history: ir.Table, plan: WindowPlan, max_rows: int | None) -> tuple[int, float]:
    """(labelled receipts in the plan's label windows, the share to keep under ``max_rows``)."""
    receipts = 0
    for pair in plan.pairs:
        receipts += int(label_rows(history, pair, plan.label_days).count().execute())
    if max_rows is None or receipts <= max_rows:
        return receipts, 1.0
    return receipts, max_rows / receipts


@dataclass(frozen=True, repr=False)
class FoldResult(Result):
    """One validation split: its size, LightGBM's best iteration and both models' metrics."""

    name: str
    train_receipts: int
    valid_receipts: int
    best_iteration: int
    lightgbm: ModelMetrics
    logistic: ModelMetrics


@dataclass(frozen=True, repr=False)
class TrainResult(Result):
    """A trained model with its validation evidence.

    ``chosen`` is the model that scores: ``lightgbm``, ``logistic`` or ``stack`` (a stack only
    when it beat both on cross-fitted validation predictions, else the better single model).
    """

    model: O2OModel
    plan: WindowPlan
    folds: list[FoldResult]
    validation: ModelMetrics
    stack: StackDecision
    chosen: str
    importance: pd.DataFrame
    validation_predictions: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    sample: TrainingSample | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "training_sample": None if self.sample is None else self.sample.to_dict(),
            "leakage_features": self.model.leakage_features,
            "plan": self.plan.to_dict(),
            "validation": self.validation.to_dict(),
            "folds": [f.to_dict() for f in self.folds],
            "stack": self.stack.to_dict(),
            "importance": self.importance.head(30).to_dict(orient="records"),
            "seconds": self.seconds,
        }


def training_frame(
    history: ir.Table,
    plan: WindowPlan,
    *,
    leakage: bool = False,
    fraction: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Labelled feature rows for every pair of ``plan``, oldest window first (column ``window``).

    ``fraction`` below 1 keeps that share of the receipts (:func:`~couponlens.sampling.keep_share`
    on ``line_number``), filtered on the engine after the features are built.
    """
    frames = []
    for pair in plan.pairs:
        features = pair_features(
            history, pair, plan.label_days, leakage=leakage, fraction=fraction, seed=seed
        )
        frame = to_frame(features)
        # a column added by concat, not insert: to_frame's frames keep a block per column,
        # and pandas warns on inserting into more than a hundred blocks
        window = pd.DataFrame({"window": pair.name}, index=frame.index)
        frames.append(pd.concat([window, frame], axis=1))
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise InputError("the label windows hold no coupon receipts: nothing to train on")
    frame["label"] = frame["label"].astype(np.int64)
    return frame


def _matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    return frame[features].astype(np.float64)


def fit_logistic(frame: pd.DataFrame, features: list[str], seed: int = 0) -> LogisticParams:
    """The baseline: logistic regression on signed-log1p, median-imputed, standardised features."""
    x = signed_log1p(_matrix(frame, features).to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(x, axis=0)
    medians = np.where(np.isnan(medians), 0.0, medians)
    x = np.where(np.isnan(x), medians, x)
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales = np.where(scales > 0, scales, 1.0)
    x = (x - means) / scales
    y = frame["label"].to_numpy()
    model = LogisticRegression(C=1.0, max_iter=300, random_state=seed).fit(x, y)
    return LogisticParams(
        features=list(features),
        medians=medians.tolist(),
        means=means.tolist(),
        scales=scales.tolist(),
        coef=model.coef_[0].tolist(),
        intercept=float(model.intercept_[0]),
    )


def _fit_lightgbm(
    options: TrainOptions,
    train: pd.DataFrame,
    features: list[str],
    valid: pd.DataFrame | None = None,
    rounds: int | None = None,
) -> lgb.Booster:
    params = options.lightgbm_params()
    train_set = lgb.Dataset(_matrix(train, features), train["label"], free_raw_data=True)
    if valid is None:
        return lgb.train(params, train_set, num_boost_round=rounds or options.n_estimators)
    valid_set = lgb.Dataset(_matrix(valid, features), valid["label"], reference=train_set)
    return lgb.train(
        params,
        train_set,
        num_boost_round=options.n_estimators,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(options.early_stopping_rounds, verbose=False)],
    )


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def train_o2o(history: ir.Table, options: TrainOptions | None = None) -> TrainResult:
    """Plan windows over ``history`` (a canonical O2O table), validate, and fit the final model."""
    options = options or TrainOptions()
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    plan = plan_for_history(
        history,
        label_days=options.label_days,
        label_window_days=options.label_window_days,
        pairs=options.pairs,
        feature_days=options.feature_days,
        label_end=options.label_end,
    )
    receipts, fraction = training_sample(history, plan, options.max_training_rows)
    frame = training_frame(
        history, plan, leakage=options.leakage_features, fraction=fraction, seed=options.seed
    )
    sample = TrainingSample(
        receipts=receipts,
        used=len(frame),
        fraction=fraction,
        max_rows=options.max_training_rows,
        engine=engine_name(backend_of(history)),
    )
    seconds["features"] = time.perf_counter() - began
    features = feature_names(options.leakage_features)
    if frame["label"].nunique() < 2:
        raise InputError("every training receipt has the same label: nothing to learn")

    began = time.perf_counter()
    splits = make_splits(frame, options.cv, folds=options.folds, seed=options.seed)
    oof_lgb = np.full(len(frame), np.nan)
    oof_lr = np.full(len(frame), np.nan)
    folds: list[FoldResult] = []
    for split in splits:
        train, valid = frame.iloc[split.train], frame.iloc[split.valid]
        if train["label"].nunique() < 2:
            raise InputError(f"split {split.name}: the training part has labels of one class only")
        booster = _fit_lightgbm(options, train, features, valid)
        p_lgb = booster.predict(_matrix(valid, features), num_iteration=booster.best_iteration)
        logistic = fit_logistic(train, features, options.seed)
        p_lr = logistic.predict(valid)
        oof_lgb[split.valid], oof_lr[split.valid] = p_lgb, p_lr
        folds.append(
            FoldResult(
                name=split.name,
                train_receipts=len(train),
                valid_receipts=len(valid),
                best_iteration=int(booster.best_iteration or options.n_estimators),
                lightgbm=evaluate_scores(valid["coupon_id"], valid["label"], p_lgb),
                logistic=evaluate_scores(valid["coupon_id"], valid["label"], p_lr),
            )
        )
    seconds["validation"] = time.perf_counter() - began

    scored = ~np.isnan(oof_lgb)
    valid_all = frame.loc[scored]
    if options.stack:
        decision = decide_stack(
            {"lightgbm": oof_lgb[scored], "logistic": oof_lr[scored]},
            valid_all["label"].to_numpy(),
            valid_all["coupon_id"].to_numpy(),
            seed=options.seed,
        )
    else:
        decision = StackDecision(False, "lightgbm", None, None, None, None, "stacking switched off")

    if decision.kept and decision.params is not None:
        chosen = "stack"
        p_valid = decision.params.predict([oof_lgb[scored], oof_lr[scored]])
    else:
        chosen = decision.best_single if options.stack else "lightgbm"
        p_valid = oof_lgb[scored] if chosen == "lightgbm" else oof_lr[scored]

    began = time.perf_counter()
    best_iteration = int(np.mean([f.best_iteration for f in folds]))
    grown = len(frame) / max(1.0, float(np.mean([f.train_receipts for f in folds])))
    final_rounds = max(1, int(round(best_iteration * min(grown, 1.5))))
    booster = _fit_lightgbm(options, frame, features, rounds=final_rounds)
    logistic_final = fit_logistic(frame, features, options.seed) if chosen != "lightgbm" else None
    seconds["final_fit"] = time.perf_counter() - began
    validation = evaluate_scores(valid_all["coupon_id"], valid_all["label"], p_valid)
    predictions = valid_all[
        ["window", "line_number", "user_id", "coupon_id", "date_received", "label"]
    ].copy()
    predictions["probability"] = p_valid
    predictions["lightgbm"] = oof_lgb[scored]
    predictions["logistic"] = oof_lr[scored]

    first, last, last_purchase = history_dates(history)
    info: dict[str, Any] = {
        "task": "o2o-redemption",
        "leakage_features": options.leakage_features,
        "label_rule": {
            "label_days": plan.label_days,
            "text": LABEL_RULE.format(days=plan.label_days),
        },
        "windows": {
            "pairs": [p.to_dict() for p in plan.pairs],
            "feature_days": plan.feature_days,
            "label_window_days": options.label_window_days,
            "history": {
                "first_receipt": first,
                "last_receipt": last,
                "last_purchase": last_purchase,
            },
        },
        "cv": options.cv,
        "chosen": chosen,
        "final_rounds": final_rounds,
        "options": {**asdict(options), "label_end": _iso(options.label_end)},
        "lightgbm_params": options.lightgbm_params(),
        "training_receipts": len(frame),
        "training_sample": sample.to_dict(),
        "metrics": {
            "validation": validation.to_dict(),
            "folds": [f.to_dict() for f in folds],
            "stack": decision.to_dict(),
        },
    }
    model = O2OModel(
        booster=booster,
        features=features,
        info=info,
        logistic=logistic_final,
        stack=decision.params if decision.kept else None,
    )
    importance = model.importance()
    model.info["importance"] = importance.head(30).to_dict(orient="records")
    return TrainResult(
        model=model,
        plan=plan,
        folds=folds,
        validation=validation,
        stack=decision,
        chosen=chosen,
        importance=importance,
        validation_predictions=predictions,
        seconds={k: round(v, 3) for k, v in seconds.items()},
        sample=sample,
    )


def _as_date(value: object) -> dt.date:
    return value.date() if hasattr(value, "date") else value  # type: ignore[return-value]


def prediction_pair(model: O2OModel, candidates: ir.Table) -> WindowPair:
    """The feature window for scoring ``candidates``: the model's length, ending the day before them."""
    row = candidates.aggregate(
        first=candidates.date_received.min(), last=candidates.date_received.max()
    ).execute()
    first, last = row["first"].iloc[0], row["last"].iloc[0]
    if first is None or first != first:
        raise InputError("the candidates hold no receipts (Date_received is empty everywhere)")
    plan = WindowPlan(
        pairs=[],
        label_days=int(model.info["label_rule"]["label_days"]),
        feature_days=int(model.info["windows"]["feature_days"]),
    )
    return plan.prediction_pair(_as_date(first), _as_date(last))


@dataclass(frozen=True, repr=False)
class Scores(Result):
    """Probabilities for candidate receipts, in the candidates' order, and how they were made."""

    frame: pd.DataFrame
    window: WindowPair
    leakage_features: bool
    warnings: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        return self.frame


def score_o2o(model: O2OModel, history: ir.Table, candidates: ir.Table) -> Scores:
    """Score every candidate receipt (canonical table with ``line_number``) from ``history``.

    The feature window has the length the model was trained with and ends the day before the
    first candidate; only history up to that day is read. Returns one row per candidate in
    ``line_number`` order with the candidate columns, the features and ``probability``.
    """
    pair = prediction_pair(model, candidates)
    notes: list[str] = []
    first, last, last_purchase = history_dates(history)
    seen_until = max(last, last_purchase or last)
    if seen_until < pair.feature_end:
        notes.append(
            f"the history ends on {seen_until}, {(pair.feature_end - seen_until).days} days before the "
            f"feature window's end ({pair.feature_end}): recent behaviour is missing from the features"
        )
    if first > pair.feature_start:
        notes.append(
            f"the history starts on {first}, after the feature window's start ({pair.feature_start})"
        )
    features = build_features(
        history,
        candidates,
        pair,
        label_days=int(model.info["label_rule"]["label_days"]),
        leakage=model.leakage_features,
    )
    frame = to_frame(features)
    probability = pd.DataFrame({"probability": model.predict(frame)}, index=frame.index)
    frame = pd.concat([frame, probability], axis=1)  # see training_frame: not an insert
    return Scores(frame=frame, window=pair, leakage_features=model.leakage_features, warnings=notes)


@dataclass(frozen=True, repr=False)
class Evaluation(Result):
    """A model scored on labelled receipts: metrics and the scored rows."""

    metrics: ModelMetrics
    scored: pd.DataFrame
    window: WindowPair
    leakage_features: bool
    warnings: list[str] = field(default_factory=list)


def evaluate_o2o(
    model: O2OModel, history: ir.Table, labelled: ir.Table, *, since: dt.date | None = None
) -> Evaluation:
    """Score the receipts of ``labelled`` (train layout, with purchase dates) and measure the model.

    Receipts are labelled with the model's own rule; ``since`` keeps receipts from that day on.
    """
    schema = labelled.schema()
    if "purchase_date" not in schema:
        raise InputError(
            "the labelled file needs purchase dates (the train layout with Date) to know which receipts were used"
        )
    label_days = int(model.info["label_rule"]["label_days"])
    rows = labelled.filter(labelled.coupon_id.notnull())
    if since is not None:
        rows = rows.filter(rows.date_received >= since)
    used = rows.purchase_date.notnull() & (
        rows.purchase_date.delta(rows.date_received, unit="day") <= label_days
    )
    rows = rows.mutate(label=used.cast("int64"))
    scores = score_o2o(model, history, rows.drop("label"))
    labels = rows.select("line_number", "label").to_pandas()
    scored = scores.frame.merge(labels, on="line_number", how="left", validate="one_to_one")
    metrics = evaluate_scores(scored["coupon_id"], scored["label"], scored["probability"])
    return Evaluation(metrics, scored, scores.window, model.leakage_features, scores.warnings)
