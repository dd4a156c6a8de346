"""`couponlens experiment report|power` and `couponlens generate experiment` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from couponlens.cli import main

EFFECT_KEYS = {
    "outcome",
    "segment",
    "arm",
    "n_control",
    "n_treatment",
    "control_mean",
    "treatment_mean",
    "diff",
    "ci_low",
    "ci_high",
    "p",
    "p_adjusted",
    "rel_lift",
    "rel_ci_low",
    "rel_ci_high",
}


def test_generate_then_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "exp.csv"
    assert (
        main(["generate", "experiment", "--rows", "6000", "--seed", "4", "--out", str(data)]) == 0
    )
    frame = pd.read_csv(data)
    assert len(frame) == 6000 and "true_cate_trans_after" in frame.columns
    out = tmp_path / "report"
    code = main(
        [
            "experiment",
            "report",
            str(data),
            "--treatment",
            "treatment",
            "--control",
            "control",
            "--outcome",
            "trans_after",
            "--outcome",
            "revenue_after",
            "--covariate",
            "gender",
            "--covariate",
            "income",
            "--covariate",
            "channel_acq",
            "--pre-period",
            "trans_before",
            "--segment",
            "A=channel_acq == 3 & num_past_purch <= 2",
            "--segment",
            "B=channel_acq == 2 & num_past_purch <= 2",
            "--split",
            "0.5,0.5",
            "--bootstrap",
            "100",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert {"arms", "srm", "balance", "effects", "interactions", "composition"} <= set(results)
    assert [set(a) >= {"arm", "n"} for a in results["arms"]] == [True, True]
    assert set(results["srm"]) >= {"chi2", "p", "expected_split"}
    assert results["srm"]["expected_split"] == {"control": 0.5, "coupon": 0.5}
    assert all(set(b) >= {"covariate", "smd", "p", "test"} for b in results["balance"])
    assert len(results["effects"]) == 2 * 3
    assert all(set(e) >= EFFECT_KEYS for e in results["effects"])
    assert all(set(i) >= {"outcome", "segment", "estimate", "p"} for i in results["interactions"])
    assert all(
        set(c) >= {"segment", "variable", "segment_value", "rest_value", "p"}
        for c in results["composition"]
    )
    b_trans = [
        e for e in results["effects"] if e["segment"] == "B" and e["outcome"] == "trans_after"
    ][0]
    assert b_trans["ci_low"] > 0  # planted: the coupon raises transactions in B
    html = (out / "report.html").read_text()
    for text in (
        "Randomization check",
        "Effect on trans_after by segment",
        "Segment composition",
        "Recommendation",
    ):
        assert text in html
    assert "coupon vs control" in capsys.readouterr().out


def test_report_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "exp.csv"
    pd.DataFrame({"arm": ["a", "b"] * 5, "y": range(10)}).to_csv(data, index=False)
    code = main(
        [
            "experiment",
            "report",
            str(data),
            "--treatment",
            "arm",
            "--control",
            "a",
            "--outcome",
            "y",
            "--segment",
            "S=y >> 2",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "segment rule error at character 6" in err and "^" in err
    code = main(
        [
            "experiment",
            "report",
            str(data),
            "--treatment",
            "arm",
            "--control",
            "zzz",
            "--outcome",
            "y",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and "control value 'zzz'" in capsys.readouterr().err


def test_power_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", "power", "--baseline", "0.1", "--mde", "0.02"]) == 0
    assert "3,839 control + 3,839 treated = 7,678 units" in capsys.readouterr().out
    assert main(["experiment", "power", "--baseline", "2", "--sd", "4", "--n", "12562"]) == 0
    assert "minimum detectable effect 0.2" in capsys.readouterr().out
    assert main(["experiment", "power", "--baseline", "0.1"]) == 2
