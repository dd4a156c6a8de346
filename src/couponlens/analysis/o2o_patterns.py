"""Coupon usage patterns beyond the seeds: what makes an issued coupon get used, and how soon.

- :func:`usage_by_discount_rate`, :func:`usage_by_spend_threshold`, :func:`usage_by_distance`,
  :func:`usage_by_weekday` (day of week of receipt): coupons issued and used per group, the
  usage rate with its Wilson 95% interval, and a chi-square test that the rate is the same in
  every group. Each is one grouped pass over the coupon receipts.
- :func:`days_to_use`: the distribution of whole days from receipt to use over the coupon
  purchases (histogram by day, mean, median, quartiles, share within the window).

Example:
    >>> from couponlens.engine import connect
    >>> import pandas as pd, datetime as dt
    >>> d = dt.date(2016, 1, 1)
    >>> t = connect().create_table("p", pd.DataFrame({
    ...     "coupon_id": [1, 1, 2], "distance": [0, 0, 3], "discount_rate": [0.9, 0.9, 0.8],
    ...     "discount_threshold": [None, None, 20.0],
    ...     "date_received": [d, d, d], "purchase_date": [d + dt.timedelta(days=2), None, None]}))
    >>> usage_by_distance(t).frame[["group", "issued", "used"]].values.tolist()
    [['0', 2, 1], ['3', 1, 0]]
    >>> days_to_use(t).mean
    2.0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis.expr.types as ir
import numpy as np
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
    coupon_purchases,
    coupon_receipts,
    resolve,
)
from couponlens.analysis.o2o_common import days_to_use as days_expression
from couponlens.datasets.o2o import O2OData


@dataclass(frozen=True, repr=False)
class UsageBreakdown(Result):
    """Coupon usage by ``dimension`` of the receipt.

    ``frame`` columns: ``group`` (label), ``key``, ``issued``, ``used``, ``usage_rate``,
    ``ci_low``, ``ci_high`` (Wilson 95%). ``test``: chi-square test that the usage rate is the
    same in every group. Without purchase dates only ``issued`` is filled.
    """

    dimension: str
    frame: pd.DataFrame
    test: IndependenceTest
    status: str = OK

    def to_frame(self) -> pd.DataFrame:
        """The breakdown table."""
        return self.frame.copy()


def usage_by(
    data: ir.Table | O2OData, dimension: str, *, has_purchase_dates: bool | None = None
) -> UsageBreakdown:
    """Usage rate of issued coupons by ``dimension``: ``weekday`` (of receipt), ``distance``,
    ``discount_rate`` (converted, 2 places) or ``spend_threshold`` (bucket)."""
    t, dated = resolve(data, has_purchase_dates)
    receipts = coupon_receipts(t)
    aggregates = {"issued": receipts.count()}
    if dated:
        aggregates["used"] = receipts.purchase_date.notnull().sum()
    grouped = (
        receipts.group_by(key=key(receipts, dimension, date_column="date_received"))
        .aggregate(**aggregates)
        .execute()
    )
    frame = labelled(grouped, dimension)
    frame["issued"] = frame["issued"].astype("int64")
    if not dated:
        for column in ("used", "usage_rate", "ci_low", "ci_high"):
            frame[column] = np.nan
        return UsageBreakdown(
            dimension, frame, IndependenceTest(None, None, None, NO_DATE_COLUMN), NO_DATE_COLUMN
        )
    frame["used"] = frame["used"].fillna(0).astype("int64")
    frame = add_rate_columns(frame, "used", "issued", "usage_rate")
    test = independence_test(frame["used"].to_numpy(), (frame["issued"] - frame["used"]).to_numpy())
    status = OK if len(frame) else "not estimable: no coupons were issued"
    return UsageBreakdown(dimension, frame, test, status)


def usage_by_discount_rate(
    data: ir.Table | O2OData, *, has_purchase_dates: bool | None = None
) -> UsageBreakdown:
    """Usage rate by converted discount rate (``x:y`` -> round((x - y) / x, 2))."""
    return usage_by(data, "discount_rate", has_purchase_dates=has_purchase_dates)


def usage_by_spend_threshold(
    data: ir.Table | O2OData, *, has_purchase_dates: bool | None = None
) -> UsageBreakdown:
    """Usage rate by spend threshold bucket of ``x:y`` coupons (plain-rate coupons apart)."""
    return usage_by(data, "spend_threshold", has_purchase_dates=has_purchase_dates)


def usage_by_distance(
    data: ir.Table | O2OData, *, has_purchase_dates: bool | None = None
) -> UsageBreakdown:
    """Usage rate by distance 0..10 (x 500 m), then ``unknown``."""
    return usage_by(data, "distance", has_purchase_dates=has_purchase_dates)


def usage_by_weekday(
    data: ir.Table | O2OData, *, has_purchase_dates: bool | None = None
) -> UsageBreakdown:
    """Usage rate by day of week of receipt, Monday first."""
    return usage_by(data, "weekday", has_purchase_dates=has_purchase_dates)


def weighted_quantile(values: np.ndarray, counts: np.ndarray, q: float) -> float | None:
    """The ``q`` quantile (linear interpolation, as numpy's default) of ``values`` repeated
    ``counts`` times, without expanding them.

    Example:
        >>> weighted_quantile(np.array([1, 2, 10]), np.array([1, 2, 1]), 0.5)
        2.0
    """
    order = np.argsort(values)
    values, counts = np.asarray(values, float)[order], np.asarray(counts, np.int64)[order]
    total = int(counts.sum())
    if total == 0:
        return None
    position = q * (total - 1)
    below, above = int(np.floor(position)), int(np.ceil(position))
    ends = np.cumsum(
        counts
    )  # the value at sorted index i is values[searchsorted(ends, i, 'right')]
    low = values[np.searchsorted(ends, below, side="right")]
    high = values[np.searchsorted(ends, above, side="right")]
    return float(low + (high - low) * (position - below))


@dataclass(frozen=True, repr=False)
class DaysToUse(Result):
    """Whole days from receipt to use over coupon purchases.

    ``histogram`` columns: ``days``, ``uses``. ``within_window``: share of uses at most
    ``window_days`` days after receipt (Wilson 95%).
    """

    window_days: int
    uses: int | None
    mean: float | None
    median: float | None
    q1: float | None
    q3: float | None
    p90: float | None
    max: int | None
    within_window: Proportion
    histogram: pd.DataFrame = field(default_factory=pd.DataFrame)
    status: str = OK

    def to_frame(self) -> pd.DataFrame:
        """The histogram by day."""
        return self.histogram.copy()


def days_to_use(
    data: ir.Table | O2OData, window_days: int = 15, *, has_purchase_dates: bool | None = None
) -> DaysToUse:
    """Distribution of days from receipt to use (one grouped pass; the histogram is small)."""
    t, dated = resolve(data, has_purchase_dates)
    if not dated:
        return DaysToUse(
            window_days, None, None, None, None, None, None, None,
            Proportion.unavailable(), pd.DataFrame(columns=["days", "uses"]), NO_DATE_COLUMN,
        )  # fmt: skip
    used = coupon_purchases(t)
    histogram = (
        used.group_by(days=days_expression(used))
        .aggregate(uses=used.count())
        .order_by("days")
        .execute()
    )
    histogram = histogram.dropna(subset=["days"]).astype({"days": "int64", "uses": "int64"})
    days = histogram["days"].to_numpy()
    uses = histogram["uses"].to_numpy()
    total = int(uses.sum())
    if total == 0:
        return DaysToUse(
            window_days, 0, None, None, None, None, None, None,
            Proportion.of(0, 0, empty="not estimable: no coupon was used"),
            histogram.reset_index(drop=True), "not estimable: no coupon was used",
        )  # fmt: skip
    within = int(uses[days <= window_days].sum())
    return DaysToUse(
        window_days=window_days,
        uses=total,
        mean=float((days * uses).sum() / total),
        median=weighted_quantile(days, uses, 0.5),
        q1=weighted_quantile(days, uses, 0.25),
        q3=weighted_quantile(days, uses, 0.75),
        p90=weighted_quantile(days, uses, 0.9),
        max=int(days.max()),
        within_window=Proportion.of(within, total),
        histogram=histogram.reset_index(drop=True),
    )
