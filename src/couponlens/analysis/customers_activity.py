"""When and how tickets are bought: time patterns, spikes, platforms, OS, payments, promotions, failures.

Every count is of successful tickets unless a result says "attempts" (DOMAIN §4 and
:mod:`couponlens.analysis.customers_common`). Months without a single successful ticket
inside the observed span are *gaps* (the COVID closures): they carry ``tickets = None`` so a
chart shows a gap rather than a zero.

Spikes are days whose successful tickets reach ``ratio`` times their seasonal baseline (the
median of the same weekday in the five weeks before and after, gaps left out) and exceed it by
three Poisson standard deviations; consecutive spike days form one episode, labelled with its
top movies.

Example:
    >>> import pandas as pd
    >>> from couponlens.datasets.customers import customer_data_from_frames
    >>> t = pd.DataFrame({"ticket_id": ["a", "b", "c"], "customer_id": [1, 1, 2],
    ...     "time": ["2019-01-03 19:00:00", "2019-03-05 10:00:00", "2019-03-06 20:00:00"],
    ...     "status_id": [1, 1, -5], "campaign_id": [7, 0, 0]})
    >>> tp = time_patterns(customer_data_from_frames(tickets=t))
    >>> tp.missing_months, tp.peak_hour
    (['2019-02'], 10)
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from couponlens._results import Result
from couponlens.analysis.customers_common import (
    OK,
    WEEKDAYS,
    month_range,
    none_if_nan,
    shares_frame,
    successful,
    wilson,
)
from couponlens.datasets.customers import CustomerData

UNKNOWN = "unknown"


# --------------------------------------------------------------------------------------------
# time
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class TimePatterns(Result):
    """Successful tickets by month (gaps as None), day of week and hour (weekday vs weekend).

    ``active_hours`` is the first and last hour holding at least 1% of tickets.
    """

    tickets: int
    first_day: dt.date | None
    last_day: dt.date | None
    monthly: pd.DataFrame
    missing_months: list[str]
    weekday: pd.DataFrame
    hourly: pd.DataFrame
    peak_hour: int | None
    peak_hour_weekday: int | None
    peak_hour_weekend: int | None
    active_hours: tuple[int, int] | None
    top_weekdays: list[str]
    status: str = OK


def time_patterns(data: CustomerData) -> TimePatterns:
    """Tickets by month (with gaps), by day of week and by hour for weekdays and weekends."""
    s = successful(data)
    month = s.group_by("month").aggregate(tickets=s.count()).execute()
    counts = dict(zip(month["month"], month["tickets"].astype(int), strict=True))
    if not counts:
        empty = pd.DataFrame()
        return TimePatterns(0, None, None, empty, [], empty, empty, None, None, None, None, [])
    months = month_range(min(counts), max(counts))
    monthly = pd.DataFrame(
        {"month": months, "tickets": [counts.get(m) for m in months]}, dtype=object
    )
    missing = [m for m in months if m not in counts]
    dow = s.time.day_of_week.index()
    wd = s.group_by(weekday=dow).aggregate(tickets=s.count()).execute()
    wd = wd.set_index("weekday").reindex(range(7)).fillna(0).reset_index()
    wd["day"] = [WEEKDAYS[i] for i in wd["weekday"]]
    wd["tickets"] = wd["tickets"].astype("int64")
    wd = shares_frame(wd[["weekday", "day", "tickets"]], "tickets")
    wd["index_vs_mean"] = wd["tickets"] / wd["tickets"].mean()
    hours = s.group_by(hour=s.time.hour(), weekend=dow >= 5).aggregate(tickets=s.count()).execute()
    grid = pd.MultiIndex.from_product([range(24), [False, True]], names=["hour", "weekend"])
    hours = hours.set_index(["hour", "weekend"]).reindex(grid).fillna(0).reset_index()
    hours["tickets"] = hours["tickets"].astype("int64")
    hours["day_type"] = np.where(hours["weekend"], "weekend", "weekday")
    totals = hours.groupby("weekend")["tickets"].transform("sum")
    hours["share"] = np.where(totals > 0, hours["tickets"] / totals.where(totals > 0, 1), np.nan)
    hours = hours[["hour", "day_type", "tickets", "share"]]
    by_hour = hours.groupby("hour")["tickets"].sum()
    share = by_hour / by_hour.sum()
    active = share[share >= 0.01].index
    wk = hours[hours.day_type == "weekday"].set_index("hour")["tickets"]
    we = hours[hours.day_type == "weekend"].set_index("hour")["tickets"]
    span = s.aggregate(first=s.date.min(), last=s.date.max()).execute()
    top = wd.sort_values(["tickets", "weekday"], ascending=[False, True])["day"].head(4)
    return TimePatterns(
        tickets=int(sum(counts.values())),
        first_day=pd.Timestamp(span["first"].iloc[0]).date(),
        last_day=pd.Timestamp(span["last"].iloc[0]).date(),
        monthly=monthly,
        missing_months=missing,
        weekday=wd,
        hourly=hours,
        peak_hour=int(by_hour.idxmax()),
        peak_hour_weekday=int(wk.idxmax()) if wk.sum() else None,
        peak_hour_weekend=int(we.idxmax()) if we.sum() else None,
        active_hours=(int(active.min()), int(active.max())) if len(active) else None,
        top_weekdays=sorted(top.tolist(), key=WEEKDAYS.index),
    )


@dataclass(frozen=True, repr=False)
class Spikes(Result):
    """Spike episodes against the seasonal baseline, each with its top movies.

    ``episodes`` columns: ``start, end, days, tickets, baseline, ratio, excess, top_movies``
    (``top_movies`` is a list of ``{"movie", "tickets"}``); ``daily`` has the daily series with
    its baseline, for the chart.
    """

    ratio: float
    episodes: pd.DataFrame
    daily: pd.DataFrame
    status: str = OK


def daily_baseline(counts: pd.Series, weeks: int = 5) -> pd.Series:
    """The median of the same weekday ``weeks`` weeks either side (NaN days are left out).

    ``counts`` is indexed by consecutive days; a NaN marks a closed day.

    Example:
        >>> s = pd.Series([10.0] * 70, index=pd.date_range("2019-01-01", periods=70))
        >>> float(daily_baseline(s).iloc[35])
        10.0
    """
    values = counts.astype(float)
    shifted = [values.shift(7 * k) for k in [*range(-weeks, 0), *range(1, weeks + 1)]]
    stack = np.vstack([s.to_numpy() for s in shifted])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as wanted
        baseline = np.nanmedian(stack, axis=0)
    return pd.Series(baseline, index=counts.index)


def spikes(data: CustomerData, ratio: float = 1.8, weeks: int = 5, top_movies: int = 3) -> Spikes:
    """Days far above their seasonal baseline, grouped into episodes with their top movies."""
    s = successful(data)
    daily = s.group_by("date").aggregate(tickets=s.count()).execute()
    if daily.empty:
        return Spikes(ratio, pd.DataFrame(), pd.DataFrame())
    daily["date"] = pd.to_datetime(daily["date"])
    days = pd.date_range(daily["date"].min(), daily["date"].max(), freq="D")
    counts = daily.set_index("date")["tickets"].reindex(days).astype(float)
    months = days.strftime("%Y-%m")
    open_month = pd.Series(counts.fillna(0).to_numpy()).groupby(months).transform("sum") > 0
    counts = counts.where(open_month.to_numpy(), np.nan)
    counts = counts.where(counts.notna() | ~open_month.to_numpy(), 0.0)
    base = daily_baseline(counts, weeks)
    spike = (
        (counts >= ratio * base) & (counts >= base + 3 * np.sqrt(base.clip(lower=1))) & (base > 0)
    )
    frame = pd.DataFrame({"date": days, "tickets": counts, "baseline": base, "spike": spike})
    frame["episode"] = (frame.spike & ~frame.spike.shift(fill_value=False)).cumsum()
    frame.loc[~frame.spike, "episode"] = 0
    spike_days = frame[frame.spike]
    if spike_days.empty:
        return Spikes(ratio, pd.DataFrame(), frame.drop(columns="episode"))
    episodes = (
        spike_days.groupby("episode")
        .agg(
            start=("date", "min"),
            end=("date", "max"),
            days=("date", "size"),
            tickets=("tickets", "sum"),
            baseline=("baseline", "sum"),
        )
        .reset_index()
    )
    episodes["ratio"] = episodes.tickets / episodes.baseline
    episodes["excess"] = episodes.tickets - episodes.baseline
    chosen = [d.date() for d in spike_days.date]
    inside = s.filter(s.date.isin(chosen) & s.movie.notnull())
    movies = inside.group_by(["date", "movie"]).aggregate(tickets=inside.count()).execute()
    movies["date"] = pd.to_datetime(movies["date"])
    movies = movies.merge(frame[["date", "episode"]], on="date")
    tops = {}
    for episode, group in movies.groupby("episode"):
        ranked = group.groupby("movie")["tickets"].sum().sort_values(ascending=False)
        ranked = ranked.head(top_movies)
        tops[episode] = [{"movie": m, "tickets": int(n)} for m, n in ranked.items()]
    episodes["top_movies"] = [tops.get(e, []) for e in episodes.episode]
    episodes["start"] = episodes.start.dt.date
    episodes["end"] = episodes.end.dt.date
    episodes["tickets"] = episodes.tickets.astype("int64")
    episodes = episodes.drop(columns="episode")
    return Spikes(ratio, episodes, frame.drop(columns="episode"))


# --------------------------------------------------------------------------------------------
# platform and OS
# --------------------------------------------------------------------------------------------
def device_lookup(data: CustomerData) -> ir.Table:
    """One row per ``device_id``: a known model first (the 2019 release repeats some ids).

    The row kept is the first by (model missing, model, platform); an ``arg_min`` per id,
    half the cost of ranking every row with a window.
    """
    d = data.require("devices")
    order = ibis.struct({"missing": d.model.isnull(), "model": d.model, "platform": d.platform})
    kept = ibis.struct({"platform": d.platform, "os": d.os}).argmin(order)
    g = d.group_by("device_id").aggregate(_kept=kept)
    return g.select("device_id", platform=g._kept["platform"], os=g._kept["os"])


def tickets_with_devices(data: CustomerData) -> ir.Table:
    """Successful tickets counted by ``month, platform, os`` (``unknown`` when the device is
    untracked): ``month, platform, os, tickets``.

    Tickets are counted per device and month first, so the device lookup joins a table a
    fraction of the tickets' size and the result is a few hundred rows.
    """
    s = successful(data)
    if data.devices is None:
        counts = s.group_by("month").aggregate(tickets=s.count())
        return counts.mutate(platform=ibis.literal(UNKNOWN), os=ibis.literal(UNKNOWN))

    def build() -> ir.Table:
        per_device = s.group_by(["month", "device_id"]).aggregate(tickets=s.count())
        lookup = device_lookup(data)
        j = per_device.left_join(lookup, per_device.device_id == lookup.device_id)
        j = j.mutate(platform=j.platform.fill_null(UNKNOWN), os=j.os.fill_null(UNKNOWN))
        return j.group_by(["month", "platform", "os"]).aggregate(tickets=j.tickets.sum())

    return data.cached("tickets_with_devices", build)


@dataclass(frozen=True, repr=False)
class PlatformShares(Result):
    """Devices by platform (the device table) and successful tickets by platform.

    ``website_monthly`` has the website share of tickets per month; ``first_website_month`` is
    the first month with a website ticket. Ticket parts are empty without a ticket table.
    """

    devices: pd.DataFrame
    tickets: pd.DataFrame
    website_monthly: pd.DataFrame
    first_website_month: str | None
    unknown_share: float | None
    status: str = OK


def _count_table(t: ir.Table, column: str, name: str, weight: str | None = None) -> pd.DataFrame:
    """Rows (or the sum of ``weight``) per value of ``column``, most first, with shares."""
    count = t[weight].sum() if weight else t.count()
    frame = t.group_by(column).aggregate(**{name: count}).execute()
    frame = frame.sort_values([name, column], ascending=[False, True]).reset_index(drop=True)
    frame[name] = frame[name].astype("int64")
    return shares_frame(frame, name)


def platform_shares(data: CustomerData) -> PlatformShares:
    """Platform counts of the device table and of successful tickets (with the unknown share)."""
    devices = (
        _count_table(data.devices, "platform", "devices")
        if data.devices is not None
        else pd.DataFrame()
    )
    if data.tickets is None:
        return PlatformShares(devices, pd.DataFrame(), pd.DataFrame(), None, None)
    j = tickets_with_devices(data)
    tickets = _count_table(j, "platform", "tickets", weight="tickets")
    monthly = (
        j.group_by("month")
        .aggregate(
            tickets=j.tickets.sum(),
            website=ibis.ifelse(j.platform == "website", j.tickets, 0).sum(),
        )
        .order_by("month")
        .execute()
    )
    monthly["website_share"] = monthly.website / monthly.tickets
    web = monthly[monthly.website > 0]
    unknown = tickets.loc[tickets.platform == UNKNOWN, "share"]
    return PlatformShares(
        devices=devices,
        tickets=tickets,
        website_monthly=monthly,
        first_website_month=str(web.month.iloc[0]) if len(web) else None,
        unknown_share=float(unknown.iloc[0]) if len(unknown) else 0.0,
    )


@dataclass(frozen=True, repr=False)
class OSShares(Result):
    """Operating systems derived from device models: of devices, and of successful tickets.

    ``ios_share_of_phones`` is iOS over iOS + Android devices.
    """

    devices: pd.DataFrame
    tickets: pd.DataFrame
    unknown_share: float | None
    ios_share_of_phones: float | None
    status: str = OK


def os_shares(data: CustomerData) -> OSShares:
    """OS counts of the device table and of successful tickets (untracked devices: unknown)."""
    devices = (
        _count_table(data.devices, "os", "devices") if data.devices is not None else pd.DataFrame()
    )
    ios_share = None
    if not devices.empty:
        by = devices.set_index("os")["devices"]
        phones = by.get("iOS", 0) + by.get("Android", 0)
        ios_share = float(by.get("iOS", 0) / phones) if phones else None
    if data.tickets is None:
        return OSShares(devices, pd.DataFrame(), None, ios_share)
    tickets = _count_table(tickets_with_devices(data), "os", "tickets", weight="tickets")
    unknown = tickets.loc[tickets.os == UNKNOWN, "share"]
    return OSShares(devices, tickets, float(unknown.iloc[0]) if len(unknown) else 0.0, ios_share)


# --------------------------------------------------------------------------------------------
# payment
# --------------------------------------------------------------------------------------------
def _trend_per_year(monthly: pd.DataFrame, key: str) -> dict[str, float | None]:
    """OLS slope of each group's monthly share, per year."""
    out: dict[str, float | None] = {}
    for name, group in monthly.groupby(key):
        months = pd.PeriodIndex(group["month"], freq="M")
        x = (months.year + (months.month - 1) / 12.0).to_numpy(dtype=float)
        y = group["share"].to_numpy(dtype=float)
        out[str(name)] = float(np.polyfit(x, y, 1)[0]) if len(np.unique(x)) >= 2 else None
    return out


@dataclass(frozen=True, repr=False)
class PaymentMix(Result):
    """Payment methods of successful tickets: overall, by month and by year, with trends.

    ``monthly``: ``month, payment_method, tickets, share`` (share within the month, months
    with tickets only); ``trend_per_year``: each method's OLS slope of the monthly share.
    """

    methods: pd.DataFrame
    monthly: pd.DataFrame
    yearly: pd.DataFrame
    trend_per_year: dict[str, float | None]
    status: str = OK


def _mix(t: ir.Table, column: str, period: str) -> pd.DataFrame:
    frame = t.group_by([period, column]).aggregate(tickets=t.count()).execute()
    frame = frame.sort_values([period, column]).reset_index(drop=True)
    frame["share"] = frame.tickets / frame.groupby(period)["tickets"].transform("sum")
    return frame


def payment_mix(data: CustomerData) -> PaymentMix:
    """The payment-method mix of successful tickets and its monthly and yearly drift."""
    s = successful(data)
    s = s.mutate(payment_method=s.payment_method.fill_null(UNKNOWN), year=s.time.year())
    methods = _count_table(s, "payment_method", "tickets")
    monthly = _mix(s, "payment_method", "month")
    yearly = _mix(s, "payment_method", "year")
    # a method absent in a month has share 0 there, not a missing point
    full = (
        monthly.pivot(index="month", columns="payment_method", values="share")
        .fillna(0.0)
        .reset_index()
        .melt(id_vars="month", var_name="payment_method", value_name="share")
    )
    return PaymentMix(methods, monthly, yearly, _trend_per_year(full, "payment_method"))


# --------------------------------------------------------------------------------------------
# promotions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class PromotionUse(Result):
    """Promotion share of successful tickets (Wilson 95% CI) and the campaign-type mix.

    ``types``: promoted tickets by campaign type (``unknown campaign`` when the campaign is
    not in the campaign table); ``yearly``: ``year, campaign_type, tickets, share`` within the
    year's promoted tickets; ``discount_rate``: total discount / total original price.
    ``responsiveness`` is filled in by :func:`couponlens.analysis.customers_value.promotion_responsiveness`.
    """

    tickets: int
    promoted: int
    share: float | None
    ci_low: float | None
    ci_high: float | None
    discount_rate: float | None
    types: pd.DataFrame
    yearly: pd.DataFrame
    monthly_share: pd.DataFrame
    responsiveness: pd.DataFrame = field(default_factory=pd.DataFrame)
    status: str = OK


def promoted_tickets(data: CustomerData) -> ir.Table:
    """Successful tickets that used a campaign, with its ``campaign_type``."""
    s = successful(data)
    p = s.filter(s.promoted)
    if data.campaigns is None:
        return p.mutate(campaign_type=ibis.literal("unknown campaign"))
    c = data.campaigns.group_by("campaign_id").aggregate(
        campaign_type=data.campaigns.campaign_type.min()
    )
    j = p.left_join(c, p.campaign_id == c.campaign_id)
    return j.mutate(campaign_type=j.campaign_type.fill_null("unknown campaign"))


def promotion_use(data: CustomerData) -> PromotionUse:
    """How many successful tickets used a promotion, of which types, and how that drifted."""
    s = successful(data)
    agg = s.aggregate(
        n=s.count(),
        k=s.promoted.sum(),
        disc=s.discount_value.sum(),
        orig=s.original_price.sum(),
    ).execute()
    n, k = int(agg["n"].iloc[0]), int(agg["k"].fillna(0).iloc[0])
    orig = none_if_nan(agg["orig"].iloc[0])
    disc = none_if_nan(agg["disc"].iloc[0])
    p = promoted_tickets(data)
    types = _count_table(p, "campaign_type", "tickets")
    yearly = _mix(p.mutate(year=p.time.year()), "campaign_type", "year")
    monthly = (
        s.group_by("month")
        .aggregate(tickets=s.count(), promoted=s.promoted.sum())
        .order_by("month")
        .execute()
    )
    monthly["share"] = monthly.promoted / monthly.tickets
    low, high = wilson(k, n)
    return PromotionUse(
        tickets=n,
        promoted=k,
        share=k / n if n else None,
        ci_low=low,
        ci_high=high,
        discount_rate=(disc / orig) if orig and disc is not None else None,
        types=types,
        yearly=yearly,
        monthly_share=monthly,
    )


# --------------------------------------------------------------------------------------------
# failures
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Failures(Result):
    """Failed payment attempts: their share of attempts, by error group, by status and by month.

    ``by_group``: ``error_group, failures, share, ci_low, ci_high`` (share of failures, Wilson);
    ``monthly``: ``month, error_group, failures, attempts, failure_rate``;
    ``monthly_by_status``: the same by ``status_id``.
    """

    attempts: int
    failures: int
    failure_rate: float | None
    ci_low: float | None
    ci_high: float | None
    by_group: pd.DataFrame
    by_status: pd.DataFrame
    monthly: pd.DataFrame
    monthly_by_status: pd.DataFrame
    status: str = OK


def failures(data: CustomerData) -> Failures:
    """Failed attempts by error group and status, overall and by month."""
    tickets = data.require("tickets")

    def build() -> ir.Table:
        # Counted per day and status first: the month text is formatted on that small table,
        # not on every ticket, and every breakdown below reads a few thousand rows.
        daily = tickets.group_by([tickets.time.date().name("day"), "status_id"]).aggregate(
            n=tickets.count()
        )
        return daily.group_by([daily.day.strftime("%Y-%m").name("month"), "status_id"]).aggregate(
            n=daily.n.sum()
        )

    t = data.cached("tickets_by_month_and_status", build)
    attempts = t.group_by("month").aggregate(attempts=t.n.sum()).execute()
    f = t.filter(t.status_id != data.success_status_id)
    if data.statuses is not None:
        st = data.statuses.group_by("status_id").aggregate(
            status_name=data.statuses.status_name.min(),
            description=data.statuses.description.min(),
            error_group=data.statuses.error_group.min(),
        )
        f = f.left_join(st, f.status_id == st.status_id)
    else:
        f = f.mutate(
            status_name=ibis.null("string"),
            description=ibis.null("string"),
            error_group=ibis.null("string"),
        )
    f = f.mutate(error_group=f.error_group.fill_null(UNKNOWN))
    by_status = (
        f.group_by(["status_id", "status_name", "description", "error_group"])
        .aggregate(failures=f.n.sum())
        .execute()
        .sort_values(["failures", "status_id"], ascending=[False, True])
        .reset_index(drop=True)
    )
    by_status["failures"] = by_status["failures"].astype("int64")
    by_status = shares_frame(by_status, "failures")
    by_group = _count_table(f, "error_group", "failures", weight="n")
    total = int(by_group["failures"].sum())
    bounds = [wilson(x, total) for x in by_group["failures"]]
    by_group["ci_low"] = [b[0] for b in bounds]
    by_group["ci_high"] = [b[1] for b in bounds]
    monthly = f.group_by(["month", "error_group"]).aggregate(failures=f.n.sum()).execute()
    monthly = monthly.merge(attempts, on="month", how="left")
    monthly["failure_rate"] = monthly.failures / monthly.attempts
    monthly = monthly.sort_values(["month", "error_group"]).reset_index(drop=True)
    by_status_month = f.group_by(["month", "status_id"]).aggregate(failures=f.n.sum()).execute()
    by_status_month = by_status_month.merge(attempts, on="month", how="left")
    by_status_month["failure_rate"] = by_status_month.failures / by_status_month.attempts
    by_status_month = by_status_month.sort_values(["month", "status_id"]).reset_index(drop=True)
    n = int(attempts["attempts"].sum())
    low, high = wilson(total, n)
    return Failures(
        attempts=n,
        failures=total,
        failure_rate=total / n if n else None,
        ci_low=low,
        ci_high=high,
        by_group=by_group,
        by_status=by_status,
        monthly=monthly,
        monthly_by_status=by_status_month,
    )
