"""``couponlens experiment uplift`` and ``experiment target`` end to end, and their errors."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from couponlens.cli import main
from couponlens.datasets.experiment_synthetic import generate_experiment

FEATURES = ["channel_acq", "num_past_purch", "cart", "browsing_minutes", "gender", "trans_before"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("uplift_cli")
    train = generate_experiment(3000, seed=21, strengths=[3.0]).write(d / "train.csv")
    fresh = generate_experiment(1500, seed=22, strengths=[3.0])
    held_out = fresh.write(d / "held_out.csv")
    plain = d / "plain.parquet"
    fresh.frame[FEATURES + ["customer_id"]].to_parquet(plain, index=False)
    return {"dir": d, "train": train, "held_out": held_out, "plain": plain}


@pytest.fixture(scope="module")
def fitted(files: dict[str, Path]) -> tuple[Path, str]:
    args = ["experiment", "uplift", str(files["train"]), "--treatment", "treatment"]
    args += ["--control", "control", "--outcome", "trans_after", "--model"]
    args += [str(files["dir"] / "model"), "--report", str(files["dir"] / "report")]
    args += ["--folds", "2", "--bootstrap", "30", "--rounds", "25", "--value", "10", "--cost", "3"]
    args += ["--oracle", "true_cate_trans_after"]
    for f in FEATURES:
        args += ["--feature", f]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(args) == 0
    return files["dir"] / "model", printed.getvalue()


@pytest.fixture()
def model(fitted: tuple[Path, str]) -> Path:
    return fitted[0]


def test_uplift_writes_model_report_and_results(
    fitted: tuple[Path, str], files: dict[str, Path]
) -> None:
    model, printed = fitted
    assert "T-learner" in printed and "X-learner" in printed and "DR-learner" in printed
    assert "<- chosen" in printed and "Qini" in printed
    assert (model / "manifest.json").is_file()
    report = files["dir"] / "report"
    html = (report / "report.html").read_text()
    assert "Plotly.newPlot" in html and "Qini curves on held-out folds" in html
    assert "Recommended policy" in html and "Learner comparison" in html
    assert "<script src=" not in html  # offline
    results = json.loads((report / "results.json").read_text())
    assert results["chosen_learner"] in ("t", "x", "dr")
    assert {r["learner"] for r in results["learners"]} == {"t", "x", "dr"}
    best = next(r for r in results["learners"] if r["learner"] == results["chosen_learner"])
    assert best["qini_ci_low"] <= best["qini"] <= best["qini_ci_high"]
    assert [u["fraction"] for u in best["uplift_at_k"]] == [0.1, 0.2, 0.3, 0.5]
    assert len(results["qini_curves"]) == 3 and len(results["qini_curves"][0]["qini"]) == 101
    assert results["recommendation"].startswith("Recommended: ")
    oracle = results["references"][0]
    assert oracle["name"] == "oracle" and oracle["arm"] == "coupon"
    assert best["qini"] > 0.4 * oracle["qini"] > 0
    assert "oracle (true effect)" in html
    assert any("Qini" in sentence for sentence in results["findings"])
    assert {e["policy"] for e in results["policy"]["estimates"]} == {
        "targeting",
        "treat_all",
        "treat_none",
    }


def test_target_on_a_held_out_experiment(
    model: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    out = files["dir"] / "targets.csv"
    args = ["experiment", "target", str(model), str(files["held_out"]), "--value", "10"]
    args += ["--cost", "3", "--budget", "400", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "on the candidates, a held-out experiment" in printed
    assert "DR  targeting - treat_all" in printed and "IPW targeting - treat_none" in printed
    targets = pd.read_csv(out)
    source = pd.read_csv(files["held_out"])
    assert list(targets.columns) == [*source.columns, "uplift", "net_value", "send"]
    assert len(targets) == len(source)
    assert targets["send"].sum() <= 400
    assert (targets.loc[targets["send"], "net_value"] > 0).all()
    assert targets["net_value"].to_numpy() == pytest.approx(targets["uplift"].to_numpy() * 10 - 3)


def test_target_candidates_without_outcomes(
    model: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    out = files["dir"] / "plain_targets.csv"
    args = ["experiment", "target", str(model), str(files["plain"]), "--value", "10"]
    args += ["--cost", "3", "--out", str(out)]
    assert main(args) == 0
    assert "training experiment's held-out folds" in capsys.readouterr().out
    targets = pd.read_csv(out)
    assert list(targets.columns) == [*FEATURES, "customer_id", "uplift", "net_value", "send"]


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_a_tampered_model_is_a_one_line_error(
    model: Path, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    booster = next((copy / "models").glob("*.txt"))
    booster.write_text(booster.read_text().replace("leaf_value=", "leaf_value=1", 1))
    capsys.readouterr()
    args = ["experiment", "target", str(copy), str(files["held_out"]), "--value", "1"]
    args += ["--cost", "0.1", "--out", str(tmp_path / "t.csv")]
    assert main(args) == 2
    assert "does not match its checksum" in _one_line_error(capsys)
    assert not (tmp_path / "t.csv").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--feature", "no_such_column"], "no feature column"),
        (["--control", "nobody"], "nobody"),
        (["--learner", "s"], "unknown learner"),
        (["--outcome", "gender"], "gender"),
        (["--value", "3"], "both value and cost"),
        (["--oracle", "nope"], "no oracle column"),
        (["--oracle", "c9=true_cate_trans_after"], "oracle for unknown arm"),
    ],
)
def test_bad_uplift_input_is_a_one_line_error(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: list[str],
    message: str,
) -> None:
    options = {"--treatment": "treatment", "--control": "control", "--outcome": "trans_after"}
    extra: list[str] = []
    for key, value in zip(change[::2], change[1::2], strict=True):
        if key in options:
            options[key] = value
        else:
            extra += [key, value]
    args = ["experiment", "uplift", str(files["train"]), "--model", str(tmp_path / "m")]
    for key, value in options.items():
        args += [key, value]
    if "--feature" not in extra:
        args += ["--feature", "cart"]
    args += [*extra, "--folds", "2", "--bootstrap", "5", "--rounds", "3"]
    capsys.readouterr()
    assert main(args) == 2
    assert message in _one_line_error(capsys)


def test_missing_files_are_one_line_errors(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = ["experiment", "target", str(tmp_path / "nope"), str(tmp_path / "c.csv")]
    assert main([*args, "--value", "1", "--cost", "0", "--out", str(tmp_path / "o.csv")]) == 2
    assert "not an uplift model folder" in _one_line_error(capsys)
    args = ["experiment", "target", str(model), str(tmp_path / "c.csv")]
    assert main([*args, "--value", "1", "--cost", "0", "--out", str(tmp_path / "o.csv")]) == 2
    assert "no such file" in _one_line_error(capsys)
    bad = tmp_path / "bad.csv"
    bad.write_text("channel_acq,num_past_purch\n1,2\n")
    args = ["experiment", "target", str(model), str(bad)]
    assert main([*args, "--value", "1", "--cost", "0", "--out", str(tmp_path / "o.csv")]) == 2
    assert "missing feature column" in _one_line_error(capsys)
    args = ["experiment", "target", str(model), str(bad)]
    assert main([*args, "--value", "1", "--cost", "-1", "--out", str(tmp_path / "o.csv")]) == 2
    assert "cost must be at least 0" in _one_line_error(capsys)
