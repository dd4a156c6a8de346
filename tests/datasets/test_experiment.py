"""Experiment loader (CSV/Parquet, checks) and the synthetic generator's planted truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from couponlens.datasets.experiment import load_experiment
from couponlens.datasets.experiment_synthetic import (
    generate_experiment,
    population_effect,
    write_experiment,
)
from couponlens.errors import InputError


def test_csv_and_parquet_load_the_same(tmp_path: Path) -> None:
    sim = generate_experiment(500, seed=1)
    csv, parquet = tmp_path / "e.csv", tmp_path / "e.parquet"
    sim.write(csv)
    sim.write(parquet)
    loaded = [
        load_experiment(
            p,
            treatment="treatment",
            control="control",
            outcomes=["trans_after"],
            covariates=["gender", "income"],
            pre_period=["trans_before"],
        )
        for p in (csv, parquet)
    ]
    for data in loaded:
        assert data.arms == ["control", "coupon"]
        assert data.n_rows == 500
        assert data.arm_counts == sim.frame["treatment"].value_counts().sort_index().to_dict()
        assert data.categorical == {"gender": ["F", "M"]}
        assert data.treated_arms == ["coupon"]


def test_numeric_treatment_column_and_control_as_text(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    pd.DataFrame({"t": [0.0, 1.0, 2.0, 0.0], "y": [1, 2, 3, 4]}).to_csv(path, index=False)
    data = load_experiment(path, treatment="t", control="0", outcomes=["y"])
    assert data.arms == ["0", "1", "2"] and data.control == "0"


def test_loader_errors_name_the_file_and_column(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_experiment(tmp_path / "missing.csv", treatment="t", control="a", outcomes=["y"])
    path = tmp_path / "bad.csv"
    pd.DataFrame({"t": ["a", "b"], "y": [1, 2], "pre": [1.0, None]}).to_csv(path, index=False)
    with pytest.raises(
        InputError, match=r"bad.csv, line 3, column pre: the pre-period value is missing \(1 row\)"
    ):
        load_experiment(path, treatment="t", control="a", outcomes=["y"], pre_period=["pre"])
    with pytest.raises(
        InputError, match=r"bad.csv: no covariate column 'age'; the columns are: t, y, pre"
    ):
        load_experiment(path, treatment="t", control="a", outcomes=["y"], covariates=["age"])
    ids = tmp_path / "ids.csv"
    pd.DataFrame({"t": ["a", "b"] * 40, "y": 1, "id": [f"u{i}" for i in range(80)]}).to_csv(
        ids, index=False
    )
    with pytest.raises(InputError, match="covariate 'id' has more than 50 distinct values"):
        load_experiment(ids, treatment="t", control="a", outcomes=["y"], covariates=["id"])


def test_generator_is_deterministic_and_multi_arm(tmp_path: Path) -> None:
    a = generate_experiment(300, seed=5, arms=("none", "c10", "c20"))
    b = generate_experiment(300, seed=5, arms=("none", "c10", "c20"))
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.cate_column("trans_after", "c20") == "true_cate_trans_after__c20"
    assert set(a.frame["treatment"]) == {"none", "c10", "c20"}
    # the stronger arm has the larger true effect everywhere
    assert (a.frame["true_cate_trans_after__c20"] > a.frame["true_cate_trans_after__c10"]).all()
    written = write_experiment(tmp_path / "w.csv", 50, seed=2)
    assert len(pd.read_csv(tmp_path / "w.csv")) == len(written.frame) == 50


def test_planted_effects_are_recovered() -> None:
    sim = generate_experiment(200_000, seed=8)
    frame = sim.frame
    segment_b = frame.query(sim.segments[1].split("=", 1)[1])
    for outcome in ("trans_after", "revenue_after", "converted"):
        for rows, mask in ((frame, None), (segment_b, sim.segments[1].split("=", 1)[1])):
            treated = rows.loc[rows.treatment == "coupon", outcome]
            control = rows.loc[rows.treatment == "control", outcome]
            ci = stats.ttest_ind(treated, control, equal_var=False).confidence_interval(0.999)
            truth = population_effect(outcome, mask=mask, n=400_000)
            assert ci.low <= truth <= ci.high, (outcome, mask, ci, truth)
            # the sample's own mean true CATE agrees with the population figure
            assert rows[sim.cate_column(outcome)].mean() == pytest.approx(
                truth, rel=0.05, abs=0.003
            )
    # the seed's story: B gains revenue, A hardly
    assert (
        population_effect("revenue_after", mask="channel_acq == 2 & num_past_purch <= 2", n=200_000)
        > 3
    )
    assert (
        abs(
            population_effect(
                "revenue_after", mask="channel_acq == 3 & num_past_purch <= 2", n=200_000
            )
        )
        < 1
    )
    assert np.isclose(frame["converted"].to_numpy(), (frame["trans_after"] > 0).to_numpy()).all()


def test_a_folder_of_parquet_parts_loads_like_one_file(tmp_path: Path) -> None:
    sim = generate_experiment(400, seed=3)
    folder = tmp_path / "experiment"
    folder.mkdir()
    sim.frame.iloc[:150].to_parquet(folder / "part-0.parquet", index=False)
    sim.frame.iloc[150:].to_parquet(folder / "part-1.parquet", index=False)
    data = load_experiment(folder, treatment="treatment", control="control", outcomes=["converted"])
    assert data.n_rows == 400
    assert data.arm_counts == sim.frame["treatment"].value_counts().sort_index().to_dict()
    text = sim.frame.assign(converted=sim.frame["converted"].astype(str))
    text.loc[200, "converted"] = "yes"
    text.iloc[150:].to_parquet(folder / "part-1.parquet", index=False)
    # parts that disagree on a column's type: the part and the column are named
    with pytest.raises(InputError, match=r"part-1.parquet.*column \"converted\""):
        load_experiment(folder, treatment="treatment", control="control", outcomes=["converted"])
    text.iloc[:150].to_parquet(folder / "part-0.parquet", index=False)
    with pytest.raises(InputError, match=r"experiment, row 201, column converted: 'yes' is not"):
        load_experiment(folder, treatment="treatment", control="control", outcomes=["converted"])
