"""Coupon options shared among segments under an expected-cost budget (LP, HiGHS).

On the real PyOptBook chapter-4 case the known optimum is 326.1 extra visits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from couponlens.cli import main
from couponlens.errors import InputError
from couponlens.targeting.allocation import (
    CouponOption,
    allocate_coupons,
    load_allocation_inputs,
    load_segment_table,
)

OPTIONS = [CouponOption("dm1", 0.0), CouponOption("dm2", 1000.0), CouponOption("dm3", 2000.0)]
FACES = ["--face-value", "dm1=0", "--face-value", "dm2=1000", "--face-value", "dm3=2000"]


@pytest.fixture()
def real_inputs(real_file: Callable[[str], Path]) -> tuple[Path, Path]:
    return (
        real_file("coupon_allocation/customers.csv"),
        real_file("coupon_allocation/visit_probability.csv"),
    )


@pytest.mark.realdata
def test_real_case_finds_the_known_optimum(real_inputs: tuple[Path, Path]) -> None:
    inputs = load_allocation_inputs(*real_inputs)
    assert inputs.keys == ["age_cat", "freq_cat"]
    assert inputs.options == ["dm1", "dm2", "dm3"]
    assert len(inputs.segments) == 16 and int(inputs.segments["n"].sum()) == 5000
    result = allocate_coupons(inputs.segments, OPTIONS, 1_000_000, keys=inputs.keys, min_share=0.1)
    assert result.status == "optimal"
    assert round(result.extra_responses, 1) == 326.1
    # the budget binds, every share is at least 10% and each segment's shares sum to 1
    assert result.expected_cost == pytest.approx(1_000_000, rel=1e-9)
    table = result.share_table()
    assert (table.to_numpy() >= 0.1 - 1e-9).all()
    assert np.allclose(table.sum(axis=1), 1.0)
    assert result.budget_shadow_price > 0
    shares = result.shares
    assert shares["expected_cost"].sum() == pytest.approx(result.expected_cost)
    assert result.expected_responses == pytest.approx(shares["expected_responses"].sum())


@pytest.mark.realdata
def test_real_case_through_the_cli(
    real_inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shares.csv"
    args = ["experiment", "allocate", *map(str, real_inputs), "--budget", "1000000", *FACES]
    assert main([*args, "--min-share", "0.1", "--out", str(out)]) == 0
    assert "extra responses over dm1: 326.1" in capsys.readouterr().out
    shares = pd.read_csv(out)
    assert len(shares) == 16 * 3
    assert shares["customers"].sum() == pytest.approx(5000)
    assert shares["expected_cost"].sum() <= 1_000_000 * (1 + 1e-9)


def test_small_case_by_hand() -> None:
    # young: +0.4 per coupon at an expected cost of 5 each; old: +0.05 at 2.5 each.
    # Per unit of budget young gives 0.08, old 0.02: spend it all on the young first.
    segments = pd.DataFrame(
        {"segment": ["young", "old"], "n": [100, 100], "none": [0.1, 0.2], "coupon": [0.5, 0.25]}
    )
    options = [CouponOption("none", 0.0), CouponOption("coupon", 10.0)]
    result = allocate_coupons(segments, options, budget=300.0, keys=["segment"])
    # 300 / (100 * 10 * 0.5) = 0.6 of the young get the coupon: 100 * 0.6 * 0.4 = 24
    assert result.extra_responses == pytest.approx(24.0)
    table = result.share_table()
    assert table.loc["young", "coupon"] == pytest.approx(0.6)
    assert table.loc["old", "coupon"] == pytest.approx(0.0)
    assert result.budget_shadow_price == pytest.approx(0.08)
    # a budget beyond what every coupon costs leaves money unspent and a zero shadow price
    rich = allocate_coupons(segments, options, budget=10_000.0, keys=["segment"])
    assert rich.extra_responses == pytest.approx(40 + 5)
    assert rich.expected_cost == pytest.approx(500 + 250)
    assert rich.budget_shadow_price == pytest.approx(0.0)


@pytest.mark.parametrize("budget", [0.0, 123.0, 777.7, 2000.0])
def test_budget_is_never_exceeded(budget: float) -> None:
    rng = np.random.default_rng(int(budget))
    base = rng.uniform(0.05, 0.3, 12)
    segments = pd.DataFrame(
        {
            "segment": [f"s{i}" for i in range(12)],
            "n": rng.integers(10, 200, 12),
            "none": base,
            "small": base + rng.uniform(0, 0.2, 12),
            "big": base + rng.uniform(0.1, 0.4, 12),
        }
    )
    options = [CouponOption("none", 0), CouponOption("small", 2), CouponOption("big", 5)]
    result = allocate_coupons(segments, options, budget=budget, keys=["segment"])
    assert result.status == "optimal"
    assert result.expected_cost <= budget * (1 + 1e-9) + 1e-9
    assert result.extra_responses >= -1e-9


def test_infeasible_minimum_shares_are_explained() -> None:
    segments = pd.DataFrame({"n": [100], "none": [0.1], "coupon": [0.5]})
    options = [CouponOption("none", 0.0), CouponOption("coupon", 10.0)]
    result = allocate_coupons(segments, options, budget=1.0, min_share=0.1)
    assert result.status.startswith("infeasible: the minimum shares alone")
    assert np.isnan(result.extra_responses)
    assert allocate_coupons(segments, options, 1.0, min_share=0.6).status.startswith(
        "infeasible: 2 options"
    )


def test_input_errors() -> None:
    segments = pd.DataFrame({"n": [100], "none": [0.1], "coupon": [1.5]})
    options = [CouponOption("none", 0.0), CouponOption("coupon", 10.0)]
    with pytest.raises(InputError, match="probability"):
        allocate_coupons(segments, options, 10.0)
    with pytest.raises(InputError, match="baseline"):
        allocate_coupons(
            segments.assign(coupon=0.5), [CouponOption("none", 1), CouponOption("coupon", 2)], 10
        )
    with pytest.raises(InputError, match="budget"):
        allocate_coupons(segments.assign(coupon=0.5), options, -1.0)


def test_segment_file_and_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "segments.csv"
    path.write_text("segment,n,prob_none,prob_coupon\nyoung,100,0.1,0.5\nold,100,0.2,0.25\n")
    inputs = load_segment_table(path)
    assert inputs.options == ["none", "coupon"] and inputs.keys == ["segment"]
    args = ["experiment", "allocate", str(path), "--budget", "300"]
    assert main([*args, "--face-value", "none=0", "--face-value", "coupon=10"]) == 0
    assert "extra responses over none: 24.0" in capsys.readouterr().out

    def error(argv: list[str]) -> str:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and len(err.splitlines()) == 1 and "Traceback" not in err
        return err

    assert "missing ['coupon']" in error([*args, "--face-value", "none=0"])
    assert "OPTION=AMOUNT" in error([*args, "--face-value", "none", "--face-value", "coupon=1"])
    assert "no such file" in error(
        ["experiment", "allocate", str(tmp_path / "x.csv"), "--budget", "1", "--face-value", "a=0"]
    )
    faces = ["--face-value", "none=0", "--face-value", "coupon=10"]
    assert "infeasible" in error([*args, *faces, "--min-share", "0.6"])
    other = tmp_path / "customers.csv"
    other.write_text("id,segment\n1,young\n2,middle\n")
    prob = tmp_path / "prob.csv"
    prob.write_text("segment,prob_none,prob_coupon\nyoung,0.1,0.5\nold,0.2,0.25\n")
    message = error(["experiment", "allocate", str(other), str(prob), "--budget", "1", *faces])
    assert "segment='middle'" in message


def test_segment_file_without_key_columns(tmp_path: Path) -> None:
    path = tmp_path / "segments.csv"
    path.write_text("n,prob_a,prob_b\n10,0.1,0.3\n20,0.2,0.3\n")
    inputs = load_segment_table(path)
    assert inputs.keys == ["segment"] and inputs.segments["segment"].tolist() == [1, 2]
    options = [CouponOption("a", 0.0), CouponOption("b", 1.0)]
    result = allocate_coupons(inputs.segments, options, budget=3.0, keys=inputs.keys)
    # b costs 0.3 per customer in segment 1 (+0.2 each) and 0.3 in segment 2 (+0.1 each)
    assert result.extra_responses == pytest.approx(2.0)
    assert result.share_table().loc[1, "b"] == pytest.approx(1.0)
