"""Customer-level behaviour: the customer table, cohorts, acquisition, RFM and promotion responsiveness.

- :func:`customer_table` (an Ibis expression, one row per customer with a ticket):
  ``tickets`` (attempts), ``failures``, ``successful``, ``success_rate``, ``promoted``,
  ``promotion_rate`` (promoted / successful), ``discount_rate`` (discount / original price of
  successful tickets), ``active_days``, ``first_day``, ``last_day``, ``spend`` (final price),
  ``first_day_promoted`` (a promotion was used on the first active day).
- :func:`customer_summary`: the seed's shares: customers active on one day only, and those who
  came on one day and used a promotion that day ("one-time promotion responders").
- :func:`cohorts`: monthly cohorts by the month of the first successful ticket; retention at
  month offset k is the share of the cohort with a successful ticket in month k.
- :func:`acquisition`: new customers whose first active day used a promotion vs organic ones,
  and the share of each that came back on a later day (Wilson intervals, difference CI).
- :func:`rfm`: recency (days from the last active day to the analysis date), frequency (active
  days) and monetary (final price paid) scored 1-5 by percent rank (ties share a score), and
  segments from the R and F scores (see :data:`RFM_SEGMENTS`).
- :func:`promotion_responsiveness`: the promotion rate of each segment's successful tickets
  with a customer-clustered 95% interval.

Example:
    >>> import pandas as pd
    >>> from couponlens.datasets.customers import customer_data_from_frames
    >>> t = pd.DataFrame({"ticket_id": ["a", "b", "c"], "customer_id": [1, 1, 2],
    ...     "time": ["2019-01-03 19:00:00", "2019-01-03 20:00:00", "2019-02-06 20:00:00"],
    ...     "status_id": [1, 1, 1], "campaign_id": [7, 0, 0]})
    >>> customer_summary(customer_data_from_frames(tickets=t)).one_day_share
    1.0
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from couponlens._results import Result
from couponlens.analysis.customers_common import (
    OK,
    Z95,
    as_of_date,
    literal_date,
    none_if_nan,
    ratio_interval,
    successful,
    wilson,
)
from couponlens.datasets.customers import CustomerData


def customer_table(data: CustomerData) -> ir.Table:
    """One row per customer with at least one ticket (see the module docstring for columns)."""
    return data.cached("customer_table", lambda: _customer_table(data))


def _customer_table(data: CustomerData) -> ir.Table:
    t = data.require("tickets")
    ok = t.status_id == data.success_status_id
    t = t.mutate(
        _okday=ibis.ifelse(ok, t.time.date(), ibis.null("date")),
        _ok=ok.cast("int64"),
        _promo=(ok & t.campaign_id.notnull()).cast("int64"),
        _disc=ibis.ifelse(ok, t.discount_value, ibis.null("float64")),
        _orig=ibis.ifelse(ok, t.original_price, ibis.null("float64")),
        _paid=ibis.ifelse(ok, t.final_price, ibis.null("float64")),
    )
    # Per customer and day first (every failure of a customer in one group with no day), so
    # the active days are a count of rows, not a COUNT(DISTINCT) per customer.
    d = t.group_by(["customer_id", "_okday"]).aggregate(
        tickets=t.count(),
        successful=t._ok.sum(),
        promoted=t._promo.sum(),
        discount=t._disc.sum(),
        original=t._orig.sum(),
        spend=t._paid.sum(),
    )
    g = d.group_by("customer_id").aggregate(
        tickets=d.tickets.sum(),
        successful=d.successful.sum(),
        promoted=d.promoted.sum(),
        active_days=d._okday.count(),
        first_day=d._okday.min(),
        last_day=d._okday.max(),
        _first_promoted_day=ibis.ifelse(d.promoted > 0, d._okday, ibis.null("date")).min(),
        discount=d.discount.sum(),
        original=d.original.sum(),
        spend=d.spend.sum(),
    )
    table = g.mutate(
        first_day_promoted=(g._first_promoted_day == g.first_day).fill_null(False),
        failures=g.tickets - g.successful,
        success_rate=g.successful / g.tickets,
        promotion_rate=ibis.ifelse(
            g.successful > 0, g.promoted / g.successful, ibis.null("float64")
        ),
        discount_rate=ibis.ifelse(
            g.original > 0, g.discount.fill_null(0) / g.original, ibis.null("float64")
        ),
    )
    table = table.drop("_first_promoted_day")
    return table


@dataclass(frozen=True, repr=False)
class CustomerSummary(Result):
    """The customer table summarised.

    ``one_day_share``: buyers (customers with a successful ticket) active on one day only;
    ``one_time_promotion_share``: buyers active on one day who used a promotion that day.
    ``active_days``: buyers by active days (1, 2, 3, 4, 5+); ``top``: the 20 customers with
    the most successful tickets.
    """

    customers_with_tickets: int
    buyers: int
    registered_without_tickets: int | None
    one_day_share: float | None
    one_time_promotion_share: float | None
    mean_tickets: float | None
    mean_successful: float | None
    mean_failures: float | None
    mean_success_rate: float | None
    mean_promotion_rate: float | None
    mean_discount_rate: float | None
    mean_active_days: float | None
    active_days: pd.DataFrame
    promotion_rate_bins: pd.DataFrame
    top: pd.DataFrame
    status: str = OK


def customer_summary(data: CustomerData) -> CustomerSummary:
    """The per-customer table's headline shares and distributions."""
    c = customer_table(data)
    buyers = c.filter(c.successful > 0)
    one_day = buyers.active_days == 1
    s = c.aggregate(
        n=c.count(),
        mean_tickets=c.tickets.mean(),
        mean_successful=c.successful.mean(),
        mean_failures=c.failures.mean(),
        mean_success_rate=c.success_rate.mean(),
    ).execute()
    b = buyers.aggregate(
        n=buyers.count(),
        one_day=one_day.sum(),
        one_promo=(one_day & (buyers.promoted > 0)).sum(),
        promo=buyers.promotion_rate.mean(),
        disc=buyers.discount_rate.mean(),
        days=buyers.active_days.mean(),
    ).execute()
    n_buyers = int(b["n"].iloc[0])
    bucket = ibis.ifelse(buyers.active_days >= 5, 5, buyers.active_days)
    days = buyers.group_by(days=bucket).aggregate(customers=buyers.count()).execute()
    days = days.set_index("days").reindex(range(1, 6)).fillna(0).reset_index()
    days["customers"] = days["customers"].astype("int64")
    days["label"] = [str(d) if d < 5 else "5+" for d in days["days"]]
    days["share"] = days.customers / n_buyers if n_buyers else np.nan
    rate_bin = (buyers.promotion_rate * 4).ceil().cast("int64")
    bins = buyers.group_by(bin=rate_bin).aggregate(customers=buyers.count()).execute()
    bins = bins.set_index("bin").reindex(range(5)).fillna(0).reset_index()
    bins["customers"] = bins["customers"].astype("int64")
    bins["promotion_rate"] = ["0", "(0, 0.25]", "(0.25, 0.5]", "(0.5, 0.75]", "(0.75, 1]"]
    bins = bins[["promotion_rate", "customers"]]
    top = (
        c.order_by([ibis.desc("successful"), "customer_id"])
        .limit(20)
        .select(
            "customer_id",
            "tickets",
            "successful",
            "failures",
            "promotion_rate",
            "discount_rate",
            "active_days",
            "spend",
        )  # fmt: skip
        .execute()
    )
    registered = None
    if data.customers is not None:
        ids = data.customers.select("customer_id").distinct()
        registered = int(ids.anti_join(c, ids.customer_id == c.customer_id).count().execute())
    return CustomerSummary(
        customers_with_tickets=int(s["n"].iloc[0]),
        buyers=n_buyers,
        registered_without_tickets=registered,
        one_day_share=int(b["one_day"].iloc[0]) / n_buyers if n_buyers else None,
        one_time_promotion_share=int(b["one_promo"].iloc[0]) / n_buyers if n_buyers else None,
        mean_tickets=none_if_nan(s["mean_tickets"].iloc[0]),
        mean_successful=none_if_nan(s["mean_successful"].iloc[0]),
        mean_failures=none_if_nan(s["mean_failures"].iloc[0]),
        mean_success_rate=none_if_nan(s["mean_success_rate"].iloc[0]),
        mean_promotion_rate=none_if_nan(b["promo"].iloc[0]),
        mean_discount_rate=none_if_nan(b["disc"].iloc[0]),
        mean_active_days=none_if_nan(b["days"].iloc[0]),
        active_days=days[["label", "customers", "share"]],
        promotion_rate_bins=bins,
        top=top,
    )


# --------------------------------------------------------------------------------------------
# cohorts and acquisition
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Cohorts(Result):
    """Monthly cohort retention.

    ``table``: ``cohort, offset, customers, cohort_size, retention`` (offset in months from the
    cohort month, 0 included); ``mean_retention``: the cohort-size-weighted retention at
    offsets 1, 3, 6 and 12 over the cohorts observed that long.
    """

    cohorts: int
    table: pd.DataFrame
    mean_retention: dict[str, float | None]
    status: str = OK


def cohorts(data: CustomerData) -> Cohorts:
    """Retention of each monthly cohort (first successful ticket) in the months after."""
    s = successful(data)
    active = s.select("customer_id", m=s.date.year() * 12 + s.date.month() - 1).distinct()
    first = active.group_by("customer_id").aggregate(cohort=active.m.min())
    j = active.join(first, "customer_id")
    j = j.mutate(offset=j.m - j.cohort)
    table = j.group_by(["cohort", "offset"]).aggregate(customers=j.count()).execute()
    if table.empty:
        return Cohorts(0, pd.DataFrame(), {})
    sizes = table[table.offset == 0].set_index("cohort")["customers"]
    table["cohort_size"] = table.cohort.map(sizes)
    table["retention"] = table.customers / table.cohort_size
    last = int((table.cohort + table.offset).max())  # the last month observed
    table = table.sort_values(["cohort", "offset"]).reset_index(drop=True)
    mean: dict[str, float | None] = {}
    for k in (1, 3, 6, 12):
        eligible = sizes[sizes.index + k <= last]
        kept = table[(table.offset == k) & table.cohort.isin(eligible.index)].customers.sum()
        mean[f"month_{k}"] = float(kept / eligible.sum()) if eligible.sum() else None
    table["cohort"] = [f"{c // 12:04d}-{c % 12 + 1:02d}" for c in table.cohort]
    return Cohorts(
        len(sizes), table[["cohort", "offset", "customers", "cohort_size", "retention"]], mean
    )


@dataclass(frozen=True, repr=False)
class Acquisition(Result):
    """New customers acquired with a promotion vs organically, and how many came back.

    ``channels``: ``channel, customers, share, returned, return_rate, ci_low, ci_high``;
    ``difference``: promotion minus organic return rate with its 95% (Wald) interval;
    ``monthly``: new customers per month by channel; ``one_time_promotion`` counts customers
    acquired with a promotion who never came back.
    """

    new_customers: int
    channels: pd.DataFrame
    difference: float | None
    difference_ci: tuple[float, float] | None
    one_time_promotion: int
    monthly: pd.DataFrame
    status: str = OK


def first_day_channel(data: CustomerData) -> ir.Table:
    """``customer_id, first_day, channel ('promotion'|'organic'), returned`` per buyer."""
    return data.cached("first_day_channel", lambda: _first_day_channel(data))


def _first_day_channel(data: CustomerData) -> ir.Table:
    c = customer_table(data)
    b = c.filter(c.successful > 0)
    return b.select(
        "customer_id",
        "first_day",
        channel=ibis.ifelse(b.first_day_promoted, "promotion", "organic"),
        returned=b.active_days > 1,
    )


def acquisition(data: CustomerData) -> Acquisition:
    """Promotion-acquired vs organic new customers and their return rates."""
    f = first_day_channel(data)
    g = (
        f.group_by("channel")
        .aggregate(customers=f.count(), returned=f.returned.sum())
        .execute()
        .set_index("channel")
        .reindex(["promotion", "organic"])
        .fillna(0)
        .reset_index()
    )
    g["customers"] = g.customers.astype("int64")
    g["returned"] = g.returned.astype("int64")
    total = int(g.customers.sum())
    g["share"] = g.customers / total if total else np.nan
    g["return_rate"] = np.where(
        g.customers > 0, g.returned / g.customers.where(g.customers > 0, 1), np.nan
    )
    bounds = [wilson(r, n) for r, n in zip(g.returned, g.customers, strict=True)]
    g["ci_low"] = [b[0] for b in bounds]
    g["ci_high"] = [b[1] for b in bounds]
    diff = diff_ci = None
    (p1, n1), (p2, n2) = [(g.return_rate.iloc[i], g.customers.iloc[i]) for i in (0, 1)]
    if n1 > 0 and n2 > 0:
        diff = float(p1 - p2)
        se = float(np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2))
        diff_ci = (diff - Z95 * se, diff + Z95 * se)
    monthly = (
        f.group_by([f.first_day.strftime("%Y-%m").name("month"), "channel"])
        .aggregate(customers=f.count())
        .execute()
        .sort_values(["month", "channel"])
        .reset_index(drop=True)
    )
    one_time = int(g.customers.iloc[0] - g.returned.iloc[0])
    return Acquisition(
        new_customers=total,
        channels=g[
            ["channel", "customers", "share", "returned", "return_rate", "ci_low", "ci_high"]
        ],
        difference=diff,
        difference_ci=diff_ci,
        one_time_promotion=one_time,
        monthly=monthly,
    )


# --------------------------------------------------------------------------------------------
# RFM
# --------------------------------------------------------------------------------------------
#: RFM segments from the R and F scores: (name, rule), checked in order; every (R, F) pair
#: falls in exactly one.
RFM_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("Champions", "R >= 4 and F >= 4"),
    ("Loyal", "R >= 3 and F >= 3"),
    ("At risk", "R <= 2 and F >= 3"),
    ("New", "R >= 4 and F <= 2"),
    ("Promising", "R = 3 and F <= 2"),
    ("Hibernating", "R <= 2 and F <= 2"),
)


def rfm_segment(r: ir.IntegerValue, f: ir.IntegerValue) -> ir.StringValue:
    """The :data:`RFM_SEGMENTS` name of an (R, F) score pair."""
    return ibis.cases(
        ((r >= 4) & (f >= 4), ibis.literal("Champions")),
        ((r >= 3) & (f >= 3), ibis.literal("Loyal")),
        ((r <= 2) & (f >= 3), ibis.literal("At risk")),
        (r >= 4, ibis.literal("New")),
        (r == 3, ibis.literal("Promising")),
        else_=ibis.literal("Hibernating"),
    )


def _score(column: ir.Value, descending: bool = False) -> ir.IntegerValue:
    order = ibis.desc(column) if descending else ibis.asc(column)
    pr = ibis.percent_rank().over(order_by=order)
    return ibis.least((pr * 5).floor().cast("int64") + 1, 5)


def rfm_table(data: CustomerData, as_of: dt.date | None = None) -> ir.Table:
    """``customer_id, recency, frequency, monetary, r, f, m, segment`` for every buyer."""
    day = as_of_date(data, as_of)
    return data.cached(f"rfm_table {day}", lambda: _rfm_table(data, day))


def _rfm_table(data: CustomerData, day: dt.date) -> ir.Table:
    c = customer_table(data)
    b = c.filter(c.successful > 0)
    b = b.select(
        "customer_id",
        recency=literal_date(day).delta(b.last_day, unit="day"),
        frequency=b.active_days,
        monetary=b.spend.fill_null(0.0),
    )
    b = b.mutate(r=_score(b.recency, descending=True), f=_score(b.frequency), m=_score(b.monetary))
    return b.mutate(segment=rfm_segment(b.r, b.f))


@dataclass(frozen=True, repr=False)
class RFM(Result):
    """RFM segments: ``segments`` (``segment, customers, share, mean_recency, mean_frequency,
    mean_monetary, monetary_share``) and the R x F ``grid`` of customer counts."""

    as_of: dt.date
    customers: int
    segments: pd.DataFrame
    grid: pd.DataFrame
    status: str = OK


def rfm(data: CustomerData, as_of: dt.date | None = None) -> RFM:
    """Score every buyer on recency, frequency and monetary value; summarise the segments."""
    day = as_of_date(data, as_of)
    t = rfm_table(data, day)
    seg = (
        t.group_by("segment")
        .aggregate(
            customers=t.count(),
            mean_recency=t.recency.mean(),
            mean_frequency=t.frequency.mean(),
            mean_monetary=t.monetary.mean(),
            monetary=t.monetary.sum(),
        )
        .execute()
    )
    names = [s for s, _ in RFM_SEGMENTS]
    seg = seg.set_index("segment").reindex(names).reset_index()
    seg["customers"] = seg.customers.fillna(0).astype("int64")
    total = int(seg.customers.sum())
    seg["share"] = seg.customers / total if total else np.nan
    money = float(seg.monetary.fillna(0).sum())
    seg["monetary_share"] = seg.monetary / money if money else np.nan
    seg["rule"] = [rule for _, rule in RFM_SEGMENTS]
    seg = seg[["segment", "rule", "customers", "share", "mean_recency", "mean_frequency",
               "mean_monetary", "monetary_share"]]  # fmt: skip
    grid = t.group_by(["r", "f"]).aggregate(customers=t.count()).execute()
    grid = grid.sort_values(["r", "f"]).reset_index(drop=True)
    return RFM(day, total, seg, grid)


# --------------------------------------------------------------------------------------------
# promotion responsiveness
# --------------------------------------------------------------------------------------------
def segment_tables(data: CustomerData, as_of: dt.date | None = None) -> dict[str, ir.Table]:
    """``customer_id, segment`` tables for each dimension responsiveness is reported by."""
    from couponlens.analysis.customers_profile import customer_profiles

    day = as_of_date(data, as_of)
    out: dict[str, ir.Table] = {}
    if data.customers is not None:
        p = customer_profiles(data, day)
        out["generation"] = p.select("customer_id", segment=p.generation)
        out["gender"] = p.select("customer_id", segment=p.gender)
        out["age"] = p.select("customer_id", segment=p.age_bucket)
    r = rfm_table(data, day)
    out["rfm"] = r.select("customer_id", segment=r.segment)
    f = first_day_channel(data)
    out["acquisition"] = f.select("customer_id", segment=f.channel)
    return out


def promotion_responsiveness(
    data: CustomerData, segments: dict[str, ir.Table] | None = None, as_of: dt.date | None = None
) -> pd.DataFrame:
    """The promotion rate of each segment's successful tickets, with a 95% interval.

    Rate = promoted / successful tickets of the segment's customers. Tickets of one customer
    are correlated, so the interval is a customer-clustered (delta-method) one built from
    per-segment sums (:func:`~couponlens.analysis.customers_common.ratio_interval`).
    ``lift`` is the rate over the overall rate. Customers missing from a dimension's table
    count as ``unknown`` there.

    Returns a frame: ``dimension, segment, customers, tickets, promoted, rate, ci_low,
    ci_high, lift``.
    """
    c = customer_table(data)  # materialised once: one row per customer
    c = c.filter(c.successful > 0)
    per = c.select("customer_id", n=c.successful, y=c.promoted)

    def sums(t: ir.Table) -> dict[str, ir.Value]:
        return {
            "k": t.count(),
            "y": t.y.sum(),
            "n": t.n.sum(),
            "yy": (t.y * t.y).sum(),
            "nn": (t.n * t.n).sum(),
            "yn": (t.y * t.n).sum(),
        }

    totals = per.aggregate(**sums(per)).execute().iloc[0]
    if not totals["k"]:
        return pd.DataFrame()
    overall = float(totals["y"]) / float(totals["n"])
    tables = segments or segment_tables(data, as_of)
    if not tables:
        return pd.DataFrame()
    # Every dimension in one query: the segment tables stacked, joined once to the buyers
    # (one hash table instead of one per dimension); a dimension's buyers missing from its
    # table are the totals minus what it matched (all sums are of integers, so exact).
    stacked = ibis.union(
        *[
            t.select(
                dimension=ibis.literal(name), cid=t.customer_id, segment=t.segment.cast("string")
            )
            for name, t in tables.items()
        ]
    )
    j = stacked.inner_join(per, stacked.cid == per.customer_id)
    j = j.mutate(segment=j.segment.fill_null("unknown"))
    matched = j.group_by(["dimension", "segment"]).aggregate(**sums(j)).execute()
    names = ["k", "y", "n", "yy", "nn", "yn"]
    rows = []
    for dimension in tables:
        agg = matched[matched.dimension == dimension].drop(columns="dimension")
        agg = agg.groupby("segment", as_index=False)[names].sum()
        agg[names] = agg[names].astype(float)
        missing = {m: float(totals[m]) - float(agg[m].sum()) for m in names}
        if missing["k"] > 0:
            unknown = agg.segment == "unknown"
            if unknown.any():
                for m in names:
                    agg.loc[unknown, m] = agg.loc[unknown, m].astype(float) + missing[m]
            else:
                agg = pd.concat([agg, pd.DataFrame([{"segment": "unknown", **missing}])])
        for rec in agg.itertuples(index=False):
            rate, low, high = ratio_interval(
                float(rec.y), float(rec.n), float(rec.yy), float(rec.nn), float(rec.yn), int(rec.k)
            )
            rows.append(
                {
                    "dimension": dimension,
                    "segment": rec.segment,
                    "customers": int(rec.k),
                    "tickets": int(rec.n),
                    "promoted": int(rec.y),
                    "rate": rate,
                    "ci_low": low,
                    "ci_high": high,
                    "lift": rate / overall if rate is not None and overall else None,
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["dimension", "rate"], ascending=[True, False]).reset_index(drop=True)
