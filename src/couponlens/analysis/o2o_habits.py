"""Consumer habits beyond the seeds: when and how far people buy, and coupon vs normal purchases.

- :func:`purchases_by_weekday` and :func:`purchases_by_distance`: purchases per group, their
  share of all purchases and the share made with a coupon, each with a Wilson 95% interval,
  and a chi-square test of whether the coupon share depends on the group.
- :func:`purchases_per_user`: how many buyers used coupons only, normal purchases only or
  both, and the distribution of coupon and normal purchases per buyer.

Example:
    >>> from couponlens.engine import connect
    >>> import pandas as pd, datetime as dt
    >>> d = dt.date(2016, 1, 4)  # a Monday
    >>> t = connect().create_table("h", pd.DataFrame({
    ...     "user_id": [1, 1, 2], "coupon_id": [5, None, None], "distance": [0, 0, None],
    ...     "date_received": [d, None, None], "purchase_date": [d, d, d]}))
    >>> purchases_by_weekday(t).frame[["group", "purchases", "coupon_purchases"]].values.tolist()
    [['Monday', 3, 1]]
    >>> purchases_per_user(t).both
    1
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis.expr.types as ir
import pandas as pd

from couponlens._results import Result
from couponlens.analysis.o2o_breakdown import (
    IndependenceTest,
    independence_test,
    key,
    labelled,
)
from couponlens.analysis.o2o_common import (
    NO_DATE_COLUMN,
    OK,
    Proportion,
    add_rate_columns,
    none_if_nan,
    purchases,
    resolve,
)
from couponlens.datasets.o2o import O2OData

_NOT_TESTED = IndependenceTest(None, None, None, NO_DATE_COLUMN)


@dataclass(frozen=True, repr=False)
class PurchaseBreakdown(Result):
    """Purchases by ``dimension``.

    ``frame`` columns: ``group``, ``key``, ``purchases``, ``coupon_purchases``,
    ``normal_purchases``, ``share`` (of all purchases) with ``share_ci_low/high``, and
    ``coupon_share`` (of the group's purchases) with ``ci_low/high``. ``coupon_share_test``:
    chi-square test that the coupon share is the same in every group.
    """

    dimension: str
    frame: pd.DataFrame
    coupon_share_test: IndependenceTest
    status: str = OK

    def to_frame(self) -> pd.DataFrame:
        """The breakdown table."""
        return self.frame.copy()


def _purchase_breakdown(
    data: ir.Table | O2OData, dimension: str, has_purchase_dates: bool | None
) -> PurchaseBreakdown:
    t, dated = resolve(data, has_purchase_dates)
    columns = ["group", "key", "purchases", "coupon_purchases", "normal_purchases", "share"]
    columns += ["share_ci_low", "share_ci_high", "coupon_share", "ci_low", "ci_high"]
    if not dated:
        return PurchaseBreakdown(
            dimension, pd.DataFrame(columns=columns), _NOT_TESTED, NO_DATE_COLUMN
        )
    bought = purchases(t)
    grouped = (
        bought.group_by(key=key(bought, dimension, date_column="purchase_date"))
        .aggregate(purchases=bought.count(), coupon_purchases=bought.coupon_id.notnull().sum())
        .execute()
    )
    frame = labelled(grouped, dimension)
    for column in ("purchases", "coupon_purchases"):
        frame[column] = frame[column].fillna(0).astype("int64")
    frame["normal_purchases"] = frame["purchases"] - frame["coupon_purchases"]
    frame["all_purchases"] = int(frame["purchases"].sum())
    frame = add_rate_columns(frame, "purchases", "all_purchases", "share", prefix="share_")
    frame = add_rate_columns(frame, "coupon_purchases", "purchases", "coupon_share")
    test = independence_test(
        frame["coupon_purchases"].to_numpy(), frame["normal_purchases"].to_numpy()
    )
    status = OK if len(frame) else "not estimable: no purchases"
    return PurchaseBreakdown(dimension, frame[columns], test, status)


def purchases_by_weekday(
    data: ir.Table | O2OData, *, has_purchase_dates: bool | None = None
) -> PurchaseBreakdown:
    """Purchases (coupon and normal) by day of week of the purchase date, Monday first."""
    return _purchase_breakdown(data, "weekday", has_purchase_dates)


def purchases_by_distance(
    data: ir.Table | O2OData, *, has_purchase_dates: bool | None = None
) -> PurchaseBreakdown:
    """Purchases (coupon and normal) by distance 0..10 (x 500 m), then ``unknown``."""
    return _purchase_breakdown(data, "distance", has_purchase_dates)


@dataclass(frozen=True, repr=False)
class CountSummary(Result):
    """Distribution of a per-buyer count: mean, median, 90th percentile, maximum."""

    mean: float | None
    median: float | None
    p90: float | None
    max: int | None


#: Histogram bins of purchases per buyer: (label, low, high inclusive; None = no upper bound).
PER_USER_BINS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0),
    ("1", 1, 1),
    ("2", 2, 2),
    ("3-5", 3, 5),
    ("6-10", 6, 10),
    ("11+", 11, None),
)


@dataclass(frozen=True, repr=False)
class PurchasesPerUser(Result):
    """Coupon vs normal purchases per buyer (a user with at least one purchase).

    ``coupon_buyers``: share of buyers with at least one coupon purchase (Wilson 95%).
    ``histogram`` columns: ``purchases`` (bin label), ``buyers_by_coupon_purchases``,
    ``buyers_by_normal_purchases``.
    """

    users: int
    buyers: int | None
    only_coupon: int | None
    only_normal: int | None
    both: int | None
    coupon_buyers: Proportion
    coupon_purchases_per_buyer: CountSummary
    normal_purchases_per_buyer: CountSummary
    mean_coupon_share_per_buyer: float | None
    histogram: pd.DataFrame = field(default_factory=pd.DataFrame)
    status: str = OK

    def to_frame(self) -> pd.DataFrame:
        """The per-buyer histogram."""
        return self.histogram.copy()


def purchases_per_user(
    data: ir.Table | O2OData, *, has_purchase_dates: bool | None = None
) -> PurchasesPerUser:
    """Coupon and normal purchases per buyer (one grouped pass per user, one summary pass)."""
    t, dated = resolve(data, has_purchase_dates)
    users = int(t.user_id.nunique().execute())
    if not dated:
        empty_summary = CountSummary(None, None, None, None)
        return PurchasesPerUser(
            users,
            None,
            None,
            None,
            None,
            Proportion.unavailable(),
            empty_summary,
            empty_summary,
            None,
            pd.DataFrame(),
            NO_DATE_COLUMN,
        )
    bought = purchases(t)
    per_user = bought.group_by("user_id").aggregate(
        coupon_n=bought.coupon_id.notnull().sum(), normal_n=bought.coupon_id.isnull().sum()
    )
    stats: dict[str, ir.Value] = {
        "buyers": per_user.count(),
        "only_coupon": (per_user.normal_n == 0).sum(),
        "only_normal": (per_user.coupon_n == 0).sum(),
        "mean_coupon_share": (
            per_user.coupon_n.cast("float64") / (per_user.coupon_n + per_user.normal_n)
        ).mean(),
    }
    for kind in ("coupon", "normal"):
        column = per_user[f"{kind}_n"]
        stats[f"{kind}_mean"] = column.mean()
        stats[f"{kind}_median"] = column.median()
        stats[f"{kind}_p90"] = column.quantile(0.9)
        stats[f"{kind}_max"] = column.max()
        for index, (_, low, high) in enumerate(PER_USER_BINS):
            inside = column >= low if high is None else column.between(low, high)
            stats[f"{kind}_bin{index}"] = inside.sum()
    row = per_user.aggregate(**stats).execute().iloc[0]

    def count(name: str) -> int:
        value = row[name]
        return 0 if pd.isna(value) else int(value)

    def summary(kind: str) -> CountSummary:
        return CountSummary(
            mean=none_if_nan(row[f"{kind}_mean"]),
            median=none_if_nan(row[f"{kind}_median"]),
            p90=none_if_nan(row[f"{kind}_p90"]),
            max=None if pd.isna(row[f"{kind}_max"]) else int(row[f"{kind}_max"]),
        )

    buyers = count("buyers")
    only_coupon, only_normal = count("only_coupon"), count("only_normal")
    histogram = pd.DataFrame(
        {
            "purchases": [b[0] for b in PER_USER_BINS],
            "buyers_by_coupon_purchases": [
                count(f"coupon_bin{i}") for i in range(len(PER_USER_BINS))
            ],
            "buyers_by_normal_purchases": [
                count(f"normal_bin{i}") for i in range(len(PER_USER_BINS))
            ],
        }
    )
    return PurchasesPerUser(
        users=users,
        buyers=buyers,
        only_coupon=only_coupon,
        only_normal=only_normal,
        both=buyers - only_coupon - only_normal,
        coupon_buyers=Proportion.of(
            buyers - only_normal, buyers, empty="not estimable: nobody bought anything"
        ),
        coupon_purchases_per_buyer=summary("coupon"),
        normal_purchases_per_buyer=summary("normal"),
        mean_coupon_share_per_buyer=none_if_nan(row["mean_coupon_share"]),
        histogram=histogram,
        status=OK if buyers else "not estimable: nobody bought anything",
    )
