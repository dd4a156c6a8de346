"""The AmExpert model on generated tables: campaign-grouped AUC, transaction features, artifact, CLI."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from couponlens.cli import main
from couponlens.datasets.amexpert import AmExpertData, load_amexpert
from couponlens.datasets.amexpert_synthetic import write_amexpert
from couponlens.errors import InputError
from couponlens.features.amexpert import TRANSACTION_FEATURES, build_features, feature_names
from couponlens.models.amexpert import (
    TrainedAmExpert,
    cross_validate,
    load_amexpert_model,
    predict_amexpert,
    save_amexpert_model,
    train_amexpert,
)
from couponlens.models.artifact import ModelFileError, O2OModel, save_model
from couponlens.models.cv import make_splits

FAST = {"n_splits": 4, "rounds": 60, "threads": 1}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = write_amexpert(tmp_path_factory.mktemp("amx") / "data", seed=5, customers=300)
    return out.folder


@pytest.fixture(scope="module")
def data(folder: Path) -> AmExpertData:
    return load_amexpert(folder)


@pytest.fixture(scope="module")
def trained(data: AmExpertData) -> TrainedAmExpert:
    return train_amexpert(data, **FAST)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained_without_history(data: AmExpertData) -> TrainedAmExpert:
    return train_amexpert(data, use_transactions=False, **FAST)  # type: ignore[arg-type]


def test_campaign_grouped_auc_clearly_beats_chance(trained: TrainedAmExpert) -> None:
    cv = trained.cv
    assert cv.strategy == "campaign" and cv.folds == 4 and cv.campaigns == 12
    assert cv.auc is not None and cv.auc > 0.75
    assert cv.baseline_auc is not None and cv.baseline_auc > 0.7
    assert cv.chosen in ("lightgbm", "logistic", "blend")
    assert cv.blend_auc is not None and cv.blend_auc > 0.75
    oof = trained.out_of_fold
    assert not oof["lightgbm"].isna().any() and oof["probability"].between(0, 1).all()


def test_folds_keep_campaigns_whole(data: AmExpertData) -> None:
    frame = data.train.execute().rename(columns={"redemption_status": "label"})
    splits = make_splits(frame, "group", folds=4, group_column="campaign_id")
    for split in splits:
        train_c = set(frame.campaign_id.iloc[split.train])
        valid_c = set(frame.campaign_id.iloc[split.valid])
        assert train_c and valid_c and not train_c & valid_c
    rng = np.random.default_rng(0)
    small = pd.DataFrame(
        {
            "id": range(400),
            "campaign_id": np.arange(400) % 4,
            "coupon_id": 1,
            "x": rng.normal(size=400),
        }
    )
    small["label"] = (small.x + rng.normal(size=400) > 1).astype(int)
    result, _ = cross_validate(small, ["x"], strategy="stratified", rounds=10, threads=1)
    assert result.strategy == "stratified" and result.folds == 5 and result.auc > 0.6


def test_transaction_features_matter(
    trained: TrainedAmExpert, trained_without_history: TrainedAmExpert
) -> None:
    with_history = trained.cv.auc
    without = trained_without_history.cv.auc
    assert with_history is not None and without is not None
    assert with_history > without + 0.05
    importance = trained.importance.set_index("feature")["gain_share"]
    assert importance.loc[list(TRANSACTION_FEATURES)].sum() > 0.3


def test_model_folder_round_trip_and_tamper(
    trained: TrainedAmExpert, data: AmExpertData, tmp_path: Path
) -> None:
    folder = save_amexpert_model(trained.model, tmp_path / "m")
    loaded = load_amexpert_model(folder)
    assert loaded.features == feature_names(True)
    assert loaded.info["task"] == "amexpert" and loaded.info["uses_transactions"] is True
    assert loaded.info["metrics"]["strategy"] == "campaign"
    assert data.test is not None
    frame = build_features(data, data.test).execute()
    np.testing.assert_allclose(trained.model.predict(frame), loaded.predict(frame))
    text = (folder / "lightgbm.txt").read_text()
    (folder / "lightgbm.txt").write_text(text.replace("learning_rate", "learning_rat3", 1))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_amexpert_model(folder)


def test_an_o2o_model_folder_is_refused(tmp_path: Path) -> None:
    x = pd.DataFrame({"a": np.arange(100.0)})
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, (x.a > 50).astype(int)),
        num_boost_round=2,
    )
    folder = save_model(O2OModel(booster=booster, features=["a"], info={}), tmp_path / "o2o")
    with pytest.raises(ModelFileError, match="not an AmExpert model"):
        load_amexpert_model(folder)


def test_a_history_model_needs_the_transactions(
    trained: TrainedAmExpert, folder: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "no_tx"
    shutil.copytree(folder, copy)
    (copy / "customer_transaction_data.csv").unlink()
    data = load_amexpert(copy)
    assert data.test is not None
    with pytest.raises(InputError, match="purchase-history features"):
        predict_amexpert(trained.model, data, data.test)


# ---------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def cli_train(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``couponlens amexpert train`` once per module: the model folder and what it printed."""
    out = tmp_path_factory.mktemp("cli")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            ["amexpert", "train", str(folder), "--model", str(out / "model"), "--rounds", "40"]
            + ["--folds", "3", "--threads", "1", "--report", str(out / "report")]
        )
    assert code == 0
    return out / "model", printed.getvalue()


@pytest.fixture(scope="module")
def cli_model(cli_train: tuple[Path, str]) -> Path:
    return cli_train[0]


def test_cli_train_prints_the_cv_auc(cli_train: tuple[Path, str]) -> None:
    model, printed = cli_train
    assert "CV AUC (campaign, 3 folds): LightGBM 0." in printed
    assert "purchase-history features: on" in printed
    assert (model / "manifest.json").exists()
    page = (model.parent / "report" / "report.html").read_text()
    # the report speaks of offers and redemption, and names what was chosen as the CLI does
    assert "offers" in page and "redeemed" in page and "before each campaign&#39;s start" in page
    assert "receipt" not in page.lower() and "Tianchi" not in page and "used in time" not in page
    assert "Cumulative redemptions captured" in page and "uses captured" not in page
    chosen = re.search(r"chosen: (\w+)", printed)
    assert chosen and f"model: {chosen.group(1)};" in page


def test_cli_predict_round_trip(folder: Path, cli_model: Path, tmp_path: Path) -> None:
    test = pd.read_csv(folder / "test.csv")
    candidates = test.sample(frac=0.6, random_state=1)  # shuffled: output must keep this order
    path = tmp_path / "candidates.csv"
    candidates.to_csv(path, index=False)
    out = tmp_path / "scores.csv"
    code = main(
        ["amexpert", "predict", str(cli_model), str(path), "--data", str(folder), "--out", str(out)]
    )
    assert code == 0
    assert out.read_text().splitlines()[0] == "id,redemption_status"
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["id", "redemption_status"]
    assert scores["id"].tolist() == candidates["id"].tolist()
    assert scores["redemption_status"].between(0, 1).all()
    assert scores["redemption_status"].nunique() > 10
    truth = pd.read_csv(folder / "synthetic_truth.csv").set_index("id")
    from sklearn.metrics import roc_auc_score

    labels = truth.loc[scores["id"], "redemption_status"]
    assert roc_auc_score(labels, scores["redemption_status"]) > 0.75


def _bad_candidates(tmp_path: Path, folder: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.csv"
    test = pd.read_csv(folder / "test.csv").head(5)
    if kind == "no_column":
        test.drop(columns="coupon_id").to_csv(path, index=False)
    elif kind == "unknown_campaign":
        test.assign(campaign_id=999).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("no_column", "missing column(s) coupon_id"),
        ("unknown_campaign", "line 2, column campaign_id"),
        ("no_file", "no such file"),
        ("no_data", "no such folder"),
        ("tampered", "checksum mismatch"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    case: str,
    words: str,
    folder: Path,
    cli_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, data, candidates = cli_model, folder, folder / "test.csv"
    if case in ("no_column", "unknown_campaign"):
        candidates = _bad_candidates(tmp_path, folder, case)
    elif case == "no_file":
        candidates = tmp_path / "absent.csv"
    elif case == "no_data":
        data = tmp_path / "absent"
    elif case == "tampered":
        model = tmp_path / "m"
        shutil.copytree(cli_model, model)
        with (model / "lightgbm.txt").open("a") as handle:
            handle.write("\n")
    capsys.readouterr()
    code = main(
        ["amexpert", "predict", str(model), str(candidates), "--data", str(data)]
        + ["--out", str(tmp_path / "s.csv")]
    )
    assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], err
    assert not (tmp_path / "s.csv").exists()


def test_cli_unknown_cv_is_refused(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["amexpert", "train", str(folder), "--model", str(tmp_path / "m"), "--cv", "random"]
    )
    assert code == 2
    assert "--cv: expected one of campaign, stratified" in capsys.readouterr().err
