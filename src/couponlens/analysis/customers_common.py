"""Shared pieces of the customer-behaviour analyses: ticket subsets, states, shares and intervals.

Conventions every customer analysis follows (DOMAIN §4):

- a *successful ticket* has ``status_id`` equal to the load's success id (1 in both releases);
  traffic, payments, promotions and customer value count successful tickets only;
- an *attempt* is any ticket row (failures are attempts whose status is not a success);
- a ticket *uses a promotion* when its ``campaign_id`` is set (the files write ``0`` for none,
  which the loader turns into NULL);
- a customer's *active day* is a calendar day with at least one successful ticket.

Example:
    >>> ratio_interval(y_sum=6, n_sum=10, yy=14, nn=34, yn=21, k=3)[0]
    0.6
    >>> shares_frame(pd.DataFrame({"g": ["a", "b"], "n": [3, 1]}), "n")["share"].tolist()
    [0.75, 0.25]
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

# Shared with the other analysis families (re-exported for their modules).
from couponlens.analysis.intervals import none_if_nan as none_if_nan
from couponlens.analysis.intervals import wilson_interval as wilson_interval

if TYPE_CHECKING:
    from couponlens.datasets.customers import CustomerData

#: The state of a result whose numbers are all there.
OK = "ok"
#: The state of a result that needs the ticket table when the folder has none.
NO_TICKETS = "not available: the data has no ticket table"
#: Confidence level of every interval.
CONFIDENCE = 0.95
#: z for a two-sided 95% interval.
Z95 = 1.959963984540054
#: Day names, Monday first (Ibis's ``day_of_week.index()`` order).
WEEKDAYS: tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)


def successful(data: CustomerData) -> ir.Table:
    """Successful tickets: the columns the analyses read (customer, time, payment method,
    device, campaign, movie, prices) with ``date``, ``month`` (``YYYY-MM``) and ``promoted``."""
    t = data.require("tickets")

    def build() -> ir.Table:
        s = t.filter(t.status_id == data.success_status_id)
        # Only the columns the analyses read: the ticket id (unique text) and the theater
        # would double the cost of writing the table.
        return s.select(
            "customer_id",
            "time",
            "payment_method",
            "device_id",
            "campaign_id",
            "movie",
            "original_price",
            "discount_value",
            "final_price",
            date=s.time.date(),
            month=s.time.strftime("%Y-%m"),
            promoted=s.campaign_id.notnull(),
        )

    # Materialised once per load: every analysis reads it.
    return data.cached("successful", build)


def as_of_date(data: CustomerData, as_of: dt.date | None = None) -> dt.date:
    """The analysis date: ``as_of``, else the last ticket's day, else today."""
    if as_of is not None:
        return as_of
    if data.tickets is not None:
        last = data.tickets.time.max().execute()
        if last is not None and not pd.isna(last):
            return pd.Timestamp(last).date()
    return dt.date.today()


def month_range(first: str, last: str) -> list[str]:
    """Every ``YYYY-MM`` from ``first`` to ``last`` inclusive.

    Example:
        >>> month_range("2019-11", "2020-02")
        ['2019-11', '2019-12', '2020-01', '2020-02']
    """
    periods = pd.period_range(pd.Period(first, "M"), pd.Period(last, "M"), freq="M")
    return [str(p) for p in periods]


def shares_frame(frame: pd.DataFrame, count: str, share: str = "share") -> pd.DataFrame:
    """Add ``share`` = ``count`` / its column total (NaN when the total is 0)."""
    out = frame.copy()
    total = float(out[count].sum())
    out[share] = out[count] / total if total else np.nan
    return out


def wilson(successes: float, trials: float) -> tuple[float | None, float | None]:
    """The Wilson score 95% interval of ``successes / trials``; (None, None) without trials.

    Example:
        >>> [round(x, 4) for x in wilson(5, 10)]
        [0.2366, 0.7634]
    """
    if trials <= 0:
        return None, None
    low, high = wilson_interval(successes, trials)
    return float(low[0]), float(high[0])


def ratio_interval(
    y_sum: float, n_sum: float, yy: float, nn: float, yn: float, k: int
) -> tuple[float | None, float | None, float | None]:
    """A ratio of sums ``sum(y) / sum(n)`` over ``k`` customers and its 95% delta-method interval.

    Tickets of one customer are not independent, so the interval treats customers as the
    units (a cluster-robust, linearised variance) and needs only the sufficient statistics
    ``sum y``, ``sum n``, ``sum y^2``, ``sum n^2``, ``sum y n`` per group, which the engine
    computes in one group-by. Returns (rate, low, high); the bounds are None with fewer than
    two customers.
    """
    if n_sum <= 0 or k <= 0:
        return None, None, None
    r = y_sum / n_sum
    if k < 2:
        return r, None, None
    resid = max(yy - 2 * r * yn + r * r * nn, 0.0) / (k - 1)
    n_bar = n_sum / k
    se = math.sqrt(resid / k) / n_bar
    return r, max(0.0, r - Z95 * se), min(1.0, r + Z95 * se)


def literal_date(value: dt.date) -> ir.DateValue:
    """A date literal for Ibis expressions."""
    return ibis.literal(value, type="date")
