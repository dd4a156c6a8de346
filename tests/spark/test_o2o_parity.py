"""The O2O jobs on Spark equal DuckDB's: the report's results.json, the feature table (with the
label-window features), and a model trained on a row sample of each engine's features."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from ibis.backends import BaseBackend

from couponlens.cli import main
from couponlens.datasets.o2o import load_o2o
from couponlens.datasets.o2o_synthetic import generate_o2o
from couponlens.engine import connect
from couponlens.features.o2o_table import o2o_feature_table
from couponlens.models.train import TrainOptions, train_o2o
from couponlens.report.o2o import o2o_report

from .parity import differences, frame_differences

BAD_ROWS = [
    "7,10,100,150:200,0,20160101,null",  # the saving is above the spend
    "8,10,100,0.9,12,20160102,null",  # distance out of range
]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3,000-row generated log with two bad rows for the quarantine."""
    path = tmp_path_factory.mktemp("o2o") / "history.csv"
    generate_o2o(3_000, seed=11, out=path)
    with path.open("a") as handle:
        handle.write("\n".join(BAD_ROWS) + "\n")
    return path


def _results(outcome_results: dict) -> dict:
    return json.loads(json.dumps(outcome_results, default=str))


def test_o2o_report_results_match(spark: BaseBackend, history: Path, tmp_path: Path) -> None:
    duck = o2o_report(history, tmp_path / "duckdb", popular_threshold=5)
    on_spark = o2o_report(history, tmp_path / "spark", popular_threshold=5, con=spark)
    left, right = _results(duck.results), _results(on_spark.results)
    assert left["engine"]["engine"] == "duckdb" and right["engine"]["engine"] == "spark"
    assert differences(left, right, skip=frozenset({"engine"})) == []
    # the test has teeth: the data has merchants, a quarantine and dated usage
    assert right["dataset"]["rows_quarantined"] == 2
    assert len(right["popular_merchants"]["merchants"]) >= 3 and right["usage_rate"] > 0
    assert (tmp_path / "spark" / "quarantine.csv").read_text() == (
        tmp_path / "duckdb" / "quarantine.csv"
    ).read_text()


def test_feature_table_matches(spark: BaseBackend, history: Path, tmp_path: Path) -> None:
    tables = {}
    for name, con in (("duckdb", connect()), ("spark", spark)):
        out = tmp_path / f"{name}.parquet"
        outcome = o2o_feature_table(history, out, con=con, leakage=True)
        assert outcome.engine["engine"] == name
        frame = pd.read_parquet(out).sort_values(["window", "line_number"], ignore_index=True)
        assert len(frame) == outcome.rows > 300
        tables[name] = frame
    assert (tmp_path / "spark.parquet").is_dir()  # Spark writes a folder of parts
    assert frame_differences(tables["duckdb"], tables["spark"]) == []
    assert "lk_days_to_next_receipt" in tables["spark"].columns


def test_training_on_spark_features_matches(spark: BaseBackend, history: Path) -> None:
    options = TrainOptions(n_estimators=25, threads=1, max_training_rows=400, stack=False)
    results = {
        name: train_o2o(load_o2o(history, con).table, options)
        for name, con in (("duckdb", None), ("spark", spark))
    }
    duck, on_spark = results["duckdb"], results["spark"]
    assert on_spark.sample is not None and duck.sample is not None
    assert on_spark.sample.sampled and on_spark.sample.engine == "spark"
    assert "sample of" in on_spark.model.info["training_sample"]["note"]
    assert on_spark.sample.used == duck.sample.used < on_spark.sample.receipts
    left = duck.validation_predictions.sort_values(["window", "line_number"], ignore_index=True)
    right = on_spark.validation_predictions.sort_values(
        ["window", "line_number"], ignore_index=True
    )
    assert frame_differences(left, right) == []
    assert on_spark.validation.auc == pytest.approx(duck.validation.auc, rel=1e-9)


def test_cli_report_runs_on_spark(spark: BaseBackend, tmp_path: Path, capsys) -> None:
    log = tmp_path / "log.csv"
    log.write_text(
        "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date\n"
        "1,10,100,150:20,0,20160101,20160105\n"
        "2,10,null,null,null,null,20160102\n"
        "3,10,100,150:20,1,20160101,null\n"
    )
    out = tmp_path / "report"
    args = ["o2o", "report", str(log), "--out", str(out), "--spark-master", "local[2]"]
    assert main(args) == 0
    assert "engine: Spark" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["engine"]["engine"] == "spark" and results["usage_rate"] == 0.5
