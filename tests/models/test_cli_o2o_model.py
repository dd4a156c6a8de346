"""The train / predict / evaluate / target commands end to end on small generated files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from couponlens.cli import main


@pytest.fixture(scope="module")
def model_dir(o2o_files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli")
    code = main(
        [
            "o2o",
            "train",
            str(o2o_files["history"]),
            "--model",
            str(out / "model"),
            "--n-estimators",
            "30",
            "--threads",
            "1",
            "--report",
            str(out / "train_report"),
        ]
    )
    assert code == 0
    assert (out / "train_report" / "report.html").exists()
    return out / "model"


def test_predict_writes_the_submission_format(model_dir, o2o_files, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    code = main(
        [
            "o2o",
            "predict",
            str(model_dir),
            str(o2o_files["candidates"]),
            "--history",
            str(o2o_files["history"]),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    scores = pd.read_csv(out)
    raw = pd.read_csv(o2o_files["candidates"])
    assert list(scores.columns) == ["User_id", "Coupon_id", "Date_received", "Probability"]
    assert len(scores) == len(raw)
    assert (
        scores[["User_id", "Coupon_id", "Date_received"]].to_numpy()
        == raw[["User_id", "Coupon_id", "Date_received"]].to_numpy()
    ).all()
    assert scores["Probability"].between(0, 1).all()
    about = json.loads(out.with_name("scores.csv.json").read_text())
    assert about["leakage_features"] is False and "Leakage features off" in about["note"]


def test_predict_refuses_a_tampered_model(model_dir, o2o_files, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "m"
    broken.mkdir()
    for f in model_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "lightgbm.txt").write_text((broken / "lightgbm.txt").read_text() + "\n")
    code = main(
        [
            "o2o",
            "predict",
            str(broken),
            str(o2o_files["candidates"]),
            "--history",
            str(o2o_files["history"]),
            "--out",
            str(tmp_path / "s.csv"),
        ]
    )
    assert code == 2
    assert "checksum mismatch" in capsys.readouterr().err


@pytest.mark.parametrize(
    "limit", [["--budget", "150", "--per-user-cap", "1"], ["--max-cost", "40"]]
)
def test_target_respects_the_limit(
    model_dir, o2o_files, tmp_path: Path, limit: list[str], capsys
) -> None:
    out = tmp_path / "recipients.csv"
    code = main(
        [
            "target",
            str(model_dir),
            str(o2o_files["candidates"]),
            "--history",
            str(o2o_files["history"]),
            "--out",
            str(out),
            *limit,
        ]
    )
    assert code == 0
    chosen = pd.read_csv(out)
    if limit[0] == "--budget":
        assert len(chosen) == 150
        assert chosen["User_id"].is_unique
    else:
        assert chosen["Expected_cost"].sum() <= 40 + 1e-6
        assert len(chosen) > 0
    text = capsys.readouterr().out
    assert "at random" in text and "expected redemptions" in text


def test_target_with_values_maximises_expected_value(
    model_dir, o2o_files, tmp_path: Path, capsys
) -> None:
    """With --values the choice is the top of probability x value (no receipt worth nothing is
    sent), checked against the probabilities `o2o predict` gives the same receipts."""
    import numpy as np

    candidates = pd.read_csv(o2o_files["candidates"], dtype=str)
    keys = candidates[["User_id", "Coupon_id", "Date_received"]].drop_duplicates()
    merchant = candidates.loc[keys.index, "Merchant_id"].astype(int)
    values = keys.assign(Value=np.where(merchant % 2 == 0, 0.0, merchant % 7 + 1.5))
    values.to_csv(tmp_path / "values.csv", index=False)
    common = [str(o2o_files["candidates"]), "--history", str(o2o_files["history"])]
    out = tmp_path / "recipients.csv"
    assert main(["target", str(model_dir), *common, "--out", str(out), "--budget", "150", "--values", str(tmp_path / "values.csv")]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert main(["o2o", "predict", str(model_dir), *common, "--out", str(tmp_path / "s.csv")]) == 0
    scores = pd.read_csv(tmp_path / "s.csv", dtype={"Date_received": str})
    scores["Value"] = scores.merge(values.astype({"User_id": int, "Coupon_id": int}), how="left")[
        "Value"
    ].to_numpy()
    score = scores["Probability"] * scores["Value"]
    best = scores.loc[score.sort_values(ascending=False, kind="stable").index[:150]]
    chosen = pd.read_csv(out, dtype={"Date_received": str})
    assert len(chosen) == 150 and (chosen["Value"] > 0).all()
    mine = sorted(zip(chosen.User_id, chosen.Coupon_id, chosen.Date_received, strict=True))
    theirs = sorted(zip(best.User_id, best.Coupon_id, best.Date_received, strict=True))
    assert mine == theirs
    expected = float((chosen["Probability"] * chosen["Value"]).sum())
    assert np.isclose(chosen["Expected_value"].sum(), expected)
    assert f"expected value {expected:,.1f} against" in text
    # every candidate needs a value
    values.iloc[1:].to_csv(tmp_path / "some.csv", index=False)
    assert main(["target", str(model_dir), *common, "--out", str(tmp_path / "r2.csv"), "--budget", "5", "--values", str(tmp_path / "some.csv")]) == 2  # fmt: skip
    assert "no value for" in capsys.readouterr().err


def test_evaluate_writes_a_report(model_dir, o2o_files, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    code = main(
        [
            "o2o",
            "evaluate",
            str(model_dir),
            str(o2o_files["history"]),
            "--history",
            str(o2o_files["history"]),
            "--since",
            "2016-06-01",
            "--out",
            str(out),
            "--truth",
            str(o2o_files["dir"] / "history_truth.csv"),
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["leakage_features"] is False
    assert results["ceiling"]["mean_coupon_auc"] is not None
    html = (out / "report.html").read_text()
    assert "Leakage features off" in html and "per-coupon" in html


def test_leakage_flag_is_recorded_and_printed(o2o_files, tmp_path: Path, capsys) -> None:
    code = main(
        [
            "o2o",
            "train",
            str(o2o_files["history"]),
            "--model",
            str(tmp_path / "m"),
            "--leakage-features",
            "--n-estimators",
            "10",
            "--threads",
            "1",
        ]
    )
    assert code == 0
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["leakage_features"] is True
    assert "LEAKAGE FEATURES ON" in capsys.readouterr().out
    code = main(
        [
            "o2o",
            "predict",
            str(tmp_path / "m"),
            str(o2o_files["candidates"]),
            "--history",
            str(o2o_files["history"]),
            "--out",
            str(tmp_path / "s.csv"),
        ]
    )
    assert code == 0
    assert json.loads((tmp_path / "s.csv.json").read_text())["leakage_features"] is True


def test_window_options_reach_the_plan(o2o_files, tmp_path: Path, capsys) -> None:
    base = ["o2o", "train", str(o2o_files["history"]), "--model", str(tmp_path / "m")]
    fast = ["--n-estimators", "5", "--threads", "1"]
    windows = ["--label-window-days", "20", "--feature-days", "40", "--label-end", "2016-06-01"]
    assert main(base + windows + fast) == 0
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    pairs = manifest["windows"]["pairs"]
    assert pairs[-1]["label_end"] == "2016-06-01" and pairs[-1]["label_start"] == "2016-05-13"
    assert pairs[0]["label_end"] == "2016-05-12" and pairs[0]["feature_end"] == "2016-04-22"
    assert pairs[0]["feature_start"] == "2016-03-14"  # 40 days
    assert manifest["windows"]["feature_days"] == 40
    assert "window w2: features 2016-04-03..2016-05-12 -> labels 2016-05-13..2016-06-01" in (
        capsys.readouterr().out
    )
    assert main(base + ["--label-end", "1st of June", "--force"] + fast) == 2
    assert "--label-end: expected a date YYYY-MM-DD, got '1st of June'" in capsys.readouterr().err


def test_predict_on_the_real_test_file(model_dir, o2o_files, real_file, tmp_path: Path) -> None:
    test_file = real_file("o2o/ccf_offline_stage1_test_revised.csv")
    out = tmp_path / "real_scores.csv"
    code = main(
        [
            "o2o",
            "predict",
            str(model_dir),
            str(test_file),
            "--history",
            str(o2o_files["history"]),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    scores = pd.read_csv(out)
    raw = pd.read_csv(test_file)
    assert len(scores) == len(raw) == 113_640
    assert (scores["User_id"].to_numpy() == raw["User_id"].to_numpy()).all()
    assert (scores["Date_received"].to_numpy() == raw["Date_received"].to_numpy()).all()


def test_predict_and_target_write_parquet_for_a_parquet_name(
    model_dir, o2o_files, tmp_path: Path
) -> None:
    common = [str(model_dir), str(o2o_files["candidates"]), "--history", str(o2o_files["history"])]
    for name in ("scores.csv", "scores.parquet"):
        assert main(["o2o", "predict", *common, "--out", str(tmp_path / name)]) == 0
    csv, parquet = (
        pd.read_csv(tmp_path / "scores.csv"),
        pd.read_parquet(tmp_path / "scores.parquet"),
    )
    assert list(parquet.columns) == list(csv.columns)
    assert parquet["Date_received"].tolist() == csv["Date_received"].astype(str).tolist()
    assert parquet["Probability"].to_numpy() == pytest.approx(csv["Probability"], rel=1e-7)
    assert json.loads((tmp_path / "scores.parquet.json").read_text())["format"] == "parquet"
    out = tmp_path / "recipients.parquet"
    assert main(["target", *common, "--budget", "50", "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 50


def test_training_above_the_row_cap_uses_a_sample_and_says_so(
    o2o_files, tmp_path: Path, capsys
) -> None:
    model = tmp_path / "model"
    args = ["o2o", "train", str(o2o_files["history"]), "--model", str(model)]
    args += ["--n-estimators", "10", "--threads", "1", "--max-train-rows", "1000"]
    assert main(args) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "trained on a sample of" in printed and "the row cap is 1,000" in printed
    sample = json.loads((model / "manifest.json").read_text())["training_sample"]
    assert sample["sampled"] and sample["max_rows"] == 1000 and sample["engine"] == "duckdb"
    assert abs(sample["used"] - 1000) <= 50 and sample["receipts"] > 2000


def test_engine_options_are_checked(o2o_files, tmp_path: Path, capsys) -> None:
    args = ["o2o", "train", str(o2o_files["history"]), "--model", str(tmp_path / "m")]
    assert main([*args, "--engine", "sqlite"]) == 2
    assert "--engine 'sqlite': expected duckdb or spark" in capsys.readouterr().err
    assert main([*args, "--engine", "duckdb", "--spark-master", "local[2]"]) == 2
    assert "--spark-master is a Spark option" in capsys.readouterr().err
