"""The experiment report on Spark equals DuckDB's: three arms, segments, categorical and
numeric covariates, the ANCOVA pre-period and the bootstrap of the amount outcome."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ibis.backends import BaseBackend

from couponlens.cli import main
from couponlens.datasets.experiment import load_experiment
from couponlens.datasets.experiment_synthetic import EXTRA_SEGMENTS, SEGMENTS, write_experiment
from couponlens.experiments.analysis import analyze_experiment

from .parity import differences

OUTCOMES = ["trans_after", "revenue_after", "converted"]
COVARIATES = ["gender", "income", "channel_acq", "cart"]
PRE_PERIOD = ["trans_before", "revenue_before"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("experiment") / "experiment.parquet"
    write_experiment(path, 3_000, seed=4, arms=["control", "coupon", "bigcoupon"])
    return path


def test_experiment_report_matches(
    spark: BaseBackend, experiment: Path, tmp_path: Path, capsys
) -> None:
    folders = {}
    for name, extra in (("duckdb", []), ("spark", ["--engine", "spark"])):
        folders[name] = tmp_path / name
        args = ["experiment", "report", str(experiment), "--treatment", "treatment"]
        args += ["--control", "control", "--out", str(folders[name]), "--bootstrap", "200"]
        args += [a for y in OUTCOMES for a in ("--outcome", y)]
        args += [a for c in COVARIATES for a in ("--covariate", c)]
        args += [a for x in PRE_PERIOD for a in ("--pre-period", x)]
        args += [a for s in (*SEGMENTS, *EXTRA_SEGMENTS) for a in ("--segment", s)]
        assert main(args + extra) == 0, capsys.readouterr().err
    left, right = (json.loads((folders[n] / "results.json").read_text()) for n in folders)
    assert right["engine"]["engine"] == "spark"
    assert differences(left, right, skip=frozenset({"engine"})) == []
    # teeth: ANCOVA, the bootstrap and the categorical balance rows were all computed
    revenue = [e for e in right["effects"] if e["outcome"] == "revenue_after"]
    assert all(e["bootstrap_ci_low"] is not None for e in revenue if e["segment"] == "all")
    assert any(e["ancova_se"] is not None for e in right["effects"])
    assert any(row["covariate"] == "gender" and row["level"] for row in right["balance"])


def test_bootstrap_sample_above_the_cap_runs_on_spark(spark: BaseBackend, experiment: Path) -> None:
    """Above the cap the engine draws the rows (a seeded sample Ibis itself refuses on Spark)."""
    data = load_experiment(
        experiment, treatment="treatment", control="control", outcomes=["revenue_after"], con=spark
    )
    result = analyze_experiment(data, bootstrap_resamples=100, sample_cap=200, seed=3)
    row = result.effect("revenue_after", arm="coupon")
    assert row.amount_status == "ok"
    assert 100 < row.n_sampled_control <= 200 and 100 < row.n_sampled_treatment <= 200
