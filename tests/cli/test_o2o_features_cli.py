"""``o2o features`` writes the labelled feature table; ``o2o report`` can quarantine to Parquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from couponlens.cli import main
from couponlens.datasets.o2o import load_o2o
from couponlens.datasets.o2o_synthetic import generate_o2o
from couponlens.features.o2o import feature_names, to_frame
from couponlens.features.o2o_table import pair_features
from couponlens.features.windows import plan_for_history


def test_feature_table_as_csv_and_parquet(tmp_path: Path, capsys) -> None:
    history = tmp_path / "history.csv"
    generate_o2o(4_000, seed=5, out=history)
    assert main(["o2o", "features", str(history), "--out", str(tmp_path / "features.csv")]) == 0
    out = str(tmp_path / "features.parquet")
    assert main(["o2o", "features", str(history), "--out", out, "--memory-limit", "500MB"]) == 0
    # window, the ids (line number, user, merchant, coupon, date received), label, the features
    columns = 1 + 5 + 1 + len(feature_names())
    assert f"labelled receipts x {columns} columns (parquet, built on duckdb)" in (
        capsys.readouterr().out
    )
    csv = pd.read_csv(tmp_path / "features.csv")
    parquet = pd.read_parquet(tmp_path / "features.parquet")
    assert list(parquet.columns[:2]) == ["window", "line_number"]
    assert set(feature_names()) <= set(parquet.columns) and len(csv) == len(parquet)
    # the same rows as the training code builds for the latest window
    data = load_o2o(history)
    plan = plan_for_history(data.table)
    latest = to_frame(pair_features(data.table, plan.pairs[-1], plan.label_days))
    written = parquet[parquet.window == "w2"].sort_values("line_number", ignore_index=True)
    assert written["u_use_rate"].equals(latest["u_use_rate"])
    assert written["label"].tolist() == latest["label"].tolist()
    assert main(["o2o", "features", str(history), "--out", str(tmp_path / "features.csv")]) == 2


def test_report_quarantines_to_parquet(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(
        "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date\n"
        "1,10,100,150:20,0,20160101,20160105\n"
        "4,11,101,0.95,12,20160110,null\n"
    )
    out = tmp_path / "report"
    assert (
        main(["o2o", "report", str(log), "--out", str(out), "--quarantine-format", "parquet"]) == 0
    )
    assert not (out / "quarantine.csv").exists()
    assert pd.read_parquet(out / "quarantine.parquet").line_number.tolist() == [3]
