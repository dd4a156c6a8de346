"""Training end to end on generated data; artifact round trip and tamper refusal; scoring order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from couponlens.datasets.o2o import load_o2o
from couponlens.errors import InputError
from couponlens.features.o2o import feature_names
from couponlens.models.artifact import ModelFileError, load_model, save_model
from couponlens.models.cv import make_splits
from couponlens.models.metrics import mean_coupon_auc
from couponlens.models.train import TrainOptions, score_o2o, train_o2o


def test_training_learns_the_planted_signal(trained, o2o_files) -> None:
    v = trained.validation
    assert v.mean_coupon_auc is not None and v.mean_coupon_auc > 0.6
    assert v.auc is not None and v.auc > 0.7
    assert trained.chosen in ("lightgbm", "logistic", "stack")
    pairs = trained.plan.pairs
    assert pairs[0].label_end < pairs[1].label_start
    assert all(p.feature_end < p.label_start for p in pairs)
    # validation is on the later window only (time CV)
    assert set(trained.validation_predictions["window"]) == {pairs[-1].name}
    assert trained.importance["gain"].sum() > 0
    # the stack is kept only when it beats the best single model
    s = trained.stack
    if s.kept:
        assert s.stack_mean_coupon_auc > s.best_single_mean_coupon_auc
    else:
        assert trained.chosen == s.best_single


def test_contributions_sum_to_the_log_odds(trained, o2o_files) -> None:
    data = load_o2o(o2o_files["candidates"])
    history = load_o2o(o2o_files["history"], data.con)
    frame = score_o2o(trained.model, history.table, data.table).frame.head(200)
    contrib = trained.model.contributions(frame)
    raw = trained.model.booster.predict(frame[trained.model.features], raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), raw, rtol=1e-6, atol=1e-8)


def test_round_trip_and_scores_in_input_order(trained, o2o_files, tmp_path: Path) -> None:
    folder = save_model(trained.model, tmp_path / "model")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["leakage_features"] is False
    assert [f["name"] for f in manifest["features"]] == feature_names(False)
    assert set(manifest["files"]) >= {"lightgbm.txt"}
    assert manifest["label_rule"]["label_days"] == 15
    assert {"lightgbm", "numpy", "scikit-learn"} <= set(manifest["libraries"])
    assert manifest["metrics"]["validation"]["mean_coupon_auc"] == pytest.approx(
        trained.validation.mean_coupon_auc
    )
    loaded = load_model(folder)
    cands = load_o2o(o2o_files["candidates"])
    history = load_o2o(o2o_files["history"], cands.con)
    a = score_o2o(trained.model, history.table, cands.table).frame
    b = score_o2o(loaded, history.table, cands.table).frame
    np.testing.assert_allclose(a["probability"], b["probability"], rtol=1e-12)
    raw = pd.read_csv(o2o_files["candidates"])
    assert len(a) == len(raw)
    assert a["user_id"].tolist() == raw["User_id"].tolist()
    assert a["coupon_id"].tolist() == raw["Coupon_id"].tolist()
    # better than chance against the generator's truth-drawn outcomes
    truth = pd.read_csv(o2o_files["truth"])
    y = (np.random.default_rng(0).random(len(truth)) < truth["probability"]).astype(int)
    assert mean_coupon_auc(a["coupon_id"], y, a["probability"]).mean_auc > 0.55


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda d: (d / "lightgbm.txt").write_text(
                (d / "lightgbm.txt").read_text().replace("num_leaves", "num_leafs", 1)
            ),
            "checksum mismatch",
        ),
        (lambda d: (d / "lightgbm.txt").unlink(), "lightgbm.txt is missing"),
        (
            lambda d: (d / "manifest.json").write_text(
                (d / "manifest.json")
                .read_text()
                .replace('"leakage_features": false', '"leakage_features": true')
            ),
            "edited after it was written",
        ),
        (lambda d: (d / "manifest.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
    ],
)
def test_tampered_models_are_refused(trained, tmp_path: Path, damage, message: str) -> None:
    folder = save_model(trained.model, tmp_path / "model")
    damage(folder)
    with pytest.raises(ModelFileError, match=message):
        load_model(folder)


def test_input_schema_is_checked(trained, tmp_path: Path) -> None:
    folder = save_model(trained.model, tmp_path / "model")
    loaded = load_model(folder)
    with pytest.raises(InputError, match="lacks"):
        loaded.predict(pd.DataFrame({"discount_rate": [0.9]}))
    frame = pd.DataFrame({f: [1.0] for f in loaded.features})
    frame[loaded.features[0]] = ["x"]
    with pytest.raises(InputError, match="not numeric"):
        loaded.predict(frame)
    shutil.rmtree(folder)
    with pytest.raises(ModelFileError, match="no such model folder"):
        load_model(folder)


def test_cv_strategies(o2o_files) -> None:
    frame = pd.DataFrame(
        {
            "window": ["w1"] * 60 + ["w2"] * 40,
            "label": np.tile([0, 1, 0, 0], 25),
            "coupon_id": np.arange(100) % 13,
        }
    )
    time_split = make_splits(frame, "time")
    assert len(time_split) == 1 and (frame.loc[time_split[0].valid, "window"] == "w2").all()
    groups = make_splits(frame, "group", folds=4)
    for split in groups:
        assert not set(frame.coupon_id.iloc[split.train]) & set(frame.coupon_id.iloc[split.valid])
    strat = make_splits(frame, "stratified", folds=5)
    assert sorted(np.concatenate([s.valid for s in strat]).tolist()) == list(range(100))
    with pytest.raises(InputError, match="unknown CV"):
        make_splits(frame, "random")
    data = load_o2o(o2o_files["history"])
    result = train_o2o(
        data.table, TrainOptions(cv="group", folds=3, n_estimators=15, threads=1, stack=False)
    )
    assert len(result.folds) == 3 and result.validation.receipts == sum(
        f.valid_receipts for f in result.folds
    )
