"""A pandas implementation of the customer report's analysis stage, for the benchmark to race.

Same definitions as :mod:`couponlens.analysis.customers` (successful tickets, active days,
device lookup preferring a known model, clustered responsiveness sums), written as idiomatic
pandas over the Parquet/CSV tables. The CLV fit is left out on both sides of the race (it is
the same library call either way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _read(folder: Path, stem: str) -> pd.DataFrame:
    parquet = folder / f"{stem}.parquet"
    return pd.read_parquet(parquet) if parquet.exists() else pd.read_csv(folder / f"{stem}.csv")


def analyse(folder: str | Path) -> dict[str, Any]:
    """Every analysis of the report (but CLV) with pandas; returns a few headline numbers."""
    folder = Path(folder)
    t = _read(folder, "ticket_history").drop_duplicates()
    customers = _read(folder, "customer").drop_duplicates()
    devices = _read(folder, "device_detail").drop_duplicates()
    campaigns = _read(folder, "campaign")
    statuses = _read(folder, "status_detail")
    out: dict[str, Any] = {}

    t["time"] = pd.to_datetime(t["time"])
    t["campaign_id"] = t["campaign_id"].where(t["campaign_id"] != 0)
    t["date"] = t["time"].dt.normalize()
    t["month"] = t["time"].dt.to_period("M")
    ok = t[t.status_id == 1].copy()
    ok["promoted"] = ok.campaign_id.notna()

    # demographics
    born = pd.to_datetime(customers.dob, errors="coerce")
    born = born.where(born != pd.Timestamp("1970-01-01"))
    as_of = ok.date.max()
    age = (
        as_of.year
        - born.dt.year
        - ((born.dt.month * 100 + born.dt.day) > (as_of.month * 100 + as_of.day))
    )
    out["age_buckets"] = pd.cut(age, [-1, 17, 24, 34, 44, 54, 200]).value_counts()
    out["generations"] = pd.cut(
        born.dt.year, [0, 1945, 1964, 1980, 1996, 2012, 3000]
    ).value_counts()
    out["gender"] = customers.usergender.value_counts()

    # time
    out["monthly"] = ok.groupby("month").size()
    dow = ok.time.dt.day_of_week
    out["weekday"] = dow.value_counts()
    out["hourly"] = ok.groupby([ok.time.dt.hour, dow >= 5]).size()
    daily = ok.groupby("date").size()
    days = pd.date_range(daily.index.min(), daily.index.max())
    counts = daily.reindex(days).astype(float)
    open_month = counts.fillna(0).groupby(days.to_period("M")).transform("sum") > 0
    counts = counts.where(open_month).where(counts.notna() | ~open_month, 0.0)
    stack = np.vstack([counts.shift(7 * k).to_numpy() for k in [*range(-5, 0), *range(1, 6)]])
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            base = np.nanmedian(stack, axis=0)
    spike = (
        (counts >= 1.8 * base) & (counts >= base + 3 * np.sqrt(np.clip(base, 1, None))) & (base > 0)
    )
    spike_days = counts.index[spike.to_numpy()]
    out["spike_movies"] = ok[ok.date.isin(spike_days)].groupby(["date", "movie_name"]).size()

    # platform and OS
    d = devices.copy()
    d["known"] = ~d.model.isin(["devicemodel"]) & d.model.notna()
    d = d.sort_values(["device_number", "known"], ascending=[True, False]).drop_duplicates(
        "device_number"
    )
    m = d.model.str.lower()
    d["os"] = np.select([d.platform == "website", ~d.known, m.str.startswith(("iphone", "ipad", "ipod"))],
                        ["web", "unknown", "iOS"], "Android")  # fmt: skip
    j = ok.merge(d[["device_number", "platform", "os"]], on="device_number", how="left")
    out["platform"] = j.platform.fillna("unknown").value_counts()
    out["os"] = j.os.fillna("unknown").value_counts()
    out["website_monthly"] = j.groupby("month").platform.apply(lambda s: (s == "website").mean())

    # payment and promotion
    method = ok.paying_method.fillna("unknown")
    out["payment"] = method.value_counts()
    out["payment_monthly"] = method.groupby(ok.month).value_counts(normalize=True)
    out["promotion_share"] = ok.promoted.mean()
    promoted = ok[ok.promoted].merge(campaigns, on="campaign_id", how="left")
    out["types_yearly"] = promoted.groupby(promoted.time.dt.year).campaign_type.value_counts(
        normalize=True
    )

    # customer table
    t["ok"] = t.status_id == 1
    t["promo"] = t.ok & t.campaign_id.notna()
    t["okday"] = t.date.where(t.ok)
    per = t.groupby("customer_id").agg(
        tickets=("ok", "size"), successful=("ok", "sum"), promoted=("promo", "sum"),
        active_days=("okday", "nunique"), last_day=("okday", "max"),
    )  # fmt: skip
    paid = ok.groupby("customer_id").agg(spend=("final_price", "sum"), disc=("discount_value", "sum"),
                                         orig=("original_price", "sum"))  # fmt: skip
    per = per.join(paid)
    per["discount_rate"] = per.disc / per.orig
    buyers = per[per.successful > 0]
    out["one_day_share"] = (buyers.active_days == 1).mean()
    out["one_time_promotion_share"] = ((buyers.active_days == 1) & (buyers.promoted > 0)).mean()

    # failures
    bad = t[~t.ok].merge(statuses, on="status_id", how="left")
    out["failures_by_group"] = bad.error_group.fillna("unknown").value_counts()
    out["failures_monthly"] = (
        bad.groupby(["month", "error_group"]).size() / t.groupby("month").size()
    )

    # cohorts
    months = ok[["customer_id", "month"]].drop_duplicates()
    months["m"] = months.month.dt.year * 12 + months.month.dt.month
    months["cohort"] = months.groupby("customer_id").m.transform("min")
    out["cohorts"] = months.groupby(["cohort", months.m - months.cohort]).size()

    # acquisition
    day_promo = ok.groupby(["customer_id", "date"]).promoted.max().reset_index()
    first = day_promo.sort_values("date").groupby("customer_id").first()
    returned = day_promo.groupby("customer_id").size() > 1
    out["acquisition"] = pd.crosstab(first.promoted, returned)

    # RFM
    rfm = pd.DataFrame({"recency": (as_of - buyers.last_day).dt.days, "frequency": buyers.active_days,
                        "monetary": buyers.spend.fillna(0)})  # fmt: skip
    n = len(rfm)
    for col, asc in (("recency", False), ("frequency", True), ("monetary", True)):
        rank = rfm[col].rank(method="min", ascending=asc)
        rfm[col[0]] = np.minimum(np.floor((rank - 1) / max(n - 1, 1) * 5) + 1, 5)
    rfm["segment"] = np.select(
        [(rfm.r >= 4) & (rfm.f >= 4), (rfm.r >= 3) & (rfm.f >= 3), (rfm.r <= 2) & (rfm.f >= 3), rfm.r >= 4, rfm.r == 3],
        ["Champions", "Loyal", "At risk", "New", "Promising"], "Hibernating",
    )  # fmt: skip
    out["rfm"] = rfm.segment.value_counts()

    # responsiveness by RFM segment (clustered sums)
    y = buyers.promoted.astype(float)
    k = buyers.successful.astype(float)
    sums = pd.DataFrame(
        {"segment": rfm.segment, "y": y, "n": k, "yy": y * y, "nn": k * k, "yn": y * k}
    )
    out["responsiveness"] = sums.groupby("segment").sum()
    return {
        "one_day_share": float(out["one_day_share"]),
        "promotion_share": float(out["promotion_share"]),
        "tickets": int(len(ok)),
    }
