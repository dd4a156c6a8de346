"""The O2O analyses against hand calculations and an independent pandas computation.

Inputs are Tianchi-layout CSV files written to a temporary folder and loaded with the real
loader. The pandas reference reads the same CSV on its own (seed-notebook style: ``null`` as
missing, ``x:y`` -> round((x - y) / x, 2)), so it shares no code with the engine path.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from couponlens.analysis.o2o import (
    ANALYSIS_STEPS,
    NO_DATE_COLUMN,
    analyse_o2o,
    daily_usage,
    days_to_use,
    o2o_findings,
    popular_merchants,
    purchases_by_distance,
    purchases_by_weekday,
    purchases_per_user,
    record_classes,
    shopping_mania,
    usage_by_discount_rate,
    usage_by_distance,
    usage_by_spend_threshold,
    usage_by_weekday,
    usage_rates,
)
from couponlens.analysis.o2o_breakdown import THRESHOLD_BUCKETS, independence_test
from couponlens.analysis.o2o_common import Proportion, wilson_interval
from couponlens.analysis.o2o_merchants import correlation
from couponlens.analysis.o2o_patterns import weighted_quantile
from couponlens.datasets.o2o import TEST_COLUMNS, TRAIN_COLUMNS, O2OData, load_o2o
from couponlens.engine import connect

Z95 = stats.norm.ppf(0.975)

# ---------------------------------------------------------------------------------------------
# A small hand-built log whose answers are worked out by hand in the tests below.
# ---------------------------------------------------------------------------------------------
HAND_ROWS = [
    "1,10,100,150:20,0,20160101,20160105",  # coupon used, 4 days, discount 0.87
    "1,10,100,150:20,0,20160102,null",  # coupon not used
    "2,10,100,150:20,2,20160101,20160120",  # coupon used, 19 days
    "2,10,null,null,1,null,20160110",  # normal purchase (user 2 at merchant 10)
    "3,20,200,0.9,null,20160101,20160101",  # coupon used, same day, distance unknown
    "3,30,null,null,5,null,20160103",  # normal purchase (user 3 at merchant 30)
    "4,20,200,0.9,null,20160102,null",  # coupon not used
    "4,30,300,20:5,10,20160102,20160110",  # coupon used, 8 days, discount 0.75
    "5,30,null,null,3,null,20160104",  # normal purchase
    "5,30,300,20:5,3,20160104,null",  # coupon not used
    "5,10,null,null,null,null,null",  # neither a coupon nor a purchase
]


def write_csv(path: Path, header: tuple[str, ...], rows: list[str]) -> Path:
    path.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> O2OData:
    path = write_csv(tmp_path_factory.mktemp("hand") / "hand.csv", TRAIN_COLUMNS, HAND_ROWS)
    return load_o2o(path, connect(threads=2))


@pytest.fixture(scope="module")
def hand_test_layout(tmp_path_factory: pytest.TempPathFactory) -> O2OData:
    rows = [",".join(r.split(",")[:6]) for r in HAND_ROWS if r.split(",")[2] != "null"]
    path = write_csv(tmp_path_factory.mktemp("hand_test") / "test.csv", TEST_COLUMNS, rows)
    return load_o2o(path, connect(threads=2))


# ---------------------------------------------------------------------------------------------
# A generated-like random log (numpy), and the pandas reference that reads its CSV.
# ---------------------------------------------------------------------------------------------
SPEND_SAVE = ["20:5", "30:5", "50:10", "100:10", "150:20", "200:20", "200:30", "300:30", "500:50"]
RATES = ["0.95", "0.9", "0.8", "0.5"]
NO_DISTANCE_MERCHANT = 2  # every row of this merchant has an unknown distance
RANDOM_THRESHOLD = 12


def random_log(rows: int, seed: int) -> pd.DataFrame:
    """A Tianchi-layout log as text columns: heavy-tailed users and merchants, ~10% null
    distances, usage driven by distance and discount, uses 0..~60 days after receipt."""
    rng = np.random.default_rng(seed)
    n_users, n_merchants = max(rows // 4, 10), max(rows // 100, 8)
    heavy = rng.random(rows) < 0.3  # a few very active users on top of a broad base
    user = np.where(heavy, (rng.zipf(1.5, rows) - 1) % n_users, rng.integers(0, n_users, rows)) + 1
    weight = 1 / np.arange(1, n_merchants + 1) ** 0.8
    merchant = rng.choice(n_merchants, rows, p=weight / weight.sum()) + 1
    offers = np.array(SPEND_SAVE + RATES)
    offer = rng.integers(0, len(offers), rows)
    discount = offers[offer]
    coupon = merchant * 100 + offer
    distance = rng.integers(0, 11, rows).astype(float)
    distance[rng.random(rows) < 0.1] = np.nan
    distance[merchant == NO_DISTANCE_MERCHANT] = np.nan
    start = np.datetime64("2016-01-01")
    received = start + rng.integers(0, 166, rows).astype("timedelta64[D]")
    normal = rng.random(rows) < 0.35
    p_use = np.clip(0.35 - 0.02 * np.nan_to_num(distance, nan=5) - 0.1 * (offer >= 6), 0.02, 1)
    used = ~normal & (rng.random(rows) < p_use)
    delay = np.minimum(rng.geometric(0.12, rows) - 1, 60).astype("timedelta64[D]")
    purchase = np.where(used, received + delay, np.datetime64("NaT"))
    normal_date = start + rng.integers(0, 182, rows).astype("timedelta64[D]")
    purchase = np.where(normal, normal_date, purchase)

    def ymd(values: np.ndarray) -> np.ndarray:
        text = pd.to_datetime(values).strftime("%Y%m%d").to_numpy(dtype=object)
        return np.where(pd.isna(values), "null", text)

    return pd.DataFrame(
        {
            "User_id": user.astype(str),
            "Merchant_id": merchant.astype(str),
            "Coupon_id": np.where(normal, "null", coupon.astype(str)),
            "Discount_rate": np.where(normal, "null", discount),
            "Distance": np.where(
                np.isnan(distance), "null", np.nan_to_num(distance).astype(int).astype(str)
            ),
            "Date_received": np.where(normal, "null", ymd(received)),
            "Date": ymd(purchase),
        }
    )


@pytest.fixture(scope="module")
def random_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("random") / "random.csv"
    random_log(5000, seed=20160101).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def random_data(random_csv: Path) -> O2OData:
    data = load_o2o(random_csv, connect(threads=2))
    assert data.report.rows_quarantined == 0
    return data


def seed_convert(text: object) -> float:
    """The seed notebook's discount conversion."""
    if not isinstance(text, str):
        return math.nan
    if ":" in text:
        x, y = (float(v) for v in text.split(":"))
        return round((x - y) / x, 2)
    return float(text)


def read_reference(path: Path) -> pd.DataFrame:
    """The log read by pandas alone, seed-notebook style."""
    df = pd.read_csv(path, na_values=["null"], keep_default_na=False, dtype={"Discount_rate": str})
    df["discount"] = df["Discount_rate"].map(seed_convert)
    for column in ("Date_received", "Date"):
        df[column] = pd.to_datetime(
            df[column].astype("Int64").astype(str), format="%Y%m%d", errors="coerce"
        )
    df["days"] = (df["Date"] - df["Date_received"]).dt.days
    return df


@pytest.fixture(scope="module")
def ref(random_csv: Path) -> pd.DataFrame:
    return read_reference(random_csv)


@pytest.fixture(scope="module")
def random_analysis(random_data: O2OData) -> object:
    return analyse_o2o(random_data, popular_threshold=RANDOM_THRESHOLD)


def wilson_by_hand(k: float, n: float) -> tuple[float, float]:
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return centre - half, centre + half


# ---------------------------------------------------------------------------------------------
# Hand-built log: answers known by hand.
# ---------------------------------------------------------------------------------------------
def test_record_classes_by_hand(hand: O2OData) -> None:
    rc = record_classes(hand)
    assert (rc.coupon_not_used, rc.normal_purchase, rc.coupon_used, rc.no_coupon_no_purchase) == (
        3,
        3,
        4,
        1,
    )
    assert rc.records == 11 and rc.coupon_receipts == 7 and rc.status == "ok"
    assert rc.shares["coupon_used"] == pytest.approx(4 / 11)
    assert rc.to_frame()["records"].tolist() == [3, 3, 4, 1]


def test_usage_rates_by_hand(hand: O2OData) -> None:
    u = usage_rates(hand)
    assert u.receipts == 7
    assert (u.overall.successes, u.overall.trials) == (4, 7)
    assert u.usage_rate == pytest.approx(4 / 7)
    assert u.within_window.successes == 3  # 4, 19, 0 and 8 days: 19 is beyond 15
    assert u.usage_rate_window == pytest.approx(3 / 7)
    assert (u.overall.ci_low, u.overall.ci_high) == pytest.approx(wilson_by_hand(4, 7))
    assert usage_rates(hand, window_days=20).within_window.successes == 4
    assert usage_rates(hand, window_days=4).within_window.successes == 2  # 4 days counts
    with pytest.raises(ValueError, match="window_days"):
        usage_rates(hand, window_days=-1)


def test_popular_merchants_by_hand(hand: O2OData) -> None:
    pm = popular_merchants(hand, threshold=0)
    rows = pm.merchants.to_dict(orient="records")
    assert [r["merchant_id"] for r in rows] == [10, 20, 30]
    assert [r["coupon_users"] for r in rows] == [2, 1, 1]
    assert rows[0]["mean_distance"] == pytest.approx(1.0)  # (0 + 2) / 2
    assert rows[0]["mean_discount"] == pytest.approx(0.87)
    assert math.isnan(rows[1]["mean_distance"])  # merchant 20: every distance unknown
    assert rows[2]["mean_distance"] == 10 and rows[2]["mean_discount"] == pytest.approx(0.75)
    # 3 merchants (2 with a distance): too few for a correlation with an interval
    assert (
        pm.correlations["distance"].status
        == "not estimable: only 2 complete pairs (need at least 4)"
    )
    assert (
        pm.correlations["discount"].status
        == "not estimable: only 3 complete pairs (need at least 4)"
    )
    assert pm.correlations["discount"].r is None
    # "more than" the threshold: 2 users is not more than 2
    assert popular_merchants(hand, threshold=1).merchants["merchant_id"].tolist() == [10]
    assert popular_merchants(hand, threshold=2).merchants.empty


def test_shopping_mania_by_hand(hand: O2OData) -> None:
    m = shopping_mania(hand)
    # pairs with a coupon purchase: (1,10) (2,10) (3,20) (4,30); user 2 also bought at 10
    # without a coupon, so the union is {1, 3, 4}; their coupon purchases are 3 rows.
    assert (m.users, m.records, m.coupon_users) == (3, 3, 4)
    assert m.mania.mean_discount == pytest.approx((0.87 + 0.9 + 0.75) / 3)
    assert m.mania.mean_distance == pytest.approx(5.0)  # (0 + 10) / 2, the unknown skipped
    assert m.mania.mean_days_to_use == pytest.approx(4.0)  # (4 + 0 + 8) / 3
    assert m.all_coupon_purchases.records == 4
    assert m.all_coupon_purchases.mean_discount == pytest.approx((0.87 * 2 + 0.9 + 0.75) / 4)
    assert m.all_coupon_purchases.mean_distance == pytest.approx(4.0)  # (0 + 2 + 10) / 3
    assert m.all_coupon_purchases.mean_days_to_use == pytest.approx(7.75)  # plain mean, not 7
    # strict: users 2 and 3 made a normal purchase somewhere
    assert m.strict_users == 2 and m.strict.records == 2
    assert m.strict.mean_days_to_use == pytest.approx(6.0)
    assert m.to_frame()["records"].tolist() == [3, 2, 4]


def test_daily_usage_by_hand(hand: O2OData) -> None:
    daily = daily_usage(hand).frame
    assert [d.isoformat() for d in daily["date"]] == ["2016-01-01", "2016-01-02", "2016-01-04"]
    assert daily["issued"].tolist() == [3, 3, 1]
    assert daily["used"].tolist() == [3, 1, 0]
    assert daily["usage_rate"].tolist() == pytest.approx([1.0, 1 / 3, 0.0])


def test_habits_and_patterns_by_hand(hand: O2OData) -> None:
    per_user = purchases_per_user(hand)
    assert (per_user.users, per_user.buyers) == (5, 5)
    assert (per_user.only_coupon, per_user.only_normal, per_user.both) == (2, 1, 2)
    assert per_user.coupon_buyers.rate == pytest.approx(4 / 5)
    distance = usage_by_distance(hand).frame.set_index("group")
    assert distance.index.tolist() == ["0", "2", "3", "10", "unknown"]
    assert distance["issued"].tolist() == [2, 1, 1, 1, 2]
    assert distance["used"].tolist() == [1, 1, 0, 1, 1]
    threshold = usage_by_spend_threshold(hand).frame
    assert threshold["group"].tolist() == ["rate (no threshold)", "(0, 20]", "(100, 200]"]
    assert threshold["issued"].tolist() == [2, 2, 3]
    days = days_to_use(hand)
    assert (days.uses, days.mean, days.median, days.max) == (4, 7.75, 6.0, 19)
    assert days.within_window.successes == 3
    weekday = purchases_by_weekday(hand).frame  # 2016-01-01 was a Friday
    assert weekday.set_index("group").loc["Friday", "coupon_purchases"] == 1


def test_analyse_and_results_json_by_hand(hand: O2OData) -> None:
    steps: list[str] = []
    analysis = analyse_o2o(hand, popular_threshold=0, progress=steps.append)
    assert tuple(steps) == ANALYSIS_STEPS
    results = analysis.to_results_json()
    json.dumps(results, allow_nan=False)  # plain JSON: no NaN anywhere
    assert results["record_classes"] == results["record_classes"] | {
        "coupon_not_used": 3, "normal_purchase": 3, "coupon_used": 4, "no_coupon_no_purchase": 1,
    }  # fmt: skip
    assert results["usage_rate"] == pytest.approx(4 / 7)
    assert results["usage_rate_15d"] == pytest.approx(3 / 7)
    pm = results["popular_merchants"]
    assert pm["threshold"] == 0
    assert pm["merchants"][1] == {
        "merchant_id": 20, "coupon_users": 1, "coupon_purchases": 1,
        "mean_distance": None, "mean_discount": 0.9,
    }  # fmt: skip
    for key in ("distance", "discount"):
        assert {"r", "p", "n", "ci_low", "ci_high"} <= set(pm["correlations"][key])
    assert pm["correlations"]["distance"]["r"] is None
    sm = results["shopping_mania"]
    assert (sm["users"], sm["records"], sm["strict_users"]) == (3, 3, 2)
    for group in ("mania", "all_coupon_purchases"):
        assert {"mean_discount", "mean_distance", "mean_days_to_use"} <= set(sm[group])
    assert sm["all_coupon_purchases"]["mean_days_to_use"] == pytest.approx(7.75)
    assert results["daily"][0] == results["daily"][0] | {
        "date": "2016-01-01", "issued": 3, "used": 3, "usage_rate": 1.0,
    }  # fmt: skip
    assert "dataset" not in results  # the lead adds it from the load report


def test_findings_by_hand(hand: O2OData) -> None:
    findings = analyse_o2o(hand, popular_threshold=0).findings()
    text = "\n".join(findings)
    assert "57.1% of coupons issued were used (95% CI" in text
    assert "4 of 7" in text
    assert "3 users bought with a coupon at some merchant and never without one there" in text
    assert "not estimable: only 2 complete pairs" in text
    assert all(s.endswith(".") for s in findings)


# ---------------------------------------------------------------------------------------------
# Test layout: no Date column, nothing crashes, usage parts say why they are empty.
# ---------------------------------------------------------------------------------------------
def test_test_layout_is_not_available_not_a_crash(hand_test_layout: O2OData) -> None:
    analysis = analyse_o2o(hand_test_layout)
    assert not analysis.has_purchase_dates
    assert analysis.record_classes.status == NO_DATE_COLUMN
    assert analysis.record_classes.coupon_receipts == 7
    assert analysis.usage.overall.status == NO_DATE_COLUMN and analysis.usage.usage_rate is None
    assert analysis.popular_merchants.status == NO_DATE_COLUMN
    assert analysis.shopping_mania.status == NO_DATE_COLUMN
    assert analysis.days_to_use.status == NO_DATE_COLUMN
    assert analysis.purchases_per_user.status == NO_DATE_COLUMN
    assert analysis.daily.frame["issued"].tolist() == [3, 3, 1]  # issued is still known
    assert analysis.usage_by_distance.frame["issued"].sum() == 7
    results = analysis.to_results_json()
    json.dumps(results, allow_nan=False)
    assert results["usage_rate"] is None and results["usage_rate_15d"] is None
    assert results["record_classes"]["coupon_used"] is None
    assert results["shopping_mania"]["users"] is None
    assert results["daily"][0]["used"] is None and results["daily"][0]["issued"] == 3
    findings = analysis.findings()
    assert len(findings) == 1 and "no Date column" in findings[0]
    # a bare table says the same (it has no purchase date anywhere)
    assert usage_rates(hand_test_layout.table).status == NO_DATE_COLUMN


# ---------------------------------------------------------------------------------------------
# Random log: every analysis against the pandas reference.
# ---------------------------------------------------------------------------------------------
def test_random_record_classes_and_usage(random_data: O2OData, ref: pd.DataFrame) -> None:
    coupon, bought = ref["Coupon_id"].notna(), ref["Date"].notna()
    rc = record_classes(random_data)
    assert rc.coupon_not_used == int((coupon & ~bought).sum())
    assert rc.normal_purchase == int((~coupon & bought).sum())
    assert rc.coupon_used == int((coupon & bought).sum())
    assert rc.no_coupon_no_purchase == int((~coupon & ~bought).sum())
    u = usage_rates(random_data)
    assert u.usage_rate == pytest.approx((coupon & bought).sum() / coupon.sum())
    within = (coupon & bought & (ref["days"] <= 15)).sum()
    assert u.usage_rate_window == pytest.approx(within / coupon.sum())
    assert (u.within_window.ci_low, u.within_window.ci_high) == pytest.approx(
        wilson_by_hand(within, coupon.sum())
    )


def reference_popular(ref: pd.DataFrame, threshold: int) -> pd.DataFrame:
    used = ref[ref["Coupon_id"].notna() & ref["Date"].notna()]
    users = used.groupby("Merchant_id")["User_id"].nunique()
    popular = users[users > threshold].rename("coupon_users").reset_index()
    means = used.groupby("Merchant_id").agg(
        mean_distance=("Distance", "mean"), mean_discount=("discount", "mean")
    )
    out = popular.merge(means, on="Merchant_id")
    return out.sort_values(["coupon_users", "Merchant_id"], ascending=[False, True]).reset_index(
        drop=True
    )


def test_random_popular_merchants_and_correlations(random_data: O2OData, ref: pd.DataFrame) -> None:
    pm = popular_merchants(random_data, threshold=RANDOM_THRESHOLD)
    expected = reference_popular(ref, RANDOM_THRESHOLD)
    assert len(expected) >= 6, "the random log should have enough popular merchants"
    assert pm.merchants["merchant_id"].tolist() == expected["Merchant_id"].tolist()
    assert pm.merchants["coupon_users"].tolist() == expected["coupon_users"].tolist()
    np.testing.assert_allclose(
        pm.merchants["mean_distance"], expected["mean_distance"], equal_nan=True
    )
    np.testing.assert_allclose(pm.merchants["mean_discount"], expected["mean_discount"])
    assert expected["mean_distance"].isna().sum() == 1  # the merchant with no distance
    for key, (x, y) in {"distance": ("coupon_users", "mean_distance"),
                        "discount": ("coupon_users", "mean_discount"),
                        "distance_discount": ("mean_distance", "mean_discount")}.items():  # fmt: skip
        pairs = expected[[x, y]].dropna()
        c = pm.correlations[key]
        assert c.n == len(pairs) and c.status == "ok"
        r, p = stats.pearsonr(pairs[x], pairs[y])
        assert c.r == pytest.approx(r) and c.p == pytest.approx(p)
        z, se = np.arctanh(r), 1 / math.sqrt(len(pairs) - 3)  # Fisher z by hand
        assert (c.ci_low, c.ci_high) == pytest.approx(
            (np.tanh(z - Z95 * se), np.tanh(z + Z95 * se))
        )
        rho, rho_p = stats.spearmanr(pairs[x], pairs[y])
        assert c.spearman_r == pytest.approx(rho) and c.spearman_p == pytest.approx(rho_p)
    assert pm.correlations["distance"].n == len(expected) - 1  # pairwise deletion


def test_correlation_states() -> None:
    assert correlation([1, 2, 3, 4], [1, 1, 1, 1], "a", "b").status.startswith(
        "not estimable: b does not vary"
    )
    assert correlation([1, 1, 1, 1], [1, 2, 3, 4], "a", "b").status.startswith(
        "not estimable: a does not vary"
    )
    c = correlation([1, 2, None, 4, 5], [2.0, 4.0, 6.0, float("nan"), 10.0], "a", "b")
    assert c.status == "not estimable: only 3 complete pairs (need at least 4)" and c.p is None
    perfect = correlation([1, 2, 3, 4], [2, 4, 6, 8])
    assert perfect.r == pytest.approx(1.0) and perfect.significant


def reference_mania(ref: pd.DataFrame) -> dict[str, object]:
    bought = ref[ref["Date"].notna()]
    with_coupon = bought["Coupon_id"].notna()
    pair_coupon = bought[with_coupon].groupby(["User_id", "Merchant_id"]).size().rename("coupon")
    pair_normal = bought[~with_coupon].groupby(["User_id", "Merchant_id"]).size().rename("normal")
    pairs = pd.concat([pair_coupon, pair_normal], axis=1).fillna(0)
    mania_users = set(
        pairs[(pairs["coupon"] > 0) & (pairs["normal"] == 0)].index.get_level_values(0)
    )
    used = bought[with_coupon]
    mania = used[used["User_id"].isin(mania_users)]
    strict_users = set(used["User_id"]) - set(bought.loc[~with_coupon, "User_id"])
    return {
        "users": len(mania_users),
        "mania": mania,
        "all": used,
        "strict_users": len(strict_users),
    }


def test_random_shopping_mania(random_data: O2OData, ref: pd.DataFrame) -> None:
    m = shopping_mania(random_data)
    expected = reference_mania(ref)
    assert m.users == expected["users"] and m.strict_users == expected["strict_users"]
    assert m.users > m.strict_users > 0
    for profile, frame in ((m.mania, expected["mania"]), (m.all_coupon_purchases, expected["all"])):
        assert isinstance(frame, pd.DataFrame)
        assert profile.records == len(frame)
        assert profile.mean_discount == pytest.approx(frame["discount"].mean())
        assert profile.mean_distance == pytest.approx(frame["Distance"].mean())
        assert profile.mean_days_to_use == pytest.approx(frame["days"].mean())


def test_random_daily_usage(random_data: O2OData, ref: pd.DataFrame) -> None:
    receipts = ref[ref["Coupon_id"].notna()]
    expected = receipts.groupby("Date_received").agg(
        issued=("Coupon_id", "size"), used=("Date", "count")
    )
    daily = daily_usage(random_data).frame
    assert [d.isoformat() for d in daily["date"]] == [d.date().isoformat() for d in expected.index]
    assert daily["issued"].tolist() == expected["issued"].tolist()
    assert daily["used"].tolist() == expected["used"].tolist()
    np.testing.assert_allclose(daily["usage_rate"], expected["used"] / expected["issued"])


def reference_usage_by(ref: pd.DataFrame, column: pd.Series) -> pd.DataFrame:
    receipts = ref[ref["Coupon_id"].notna()].assign(g=column)
    return receipts.groupby("g", dropna=False).agg(
        issued=("Coupon_id", "size"), used=("Date", "count")
    )


def bucket(threshold: float) -> str:
    if math.isnan(threshold):
        return "rate (no threshold)"
    return next(label for upper, label in THRESHOLD_BUCKETS if threshold <= upper)


def test_random_usage_patterns(random_data: O2OData, ref: pd.DataFrame) -> None:
    receipts = ref["Coupon_id"].notna()
    spend = ref["Discount_rate"].where(ref["Discount_rate"].str.contains(":", na=False))
    threshold = spend.str.split(":").str[0].astype(float)
    cases = {
        usage_by_distance: ref["Distance"].map(
            lambda d: "unknown" if math.isnan(d) else str(int(d))
        ),
        usage_by_discount_rate: ref["discount"].map(lambda d: f"{d:.2f}"),
        usage_by_spend_threshold: threshold.map(bucket),
        usage_by_weekday: ref["Date_received"].dt.day_name(),
    }
    for function, groups in cases.items():
        result = function(random_data)
        expected = reference_usage_by(ref, groups[receipts])
        got = result.frame.set_index("group")
        assert sorted(got.index) == sorted(expected.index), function.__name__
        got = got.loc[expected.index]
        assert got["issued"].tolist() == expected["issued"].tolist(), function.__name__
        assert got["used"].tolist() == expected["used"].tolist(), function.__name__
        np.testing.assert_allclose(got["usage_rate"], expected["used"] / expected["issued"])
        low, high = zip(
            *(
                wilson_by_hand(k, n)
                for k, n in zip(expected["used"], expected["issued"], strict=True)
            ),
            strict=True,
        )
        np.testing.assert_allclose(got["ci_low"], low, atol=1e-12)
        np.testing.assert_allclose(got["ci_high"], high, atol=1e-12)
        table = np.column_stack([expected["used"], expected["issued"] - expected["used"]])
        chi2 = stats.chi2_contingency(table, correction=False)
        assert result.test.chi2 == pytest.approx(chi2.statistic) and result.test.p == pytest.approx(
            chi2.pvalue
        )
    # the planted effect: usage falls with distance
    by_distance = usage_by_distance(random_data)
    assert by_distance.test.p is not None and by_distance.test.p < 1e-6
    assert by_distance.frame["group"].tolist()[:11] == [str(d) for d in range(11)]


def test_random_weekday_order_and_labels(random_data: O2OData) -> None:
    frame = usage_by_weekday(random_data).frame
    assert frame["group"].tolist() == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]


def test_random_days_to_use(random_data: O2OData, ref: pd.DataFrame) -> None:
    days = ref.loc[ref["Coupon_id"].notna() & ref["Date"].notna(), "days"]
    d = days_to_use(random_data)
    assert d.uses == len(days) and d.max == days.max()
    assert d.mean == pytest.approx(days.mean())
    assert d.median == pytest.approx(days.median())
    assert (d.q1, d.q3, d.p90) == pytest.approx(tuple(days.quantile([0.25, 0.75, 0.9])))
    assert d.within_window.successes == int((days <= 15).sum())
    expected_hist = days.value_counts().sort_index()
    assert d.histogram["days"].tolist() == expected_hist.index.tolist()
    assert d.histogram["uses"].tolist() == expected_hist.tolist()


def test_random_purchase_habits(random_data: O2OData, ref: pd.DataFrame) -> None:
    bought = ref[ref["Date"].notna()]
    coupon = bought["Coupon_id"].notna()
    for function, groups in (
        (purchases_by_weekday, bought["Date"].dt.day_name()),
        (
            purchases_by_distance,
            bought["Distance"].map(lambda d: "unknown" if math.isnan(d) else str(int(d))),
        ),
    ):
        expected = (
            pd.DataFrame({"g": groups, "c": coupon})
            .groupby("g")
            .agg(purchases=("c", "size"), coupon_purchases=("c", "sum"))
        )
        got = function(random_data).frame.set_index("group").loc[expected.index]
        assert got["purchases"].tolist() == expected["purchases"].tolist()
        assert got["coupon_purchases"].tolist() == expected["coupon_purchases"].tolist()
        np.testing.assert_allclose(got["share"], expected["purchases"] / len(bought))
        np.testing.assert_allclose(
            got["coupon_share"], expected["coupon_purchases"] / expected["purchases"]
        )
    per_user = bought.assign(c=coupon).groupby("User_id")["c"].agg(coupon="sum", total="size")
    per_user["normal"] = per_user["total"] - per_user["coupon"]
    u = purchases_per_user(random_data)
    assert u.users == ref["User_id"].nunique() and u.buyers == len(per_user)
    assert u.only_coupon == int((per_user["normal"] == 0).sum())
    assert u.only_normal == int((per_user["coupon"] == 0).sum())
    assert u.both == int(((per_user["normal"] > 0) & (per_user["coupon"] > 0)).sum())
    for summary, column in (
        (u.coupon_purchases_per_buyer, "coupon"),
        (u.normal_purchases_per_buyer, "normal"),
    ):
        assert summary.mean == pytest.approx(per_user[column].mean())
        assert summary.median == pytest.approx(per_user[column].median())
        assert summary.p90 == pytest.approx(per_user[column].quantile(0.9))
        assert summary.max == per_user[column].max()
    assert u.mean_coupon_share_per_buyer == pytest.approx(
        (per_user["coupon"] / per_user["total"]).mean()
    )
    assert u.histogram["buyers_by_coupon_purchases"].sum() == len(per_user)
    assert u.histogram["buyers_by_coupon_purchases"].tolist()[:3] == [
        int((per_user["coupon"] == k).sum()) for k in range(3)
    ]


def test_random_results_json_and_findings(random_analysis: object, ref: pd.DataFrame) -> None:
    from couponlens.analysis.o2o import O2OAnalysis

    assert isinstance(random_analysis, O2OAnalysis)
    results = random_analysis.to_results_json()
    text = json.dumps(results, allow_nan=False)
    assert "NaN" not in text
    expected = reference_popular(ref, RANDOM_THRESHOLD)
    merchants = results["popular_merchants"]["merchants"]
    assert [m["merchant_id"] for m in merchants] == expected["Merchant_id"].tolist()
    assert sum(m["mean_distance"] is None for m in merchants) == 1  # a null stays null
    assert len(results["daily"]) == ref["Date_received"].nunique()
    assert set(results["daily"][0]) >= {"date", "issued", "used", "usage_rate"}
    findings = o2o_findings(random_analysis)
    assert len(findings) >= 10
    joined = "\n".join(findings)
    assert "popular merchants, distinct coupon users correlate with mean distance at r = " in joined
    assert "The usage rate differs by distance (chi-square p < 0.001)" in joined


# ---------------------------------------------------------------------------------------------
# Small helpers.
# ---------------------------------------------------------------------------------------------
def test_proportion_and_wilson_helpers() -> None:
    p = Proportion.of(7, 20)
    assert (p.ci_low, p.ci_high) == pytest.approx(wilson_by_hand(7, 20))
    empty = Proportion.of(0, 0, empty="not estimable: nothing issued")
    assert empty.rate is None and empty.status == "not estimable: nothing issued"
    low, high = wilson_interval(np.array([0, 5]), np.array([0, 5]))
    assert math.isnan(low[0]) and high[1] == pytest.approx(1.0)


def test_weighted_quantile_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 30, 200)
    uniques, counts = np.unique(values, return_counts=True)
    for q in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
        assert weighted_quantile(uniques, counts, q) == pytest.approx(np.quantile(values, q))


def test_independence_test_states() -> None:
    assert (
        independence_test(np.array([3]), np.array([5])).status
        == "not estimable: fewer than two groups"
    )
    assert (
        independence_test(np.array([0, 0]), np.array([5, 7])).status
        == "not estimable: the outcome does not vary"
    )


def test_bare_table_without_date_column_and_empty_table() -> None:
    con = connect(threads=1)
    t = con.create_table("bare", pd.DataFrame({"user_id": [1], "merchant_id": [2], "coupon_id": [3],
                                               "discount_rate": [0.9], "distance": [1],
                                               "date_received": [dt.date(2016, 7, 1)]}))  # fmt: skip
    assert usage_rates(t).status == NO_DATE_COLUMN
    empty = con.create_table(
        "empty",
        schema=ibis.schema(
            {
                "user_id": "int64",
                "merchant_id": "int64",
                "coupon_id": "int64",
                "discount_rate": "float64",
                "discount_threshold": "float64",
                "distance": "int64",
                "date_received": "date",
                "purchase_date": "date",
            }
        ),
    )
    analysis = analyse_o2o(empty, has_purchase_dates=True)
    assert analysis.usage.status == "not estimable: no coupons were issued"
    assert analysis.record_classes.status == "not estimable: the table is empty"
    json.dumps(analysis.to_results_json(), allow_nan=False)
    assert isinstance(analysis.findings(), list)
