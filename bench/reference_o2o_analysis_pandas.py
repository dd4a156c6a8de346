"""The reference the O2O analysis stage races: the seed notebooks' analyses, written in pandas.

This follows the seed notebooks' style (``pd.read_csv``, ``apply`` for the discount conversion,
boolean masks and ``groupby``) but without their gratuitous row loops, so the race is against a
fair, ordinary pandas implementation of the same numbers: record classes, usage rates, popular
merchants with correlations, shopping_mania, the daily series, consumer habits and usage by
discount, threshold, distance, day of week and days to use.

Run: ``python -m bench.reference_o2o_analysis_pandas FILE.csv``
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from scipy import stats


def convert_rate(value: str) -> float:
    """The seed's conversion: ``x:y`` -> round((x - y) / x, 2); a rate stays as it is."""
    if value == "null":
        return np.nan
    if ":" in value:
        x, y = value.split(":")
        return round((float(x) - float(y)) / float(x), 2)
    return float(value)


def analyse(path: str) -> dict[str, object]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["Discount_rate_conv"] = df["Discount_rate"].apply(convert_rate)
    df["Distance_n"] = pd.to_numeric(df["Distance"].replace("null", np.nan))
    df["received"] = pd.to_datetime(df["Date_received"].replace("null", np.nan), format="%Y%m%d")
    df["date"] = pd.to_datetime(df["Date"].replace("null", np.nan), format="%Y%m%d")
    has_coupon = df["Coupon_id"] != "null"
    has_date = df["Date"] != "null"
    out: dict[str, object] = {}
    out["record_classes"] = {
        "coupon_not_used": int((has_coupon & ~has_date).sum()),
        "normal_purchase": int((~has_coupon & has_date).sum()),
        "coupon_used": int((has_coupon & has_date).sum()),
        "no_coupon_no_purchase": int((~has_coupon & ~has_date).sum()),
    }
    coupons = df[has_coupon]
    used = df[has_coupon & has_date].copy()
    used["days"] = (used["date"] - used["received"]).dt.days
    out["usage_rate"] = len(used) / len(coupons)
    out["usage_rate_15d"] = int((used["days"] <= 15).sum()) / len(coupons)

    users = used.groupby("Merchant_id")["User_id"].nunique()
    popular = users[users > 500].rename("coupon_users").to_frame()
    popular["mean_distance"] = used.groupby("Merchant_id")["Distance_n"].mean()
    popular["mean_discount"] = used.groupby("Merchant_id")["Discount_rate_conv"].mean()
    correlations = {}
    for name in ("mean_distance", "mean_discount"):
        pair = popular[["coupon_users", name]].dropna()
        if len(pair) > 2:
            correlations[name] = stats.pearsonr(pair["coupon_users"], pair[name]).statistic
            stats.spearmanr(pair["coupon_users"], pair[name])
    out["popular_merchants"] = {"merchants": len(popular), "correlations": correlations}

    normal = df[~has_coupon & has_date][["Merchant_id", "User_id"]].drop_duplicates()
    coupon_buyers = used[["Merchant_id", "User_id"]].drop_duplicates()
    merged = coupon_buyers.merge(normal, how="left", on=["Merchant_id", "User_id"], indicator=True)
    mania_users = set(merged.loc[merged["_merge"] == "left_only", "User_id"])
    mania = used[used["User_id"].isin(mania_users)]
    strict = set(used["User_id"]) - set(df.loc[~has_coupon & has_date, "User_id"])
    out["shopping_mania"] = {
        "users": len(mania_users),
        "records": len(mania),
        "strict_users": len(strict),
        "mania_mean_discount": mania["Discount_rate_conv"].mean(),
        "mania_mean_distance": mania["Distance_n"].mean(),
        "mania_mean_days": mania["days"].mean(),
        "all_mean_discount": used["Discount_rate_conv"].mean(),
    }

    daily = coupons.groupby("received").size().rename("issued").to_frame()
    daily["used"] = used.groupby("received").size()
    daily["used"] = daily["used"].fillna(0)
    daily["usage_rate"] = daily["used"] / daily["issued"]
    out["daily"] = len(daily)

    purchases = df[has_date].copy()
    purchases["dow"] = purchases["date"].dt.dayofweek
    out["purchases_by_dow"] = purchases.groupby(["dow", has_coupon[has_date]]).size().to_dict()
    out["purchases_by_distance"] = purchases.groupby("Distance_n", dropna=False).size().to_dict()
    per_user = (
        df[has_date]
        .groupby("User_id")
        .agg(coupon=("Coupon_id", lambda s: int((s != "null").sum())), total=("Coupon_id", "size"))
    )
    out["per_user"] = per_user.describe().to_dict()

    coupons = coupons.copy()
    coupons["used15"] = ((coupons["date"] - coupons["received"]).dt.days <= 15) & (
        coupons["Date"] != "null"
    )
    coupons["used"] = coupons["Date"] != "null"
    coupons["threshold"] = coupons["Discount_rate"].str.split(":").str[0]
    coupons["dow"] = coupons["received"].dt.dayofweek
    for key in ("Discount_rate_conv", "threshold", "Distance_n", "dow"):
        grouped = coupons.groupby(key, dropna=False)["used"].agg(["sum", "size"])
        grouped["rate"] = grouped["sum"] / grouped["size"]
        out[f"usage_by_{key}"] = len(grouped)
    out["days_to_use"] = used["days"].value_counts().sort_index().to_dict()
    return out


def main() -> None:
    start = time.perf_counter()
    result = analyse(sys.argv[1])
    print(
        f"pandas reference: {time.perf_counter() - start:.2f} s, usage_rate={result['usage_rate']:.5f}"
    )


if __name__ == "__main__":
    main()
