"""O2O redemption features as Ibis expressions: point in time, one row per candidate receipt.

Feature families, all computed over the *feature window* of a :class:`WindowPair` (see
:mod:`couponlens.features.windows`), where a receipt counts as used only if the purchase
happened on or before the window's last day:

- user (``u_``): receipts, uses, use rate, uses within the label rule, distinct merchants and
  coupons, normal purchases, coupon share of purchases, distance / discount / threshold of the
  uses, days from receipt to use (mean, min, max);
- merchant (``m_``): the mirror of the user family plus distinct users and coupons;
- coupon (``c_``): receipts, uses, use rate, days to use;
- user x merchant (``um_``), user x coupon (``uc_``) and user x spend threshold (``ut_``):
  receipts, uses, use rate, days to use (and purchases for ``um_``);
- discount offer (``d_``, by the exact ``Discount_rate`` text), discount kind (``k_``), rate in
  steps of 5% (``r_``, :func:`rate_bucket`), spend threshold (``t_``, :func:`threshold_bucket`)
  and distance (``dist_``) buckets: receipts, uses, use rate, days to use;
- the receipt itself: discount kind, rate, threshold, amount, distance (and whether it is
  missing), day of week, day of month, weekend.

Counts are 0 when a key has no history; rates and averages are missing (not 0) then, and
LightGBM treats missing as its own branch.

The "leakage" family (``lk_``) reads the label window itself: receipts by the same user that
day and in the window, receipts of the same coupon, first/last receipt of the coupon, days
to the previous/next receipt. It needs the future, so it is off unless asked for.

Example:
    >>> import datetime as dt, pandas as pd
    >>> from couponlens.features.windows import WindowPair
    >>> history = ibis.memtable(pd.DataFrame({
    ...     "line_number": [2, 3, 4], "user_id": [1, 1, 1], "merchant_id": [9, 9, 9],
    ...     "coupon_id": [5, 5, None], "discount_text": ["20:5", "20:5", None],
    ...     "discount_kind": ["spend_save", "spend_save", None],
    ...     "discount_rate": [0.75, 0.75, None], "discount_threshold": [20.0, 20.0, None],
    ...     "discount_amount": [5.0, 5.0, None], "distance": [1, 1, None],
    ...     "date_received": pd.to_datetime(["2016-01-02", "2016-02-02", None]).date,
    ...     "purchase_date": pd.to_datetime(["2016-01-04", None, "2016-01-20"]).date,
    ... }), schema=CANDIDATE_SCHEMA | {"line_number": "int64", "purchase_date": "date"})
    >>> pair = WindowPair("x", dt.date(2016, 1, 1), dt.date(2016, 1, 31),
    ...                   dt.date(2016, 2, 1), dt.date(2016, 2, 29))
    >>> candidates = history.filter(history.date_received >= pair.label_start)
    >>> row = to_frame(build_features(history, candidates, pair)).iloc[0]
    >>> int(row.u_receipts), int(row.u_uses), float(row.u_use_gap_mean), int(row.u_normal_purchases)
    (1, 1, 2.0, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from couponlens.errors import InputError
from couponlens.features.windows import DEFAULT_LABEL_DAYS, WindowPair

#: Columns a candidate table must have (a canonical O2O table has them all).
CANDIDATE_SCHEMA = ibis.schema(
    {
        "user_id": "int64",
        "merchant_id": "int64",
        "coupon_id": "int64",
        "discount_text": "string",
        "discount_kind": "string",
        "discount_rate": "float64",
        "discount_threshold": "float64",
        "discount_amount": "float64",
        "distance": "int64",
        "date_received": "date",
    }
)
#: Columns a history table must have besides the candidate columns.
HISTORY_EXTRA = ("purchase_date",)


@dataclass(frozen=True)
class Family:
    """One feature family: the key it groups by and its feature names (counts vs values)."""

    prefix: str
    keys: tuple[str, ...]
    counts: tuple[str, ...]
    values: tuple[str, ...]


_USE_STATS = (
    "use_gap_mean",
    "use_gap_min",
    "use_gap_max",
    "use_distance_mean",
    "use_discount_mean",
    "use_discount_min",
    "use_threshold_mean",
)

FAMILIES: tuple[Family, ...] = (
    Family(
        "u",
        ("user_id",),
        (
            "receipts",
            "uses",
            "uses_in_time",
            "merchants_received",
            "merchants_used",
            "coupons_received",
            "normal_purchases",
            "merchants_bought",
        ),
        ("use_rate", "use_in_time_rate", "coupon_share_of_purchases", "receipt_distance_mean")
        + _USE_STATS
        + ("use_distance_min", "use_distance_max", "use_discount_max"),
    ),
    Family(
        "m",
        ("merchant_id",),
        (
            "receipts",
            "uses",
            "uses_in_time",
            "users_received",
            "users_used",
            "coupons_received",
            "normal_purchases",
            "normal_buyers",
        ),
        ("use_rate", "use_in_time_rate", "coupon_share_of_purchases", "receipt_distance_mean")
        + _USE_STATS,
    ),
    Family("c", ("coupon_id",), ("receipts", "uses"), ("use_rate", "use_gap_mean")),
    Family(
        "um",
        ("user_id", "merchant_id"),
        ("receipts", "uses", "normal_purchases"),
        ("use_rate", "coupon_share_of_purchases", "use_gap_mean"),
    ),
    Family("uc", ("user_id", "coupon_id"), ("receipts", "uses"), ("use_rate", "use_gap_mean")),
    Family(
        "ut", ("user_id", "threshold_bucket"), ("receipts", "uses"), ("use_rate", "use_gap_mean")
    ),
    Family("d", ("discount_text",), ("receipts", "uses"), ("use_rate", "use_gap_mean")),
    Family("k", ("discount_kind",), ("receipts", "uses"), ("use_rate", "use_gap_mean")),
    Family("r", ("rate_bucket",), ("receipts", "uses"), ("use_rate", "use_gap_mean")),
    Family("t", ("threshold_bucket",), ("receipts", "uses"), ("use_rate", "use_gap_mean")),
    Family("dist", ("distance",), ("receipts", "uses"), ("use_rate", "use_gap_mean")),
)

#: Upper edges of the spend-threshold buckets: bucket 0 is a rate coupon (no threshold), 1 is
#: a threshold up to 10, 2 up to 20, ... 7 above 500.
THRESHOLD_EDGES: tuple[float, ...] = (10.0, 20.0, 50.0, 100.0, 200.0, 500.0)


def rate_bucket(rate: ir.FloatingValue) -> ir.IntegerValue:
    """The discount's converted rate in steps of 5%: 19 for 0.95-0.99, 17 for 150:20 (0.867).

    The percent is truncated (with a hair of tolerance for rates such as 0.95 that binary
    floats hold as 0.9499...), not rounded: halves round differently on different engines.
    """
    return ((rate * 100 + 1e-9).floor() // 5).cast("int64")


def threshold_bucket(threshold: ir.FloatingValue) -> ir.IntegerValue:
    """The spend threshold's bucket (:data:`THRESHOLD_EDGES`); 0 when there is none."""
    above = sum((threshold > edge).cast("int64") for edge in THRESHOLD_EDGES)
    return ibis.ifelse(threshold.isnull(), 0, 1 + above).cast("int64")


def rate_buckets(rate: np.ndarray) -> np.ndarray:
    """:func:`rate_bucket` in numpy (the same bits for the same rates), for the service.

    Example:
        >>> rate_buckets(np.array([0.95, 1 - 20 / 150, 0.5, 1.0])).tolist()
        [19, 17, 10, 20]
    """
    return (np.floor(np.asarray(rate, dtype=np.float64) * 100 + 1e-9) // 5).astype(np.int64)


def threshold_buckets(threshold: np.ndarray) -> np.ndarray:
    """:func:`threshold_bucket` in numpy; NaN (no threshold) is bucket 0.

    Example:
        >>> threshold_buckets(np.array([np.nan, 10, 20, 30, 150, 1000])).tolist()
        [0, 1, 2, 3, 5, 7]
    """
    t = np.asarray(threshold, dtype=np.float64)
    above = sum((t > edge).astype(np.int64) for edge in THRESHOLD_EDGES)
    return np.where(np.isnan(t), 0, 1 + above).astype(np.int64)


#: Features of the receipt itself.
ROW_FEATURES: tuple[str, ...] = (
    "discount_rate",
    "discount_is_spend_save",
    "discount_threshold",
    "discount_amount",
    "distance",
    "distance_missing",
    "day_of_week",
    "day_of_month",
    "is_weekend",
)

#: The label-window ("leakage") features, only with ``leakage=True``.
LEAKAGE_FEATURES: tuple[str, ...] = (
    "lk_user_receipts",
    "lk_user_receipts_same_day",
    "lk_user_coupon_receipts",
    "lk_user_coupon_receipts_same_day",
    "lk_user_merchant_receipts",
    "lk_coupon_receipts",
    "lk_is_first_of_coupon",
    "lk_is_last_of_coupon",
    "lk_days_since_previous_receipt",
    "lk_days_to_next_receipt",
    "lk_days_since_previous_same_coupon",
    "lk_days_to_next_same_coupon",
)


def feature_names(leakage: bool = False) -> list[str]:
    """Every feature column :func:`build_features` adds, in order.

    Example:
        >>> names = feature_names()
        >>> names[:3], "lk_user_receipts" in names, len(feature_names(True)) - len(names)
        (['discount_rate', 'discount_is_spend_save', 'discount_threshold'], False, 12)
    """
    names = list(ROW_FEATURES)
    for family in FAMILIES:
        names += [f"{family.prefix}_{n}" for n in family.counts + family.values]
    if leakage:
        names += list(LEAKAGE_FEATURES)
    return names


def count_features(leakage: bool = False) -> list[str]:
    """Features that are counts (0 when a key has no history)."""
    names = [f"{f.prefix}_{n}" for f in FAMILIES for n in f.counts]
    if leakage:
        names += [n for n in LEAKAGE_FEATURES if "days" not in n]
    return names


def check_columns(table: ir.Table, required: ibis.Schema, what: str) -> None:
    """Refuse a table that lacks a required column or has it with an incompatible type."""
    schema = table.schema()
    for name, dtype in required.items():
        if name not in schema:
            raise InputError(f"{what}: missing column {name!r} (expected {dtype})")
        have = schema[name]
        if have != dtype and not (have.is_numeric() and dtype.is_numeric()) and not have.is_null():
            raise InputError(f"{what}: column {name!r} has type {have}, expected {dtype}")


def _count_of(table: ir.Table, condition: ir.BooleanValue) -> ir.IntegerScalar:
    """The rows of ``table`` where ``condition`` holds, as int64 on every engine.

    Not ``SUM`` of a 0/1 column: DuckDB sums BIGINTs into HUGEINT, which reaches Arrow as
    ``decimal128(38, 0)`` and pandas as Python objects, one per row.
    """
    return table.count(where=condition)


def _exact_sum(counts: ir.IntegerValue) -> ir.IntegerScalar:
    """A sum of counts as int64: summed as doubles (exact below 2**53) because DuckDB sums
    integers into HUGEINT (see :func:`_count_of`). Not ``counts.sum().cast("int64")``: Ibis
    types that sum as int64 already and drops the cast, so no cast would reach the SQL."""
    return counts.cast("float64").sum().cast("int64")


def _ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    return ibis.ifelse(
        denominator > 0, numerator.cast("float64") / denominator, ibis.null("float64")
    )


class _Window:
    """The feature window's rows as the families read them.

    Each family asks for just the columns it needs (:meth:`receipts`). The projections differ,
    so each is its own subquery that DuckDB reads straight from the history table, with the
    window filter and the projection pushed into the scan, instead of one wide CTE shared by
    every family and materialised first (which cost more than the scans it saved).
    """

    def __init__(self, history: ir.Table, pair: WindowPair, label_days: int):
        h = history
        rows = h.filter(
            h.coupon_id.notnull(), h.date_received.between(pair.feature_start, pair.feature_end)
        )
        used = rows.purchase_date.notnull() & (rows.purchase_date <= ibis.date(pair.feature_end))
        gap = ibis.ifelse(used, rows.purchase_date.delta(rows.date_received, unit="day"), None)
        self._rows = rows
        self._columns: dict[str, ir.Value] = {
            "user_id": rows.user_id,
            "merchant_id": rows.merchant_id,
            "coupon_id": rows.coupon_id,
            "discount_text": rows.discount_text,
            "discount_kind": rows.discount_kind,
            "rate_bucket": rate_bucket(rows.discount_rate),
            "threshold_bucket": threshold_bucket(rows.discount_threshold),
            "distance": rows.distance.fill_null(-1),
            "raw_distance": rows.distance,
            "used": used.cast("int64"),
            "used_in_time": (used & (gap <= label_days)).cast("int64"),
            "gap": gap.cast("float64"),
            "use_distance": ibis.ifelse(used, rows.distance, None).cast("float64"),
            "use_discount": ibis.ifelse(used, rows.discount_rate, None),
            "use_threshold": ibis.ifelse(used, rows.discount_threshold.fill_null(0), None),
            "used_merchant": ibis.ifelse(used, rows.merchant_id, None),
            "used_user": ibis.ifelse(used, rows.user_id, None),
        }
        self.purchases = h.filter(
            h.coupon_id.isnull(), h.purchase_date.between(pair.feature_start, pair.feature_end)
        ).select("user_id", "merchant_id")

    def receipts(self, *names: str) -> ir.Table:
        """Receipts in the feature window (``used`` as known at its end): the named columns."""
        return self._rows.select(**{n: self._columns[n] for n in names})


def family_tables(
    history: ir.Table,
    pair: WindowPair,
    *,
    label_days: int = DEFAULT_LABEL_DAYS,
    users: ir.Table | None = None,
) -> dict[str, ir.Table]:
    """Each family's features by key, from ``history`` seen through ``pair``'s feature window.

    One table per family prefix (:data:`FAMILIES`): its key columns and its features without
    the prefix, one row per key the window holds. A key the window never saw has no row: its
    counts are 0 and its values missing. :func:`build_features` joins these tables to the
    candidates; the scoring service holds them in memory.

    Args:
        users: only these users' rows for the user-keyed families (a table with ``user_id``);
            ``None`` for every user.

    Example:
        >>> import datetime as dt, pandas as pd
        >>> from couponlens.features.windows import WindowPair
        >>> history = ibis.memtable(pd.DataFrame({
        ...     "user_id": [1, 1, 2], "merchant_id": [9, 9, 9], "coupon_id": [5, 5, 5],
        ...     "discount_text": ["20:5"] * 3, "discount_kind": ["spend_save"] * 3,
        ...     "discount_rate": [0.75] * 3, "discount_threshold": [20.0] * 3,
        ...     "discount_amount": [5.0] * 3, "distance": [1, 1, 2],
        ...     "date_received": pd.to_datetime(["2016-01-02", "2016-01-05", "2016-01-09"]).date,
        ...     "purchase_date": pd.to_datetime(["2016-01-04", None, None]).date,
        ... }), schema=CANDIDATE_SCHEMA | {"purchase_date": "date"})
        >>> pair = WindowPair("x", dt.date(2016, 1, 1), dt.date(2016, 1, 31),
        ...                   dt.date(2016, 2, 1), dt.date(2016, 2, 29))
        >>> users = family_tables(history, pair)["u"].to_pandas().sort_values("user_id")
        >>> users[["user_id", "receipts", "uses", "use_rate"]].to_dict("records")[0]
        {'user_id': 1, 'receipts': 2, 'uses': 1, 'use_rate': 0.5}
    """
    check_columns(history, CANDIDATE_SCHEMA | {"purchase_date": "date"}, "history")
    return _family_tables(_Window(history, pair, label_days), users)


def _family_tables(window: _Window, users: ir.Table | None) -> dict[str, ir.Table]:
    """Each family's features by key: one table per family, one row per key the feature window
    holds, with the family's counts and values (:data:`FAMILIES`, without the prefix).

    The families that count normal purchases (``u``, ``m``, ``um``) combine their receipt and
    purchase aggregates by a full outer join on the key, so a key with purchases and no receipt
    is there too, and the rates are computed here, once per key (:func:`_with_rates`).

    The families keyed by a user (``u``, ``um``, ``uc``, ``ut``) only aggregate the history of
    the candidates' users (``users``): no other user's rows can reach a candidate, so the values
    are the same and the group-bys several times smaller. The user's distinct merchants and
    coupons are counted from the user x merchant / user x coupon tables those families need
    anyway (cheaper than ``COUNT(DISTINCT ...)`` in the wide per-user aggregate); the
    merchant's distinct users and coupons are ``COUNT(DISTINCT ...)`` (few groups).
    """
    use_columns = ("gap", "use_distance", "use_discount", "use_threshold")
    common = ("used", "used_in_time", "raw_distance", *use_columns)
    mine = window.receipts("user_id", "merchant_id", "coupon_id", "threshold_bucket", *common)
    every = window.receipts("merchant_id", "user_id", "coupon_id", "used_user", *common)
    p = window.purchases
    my_buys = p
    if users is not None:
        mine, my_buys = mine.semi_join(users, "user_id"), p.semi_join(users, "user_id")

    def use_stats(t: ir.Table) -> dict[str, ir.Value]:
        return {
            "use_gap_mean": t.gap.mean(),
            "use_gap_min": t.gap.min(),
            "use_gap_max": t.gap.max(),
            "use_distance_mean": t.use_distance.mean(),
            "use_discount_mean": t.use_discount.mean(),
            "use_discount_min": t.use_discount.min(),
            "use_threshold_mean": t.use_threshold.mean(),
        }

    def base(t: ir.Table) -> dict[str, ir.Value]:
        return {"receipts": t.count(), "uses": _count_of(t, t.used == 1)}

    def in_time(t: ir.Table) -> dict[str, ir.Value]:
        return {
            "uses_in_time": _count_of(t, t.used_in_time == 1),
            "receipt_distance_mean": t.raw_distance.mean(),
        }

    def with_gap(t: ir.Table) -> dict[str, ir.Value]:
        return {**base(t), "use_gap_mean": t.gap.mean()}

    um = mine.group_by(["user_id", "merchant_id"]).aggregate(**with_gap(mine))
    uc = mine.group_by(["user_id", "coupon_id"]).aggregate(**with_gap(mine))
    ut = mine.group_by(["user_id", "threshold_bucket"]).aggregate(**with_gap(mine))
    user = (
        mine.group_by("user_id")
        .aggregate(
            **base(mine),
            **in_time(mine),
            **use_stats(mine),
            use_distance_min=mine.use_distance.min(),
            use_distance_max=mine.use_distance.max(),
            use_discount_max=mine.use_discount.max(),
        )
        .inner_join(
            um.group_by("user_id").aggregate(
                merchants_received=um.count(), merchants_used=_count_of(um, um.uses > 0)
            ),
            "user_id",
        )
        .inner_join(uc.group_by("user_id").aggregate(coupons_received=uc.count()), "user_id")
    )
    user_buys = my_buys.group_by("user_id").aggregate(
        normal_purchases=my_buys.count(), merchants_bought=my_buys.merchant_id.nunique()
    )
    m = every
    merchant = m.group_by("merchant_id").aggregate(
        **base(m),
        **in_time(m),
        users_received=m.user_id.nunique(),
        users_used=m.used_user.nunique(),
        coupons_received=m.coupon_id.nunique(),
        **use_stats(m),
    )
    merchant_buys = p.group_by("merchant_id").aggregate(
        normal_purchases=p.count(), normal_buyers=p.user_id.nunique()
    )
    um_buys = my_buys.group_by(["user_id", "merchant_id"]).aggregate(
        normal_purchases=my_buys.count()
    )
    # The families keyed by the receipt's coupon, offer, discount kind, rate, threshold and
    # distance roll up from one aggregate at that grain (a coupon holds one offer, so there are
    # few rows): one pass over the window's receipts instead of one per family. Sums of counts
    # and gaps are exact (whole numbers far below 2**53), so a rolled-up mean equals the mean of
    # the rows.
    grain = ("coupon_id", "discount_text", "discount_kind", "rate_bucket", "threshold_bucket")
    g = window.receipts(*grain, "distance", "used", "gap")
    cells = g.group_by([*grain, "distance"]).aggregate(
        receipts=g.count(),
        uses=_count_of(g, g.used == 1),
        gap_sum=g.gap.sum(),
        gap_count=g.gap.count(),
    )

    def rolled_up(key: str) -> ir.Table:
        return cells.group_by(key).aggregate(
            receipts=_exact_sum(cells.receipts),
            uses=_exact_sum(cells.uses),
            use_gap_mean=cells.gap_sum.sum() / _exact_sum(cells.gap_count).nullif(0),
        )

    family = {f.prefix: f for f in FAMILIES}
    parts = {
        "u": _with_purchases(user, user_buys, family["u"]),
        "m": _with_purchases(merchant, merchant_buys, family["m"]),
        "um": _with_purchases(um, um_buys, family["um"]),
        "uc": uc,
        "ut": ut,
    }
    for f in FAMILIES:
        if f.prefix not in parts:
            parts[f.prefix] = rolled_up(f.keys[0])
    return {p: _with_rates(family[p], parts[p]) for p in family}


def _with_purchases(receipts: ir.Table, purchases: ir.Table, family: Family) -> ir.Table:
    """A key's receipt aggregate and its purchase aggregate in one row (a full outer join: a
    key may have either or both); a count missing on one side is 0."""
    keys = family.keys
    joined = receipts.outer_join(purchases, list(keys))
    columns: dict[str, ir.Value] = {k: joined[k].coalesce(joined[f"{k}_right"]) for k in keys}
    for name in (*receipts.columns, *purchases.columns):
        if name not in keys and name not in columns:
            columns[name] = joined[name].fill_null(0) if name in family.counts else joined[name]
    return joined.select(**columns)


def _with_rates(family: Family, table: ir.Table) -> ir.Table:
    """The family's table with its rates (from the counts of the same key) and exactly its
    keys and features, in the order of :data:`FAMILIES`."""
    rates: dict[str, ir.Value] = {}
    if "use_rate" in family.values:
        rates["use_rate"] = _ratio(table.uses, table.receipts)
    if "use_in_time_rate" in family.values:
        rates["use_in_time_rate"] = _ratio(table.uses_in_time, table.receipts)
    if "coupon_share_of_purchases" in family.values:
        rates["coupon_share_of_purchases"] = _ratio(table.uses, table.uses + table.normal_purchases)
    return table.select(
        *family.keys,
        **{n: rates[n] if n in rates else table[n] for n in family.counts + family.values},
    )


def _leakage(candidates: ir.Table) -> ir.Table:
    """Label-window features: what else the same user / coupon received in the window."""
    c = candidates
    order = [c.date_received, c.line_number]
    by_user = ibis.window(group_by=c.user_id, order_by=order)
    by_user_coupon = ibis.window(group_by=[c.user_id, c.coupon_id], order_by=order)
    days = c.date_received

    def count_over(*keys: str) -> ir.IntegerValue:
        return c.line_number.count().over(ibis.window(group_by=[c[k] for k in keys]))

    first_coupon = days.min().over(ibis.window(group_by=[c.user_id, c.coupon_id]))
    last_coupon = days.max().over(ibis.window(group_by=[c.user_id, c.coupon_id]))
    return c.mutate(
        lk_user_receipts=count_over("user_id"),
        lk_user_receipts_same_day=count_over("user_id", "date_received"),
        lk_user_coupon_receipts=count_over("user_id", "coupon_id"),
        lk_user_coupon_receipts_same_day=count_over("user_id", "coupon_id", "date_received"),
        lk_user_merchant_receipts=count_over("user_id", "merchant_id"),
        lk_coupon_receipts=count_over("coupon_id"),
        lk_is_first_of_coupon=(days == first_coupon).cast("int64"),
        lk_is_last_of_coupon=(days == last_coupon).cast("int64"),
        lk_days_since_previous_receipt=days.delta(days.lag().over(by_user), unit="day"),
        lk_days_to_next_receipt=days.lead().over(by_user).delta(days, unit="day"),
        lk_days_since_previous_same_coupon=days.delta(days.lag().over(by_user_coupon), unit="day"),
        lk_days_to_next_same_coupon=days.lead().over(by_user_coupon).delta(days, unit="day"),
    )


def build_features(
    history: ir.Table,
    candidates: ir.Table,
    pair: WindowPair,
    *,
    label_days: int = DEFAULT_LABEL_DAYS,
    leakage: bool = False,
    keep: Sequence[str] = (),
) -> ir.Table:
    """Features for every row of ``candidates`` from ``history`` seen through ``pair``'s feature window.

    Args:
        history: a canonical O2O table (receipts and purchases).
        candidates: receipts to describe: the candidate columns (:data:`CANDIDATE_SCHEMA`) and
            ``line_number``; any columns named in ``keep`` are carried through.
        pair: the windows; only history inside the feature window is read.
        label_days: the "used in time" rule for the ``*_uses_in_time`` features.
        leakage: add the label-window features (:data:`LEAKAGE_FEATURES`).
        keep: extra candidate columns to carry (e.g. ``label``).

    Returns:
        One row per candidate (unordered; :func:`to_frame` orders by ``line_number``): ``line_number``, the id columns,
        ``date_received``, ``keep`` and :func:`feature_names`.
    """
    check_columns(candidates, CANDIDATE_SCHEMA | {"line_number": "int64"}, "candidates")
    tables = family_tables(history, pair, label_days=label_days, users=candidates.select("user_id"))

    ids = ["line_number", "user_id", "merchant_id", "coupon_id", "date_received"]
    c = candidates
    dow = c.date_received.day_of_week.index()
    base = c.select(
        *ids,
        *keep,
        discount_text=c.discount_text,
        discount_kind=c.discount_kind,
        rate_bucket=rate_bucket(c.discount_rate),
        threshold_bucket=threshold_bucket(c.discount_threshold),
        distance_key=c.distance.fill_null(-1),
        discount_rate=c.discount_rate,
        discount_is_spend_save=(c.discount_kind == "spend_save").cast("int64"),
        discount_threshold=c.discount_threshold,
        discount_amount=c.discount_amount,
        distance=c.distance.cast("float64"),
        distance_missing=c.distance.isnull().cast("int64"),
        day_of_week=dow.cast("int64"),
        day_of_month=c.date_received.day().cast("int64"),
        is_weekend=(dow >= 5).cast("int64"),
    )
    if leakage:
        lk = _leakage(c.select(*ids)).drop("user_id", "merchant_id", "coupon_id", "date_received")
        base = base.left_join(lk, "line_number").drop("line_number_right")

    # One flat chain of left joins (a single SELECT with one JOIN per family), then one
    # projection that fills the counts of keys the window never saw with 0.
    joined = base
    for family in FAMILIES:
        left_keys = ["distance_key" if k == "distance" else k for k in family.keys]
        tag = f"_key_{family.prefix}_"
        agg = tables[family.prefix]
        agg = agg.select(
            *[agg[k].name(tag + k) for k in family.keys],
            **{f"{family.prefix}_{n}": agg[n] for n in family.counts + family.values},
        )
        joined = joined.left_join(
            agg, [base[a] == agg[tag + k] for a, k in zip(left_keys, family.keys, strict=True)]
        )
    counts = set(count_features(leakage))
    columns = {
        n: joined[n].fill_null(0) if n in counts else joined[n] for n in feature_names(leakage)
    }
    return joined.select(*ids, *keep, **columns)


def to_frame(features: ir.Table) -> pd.DataFrame:
    """Execute a feature expression into pandas (via Arrow; dates as datetime64), ordered by ``line_number``.

    The rows are put in order in Arrow, before the conversion: cheaper than an ORDER BY after
    the joins, and than reordering the wide pandas frame. The frame keeps one block per column
    and Arrow's buffers are released as they are converted (``split_blocks``,
    ``self_destruct``): one copy of the wide table fewer, whose fresh pages cost more than the
    copy itself.
    """
    table: pa.Table = features.to_pyarrow()
    table = table.take(pc.sort_indices(table["line_number"]))
    return table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)
