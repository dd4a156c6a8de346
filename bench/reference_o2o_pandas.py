"""The reference: plain pandas + LightGBM, written the way the public O2O notebooks do it.

Two things live here, both deliberately independent of couponlens' Ibis code:

- :func:`pandas_features` computes *the same* feature table as
  :func:`couponlens.features.o2o.build_features` with idiomatic pandas (group-bys and
  merges, no row loops). The tests use it as the independent oracle for every feature, and
  ``bench/o2o_model.py`` races it against the Ibis/DuckDB build.
- :func:`reference_recipe` is the winners' recipe as a plain script would write it: two
  sliding (features, label) windows, the classic feature families, one LightGBM with its
  default settings trained on both windows, no early stopping, no blending. It is the
  baseline the benchmark compares couponlens' default model with.

Input everywhere is the canonical O2O table as a pandas frame
(``couponlens.datasets.o2o.load_o2o(path).table.to_pandas()``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

_IDS = ["line_number", "user_id", "merchant_id", "coupon_id", "date_received"]


def _as_ts(value: dt.date | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(value)


def _rate(num: pd.Series, den: pd.Series) -> pd.Series:
    num = num.fillna(0).astype(float)
    den = den.fillna(0).astype(float)
    out = num / den.where(den > 0)
    return out


def _window(history: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, label_days: int):
    received = pd.to_datetime(history["date_received"])
    bought = pd.to_datetime(history["purchase_date"])
    is_receipt = history["coupon_id"].notna() & (received >= start) & (received <= end)
    r = history.loc[is_receipt].copy()
    r_bought = bought[is_receipt]
    r_received = received[is_receipt]
    used = r_bought.notna() & (r_bought <= end)
    gap = (r_bought - r_received).dt.days.where(used)
    r["used"] = used.astype(int)
    r["used_in_time"] = (used & (gap <= label_days)).astype(int)
    r["gap"] = gap.astype(float)
    r["raw_distance"] = r["distance"].astype(float)
    r["distance"] = r["distance"].fillna(-1).astype(int)
    r["use_distance"] = r["raw_distance"].where(used)
    r["use_discount"] = r["discount_rate"].where(used)
    r["use_threshold"] = r["discount_threshold"].fillna(0).where(used)
    r["used_merchant"] = r["merchant_id"].where(used)
    r["used_user"] = r["user_id"].where(used)
    r["rate_bucket"], r["threshold_bucket"] = _buckets(r)
    is_purchase = history["coupon_id"].isna() & (bought >= start) & (bought <= end)
    p = history.loc[is_purchase, ["user_id", "merchant_id"]]
    return r, p


def _buckets(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The discount's rate in 5% steps (percent truncated) and its spend threshold's bucket:
    0 without a threshold, then (0, 10], (10, 20], (20, 50], (50, 100], (100, 200], (200, 500],
    above 500."""
    rate = (np.floor(frame["discount_rate"].astype(float) * 100 + 1e-9) // 5).astype("int64")
    edges = [0, 10, 20, 50, 100, 200, 500, np.inf]
    threshold = pd.cut(frame["discount_threshold"].astype(float), edges, labels=False) + 1
    return rate, threshold.fillna(0).astype("int64")


_USE_STATS = {
    "use_gap_mean": ("gap", "mean"),
    "use_gap_min": ("gap", "min"),
    "use_gap_max": ("gap", "max"),
    "use_distance_mean": ("use_distance", "mean"),
    "use_discount_mean": ("use_discount", "mean"),
    "use_discount_min": ("use_discount", "min"),
    "use_threshold_mean": ("use_threshold", "mean"),
}


def _families(r: pd.DataFrame, p: pd.DataFrame) -> dict[str, tuple[list[str], pd.DataFrame]]:
    base = {"receipts": ("used", "size"), "uses": ("used", "sum")}
    in_time = {
        "uses_in_time": ("used_in_time", "sum"),
        "receipt_distance_mean": ("raw_distance", "mean"),
    }
    user = r.groupby("user_id").agg(
        **base,
        **in_time,
        merchants_received=("merchant_id", "nunique"),
        merchants_used=("used_merchant", "nunique"),
        coupons_received=("coupon_id", "nunique"),
        **_USE_STATS,
        use_distance_min=("use_distance", "min"),
        use_distance_max=("use_distance", "max"),
        use_discount_max=("use_discount", "max"),
    )
    user = user.join(
        p.groupby("user_id").agg(
            normal_purchases=("merchant_id", "size"), merchants_bought=("merchant_id", "nunique")
        ),
        how="outer",
    )
    merchant = r.groupby("merchant_id").agg(
        **base,
        **in_time,
        users_received=("user_id", "nunique"),
        users_used=("used_user", "nunique"),
        coupons_received=("coupon_id", "nunique"),
        **_USE_STATS,
    )
    merchant = merchant.join(
        p.groupby("merchant_id").agg(
            normal_purchases=("user_id", "size"), normal_buyers=("user_id", "nunique")
        ),
        how="outer",
    )
    gap = {"use_gap_mean": ("gap", "mean")}
    um = r.groupby(["user_id", "merchant_id"]).agg(**base, **gap)
    um = um.join(
        p.groupby(["user_id", "merchant_id"]).agg(normal_purchases=("user_id", "size")), how="outer"
    )

    def simple(keys: list[str]) -> tuple[list[str], pd.DataFrame]:
        return keys, r.groupby(keys).agg(**base, **gap)

    return {
        "u": (["user_id"], user),
        "m": (["merchant_id"], merchant),
        "c": simple(["coupon_id"]),
        "um": (["user_id", "merchant_id"], um),
        "uc": simple(["user_id", "coupon_id"]),
        "ut": simple(["user_id", "threshold_bucket"]),
        "d": simple(["discount_text"]),
        "k": simple(["discount_kind"]),
        "r": simple(["rate_bucket"]),
        "t": simple(["threshold_bucket"]),
        "dist": simple(["distance"]),
    }


def _leakage(c: pd.DataFrame) -> pd.DataFrame:
    c = c.sort_values(["date_received", "line_number"]).copy()
    day = pd.to_datetime(c["date_received"])
    c["_day"] = day
    out = pd.DataFrame(index=c.index)

    def size(keys: list[str]) -> pd.Series:
        return c.groupby(keys)["line_number"].transform("size")

    out["lk_user_receipts"] = size(["user_id"])
    out["lk_user_receipts_same_day"] = size(["user_id", "_day"])
    out["lk_user_coupon_receipts"] = size(["user_id", "coupon_id"])
    out["lk_user_coupon_receipts_same_day"] = size(["user_id", "coupon_id", "_day"])
    out["lk_user_merchant_receipts"] = size(["user_id", "merchant_id"])
    out["lk_coupon_receipts"] = size(["coupon_id"])
    uc = c.groupby(["user_id", "coupon_id"])["_day"]
    out["lk_is_first_of_coupon"] = (day == uc.transform("min")).astype(int)
    out["lk_is_last_of_coupon"] = (day == uc.transform("max")).astype(int)
    u = c.groupby("user_id")["_day"]
    out["lk_days_since_previous_receipt"] = (day - u.shift(1)).dt.days
    out["lk_days_to_next_receipt"] = (u.shift(-1) - day).dt.days
    out["lk_days_since_previous_same_coupon"] = (day - uc.shift(1)).dt.days
    out["lk_days_to_next_same_coupon"] = (uc.shift(-1) - day).dt.days
    return out


def pandas_features(
    history: pd.DataFrame,
    candidates: pd.DataFrame,
    feature_start: dt.date,
    feature_end: dt.date,
    *,
    label_days: int = 15,
    leakage: bool = False,
    names: list[str] | None = None,
    count_names: set[str] | None = None,
) -> pd.DataFrame:
    """The couponlens feature table, in pandas. ``names``/``count_names`` default to couponlens' lists."""
    if names is None or count_names is None:
        from couponlens.features.o2o import count_features, feature_names

        names = feature_names(leakage)
        count_names = set(count_features(leakage))
    r, p = _window(history, _as_ts(feature_start), _as_ts(feature_end), label_days)
    c = candidates.copy()
    received = pd.to_datetime(c["date_received"])
    out = c[_IDS].copy()
    out["discount_rate"] = c["discount_rate"].astype(float)
    out["discount_is_spend_save"] = (c["discount_kind"] == "spend_save").astype(int)
    out["discount_threshold"] = c["discount_threshold"].astype(float)
    out["discount_amount"] = c["discount_amount"].astype(float)
    out["distance"] = c["distance"].astype(float)
    out["distance_missing"] = c["distance"].isna().astype(int)
    out["day_of_week"] = received.dt.day_of_week
    out["day_of_month"] = received.dt.day
    out["is_weekend"] = (received.dt.day_of_week >= 5).astype(int)
    keys = c[["user_id", "merchant_id", "coupon_id", "discount_text", "discount_kind"]].copy()
    keys["distance"] = c["distance"].fillna(-1).astype(int)
    keys["rate_bucket"], keys["threshold_bucket"] = _buckets(c)
    for prefix, (key, table) in _families(r, p).items():
        table = table.add_prefix(f"{prefix}_").reset_index()
        merged = keys[key].merge(table, on=key, how="left")
        merged.index = keys.index
        for column in table.columns:
            if column not in key:
                out[column] = merged[column]
        if f"{prefix}_uses" in out:
            receipts = out[f"{prefix}_receipts"]
            uses = out[f"{prefix}_uses"]
            out[f"{prefix}_use_rate"] = _rate(uses, receipts)
            if f"{prefix}_uses_in_time" in out:
                out[f"{prefix}_use_in_time_rate"] = _rate(out[f"{prefix}_uses_in_time"], receipts)
            if f"{prefix}_normal_purchases" in out:
                out[f"{prefix}_coupon_share_of_purchases"] = _rate(
                    uses, uses.fillna(0) + out[f"{prefix}_normal_purchases"].fillna(0)
                )
    if leakage:
        out = pd.concat([out, _leakage(c)], axis=1)  # aligned on the candidates' index
    for name in names:
        if name in count_names:
            out[name] = out[name].fillna(0)
    return out[_IDS + names].sort_values("line_number").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The plain recipe the benchmark compares with.

#: The classic public-notebook feature set: a subset of the families above.
RECIPE_FEATURES = [
    "discount_rate",
    "discount_is_spend_save",
    "discount_threshold",
    "discount_amount",
    "distance",
    "day_of_week",
    "day_of_month",
    "u_receipts",
    "u_uses",
    "u_use_rate",
    "u_normal_purchases",
    "u_use_gap_mean",
    "u_use_discount_mean",
    "u_use_distance_mean",
    "m_receipts",
    "m_uses",
    "m_use_rate",
    "m_users_received",
    "m_use_gap_mean",
    "c_receipts",
    "c_use_rate",
    "um_receipts",
    "um_uses",
    "um_use_rate",
]


def _label(history: pd.DataFrame, start: dt.date, end: dt.date, label_days: int) -> pd.DataFrame:
    received = pd.to_datetime(history["date_received"])
    rows = history.loc[
        history["coupon_id"].notna()
        & (received >= pd.Timestamp(start))
        & (received <= pd.Timestamp(end))
    ].copy()
    gap = (pd.to_datetime(rows["purchase_date"]) - pd.to_datetime(rows["date_received"])).dt.days
    rows["label"] = (gap <= label_days).astype(int)
    return rows


def reference_recipe(
    history: pd.DataFrame,
    candidates: pd.DataFrame,
    pairs: list[tuple[dt.date, dt.date, dt.date, dt.date]],
    predict_feature_window: tuple[dt.date, dt.date],
    *,
    label_days: int = 15,
    seed: int = 0,
) -> np.ndarray:
    """Train the plain recipe on ``pairs`` (feature start/end, label start/end) and score ``candidates``."""
    import lightgbm as lgb

    frames = []
    for fs, fe, ls, le in pairs:
        labelled = _label(history, ls, le, label_days)
        feats = pandas_features(history, labelled, fs, fe, label_days=label_days)
        feats["label"] = labelled.sort_values("line_number")["label"].to_numpy()
        frames.append(feats)
    train = pd.concat(frames, ignore_index=True)
    model = lgb.LGBMClassifier(random_state=seed, verbose=-1, n_jobs=2)
    model.fit(train[RECIPE_FEATURES], train["label"])
    scored = pandas_features(history, candidates, *predict_feature_window, label_days=label_days)
    proba = model.predict_proba(scored[RECIPE_FEATURES])[:, 1]
    # back to the candidates' own order
    order = pd.Series(proba, index=scored["line_number"].to_numpy())
    return order.loc[candidates["line_number"].to_numpy()].to_numpy()
