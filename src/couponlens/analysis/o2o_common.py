"""Shared pieces of the O2O analyses: record subsets, proportions with Wilson intervals, states.

The canonical O2O table (see :mod:`couponlens.datasets.o2o`) holds three kinds of record:

- a coupon received and not used: ``coupon_id`` set, ``purchase_date`` null;
- a normal purchase: ``coupon_id`` null, ``purchase_date`` set;
- a purchase with a coupon: both set.

A test-layout file has no ``Date`` column, so nothing about use can be said from it; the
analyses then return the state :data:`NO_DATE_COLUMN` instead of numbers.

Example:
    >>> Proportion.of(3, 10).rate
    0.3
    >>> Proportion.of(0, 0, empty="not estimable: no coupons were issued").status
    'not estimable: no coupons were issued'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from couponlens._results import Result

# Shared with the other analysis families (re-exported for their modules).
from couponlens.analysis.intervals import CONFIDENCE as CONFIDENCE
from couponlens.analysis.intervals import none_if_nan as none_if_nan
from couponlens.analysis.intervals import wilson_interval as wilson_interval

if TYPE_CHECKING:
    from couponlens.datasets.o2o import O2OData

#: The state every usage-based result carries when the file has no purchase dates.
NO_DATE_COLUMN = "not available: the file has no Date column"
#: The state of a result whose numbers are all there.
OK = "ok"
#: Confidence level of every interval in the O2O analyses.
#: Day names, Monday first (the index Ibis's ``day_of_week.index()`` returns).
WEEKDAYS: tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)


def resolve(
    data: ir.Table | O2OData, has_purchase_dates: bool | None = None
) -> tuple[ir.Table, bool]:
    """The canonical table and whether it carries purchase dates.

    ``data`` is the canonical table or the :class:`~couponlens.datasets.o2o.O2OData` a load
    returned (whose layout answers the question). For a bare table, ``has_purchase_dates=None``
    means "look": true when any row has a purchase date.
    """
    table = data if isinstance(data, ir.Table) else data.table
    if has_purchase_dates is None and not isinstance(data, ir.Table):
        has_purchase_dates = data.has_purchase_dates
    if "purchase_date" not in table.columns:
        return table, False
    if has_purchase_dates is None:
        has_purchase_dates = bool(table.purchase_date.notnull().any().execute())
    return table, has_purchase_dates


def coupon_receipts(t: ir.Table) -> ir.Table:
    """Rows where a coupon was received (used or not)."""
    return t.filter(t.coupon_id.notnull())


def coupon_purchases(t: ir.Table) -> ir.Table:
    """Purchases made with a coupon."""
    return t.filter(t.coupon_id.notnull() & t.purchase_date.notnull())


def purchases(t: ir.Table) -> ir.Table:
    """Every purchase, with or without a coupon."""
    return t.filter(t.purchase_date.notnull())


def days_to_use(t: ir.Table) -> ir.IntegerValue:
    """Whole days from receipt to purchase (null unless both dates are set)."""
    return t.purchase_date.delta(t.date_received, unit="day")


def add_rate_columns(
    frame: pd.DataFrame, successes: str, trials: str, rate: str, prefix: str = ""
) -> pd.DataFrame:
    """Add ``rate`` = successes / trials and its Wilson interval ``{prefix}ci_low/high``."""
    out = frame.copy()
    num = out[successes].astype(float).to_numpy()
    den = out[trials].astype(float).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out[rate] = np.where(den > 0, num / den, np.nan)
    low, high = wilson_interval(num, den)
    out[f"{prefix}ci_low"] = low
    out[f"{prefix}ci_high"] = high
    return out


@dataclass(frozen=True, repr=False)
class Proportion(Result):
    """A share with its Wilson score 95% interval.

    ``status`` is ``"ok"`` or says why there is no number (no trials, no Date column).
    """

    successes: int | None
    trials: int | None
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    status: str = OK

    @classmethod
    def of(cls, successes: int, trials: int, empty: str = "not estimable: no trials") -> Proportion:
        """The proportion ``successes / trials``; a "not estimable" state when ``trials`` is 0."""
        successes, trials = int(successes), int(trials)
        if trials <= 0:
            return cls(successes, trials, None, None, None, empty)
        low, high = wilson_interval(successes, trials)
        return cls(successes, trials, successes / trials, float(low[0]), float(high[0]))

    @classmethod
    def unavailable(cls, reason: str = NO_DATE_COLUMN, trials: int | None = None) -> Proportion:
        """No number: ``reason`` says why."""
        return cls(None, trials, None, None, None, reason)
