"""AmExpert redemption model: campaign-grouped CV, LightGBM + logistic baseline, model folder.

Training builds the point-in-time features of :mod:`couponlens.features.amexpert` for every
``train.csv`` offer and validates them by **campaign-grouped** K-fold by default
(:func:`couponlens.models.cv.make_splits` with ``strategy="group"`` on ``campaign_id``): the
competition's test campaigns do not overlap the train campaigns, so a stratified split
(``cv="stratified"``), where rows of one campaign sit on both sides, overstates the AUC.

LightGBM runs a fixed number of rounds (:data:`DEFAULT_ROUNDS`, small learning rate, strong
regularisation): with under 1% positives and a handful of campaigns, early stopping on a
held-out slice of a fold's training campaigns chose between 1 and 180 rounds on the real
tables and cost about 4 AUC points. The logistic baseline of
:func:`couponlens.models.train.fit_logistic` is scored on the same folds; the model that wins
the pooled out-of-fold AUC, or their blend (:data:`BLEND`, the average of their log-odds)
when it beats both, is the one saved as ``chosen``. Both are refitted on every row.

The model folder is the one of :mod:`couponlens.models.artifact` (LightGBM text model,
``logistic.json``, ``manifest.json`` with feature list, CV metrics, library versions and the
SHA-256 of every file; checked on load, no pickle), with ``task: amexpert`` in the manifest.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.amexpert import load_amexpert
    >>> from couponlens.datasets.amexpert_synthetic import write_amexpert
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_amexpert(folder / "data", seed=4, customers=150)
    >>> data = load_amexpert(folder / "data")
    >>> trained = train_amexpert(data, n_splits=3, rounds=40, threads=1)
    >>> trained.cv.strategy, trained.cv.folds
    ('campaign', 3)
    >>> trained.cv.auc > 0.6
    True
    >>> _ = save_amexpert_model(trained.model, folder / "model")
    >>> load_amexpert_model(folder / "model").features == trained.model.features
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from couponlens._results import Result
from couponlens.datasets.amexpert import AmExpertData
from couponlens.errors import InputError
from couponlens.features.amexpert import build_features, feature_names
from couponlens.models.artifact import (
    ModelFileError,
    O2OModel,
    library_versions,
    load_model,
    save_model,
)
from couponlens.models.cv import make_splits
from couponlens.models.metrics import evaluate_scores
from couponlens.models.stack import StackParams
from couponlens.models.train import fit_logistic

#: ``campaign``: GroupKFold by campaign (the default); ``stratified``: shuffled stratified K-fold.
CV_STRATEGIES: tuple[str, ...] = ("campaign", "stratified")
TASK = "amexpert"

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_child_samples": 100,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "verbose": -1,
    "num_threads": 1,
}
DEFAULT_ROUNDS = 150

#: The blend: the average of LightGBM's and the logistic baseline's log-odds (fixed weights,
#: nothing fitted, so its out-of-fold AUC is as honest as the two it averages).
BLEND = StackParams(models=["lightgbm", "logistic"], coef=[0.5, 0.5], intercept=0.0)

#: A model folder holds this model class (shared with O2O; ``info["task"]`` tells them apart).
AmExpertModel = O2OModel


@dataclass(frozen=True, repr=False)
class CVResult(Result):
    """Out-of-fold validation of LightGBM and the logistic baseline.

    ``auc`` / ``baseline_auc`` are the ROC AUC of the pooled out-of-fold predictions;
    ``blend_auc`` that of :data:`BLEND` (the average log-odds of the two);
    ``fold_aucs`` the LightGBM AUC per fold (None where a fold holds one class only);
    ``chosen`` (``lightgbm``, ``logistic`` or ``blend``) the one with the highest pooled AUC.
    """

    strategy: str
    folds: int
    rows: int
    positives: int
    campaigns: int
    auc: float | None
    pr_auc: float | None
    log_loss: float | None
    lift_top10: float | None
    baseline_auc: float | None
    blend_auc: float | None
    fold_aucs: list[float | None]
    chosen: str
    state: str = "ok"


@dataclass(frozen=True)
class TrainedAmExpert:
    """What :func:`train_amexpert` returns: the final model, its CV, out-of-fold scores, importance.

    ``out_of_fold`` has ``id, campaign_id, coupon_id, label, lightgbm, logistic, blend,
    probability``
    (``probability`` is the chosen model's score).
    """

    model: O2OModel
    cv: CVResult
    out_of_fold: pd.DataFrame
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    if not 0 < y.sum() < len(y) or np.isnan(p).any():
        return None
    return float(roc_auc_score(y, p))


def _params(threads: int, seed: int, params: dict[str, Any] | None) -> dict[str, Any]:
    return {**DEFAULT_PARAMS, "num_threads": threads, "seed": seed, **(params or {})}


def _fit_booster(
    frame: pd.DataFrame, features: list[str], params: dict[str, Any], rounds: int
) -> lgb.Booster:
    data = lgb.Dataset(frame[features].astype(np.float64), frame["label"].to_numpy())
    return lgb.train(params, data, num_boost_round=rounds)


def cross_validate(
    frame: pd.DataFrame,
    features: list[str],
    *,
    strategy: str = "campaign",
    n_splits: int = 5,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    threads: int = 1,
    params: dict[str, Any] | None = None,
) -> tuple[CVResult, pd.DataFrame]:
    """Out-of-fold scores of LightGBM and the logistic baseline on a labelled feature frame.

    ``frame`` needs ``id``, ``campaign_id``, ``coupon_id``, ``label`` (0/1) and ``features``.
    ``strategy="campaign"`` keeps each campaign whole (group K-fold, at most one fold per
    campaign); ``"stratified"`` is a shuffled stratified K-fold, for comparison.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> f = pd.DataFrame({"id": range(900), "campaign_id": np.arange(900) % 6,
        ...                   "coupon_id": np.arange(900) % 9, "x": rng.normal(size=900)})
        >>> f["label"] = (f.x + rng.normal(size=900) > 1.5).astype(int)
        >>> result, oof = cross_validate(f, ["x"], n_splits=3, rounds=30, threads=1)
        >>> result.auc > 0.7 and result.baseline_auc > 0.7
        True
    """
    if strategy not in CV_STRATEGIES:
        raise InputError(
            f"unknown CV strategy {strategy!r}; expected one of {', '.join(CV_STRATEGIES)}"
        )
    y = frame["label"].to_numpy().astype(np.int64)
    campaigns = int(frame["campaign_id"].nunique())
    if strategy == "campaign":
        if campaigns < 2:
            raise InputError(f"campaign-grouped CV needs at least 2 campaigns, found {campaigns}")
        splits = make_splits(
            frame, "group", folds=min(n_splits, campaigns), group_column="campaign_id"
        )
    else:
        splits = make_splits(frame, "stratified", folds=n_splits, seed=seed)
    full = _params(threads, seed, params)
    oof = np.full(len(y), np.nan)
    oof_base = np.full(len(y), np.nan)
    fold_aucs: list[float | None] = []
    for split in splits:
        train = frame.iloc[split.train]
        valid = frame.iloc[split.valid]
        booster = _fit_booster(train, features, full, rounds)
        oof[split.valid] = booster.predict(valid[features].astype(np.float64))
        fold_aucs.append(_auc(y[split.valid], oof[split.valid]))
        if 0 < int(train["label"].sum()) < len(train):
            with threadpool_limits(limits=threads), np.errstate(over="ignore"):
                # One BLAS thread: oversubscription cost 10x; exp overflow means probability 0.
                oof_base[split.valid] = fit_logistic(train, features, seed).predict(valid)
    two_classes = 0 < y.sum() < len(y)
    auc = _auc(y, oof)
    baseline_auc = _auc(y, oof_base)
    oof_blend = (
        BLEND.predict([oof, oof_base]) if baseline_auc is not None else np.full(len(y), np.nan)
    )
    blend_auc = _auc(y, oof_blend)
    candidates = {"lightgbm": auc, "logistic": baseline_auc, "blend": blend_auc}
    chosen = max(candidates, key=lambda k: -1.0 if candidates[k] is None else candidates[k])  # type: ignore[arg-type, return-value]
    metrics = evaluate_scores(
        frame["coupon_id"], y, {"lightgbm": oof, "logistic": oof_base, "blend": oof_blend}[chosen]
    )
    result = CVResult(
        strategy=strategy,
        folds=len(splits),
        rows=len(y),
        positives=int(y.sum()),
        campaigns=campaigns,
        auc=auc,
        pr_auc=metrics.pr_auc,
        log_loss=metrics.log_loss,
        lift_top10=metrics.lift.get("0.1"),
        baseline_auc=baseline_auc,
        blend_auc=blend_auc,
        fold_aucs=fold_aucs,
        chosen=chosen,
        state="ok" if two_classes else "not estimable: the labels are all one class",
    )
    scores = pd.DataFrame(
        {
            "id": frame["id"].to_numpy(),
            "campaign_id": frame["campaign_id"].to_numpy(),
            "coupon_id": frame["coupon_id"].to_numpy(),
            "label": y,
            "lightgbm": oof,
            "logistic": oof_base,
            "blend": oof_blend,
        }
    )
    scores["probability"] = scores[chosen]
    return result, scores


def training_frame(data: AmExpertData, *, use_transactions: bool | None = None) -> pd.DataFrame:
    """The labelled feature frame (``label`` = ``redemption_status``) for every ``train.csv`` row, in file order.

    Example:
        >>> import tempfile
        >>> from couponlens.datasets.amexpert import load_amexpert
        >>> from couponlens.datasets.amexpert_synthetic import write_amexpert
        >>> out = write_amexpert(tempfile.mkdtemp(), seed=2, customers=40)
        >>> frame = training_frame(load_amexpert(out.folder))
        >>> len(frame) == out.train_rows, set(frame["label"]) <= {0, 1}
        (True, True)
    """
    table = build_features(data, data.train, use_transactions=use_transactions)
    labels = data.train.select("id", "redemption_status", "line_number")
    joined = table.join(labels, "id").order_by("line_number").drop("line_number")
    frame = joined.execute().rename(columns={"redemption_status": "label"})
    frame["label"] = frame["label"].astype(np.int64)
    return frame


def train_amexpert(
    data: AmExpertData,
    *,
    use_transactions: bool | None = None,
    cv: str = "campaign",
    n_splits: int = 5,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    threads: int = 1,
    params: dict[str, Any] | None = None,
) -> TrainedAmExpert:
    """Build features, cross-validate, and fit the final models on every ``train.csv`` row.

    Args:
        data: the loaded tables.
        use_transactions: use the purchase-history features (default: when transactions exist).
        cv: ``"campaign"`` (group K-fold by campaign, the default) or ``"stratified"``.
        n_splits: folds (at most one per campaign).
        rounds: LightGBM boosting rounds.
        seed: random seed (LightGBM, splits).
        threads: LightGBM threads.
        params: LightGBM parameters over :data:`DEFAULT_PARAMS`.

    Raises:
        InputError: no redemptions (or no non-redemptions) in ``train.csv``, fewer than two
            campaigns for campaign-grouped CV, or transactions asked for but absent.

    Example: see the module docstring.
    """
    if use_transactions is None:
        use_transactions = data.has_transactions
    if rounds < 1:
        raise InputError(f"rounds must be at least 1, got {rounds}")
    frame = training_frame(data, use_transactions=use_transactions)
    features = feature_names(use_transactions)
    y = frame["label"].to_numpy()
    if not 0 < y.sum() < len(y):
        state = "no rows" if not len(y) else f"all {int(y[0])}"
        raise InputError(
            f"{Path(data.report.folder) / 'train.csv'}: redemption_status is {state}; "
            "a model needs both redeemed (1) and not redeemed (0) offers"
        )
    result, oof = cross_validate(
        frame,
        features,
        strategy=cv,
        n_splits=n_splits,
        rounds=rounds,
        seed=seed,
        threads=threads,
        params=params,
    )
    full = _params(threads, seed, params)
    booster = _fit_booster(frame, features, full, rounds)
    with threadpool_limits(limits=threads):
        logistic = fit_logistic(frame, features, seed)
    info: dict[str, Any] = {
        "task": TASK,
        "uses_transactions": use_transactions,
        "leakage_features": False,
        "chosen": "stack" if result.chosen == "blend" else result.chosen,
        "cv": cv,
        "label_rule": {
            "text": "redemption_status: the customer redeemed the coupon during the campaign"
        },
        "point_in_time": "features use purchases dated before the campaign's start, labels of "
        "campaigns that ended before it, and offers of campaigns that started before it",
        "training": {
            "folder": data.report.folder,
            "rows": len(frame),
            "positives": int(y.sum()),
            "campaigns": result.campaigns,
            "rounds": rounds,
            "params": full,
        },
        "metrics": result.to_dict(),
        "versions": library_versions(),
    }
    model = O2OModel(
        booster=booster,
        features=features,
        info=info,
        logistic=logistic,
        stack=BLEND if result.chosen == "blend" else None,
    )
    return TrainedAmExpert(model=model, cv=result, out_of_fold=oof, importance=model.importance())


def save_amexpert_model(model: O2OModel, folder: str | Path) -> Path:
    """Write the model folder (see :func:`couponlens.models.artifact.save_model`).

    Example: see the module docstring.
    """
    if model.info.get("task") != TASK:
        raise ModelFileError("not an AmExpert model (its manifest lacks task: amexpert)")
    return save_model(model, folder)


def load_amexpert_model(folder: str | Path) -> O2OModel:
    """Read a model folder, refusing it when a checksum differs or it is not an AmExpert model.

    Example: see the module docstring.
    """
    model = load_model(folder)
    if model.info.get("task") != TASK:
        raise ModelFileError(
            f"{folder}: not an AmExpert model (task {model.info.get('task', 'o2o')!r}); "
            "train one with `couponlens amexpert train`"
        )
    uses = bool(model.info.get("uses_transactions"))
    if model.features != feature_names(uses):
        raise ModelFileError(
            f"{folder}: the model's features differ from this couponlens version's AmExpert "
            "features; retrain the model"
        )
    return model


def predict_amexpert(model: O2OModel, data: AmExpertData, candidates: ir.Table) -> pd.DataFrame:
    """Score candidate offers: ``id, redemption_status`` (a probability), in input order.

    ``candidates`` is a table in the test layout (e.g. from
    :func:`couponlens.datasets.amexpert.load_candidates`); rows keep their ``line_number``
    order when it is present, else ``id`` order.

    Raises:
        InputError: the model uses purchase history and ``data`` has no transactions.

    Example:
        >>> import tempfile, pathlib
        >>> from couponlens.datasets.amexpert import load_amexpert
        >>> from couponlens.datasets.amexpert_synthetic import write_amexpert
        >>> out = write_amexpert(tempfile.mkdtemp(), seed=5, customers=120)
        >>> data = load_amexpert(out.folder)
        >>> model = train_amexpert(data, n_splits=3, rounds=20, threads=1).model
        >>> scores = predict_amexpert(model, data, data.test)
        >>> list(scores.columns), len(scores) == out.test_rows
        (['id', 'redemption_status'], True)
    """
    uses = bool(model.info.get("uses_transactions"))
    if uses and not data.has_transactions:
        raise InputError(
            "this model uses purchase-history features, but customer_transaction_data.csv is "
            f"not in {data.report.folder}"
        )
    table = build_features(data, candidates, use_transactions=uses)
    order = "line_number" if "line_number" in candidates.columns else "id"
    keys = candidates.select(_key="id", _order=candidates[order])
    joined = table.join(keys, table.id == keys._key).order_by("_order").drop("_key", "_order")
    frame = joined.execute()
    expected = int(candidates.count().execute())
    if len(frame) != expected:
        raise InputError(f"scored {len(frame)} of {expected} candidate rows")
    if frame.empty:  # a candidates file with a header only: no rows to score, none to write
        return pd.DataFrame({"id": frame["id"].to_numpy(), "redemption_status": np.array([])})
    with np.errstate(over="ignore"):  # exp overflow in the logistic part: probability 0
        probability = model.predict(frame)
    return pd.DataFrame({"id": frame["id"].to_numpy(), "redemption_status": probability})
