"""A synthetic cinema ticketing business (2019-2022) in the later release's five-table layout.

The generator writes ``customer.csv``, ``ticket_history.csv``, ``device_detail.csv``,
``campaign.csv`` and ``status_detail.csv`` (the columns of DOMAIN §4) plus ``truth.json``, the
planted truths the tests check:

- **Visits.** A share of customers are *one-time promotion responders*: one visit, with a
  promotion, never again. Every other customer buys by the BG/NBD process from the first visit
  on: visits at rate ``lambda ~ Gamma(r, alpha)`` per day, and after each repeat visit the
  customer drops out with probability ``p ~ Beta(a, b)``. First visits follow the traffic
  curve: a monthly trend, weekday weights (Thursday-Sunday high), holiday and blockbuster
  spikes (each with its top movie), and no activity in the COVID closure months.
- **Hours** 9h-23h, peaking at 19h (weekends flatter, with more afternoon shows).
- **Devices.** One phone per customer (model -> OS: iPhone -> iOS, other brands -> Android,
  ``devicemodel`` -> unknown); website sessions (``h5``) only from 2022; some tickets carry
  a device number the device table lacks (untracked).
- **Payments** drift: the in-app share grows linearly from 2019 to 2022; cash stays small.
- **Promotions.** Each successful visit uses a campaign with a probability set by the
  customer's generation (Gen Z > Gen Y > older); direct discounts dominate and grow.
- **Failures.** Some visits start with failed payment attempts; statuses by error group with
  planted shares (external ~75%).
- **Customers.** Gender Male/Female/Not verify; not-verified accounts carry the placeholder
  birth date 1970-01-01; 95% Gen Y or Gen Z; some registered customers never buy.
- **Duplicates.** A planted number of exact duplicate ticket rows.

Money is in VND: the spend of a visit is ``Gamma(p_spend, nu)`` with ``nu ~ Gamma(q, v)`` per
customer (the Gamma-Gamma model), rounded to 1,000.

Example:
    >>> import tempfile, json, pathlib
    >>> from couponlens.datasets.customers_synthetic import generate_customers
    >>> out = generate_customers(tempfile.mkdtemp(), customers=300, seed=1)
    >>> sorted(p.name for p in out.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['campaign.csv', 'customer.csv', 'device_detail.csv', 'status_detail.csv',
     'ticket_history.csv', 'truth.json']
    >>> json.loads((out / "truth.json").read_text())["customers_total"]
    300
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from couponlens.errors import InputError

#: Months with no activity (cinemas closed by COVID-19 rules).
COVID_CLOSED_MONTHS: tuple[str, ...] = (
    "2020-04",
    "2021-06",
    "2021-07",
    "2021-08",
    "2021-09",
    "2021-10",
    "2021-11",
)

#: Planted spikes: (first day, days, multiplier of first visits, top movie, kind).
SPIKES: tuple[tuple[str, int, float, str, str], ...] = (
    ("2019-02-05", 4, 4.0, "Trang Quynh", "holiday"),
    ("2019-04-24", 4, 4.5, "Avengers: Endgame", "blockbuster"),
    ("2019-09-02", 3, 3.5, "Hai Phuong", "holiday"),
    ("2020-01-25", 4, 4.0, "Gai Gia Lam Chieu 3", "holiday"),
    ("2021-12-17", 4, 4.5, "Spider-Man: No Way Home", "blockbuster"),
    ("2022-02-01", 4, 4.0, "Chia Khoa Tram Ty", "holiday"),
    ("2022-05-04", 4, 4.0, "Doctor Strange in the Multiverse of Madness", "blockbuster"),
    ("2022-12-16", 4, 4.5, "Avatar: The Way of Water", "blockbuster"),
)

#: Weekday weights, Monday first.
WEEKDAY_WEIGHTS: tuple[float, ...] = (0.75, 0.7, 0.8, 1.1, 1.25, 1.5, 1.4)
#: Hour weights 9h..23h on weekdays and at weekends (peak at 19h).
WEEKDAY_HOURS: tuple[float, ...] = (1, 1, 2, 2, 3, 3, 4, 5, 7, 9, 11, 8, 6, 4, 2)
WEEKEND_HOURS: tuple[float, ...] = (2, 3, 4, 5, 6, 6, 6, 7, 8, 9, 10, 8, 6, 4, 2)

PAYMENT_METHODS: tuple[str, ...] = ("bank card", "e-wallet", "in-app", "cash")
CAMPAIGN_TYPES: tuple[str, ...] = ("direct discount", "voucher", "reward point")
STATUSES: tuple[tuple[int, str, str | None], ...] = (
    (1, "Transaction successful", None),
    (-1, "Payment overdue", "customer"),
    (-2, "Insufficient funds in customer account", "customer"),
    (-3, "An error occurred at the bank. Please try again later.", "external"),
    (-4, "Password locked after too many wrong attempts", "customer"),
    (-5, "Payment failed", "external"),
    (-6, "Please complete KYC to proceed with transactions", "internal"),
    (-7, "Transaction temporarily limited", "internal"),
)
THEATERS: tuple[str, ...] = tuple(
    f"Cinema {name}"
    for name in (
        "Landmark",
        "Thao Dien",
        "Su Van Hanh",
        "Hung Vuong",
        "Go Vap",
        "Tan Phu",
        "Ha Dong",
        "Long Bien",
        "Da Nang",
        "Can Tho",
    )
)
IPHONES: tuple[str, ...] = (
    "iphone 10,6",
    "iphone 11,6",
    "iphone 12,1",
    "iphone 12,5",
    "iphone 13,2",
    "iphone 9,4",
    "ipad7,5",
)
ANDROIDS: tuple[str, ...] = (
    "Samsung SM-N960F",
    "Samsung SM-G975F",
    "Samsung SM-A505F",
    "Xiaomi Redmi Note 7",
    "OPPO CPH1825",
    "HUAWEI INE-LX2",
    "vivo 1820",
    "Vsmart Joy 3",
)
GENERATIONS: tuple[tuple[str, int, int], ...] = (
    ("Silent", 1928, 1945),
    ("Baby Boomers", 1946, 1964),
    ("Gen X", 1965, 1980),
    ("Gen Y", 1981, 1996),
    ("Gen Z", 1997, 2012),
)


@dataclass(frozen=True)
class CustomerGenerator:
    """Knobs of the synthetic business; every default is a planted truth in ``truth.json``."""

    customers: int = 20_000
    seed: int = 0
    start: str = "2019-01-01"
    end: str = "2022-12-31"
    closed_months: tuple[str, ...] = COVID_CLOSED_MONTHS
    spikes: tuple[tuple[str, int, float, str, str], ...] = SPIKES
    never_buy_share: float = 0.08
    one_time_promo_share: float = 0.40
    bgnbd_r: float = 0.45
    bgnbd_alpha: float = 60.0
    bgnbd_a: float = 0.8
    bgnbd_b: float = 1.6
    spend_p: float = 6.0
    spend_q: float = 4.0
    spend_v: float = 40_000.0
    gender_shares: dict[str, float] = field(
        default_factory=lambda: {"Male": 0.48, "Female": 0.47, "Not verify": 0.05}
    )
    generation_shares: dict[str, float] = field(
        default_factory=lambda: {"Gen Z": 0.40, "Gen Y": 0.55, "Gen X": 0.04, "Baby Boomers": 0.01}
    )
    promotion_probability: dict[str, float] = field(
        default_factory=lambda: {"Gen Z": 0.72, "Gen Y": 0.58, "Gen X": 0.40, "Baby Boomers": 0.40}
    )
    direct_discount_share_start: float = 0.80
    direct_discount_share_end: float = 0.94
    in_app_share_start: float = 0.08
    in_app_share_end: float = 0.45
    cash_share: float = 0.03
    e_wallet_share: float = 0.32
    website_share_2022: float = 0.15
    website_from: str = "2022-01-01"
    untracked_device_share: float = 0.03
    placeholder_model_share: float = 0.05
    ios_share: float = 0.48
    failed_attempt_probability: float = 0.12
    error_group_shares: dict[str, float] = field(
        default_factory=lambda: {"external": 0.75, "customer": 0.18, "internal": 0.07}
    )
    duplicate_rows: int = 0


def _daily_frame(g: CustomerGenerator) -> pd.DataFrame:
    days = pd.date_range(g.start, g.end, freq="D")
    frame = pd.DataFrame({"date": days})
    month = frame.date.dt.strftime("%Y-%m")
    frame["open"] = ~month.isin(g.closed_months)
    years = (frame.date - days[0]).dt.days / 365.25
    trend = 1.0 + 0.15 * years
    frame["weight"] = trend * np.array(WEEKDAY_WEIGHTS)[frame.date.dt.day_of_week.to_numpy()]
    frame["spike"] = ""
    for first, length, multiplier, movie, _kind in g.spikes:
        inside = (frame.date >= pd.Timestamp(first)) & (
            frame.date < pd.Timestamp(first) + pd.Timedelta(days=length)
        )
        frame.loc[inside, "weight"] *= multiplier
        frame.loc[inside, "spike"] = movie
    frame.loc[~frame.open, "weight"] = 0.0
    return frame


def _movies(rng: np.random.Generator, days: pd.DatetimeIndex) -> pd.DataFrame:
    """A catalogue of ordinary films, four opening each month."""
    adjectives = (
        "Silent",
        "Last",
        "Red",
        "Hidden",
        "Broken",
        "Golden",
        "Lost",
        "Wild",
        "Dark",
        "Bright",
    )
    nouns = (
        "River",
        "Promise",
        "Night",
        "Garden",
        "Kingdom",
        "Summer",
        "Secret",
        "Road",
        "Storm",
        "Heart",
    )
    rows = []
    months = pd.period_range(days[0], days[-1], freq="M")
    for i, period in enumerate(months):
        for k in range(4):
            title = f"The {adjectives[(i + 3 * k) % 10]} {nouns[(7 * i + k) % 10]} ({period.year})"
            opening = period.start_time + pd.Timedelta(days=int(rng.integers(0, 28)))
            rows.append((title + ("" if k < 2 else f" {k}"), opening))
    return pd.DataFrame(rows, columns=["movie", "opening"]).drop_duplicates("movie")


def _bgnbd_visits(
    g: CustomerGenerator, rng: np.random.Generator, first: np.ndarray, horizon: float
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat visit times (days since start) by the BG/NBD process; (customer index, time)."""
    n = len(first)
    rate = rng.gamma(g.bgnbd_r, 1.0 / g.bgnbd_alpha, n)
    dropout = rng.beta(g.bgnbd_a, g.bgnbd_b, n)
    owners: list[np.ndarray] = []
    times: list[np.ndarray] = []
    active = np.arange(n)
    now = first.astype(float).copy()
    while active.size:
        now[active] += rng.exponential(1.0, active.size) / rate[active]
        active = active[now[active] <= horizon]
        if not active.size:
            break
        owners.append(active.copy())
        times.append(now[active].copy())
        active = active[rng.random(active.size) >= dropout[active]]
    if not owners:
        return np.empty(0, dtype=np.int64), np.empty(0)
    return np.concatenate(owners), np.concatenate(times)


def _snap_to_weekday(
    rng: np.random.Generator, day: np.ndarray, weekday_of_start: int
) -> np.ndarray:
    """Move each visit within its week to a weekday drawn from the weekday weights."""
    weights = np.array(WEEKDAY_WEIGHTS) / sum(WEEKDAY_WEIGHTS)
    week_start = day - (day + weekday_of_start) % 7
    return week_start + rng.choice(7, size=day.size, p=weights)


def generate_customer_tables(
    g: CustomerGenerator,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The five tables (later-release layout) and the planted truths, in memory.

    Example:
        >>> tables, truth = generate_customer_tables(CustomerGenerator(customers=200, seed=3))
        >>> sorted(tables)
        ['campaign', 'customer', 'device_detail', 'status_detail', 'ticket_history']
        >>> truth["missing_months"][:1]
        ['2020-04']
    """
    if g.customers < 10:
        raise InputError(f"customers must be at least 10, got {g.customers}")
    rng = np.random.default_rng(g.seed)
    daily = _daily_frame(g)
    start = daily.date.iloc[0]
    horizon = float(len(daily) - 1)
    n = g.customers

    # --- customers -------------------------------------------------------------------------
    customer_id = 100_000 + rng.choice(9 * n, size=n, replace=False)
    genders = list(g.gender_shares)
    gender = rng.choice(genders, size=n, p=np.array(list(g.gender_shares.values())))
    gens = list(g.generation_shares)
    generation = rng.choice(gens, size=n, p=np.array(list(g.generation_shares.values())))
    bounds = {name: (lo, hi) for name, lo, hi in GENERATIONS}
    lo = np.array([bounds[x][0] for x in generation])
    hi = np.array([min(bounds[x][1], 2009) for x in generation])
    year = rng.integers(lo, hi + 1)
    day_of_year = rng.integers(0, 365, n)
    dob = pd.to_datetime(year.astype(str), format="%Y") + pd.to_timedelta(day_of_year, unit="D")
    dob_text = dob.strftime("%Y-%m-%d").to_numpy().astype(object)
    not_verified = gender == "Not verify"
    dob_text[not_verified] = "1970-01-01"
    customers = pd.DataFrame({"customer_id": customer_id, "usergender": gender, "dob": dob_text})

    buyer = rng.random(n) >= g.never_buy_share
    buyers = np.flatnonzero(buyer)
    one_timer = np.zeros(n, dtype=bool)
    one_timer[buyers] = rng.random(buyers.size) < g.one_time_promo_share

    # --- first visits follow the traffic curve ------------------------------------------------
    p_day = daily.weight.to_numpy() / daily.weight.sum()
    first_day = np.zeros(n)
    first_day[buyers] = rng.choice(len(daily), size=buyers.size, p=p_day) + rng.random(buyers.size)
    regular = buyers[~one_timer[buyers]]
    owners, times = _bgnbd_visits(g, rng, first_day[regular], horizon)
    repeat_customer = regular[owners]
    repeat_day = _snap_to_weekday(rng, np.floor(times).astype(np.int64), int(start.day_of_week))
    keep = (repeat_day >= 0) & (repeat_day <= horizon)
    repeat_customer, repeat_day = repeat_customer[keep], repeat_day[keep]
    open_day = daily.open.to_numpy()
    keep = open_day[repeat_day]
    repeat_customer, repeat_day = repeat_customer[keep], repeat_day[keep]

    visit_customer = np.concatenate([buyers, repeat_customer])
    visit_day = np.concatenate([np.floor(first_day[buyers]).astype(np.int64), repeat_day])
    is_first = np.concatenate([np.ones(buyers.size, bool), np.zeros(repeat_customer.size, bool)])
    order = np.lexsort((visit_day, visit_customer))
    visit_customer, visit_day, is_first = visit_customer[order], visit_day[order], is_first[order]
    # A repeat visit snapped onto or before the first visit's day is the same day: move it on.
    v = visit_customer.size
    weekend = daily.date.dt.day_of_week.to_numpy()[visit_day] >= 5
    hours_wd = np.array(WEEKDAY_HOURS) / sum(WEEKDAY_HOURS)
    hours_we = np.array(WEEKEND_HOURS) / sum(WEEKEND_HOURS)
    hour = np.where(
        weekend,
        9 + rng.choice(15, size=v, p=hours_we),
        9 + rng.choice(15, size=v, p=hours_wd),
    )
    minute = rng.integers(0, 60, v)
    second = rng.integers(0, 60, v)
    visit_time = (
        start.to_datetime64()
        + visit_day.astype("timedelta64[D]")
        + hour.astype("timedelta64[h]")
        + minute.astype("timedelta64[m]")
        + second.astype("timedelta64[s]")
    )
    dates = daily.date.to_numpy()[visit_day]
    elapsed = (visit_day / horizon).clip(0, 1)

    # --- movies --------------------------------------------------------------------------------
    movies = _movies(rng, pd.DatetimeIndex(daily.date))
    opening = movies.opening.to_numpy()
    # showing: the films that opened in the 28 days before the visit
    slot = np.searchsorted(opening, dates, side="right") - 1 - rng.integers(0, 4, v)
    slot = np.clip(slot, 0, len(movies) - 1)
    movie = movies.movie.to_numpy()[slot].astype(object)
    spike_movie = daily.spike.to_numpy()[visit_day]
    in_spike = spike_movie != ""
    chosen = in_spike & (rng.random(v) < 0.8)
    movie[chosen] = spike_movie[chosen]

    # --- spend, promotions, campaigns -----------------------------------------------------------
    nu = rng.gamma(g.spend_q, 1.0 / g.spend_v, n)
    spend = rng.gamma(g.spend_p, 1.0, v) / nu[visit_customer]
    original_price = np.maximum(np.round(spend / 1000.0) * 1000.0, 20_000.0)
    promo_p = np.array([g.promotion_probability[x] for x in generation])[visit_customer]
    promo_p = np.where(one_timer[visit_customer], 1.0, promo_p)
    uses_promo = rng.random(v) < promo_p
    dd_share = (
        g.direct_discount_share_start
        + (g.direct_discount_share_end - g.direct_discount_share_start) * elapsed
    )
    u = rng.random(v)
    ctype = np.where(u < dd_share, 0, np.where(u < dd_share + (1 - dd_share) * 0.7, 1, 2))
    n_campaigns = (40, 18, 6)
    campaign_ids = [
        np.sort(rng.choice(np.arange(10_000, 80_000, 10), size=k, replace=False))
        for k in n_campaigns
    ]
    all_ids = np.concatenate(campaign_ids)
    campaign_ids = [all_ids[:40], all_ids[40:58], all_ids[58:]]
    campaign_table = pd.DataFrame(
        {
            "campaign_id": all_ids,
            "campaign_type": np.repeat(np.array(CAMPAIGN_TYPES), n_campaigns),
        }
    )
    pick = [ids[rng.integers(0, len(ids), v)] for ids in campaign_ids]
    campaign = np.select([ctype == 0, ctype == 1, ctype == 2], pick)
    campaign = np.where(uses_promo, campaign, 0)
    rate = rng.choice([0.2, 0.3, 0.4, 0.5], size=v)
    voucher = rng.choice([20_000.0, 30_000.0, 50_000.0], size=v)
    discount = np.select(
        [ctype == 0, ctype == 1, ctype == 2],
        [np.round(original_price * rate / 1000) * 1000, voucher, np.full(v, 10_000.0)],
    )
    discount = np.where(uses_promo, np.minimum(discount, original_price - 10_000.0), 0.0)

    # --- payment methods and devices ------------------------------------------------------------
    in_app = g.in_app_share_start + (g.in_app_share_end - g.in_app_share_start) * elapsed
    bank = 1.0 - in_app - g.cash_share - g.e_wallet_share
    u = rng.random(v)
    method_index = np.where(
        u < bank,
        0,
        np.where(
            u < bank + g.e_wallet_share,
            1,
            np.where(u < bank + g.e_wallet_share + g.cash_share, 3, 2),
        ),
    )
    method = np.array(PAYMENT_METHODS)[method_index]

    phone_id = np.array([f"{x:032x}" for x in rng.integers(0, 2**62, n, dtype=np.int64) * 7919])
    web_id = np.array([f"{x:032x}" for x in rng.integers(0, 2**62, n, dtype=np.int64) * 104729 + 1])
    u = rng.random(n)
    ios = u < g.ios_share
    placeholder = u > 1 - g.placeholder_model_share
    model = np.where(
        ios,
        np.array(IPHONES)[rng.integers(0, len(IPHONES), n)],
        np.array(ANDROIDS)[rng.integers(0, len(ANDROIDS), n)],
    ).astype(object)
    model[placeholder] = "devicemodel"
    website_from = pd.Timestamp(g.website_from).to_datetime64()
    web_visit = (visit_time >= website_from) & (rng.random(v) < g.website_share_2022)
    untracked = rng.random(v) < g.untracked_device_share
    untracked_id = np.array(
        [f"{x:032x}" for x in rng.integers(0, 2**62, v, dtype=np.int64) * 31 + 2]
    )
    device = np.where(web_visit, web_id[visit_customer], phone_id[visit_customer])
    device = np.where(untracked, untracked_id, device)
    used_phone = np.unique(visit_customer[~web_visit])
    used_web = np.unique(visit_customer[web_visit])
    devices = pd.concat(
        [
            pd.DataFrame(
                {
                    "device_number": phone_id[used_phone],
                    "model": model[used_phone],
                    "platform": "mobile",
                }
            ),
            pd.DataFrame({"device_number": web_id[used_web], "model": "h5", "platform": "website"}),
        ],
        ignore_index=True,
    )

    # --- failed attempts before a visit --------------------------------------------------------
    attempts = (rng.random(v) < g.failed_attempt_probability).astype(np.int64)
    attempts += (attempts > 0) & (rng.random(v) < 0.25)
    fail_visit = np.repeat(np.arange(v), attempts)
    f = fail_visit.size
    groups = list(g.error_group_shares)
    group = rng.choice(groups, size=f, p=np.array(list(g.error_group_shares.values())))
    by_group = {name: np.array([s for s, _d, grp in STATUSES if grp == name]) for name in groups}
    status = np.zeros(f, dtype=np.int64)
    for name in groups:
        mask = group == name
        status[mask] = rng.choice(by_group[name], size=int(mask.sum()))
    fail_time = visit_time[fail_visit] - rng.integers(1, 600, f).astype("timedelta64[s]")

    def frame(idx: np.ndarray, when: np.ndarray, status_id: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "customer_id": customer_id[visit_customer[idx]],
                "paying_method": method[idx],
                "theater_name": np.array(THEATERS)[visit_customer[idx] % len(THEATERS)],
                "device_number": device[idx],
                "original_price": original_price[idx],
                "discount_value": np.where(status_id == 1, discount[idx], 0.0),
                "final_price": original_price[idx] - np.where(status_id == 1, discount[idx], 0.0),
                "time": when,
                "status_id": status_id,
                "campaign_id": np.where(status_id == 1, campaign[idx], 0),
                "movie_name": movie[idx],
            }
        )

    tickets = pd.concat(
        [
            frame(np.arange(v), visit_time, np.ones(v, dtype=np.int64)),
            frame(fail_visit, fail_time, status),
        ],
        ignore_index=True,
    )
    tickets = tickets.sort_values("time", kind="stable").reset_index(drop=True)
    tickets.insert(0, "ticket_id", [f"T{i:09d}" for i in range(len(tickets))])
    tickets["time"] = pd.to_datetime(tickets["time"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    duplicates = min(g.duplicate_rows, len(tickets))
    if duplicates:
        extra = tickets.iloc[np.sort(rng.choice(len(tickets), size=duplicates, replace=False))]
        tickets = pd.concat([tickets, extra], ignore_index=True).sort_values(
            "ticket_id", kind="stable"
        )

    statuses = pd.DataFrame(STATUSES, columns=["status_id", "description", "error_group"])

    # --- truths ---------------------------------------------------------------------------------
    success = visit_customer  # one successful ticket per visit
    visit_frame = pd.DataFrame(
        {"c": success, "day": visit_day, "promo": uses_promo, "first": is_first}
    )
    per_customer = visit_frame.groupby("c").agg(days=("day", "nunique"), promos=("promo", "sum"))
    first_day_of = visit_frame.groupby("c")["day"].transform("min")
    first_promo = (
        visit_frame[visit_frame.day == first_day_of].groupby("c")["promo"].max().astype(bool)
    )
    returned = per_customer.days > 1
    gen_of_visit = generation[visit_customer]
    promotion_truth = {
        name: float(promo_p[gen_of_visit == name].mean())
        for name in gens
        if (gen_of_visit == name).any()
    }
    truth: dict[str, Any] = {
        "config": {k: v for k, v in asdict(g).items() if k != "spikes"},
        "customers_total": int(n),
        "customers_buying": int(buyers.size),
        "one_time_promotion_responders_planted": int(one_timer.sum()),
        "placeholder_birth_dates": int(not_verified.sum()),
        "duplicate_rows": int(duplicates),
        "tickets_written": int(len(tickets)),
        "successful_tickets": int(v),
        "failed_tickets": int(f),
        "missing_months": sorted(g.closed_months),
        "peak_hour": 19,
        "top_weekdays": ["Thursday", "Friday", "Saturday", "Sunday"],
        "spikes": [
            {"first_day": s[0], "days": s[1], "multiplier": s[2], "top_movie": s[3], "kind": s[4]}
            for s in g.spikes
        ],
        "website_from": g.website_from,
        "error_group_shares": g.error_group_shares,
        "ios_share_of_phones": g.ios_share,
        "promotion_probability_by_generation": promotion_truth,
        "in_app_share": {"start": g.in_app_share_start, "end": g.in_app_share_end},
        "direct_discount_share": {
            "start": g.direct_discount_share_start,
            "end": g.direct_discount_share_end,
        },
        "one_day_share": float((per_customer.days == 1).mean()),
        "one_day_with_promotion_share": float(
            ((per_customer.days == 1) & (per_customer.promos > 0)).mean()
        ),
        "acquisition": {
            "promotion": int(first_promo.sum()),
            "organic": int((~first_promo).sum()),
            "promotion_returned": int((first_promo & returned).sum()),
            "organic_returned": int((~first_promo & returned).sum()),
        },
        "bgnbd": {"r": g.bgnbd_r, "alpha": g.bgnbd_alpha, "a": g.bgnbd_a, "b": g.bgnbd_b},
        "gamma_gamma": {"p": g.spend_p, "q": g.spend_q, "v": g.spend_v},
    }
    tables = {
        "customer": customers,
        "ticket_history": tickets,
        "device_detail": devices,
        "campaign": campaign_table,
        "status_detail": statuses,
    }
    return tables, truth


def generate_customers(
    out_dir: str | Path,
    customers: int = 20_000,
    seed: int = 0,
    file_format: str = "csv",
    **options: Any,
) -> Path:
    """Write the five tables and ``truth.json`` into ``out_dir``; returns the folder.

    ``options`` are further :class:`CustomerGenerator` fields (for example
    ``closed_months=()`` or ``duplicate_rows=100``); ``file_format="parquet"`` writes Parquet
    (for large benchmarks).

    Example:
        >>> import tempfile
        >>> out = generate_customers(tempfile.mkdtemp(), customers=200, seed=2)
        >>> (out / "ticket_history.csv").read_text().splitlines()[0]
        'ticket_id,customer_id,paying_method,theater_name,device_number,original_price,discount_value,final_price,time,status_id,campaign_id,movie_name'
    """
    if "duplicate_rows" not in options:
        options["duplicate_rows"] = max(1, customers // 500)
    config = CustomerGenerator(customers=customers, seed=seed, **options)
    tables, truth = generate_customer_tables(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if file_format not in ("csv", "parquet"):
        raise InputError(f"file_format must be 'csv' or 'parquet', got {file_format!r}")
    for name, table in tables.items():
        if file_format == "parquet":
            table.to_parquet(out / f"{name}.parquet", index=False)
        else:
            table.to_csv(out / f"{name}.csv", index=False)
    (out / "truth.json").write_text(json.dumps(truth, indent=2, default=str) + "\n")
    return out


__all__ = ["CustomerGenerator", "generate_customer_tables", "generate_customers"]
