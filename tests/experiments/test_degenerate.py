"""Degenerate inputs give an explicit "not estimable: reason", never NaN or an exception."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from couponlens.errors import InputError
from couponlens.experiments.analysis import ExperimentAnalysis, analyze_experiment
from couponlens.experiments.report import write_experiment_report

from .conftest import experiment_from_frame


def _no_nan(value: object) -> None:
    text = json.dumps(value, allow_nan=False)  # raises on NaN/inf
    assert "NaN" not in text


def _analyse(
    frame: pd.DataFrame, segments: list[str] | None = None, **kwargs: object
) -> ExperimentAnalysis:
    data = experiment_from_frame(frame, treatment="arm", control="c", **kwargs)
    result = analyze_experiment(data, segments or [], bootstrap_resamples=50)
    _no_nan(result.results_json())
    for e in result.effects:
        for name in ("diff", "ci_low", "ci_high", "p", "rel_lift"):
            value = getattr(e, name)
            assert value is None or math.isfinite(value)
    return result


def test_one_arm(tmp_path: Path) -> None:
    frame = pd.DataFrame({"arm": ["c"] * 10, "y": np.arange(10.0), "z": [1, 2] * 5})
    result = _analyse(frame, ["S=z == 1"], outcomes=["y"], covariates=["z"])
    assert result.status == "not estimable: only one arm (c) in the data"
    assert result.srm.status == "not estimable: only one arm" and result.srm.p is None
    assert result.effects == [] and result.interactions == []
    assert result.findings[0].startswith("The experiment cannot be analysed")
    out = write_experiment_report(result, tmp_path / "one")
    assert json.loads((out / "results.json").read_text())["status"].startswith("not estimable")


def test_constant_and_all_zero_outcomes() -> None:
    frame = pd.DataFrame(
        {
            "arm": ["c", "t"] * 20,
            "zero": 0.0,
            "five": 5,
            "split": [0, 1] * 20,  # control all 0, treatment all 1
            "y": np.arange(40.0) % 7,
            "pre": 3.0,  # constant pre-period column
        }
    )
    result = _analyse(frame, outcomes=["zero", "five", "split", "y"], pre_period=["pre"])
    assert (
        result.effect("zero").status
        == "not estimable: the outcome is constant in both arms (all 0)"
    )
    assert (
        result.effect("five").status
        == "not estimable: the outcome is constant in both arms (all 5)"
    )
    assert result.effect("split").status == "not estimable: zero variance in both arms"
    assert result.effect("zero").p_adjusted is None
    y = result.effect("y")
    assert y.status == "ok" and y.p is not None
    assert y.ancova_status.startswith("not estimable:") and "pre-period" in y.ancova_status
    assert y.ancova_diff is None
    assert result.effect("zero").ancova_status.startswith("not estimable")


def test_control_mean_zero_keeps_the_difference() -> None:
    frame = pd.DataFrame({"arm": ["c"] * 10 + ["t"] * 10, "y": [0.0] * 10 + [0, 1] * 5})
    row = _analyse(frame, outcomes=["y"]).effect("y")
    assert row.status == "ok (relative lift not estimable: the control mean is 0)"
    assert row.diff == pytest.approx(0.5) and row.rel_lift is None


def test_empty_segment_and_tiny_samples() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "arm": ["c", "t"] * 30,
            "y": rng.normal(size=60),
            "money": rng.exponential(size=60),
            "age": np.arange(60),
            "city": ["x"] * 59 + ["y"],
        }
    )
    segments = [
        "nobody=age > 1000",
        "one_each=age < 2",
        "treated_only=age == 1",
        "everyone=age >= 0",
    ]
    result = _analyse(frame, segments, outcomes=["y", "money"], covariates=["age", "city"])
    assert result.effect("y", segment="nobody").status == "not estimable: the segment is empty"
    assert (
        result.effect("y", segment="one_each").status
        == "not estimable: fewer than 2 units in an arm"
    )
    assert (
        result.effect("y", segment="treated_only").status
        == "not estimable: the control arm has no units"
    )
    assert (
        result.effect("money", segment="nobody").amount_status
        == "not estimable: fewer than 2 units in an arm"
    )
    assert result.effect("money", segment="nobody").bootstrap_ci_low is None
    assert result.effect("money").amount_status == "ok"
    nobody = [i for i in result.interactions if i.segment == "nobody"]
    assert all(i.status.startswith("not estimable: fewer than 2") for i in nobody)
    everyone = [i for i in result.interactions if i.segment == "everyone"]
    assert all(
        i.status == "not estimable: fewer than 2 treated units outside the segment"
        for i in everyone
    )
    comp = [c for c in result.composition if c.segment == "nobody"]
    assert comp and all(c.status == "not estimable: the segment is empty" for c in comp)
    comp_all = [c for c in result.composition if c.segment == "everyone"]
    assert all(c.status == "not estimable: the segment holds everyone" for c in comp_all)
    # BH skips the not-estimable segments
    assert result.effect("y", segment="nobody").p_adjusted is None
    assert result.effect("y", segment="everyone").p_adjusted is not None


def test_tiny_experiment_uses_exact_srm_and_reports() -> None:
    frame = pd.DataFrame({"arm": ["c", "c", "t"], "y": [1.0, 2.0, 3.0]})
    result = _analyse(frame, outcomes=["y"])
    assert result.srm.test == "exact binomial" and result.srm.p == pytest.approx(1.0)
    assert result.effect("y").status == "not estimable: fewer than 2 units in an arm"


def test_bad_inputs_are_input_errors(tmp_path: Path) -> None:
    frame = pd.DataFrame({"arm": ["c", "t"], "y": [1.0, None], "word": ["a", "b"]})
    with pytest.raises(InputError, match="outcome column 'y' is missing in 1 rows"):
        experiment_from_frame(frame, treatment="arm", control="c", outcomes=["y"])
    with pytest.raises(InputError, match="control value 'x' is not in column 'arm'"):
        experiment_from_frame(frame.fillna(0), treatment="arm", control="x", outcomes=["y"])
    with pytest.raises(InputError, match="outcome column 'word' has type string"):
        experiment_from_frame(frame, treatment="arm", control="c", outcomes=["word"])
    with pytest.raises(InputError, match="no outcome column 'nope'"):
        experiment_from_frame(frame, treatment="arm", control="c", outcomes=["nope"])
    data = experiment_from_frame(frame.fillna(0), treatment="arm", control="c", outcomes=["y"])
    with pytest.raises(InputError, match="--split gives 3 shares but the data has 2 arms"):
        analyze_experiment(data, split=[0.2, 0.3, 0.5])
    with pytest.raises(InputError, match="two segments are named 'S'"):
        analyze_experiment(data, ["S=y > 0", "S=y < 0"])
