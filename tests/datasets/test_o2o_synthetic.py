"""The synthetic O2O generator: layout, calibration to DOMAIN §1, and its planted truth.

Every figure is recomputed here with pandas from the written bytes, independently of the
generator's own summary.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from couponlens.cli import main
from couponlens.datasets.o2o import load_o2o
from couponlens.datasets.o2o_synthetic import generate_o2o
from couponlens.engine import connect
from couponlens.errors import InputError

ROWS = 300_000
REAL_ROWS = 1_754_884


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["null"])
    for column in ("Date_received", "Date"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], format="%Y%m%d")
    return frame


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    folder = tmp_path_factory.mktemp("o2o_gen")
    log, truth = folder / "train.csv", folder / "truth.csv"
    generate_o2o(ROWS, 11, log, truth)
    return _read(log), pd.read_csv(truth), log


def test_layout_and_clean_load(generated: tuple[pd.DataFrame, pd.DataFrame, Path]) -> None:
    frame, _, log = generated
    assert list(frame.columns) == [
        "User_id",
        "Merchant_id",
        "Coupon_id",
        "Discount_rate",
        "Distance",
        "Date_received",
        "Date",
    ]
    assert len(frame) == ROWS
    data = load_o2o(log, connect(threads=1))
    assert (data.report.rows_read, data.report.rows_kept, data.report.rows_quarantined) == (
        ROWS,
        ROWS,
        0,
    )


def test_record_class_shares_match_the_real_file(
    generated: tuple[pd.DataFrame, pd.DataFrame, Path],
) -> None:
    frame, _, _ = generated
    coupon, bought = frame.Coupon_id.notna(), frame.Date.notna()
    shares = {
        "coupon_not_used": (coupon & ~bought).mean(),
        "normal_purchase": (~coupon & bought).mean(),
        "coupon_used": (coupon & bought).mean(),
    }
    real = {"coupon_not_used": 977_900, "normal_purchase": 701_602, "coupon_used": 75_382}
    for name, count in real.items():
        assert shares[name] == pytest.approx(count / REAL_ROWS, abs=0.01), name
    assert not (~coupon & ~bought).any()
    usage_rate = (coupon & bought).sum() / coupon.sum()
    assert usage_rate == pytest.approx(75_382 / 1_053_282, abs=0.006)


def test_entities_discounts_distances_and_dates(
    generated: tuple[pd.DataFrame, pd.DataFrame, Path],
) -> None:
    frame, _, _ = generated
    scale = ROWS / REAL_ROWS
    assert frame.User_id.nunique() == pytest.approx(539_438 * scale, rel=0.1)
    assert frame.Merchant_id.nunique() == pytest.approx(8_415 * scale, rel=0.25)
    assert frame.Coupon_id.nunique() == pytest.approx(9_738 * scale, rel=0.25)
    coupons = frame.dropna(subset=["Coupon_id"]).drop_duplicates("Coupon_id")
    assert coupons.Discount_rate.str.contains(":").mean() == pytest.approx(0.968, abs=0.015)
    assert frame.Distance.isna().mean() == pytest.approx(106_003 / REAL_ROWS, abs=0.01)
    distances = frame.Distance.dropna().astype(int)
    assert distances.between(0, 10).all() and set(distances) == set(range(11))
    assert frame.Date_received.min() == pd.Timestamp("2016-01-01")
    assert frame.Date_received.max() == pd.Timestamp("2016-06-15")
    assert frame.Date.min() == pd.Timestamp("2016-01-01")
    assert frame.Date.max() == pd.Timestamp("2016-06-30")
    used = frame.dropna(subset=["Coupon_id", "Date"])
    assert (used.Date >= used.Date_received).all()


def test_heavy_tails_and_same_day_receipts(
    generated: tuple[pd.DataFrame, pd.DataFrame, Path],
) -> None:
    frame, _, _ = generated
    per_user = frame.groupby("User_id").size().sort_values(ascending=False)
    top_percent = per_user.head(len(per_user) // 100).sum() / len(frame)
    assert top_percent > 0.05  # the top 1% of users hold over 5% of rows
    assert per_user.max() > 40 * per_user.median()
    per_merchant = frame.groupby("Merchant_id").size()
    assert per_merchant.max() > 50 * per_merchant.median()
    receipts = frame.dropna(subset=["Coupon_id"])
    repeated = receipts.duplicated(["User_id", "Coupon_id", "Date_received"]).mean()
    assert 0.002 < repeated < 0.05


def test_calendar_usage_rate_curve(generated: tuple[pd.DataFrame, pd.DataFrame, Path]) -> None:
    frame, _, _ = generated
    receipts = frame.dropna(subset=["Coupon_id"])
    used = receipts.Date.notna()

    def rate(first: str, last: str) -> float:
        inside = receipts.Date_received.between(first, last)
        return float(used[inside].mean())

    assert 0.01 < rate("2016-01-20", "2016-01-31") < 0.06  # about 3% in late January
    assert 0.2 < rate("2016-03-20", "2016-03-31") < 0.4  # about 30% in late March


def test_truth_is_the_probability_of_use_within_15_days(
    generated: tuple[pd.DataFrame, pd.DataFrame, Path],
) -> None:
    frame, truth, _ = generated
    frame = frame.assign(line_number=np.arange(len(frame)) + 2)
    receipts = frame.dropna(subset=["Coupon_id"])
    assert len(truth) == len(receipts)
    joined = receipts.merge(truth[["line_number", "probability"]], on="line_number")
    assert len(joined) == len(receipts)
    label = ((joined.Date - joined.Date_received).dt.days <= 15).astype(int)
    probability = joined.probability.to_numpy()
    assert ((probability > 0) & (probability < 1)).all()
    # Calibration: the labels are Bernoulli draws of the truth, in every decile.
    deciles = pd.qcut(probability, 10, labels=False, duplicates="drop")
    for decile in np.unique(deciles):
        inside = deciles == decile
        n, expected = int(inside.sum()), float(probability[inside].sum())
        observed = int(label[inside].sum())
        sd = np.sqrt(float((probability[inside] * (1 - probability[inside])).sum()))
        assert abs(observed - expected) < 4.5 * sd + 1, (decile, n, observed, expected)
    # Learnable: the truth ranks receipts far better than chance.
    assert roc_auc_score(label, probability) > 0.85
    # The planted directions: nearer and deeper discounts are used more.
    near = joined.Distance.astype(float) <= 1
    far = joined.Distance.astype(float) >= 6
    assert label[near.to_numpy()].mean() > 1.5 * label[far.to_numpy()].mean()
    table = [[label[near.to_numpy()].sum(), (1 - label[near.to_numpy()]).sum()],
             [label[far.to_numpy()].sum(), (1 - label[far.to_numpy()]).sum()]]  # fmt: skip
    assert stats.chi2_contingency(table)[1] < 1e-6


def test_same_arguments_same_bytes_and_seed_matters(tmp_path: Path) -> None:
    generate_o2o(3_000, 5, tmp_path / "a.csv", tmp_path / "ta.csv")
    generate_o2o(3_000, 5, tmp_path / "b.csv", tmp_path / "tb.csv")
    generate_o2o(3_000, 6, tmp_path / "c.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "ta.csv").read_bytes() == (tmp_path / "tb.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()


def test_test_layout_shares_the_train_world(tmp_path: Path) -> None:
    generate_o2o(20_000, 9, tmp_path / "train.csv")
    summary = generate_o2o(4_000, 9, tmp_path / "test.csv", layout="test", world_rows=20_000)
    train, test = _read(tmp_path / "train.csv"), _read(tmp_path / "test.csv")
    assert list(test.columns) == [
        "User_id",
        "Merchant_id",
        "Coupon_id",
        "Discount_rate",
        "Distance",
        "Date_received",
    ]
    assert summary.usage_rate is None and len(test) == 4_000
    assert test.Coupon_id.notna().all()
    assert test.Date_received.min() > train.Date_received.max()
    assert test.Date_received.max() - test.Date_received.min() <= pd.Timedelta(days=31)
    assert test.User_id.isin(set(train.User_id)).mean() > 0.5
    assert test.Merchant_id.isin(set(train.Merchant_id)).mean() > 0.9
    loaded = load_o2o(tmp_path / "test.csv", connect(threads=1))
    assert loaded.report.rows_quarantined == 0
    assert pd.Timestamp(loaded.table.date_received.min().execute()) >= pd.Timestamp(
        dt.date(2016, 7, 1)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 10, "seed": 1}, "at least 100"),
        ({"rows": 1_000, "seed": -1}, "seed"),
        ({"rows": 1_000, "seed": 1, "layout": "nope"}, "layout"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        generate_o2o(out=tmp_path / "x.csv", **kwargs)  # type: ignore[arg-type]


def test_truth_cannot_overwrite_the_log(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        generate_o2o(1_000, 1, tmp_path / "x.csv", tmp_path / "x.csv")


def test_cli_writes_log_and_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, truth = tmp_path / "o2o.csv", tmp_path / "truth.csv"
    code = main(
        [
            "generate",
            "o2o",
            "--rows",
            "2000",
            "--seed",
            "4",
            "--out",
            str(out),
            "--truth",
            str(truth),
        ]
    )
    assert code == 0
    assert len(out.read_text().splitlines()) == 2_001
    assert truth.read_text().startswith("line_number,User_id,Coupon_id,Date_received,probability")
    assert "wrote 2,000 rows" in capsys.readouterr().out
    assert main(["generate", "o2o", "--rows", "5", "--out", str(tmp_path / "y.csv")]) == 2
    assert "at least 100" in capsys.readouterr().err
