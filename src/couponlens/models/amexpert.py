"""AmExpert redemption model: campaign-grouped CV, LightGBM + logistic baseline, model folder.

Training builds the point-in-time features of :mod:`couponlens.features.amexpert` for every
``train.csv`` offer and validates by **campaign-grouped** K-fold by default (scikit-learn's
``GroupKFold`` on ``campaign_id``): the test campaigns of the competition do not overlap the
train campaigns, so a random split (``cv="random"``), where rows of the same campaign sit on
both sides, overstates the AUC. Inside each fold LightGBM stops early on a held-out part of the
fold's *training* campaigns (never on the fold being scored). A scikit-learn logistic regression
(median imputation with missing-value indicators, standardised) is scored on the same folds as a
baseline. The final LightGBM is refitted on every row with the median of the folds' best
iteration counts.

The model folder holds LightGBM's own text model (``model.txt``) and ``manifest.json`` (features
and their types, whether purchase-history features were used, the CV strategy and metrics, the
library versions, and the SHA-256 of every file). Loading checks the checksums; no pickle.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.amexpert import load_amexpert
    >>> from couponlens.datasets.amexpert_synthetic import write_amexpert
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_amexpert(folder / "data", seed=4, customers=150)
    >>> data = load_amexpert(folder / "data")
    >>> trained = train_amexpert(data, n_splits=3)
    >>> trained.cv.strategy, trained.cv.folds
    ('campaign', 3)
    >>> trained.cv.auc > 0.6
    True
    >>> _ = save_model(trained.model, folder / "model")
    >>> load_model(folder / "model").features == trained.model.features
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import lightgbm as lgb
import numpy as np
import pandas as pd
import sklearn
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from couponlens._results import Result
from couponlens.datasets.amexpert import AmExpertData
from couponlens.errors import CouponlensError, InputError
from couponlens.features.amexpert import build_features, feature_names

CV_STRATEGIES: tuple[str, ...] = ("campaign", "random")
MODEL_FILE = "model.txt"
MANIFEST_FILE = "manifest.json"
MODEL_KIND = "couponlens.amexpert.redemption"
FORMAT_VERSION = 1

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 2,
}
MAX_ROUNDS = 1000
EARLY_STOPPING_ROUNDS = 50


class ModelError(CouponlensError):
    """A model folder is missing, tampered with or does not fit the data it is given."""


@dataclass(frozen=True, repr=False)
class CVResult(Result):
    """Out-of-fold validation of the LightGBM model and the logistic baseline.

    ``auc`` is the ROC AUC of the pooled out-of-fold predictions; ``fold_aucs`` are per fold
    (None where a fold has one class only).
    """

    strategy: str
    folds: int
    rows: int
    positives: int
    auc: float | None
    pr_auc: float | None
    log_loss: float | None
    fold_aucs: list[float | None]
    baseline_auc: float | None
    best_iterations: list[int]
    state: str = "ok"


@dataclass(frozen=True)
class AmExpertModel:
    """A fitted LightGBM booster with its feature list and manifest."""

    booster: lgb.Booster
    features: list[str]
    uses_transactions: bool
    manifest: dict[str, Any] = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Redemption probabilities for a feature frame holding :attr:`features`."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise ModelError(f"the feature table lacks {', '.join(missing)}")
        return np.asarray(self.booster.predict(_matrix(frame, self.features)), dtype=np.float64)


@dataclass(frozen=True)
class TrainedAmExpert:
    """What :func:`train_amexpert` returns: the final model, its CV and the OOF scores."""

    model: AmExpertModel
    cv: CVResult
    out_of_fold: pd.DataFrame


def _matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    return frame[features].astype("float64").to_numpy()


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None


def _fit_booster(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    params: dict[str, Any],
    seed: int,
) -> lgb.Booster:
    """Fit with early stopping on a held-out 20% of ``x`` (by group when groups are given)."""
    if groups is not None and len(np.unique(groups)) >= 3:
        splitter = GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
        fit_idx, stop_idx = next(splitter.split(x, y, groups))
    else:
        fit_idx, stop_idx = train_test_split(
            np.arange(len(y)),
            test_size=0.2,
            random_state=seed,
            stratify=y if y.sum() >= 2 else None,
        )
    if y[stop_idx].sum() == 0 or y[stop_idx].sum() == len(stop_idx):
        fit_idx, stop_idx = train_test_split(
            np.arange(len(y)),
            test_size=0.2,
            random_state=seed,
            stratify=y if y.sum() >= 2 else None,
        )
    full = {**params, "seed": seed, "metric": "auc"}
    train_set = lgb.Dataset(x[fit_idx], y[fit_idx], free_raw_data=False)
    stop_set = lgb.Dataset(x[stop_idx], y[stop_idx], reference=train_set)
    return lgb.train(
        full,
        train_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[stop_set],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )


def _baseline() -> Any:
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000, C=1.0),
    )


def cross_validate(
    frame: pd.DataFrame,
    features: list[str],
    *,
    strategy: str = "campaign",
    n_splits: int = 5,
    seed: int = 0,
    params: dict[str, Any] | None = None,
) -> tuple[CVResult, pd.DataFrame]:
    """Out-of-fold scores of LightGBM and the logistic baseline on a labelled feature frame.

    ``frame`` needs ``campaign_id``, ``redemption_status`` and ``features``.
    ``strategy="campaign"`` groups folds by campaign (GroupKFold); ``"random"`` is a stratified
    shuffled K-fold, for comparison. Returns the result and a frame ``id, lightgbm, logistic``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> f = pd.DataFrame({"id": range(600), "campaign_id": np.arange(600) % 6,
        ...                   "x": rng.normal(size=600)})
        >>> f["redemption_status"] = (f.x + rng.normal(size=600) > 1.5).astype(int)
        >>> result, oof = cross_validate(f, ["x"], n_splits=3)
        >>> result.auc > 0.7 and result.baseline_auc > 0.7
        True
    """
    if strategy not in CV_STRATEGIES:
        raise InputError(
            f"unknown CV strategy {strategy!r}; expected one of {', '.join(CV_STRATEGIES)}"
        )
    params = {**DEFAULT_PARAMS, **(params or {})}
    y = frame["redemption_status"].to_numpy().astype(np.int64)
    groups = frame["campaign_id"].to_numpy()
    x = _matrix(frame, features)
    n_groups = len(np.unique(groups))
    if strategy == "campaign":
        if n_groups < 2:
            raise InputError(f"campaign-grouped CV needs at least 2 campaigns, found {n_groups}")
        n_splits = min(n_splits, n_groups)
        splits = list(GroupKFold(n_splits=n_splits).split(x, y, groups))
    else:
        n_splits = max(2, min(n_splits, int(y.sum()), int(len(y) - y.sum())))
        splits = list(
            StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(x, y)
        )
    oof = np.full(len(y), np.nan)
    oof_base = np.full(len(y), np.nan)
    fold_aucs: list[float | None] = []
    best: list[int] = []
    for fold, (train_idx, valid_idx) in enumerate(splits):
        booster = _fit_booster(
            x[train_idx],
            y[train_idx],
            groups[train_idx] if strategy == "campaign" else None,
            params,
            seed + fold,
        )
        best.append(int(booster.best_iteration or booster.current_iteration()))
        oof[valid_idx] = booster.predict(x[valid_idx], num_iteration=booster.best_iteration)
        fold_aucs.append(_auc(y[valid_idx], oof[valid_idx]))
        if 0 < y[train_idx].sum() < len(train_idx):
            base = _baseline().fit(x[train_idx], y[train_idx])
            oof_base[valid_idx] = base.predict_proba(x[valid_idx])[:, 1]
    two_classes = 0 < y.sum() < len(y)
    base_ok = two_classes and not np.isnan(oof_base).any()
    result = CVResult(
        strategy=strategy,
        folds=len(splits),
        rows=len(y),
        positives=int(y.sum()),
        auc=_auc(y, oof),
        pr_auc=float(average_precision_score(y, oof)) if two_classes else None,
        log_loss=float(log_loss(y, np.clip(oof, 1e-15, 1 - 1e-15), labels=[0, 1]))
        if len(y)
        else None,
        fold_aucs=fold_aucs,
        baseline_auc=_auc(y, oof_base) if base_ok else None,
        best_iterations=best,
        state="ok" if two_classes else "not estimable: the labels are all one class",
    )
    scores = pd.DataFrame({"id": frame["id"].to_numpy(), "lightgbm": oof, "logistic": oof_base})
    return result, scores


def random_split_auc(
    frame: pd.DataFrame,
    features: list[str],
    *,
    test_size: float = 0.3,
    seed: int = 0,
    params: dict[str, Any] | None = None,
) -> float | None:
    """Test AUC of LightGBM on a stratified random ``1 - test_size`` / ``test_size`` split.

    This is seed 002's protocol (70/30), kept to show how much a random split overstates:
    rows of the same campaign and customer fall on both sides.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> f = pd.DataFrame({"x": rng.normal(size=800)})
        >>> f["redemption_status"] = (f.x + rng.normal(size=800) > 1).astype(int)
        >>> random_split_auc(f, ["x"]) > 0.7
        True
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    y = frame["redemption_status"].to_numpy().astype(np.int64)
    x = _matrix(frame, features)
    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=test_size, random_state=seed, stratify=y
    )
    booster = _fit_booster(x[train_idx], y[train_idx], None, params, seed)
    predicted = np.asarray(booster.predict(x[test_idx], num_iteration=booster.best_iteration))
    return _auc(y[test_idx], predicted)


def training_frame(data: AmExpertData, *, use_transactions: bool | None = None) -> pd.DataFrame:
    """The labelled feature frame for every ``train.csv`` row, in file order."""
    table = build_features(data, data.train, use_transactions=use_transactions)
    labels = data.train.select("id", "redemption_status", "line_number")
    joined = table.join(labels, "id").order_by("line_number").drop("line_number")
    return joined.execute()


def train_amexpert(
    data: AmExpertData,
    *,
    use_transactions: bool | None = None,
    cv: str = "campaign",
    n_splits: int = 5,
    seed: int = 0,
    params: dict[str, Any] | None = None,
) -> TrainedAmExpert:
    """Build features, cross-validate, and fit the final LightGBM on every train row.

    Args:
        data: the loaded tables.
        use_transactions: use the purchase-history features (default: when transactions exist).
        cv: ``"campaign"`` (GroupKFold by campaign, the default) or ``"random"``.
        n_splits: folds.
        seed: random seed (LightGBM, splits).
        params: LightGBM parameters over :data:`DEFAULT_PARAMS`.

    Raises:
        InputError: no redemptions (or no non-redemptions) in ``train.csv``.
    """
    if use_transactions is None:
        use_transactions = data.has_transactions
    frame = training_frame(data, use_transactions=use_transactions)
    features = feature_names(use_transactions)
    y = frame["redemption_status"].to_numpy()
    if not 0 < y.sum() < len(y):
        raise InputError(
            f"{data.report.folder}/train.csv: redemption_status is all {int(y[0]) if len(y) else '-'}; "
            "a model needs both redeemed (1) and not redeemed (0) offers"
        )
    result, oof = cross_validate(
        frame, features, strategy=cv, n_splits=n_splits, seed=seed, params=params
    )
    rounds = max(1, int(np.median(result.best_iterations)))
    full_params = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    booster = lgb.train(
        full_params, lgb.Dataset(_matrix(frame, features), y), num_boost_round=rounds
    )
    manifest = {
        "kind": MODEL_KIND,
        "format_version": FORMAT_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "features": [{"name": f, "type": "float64"} for f in features],
        "uses_transactions": use_transactions,
        "point_in_time": "features use purchases dated before the campaign start and labels of "
        "campaigns that ended before it",
        "label": "redemption_status (1 = the customer redeemed the coupon in the campaign)",
        "training": {
            "folder": data.report.folder,
            "rows": int(len(y)),
            "positives": int(y.sum()),
            "campaigns": int(frame["campaign_id"].nunique()),
            "rounds": rounds,
            "params": full_params,
        },
        "cv": result.to_dict(),
        "versions": _versions(),
    }
    model = AmExpertModel(
        booster=booster, features=features, uses_transactions=use_transactions, manifest=manifest
    )
    return TrainedAmExpert(model=model, cv=result, out_of_fold=oof)


def _versions() -> dict[str, str]:
    import couponlens

    return {
        "couponlens": couponlens.__version__,
        "lightgbm": lgb.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: AmExpertModel, folder: str | Path) -> Path:
    """Write ``model.txt`` and ``manifest.json`` (with the model file's SHA-256) to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / MODEL_FILE
    tmp = folder / (MODEL_FILE + ".tmp")
    model.booster.save_model(str(tmp))
    tmp.replace(model_path)
    manifest = {**model.manifest, "files": {MODEL_FILE: {"sha256": _sha256(model_path)}}}
    text = json.dumps(manifest, indent=2, sort_keys=False, default=str)
    tmp = folder / (MANIFEST_FILE + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(folder / MANIFEST_FILE)
    return folder


def load_model(folder: str | Path) -> AmExpertModel:
    """Read a model folder, refusing it when a file is missing or its checksum differs."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelError(
            f"{folder}: no {MANIFEST_FILE}; expected a folder written by `couponlens amexpert train`"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{manifest_path}: not valid JSON ({exc})") from exc
    if manifest.get("kind") != MODEL_KIND:
        raise ModelError(
            f"{manifest_path}: kind is {manifest.get('kind')!r}; expected {MODEL_KIND!r}"
        )
    files = manifest.get("files") or {}
    if MODEL_FILE not in files:
        raise ModelError(f"{manifest_path}: lists no {MODEL_FILE}")
    for name, info in files.items():
        path = folder / name
        if not path.is_file():
            raise ModelError(f"{folder}: {name} is missing")
        actual = _sha256(path)
        if actual != info.get("sha256"):
            raise ModelError(
                f"{path}: SHA-256 {actual[:12]}... does not match the manifest "
                f"({str(info.get('sha256'))[:12]}...); the file was changed after training"
            )
    features = [f["name"] for f in manifest["features"]]
    uses_transactions = bool(manifest["uses_transactions"])
    if features != feature_names(uses_transactions):
        raise ModelError(
            f"{manifest_path}: the model's features differ from this couponlens version's "
            "AmExpert features; retrain the model"
        )
    booster = lgb.Booster(model_file=str(folder / MODEL_FILE))
    if booster.num_feature() != len(features):
        raise ModelError(
            f"{folder / MODEL_FILE}: has {booster.num_feature()} features; the manifest lists {len(features)}"
        )
    return AmExpertModel(
        booster=booster, features=features, uses_transactions=uses_transactions, manifest=manifest
    )


def predict_amexpert(
    model: AmExpertModel, data: AmExpertData, candidates: ir.Table
) -> pd.DataFrame:
    """Score candidate offers: ``id, redemption_status`` (a probability), in the input order.

    ``candidates`` is a table in the test layout (e.g. from
    :func:`couponlens.datasets.amexpert.load_candidates`); rows keep their ``line_number`` order
    when it is present.

    Raises:
        InputError: the model uses purchase history and ``data`` has no transactions.
    """
    if model.uses_transactions and not data.has_transactions:
        raise InputError(
            "this model uses purchase-history features, but customer_transaction_data.csv is not in "
            f"{data.report.folder}"
        )
    table = build_features(data, candidates, use_transactions=model.uses_transactions)
    order = "line_number" if "line_number" in candidates.columns else "id"
    keys = candidates.select("id", _order=candidates[order])
    frame = table.join(keys, "id").order_by("_order").execute()
    probability = model.predict(frame)
    return pd.DataFrame({"id": frame["id"].to_numpy(), "redemption_status": probability})
