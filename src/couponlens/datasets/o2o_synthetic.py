"""Synthetic O2O coupon logs in the exact Tianchi layout, with a planted, learnable truth.

:func:`generate_o2o` writes a file that looks like ``ccf_offline_stage1_train.csv`` (or, with
``layout="test"``, like the 6-column test file) and is calibrated to the real figures in
DOMAIN §1: the record-class shares (coupon not used 55.7%, normal purchase 40.0%, coupon used
4.3%), the usage rate (about 0.0716), users, merchants and coupons per row, 96.8% of coupons
``x:y``, Distance 0..10 with about 6% nulls, receipts 2016-01-01..06-15 and purchases
2016-01-01..06-30, a calendar usage rate from about 3% (late January) to about 30% (late
March), heavy-tailed user and merchant activity, same-day repeated receipts of one coupon and a
group of coupon-only "shopping mania" users.

The planted truth. Every receipt has a true probability of being used within 15 days::

    p_ever   = sigmoid(day_intercept[day] + user + merchant + discount + distance)
    p_15     = WITHIN_15_DAYS_SHARE * p_ever          # the value written to the truth file

where ``user`` is a propensity kept by the user across all their receipts, ``merchant`` a
merchant effect, ``discount = DEPTH_EFFECT * (1 - converted rate) + threshold effect`` (deeper
discounts and low spend thresholds are used more), ``distance = DISTANCE_EFFECT * Distance``
(farther is used less) and ``day_intercept`` is solved per receipt day so that the expected
usage rate of that day follows the calendar curve. A receipt is used with probability
``p_ever``; a use falls within 15 days with probability ``WITHIN_15_DAYS_SHARE`` and later
otherwise (a late use past the end of the purchase period is not observed). So the 15-day label
of the competition is a Bernoulli draw with exactly the truth probability.

Everything is vectorised with NumPy and written with PyArrow; the same ``seed`` gives the same
bytes. The "world" (users, merchants, coupons and their effects) depends only on ``seed`` and
``world_rows``, so a train file and a test file generated with the same seed and world share
users, merchants, coupons, distances and propensities, as the real files do.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.o2o_synthetic import generate_o2o
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> summary = generate_o2o(2_000, seed=7, out=d / "o2o.csv", truth=d / "truth.csv")
    >>> summary.rows, summary.receipts + summary.normal_purchases
    (2000, 2000)
    >>> (d / "o2o.csv").read_text().splitlines()[0]
    'User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date'
    >>> (d / "truth.csv").read_text().splitlines()[0]
    'line_number,User_id,Coupon_id,Date_received,probability'
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from couponlens._results import Result
from couponlens.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# --- Calibration: the real train file (DOMAIN §1) ------------------------------------------
REAL_ROWS = 1_754_884
REAL_USERS = 539_438
REAL_MERCHANTS = 8_415
REAL_COUPONS = 9_738
REAL_RECEIPTS = 1_053_282  # coupon_not_used 977,900 + coupon_used 75,382
REAL_USED = 75_382
REAL_NULL_DISTANCE = 106_003
#: Coupon purchases / coupon receipts on the real file.
USAGE_RATE = REAL_USED / REAL_RECEIPTS
#: Share of coupons written ``x:y`` (the rest are plain rates).
SPEND_SAVE_COUPON_SHARE = 0.968
#: Share of rows with a null Distance.
NULL_DISTANCE_SHARE = REAL_NULL_DISTANCE / REAL_ROWS
#: Share of merchants that issue coupons (an assumption; DOMAIN does not give it).
COUPON_MERCHANT_SHARE = 0.6

TRAIN_HEADER = "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date"
TEST_HEADER = "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received"
TRUTH_HEADER = "line_number,User_id,Coupon_id,Date_received,probability"

#: Default first day: receipts run 167 days (to 06-15), purchases 182 days (to 06-30) and the
#: test layout's receipts the 31 days after that (2016-07).
DEFAULT_START = dt.date(2016, 1, 1)
RECEIPT_DAYS = 167
PURCHASE_DAYS = 182
TEST_DAYS = 31

# --- The planted model ---------------------------------------------------------------------
#: Share of uses that happen within 15 days of the receipt; the rest happen later.
WITHIN_15_DAYS_SHARE = 0.88
#: Logit effect per Distance unit (500 m).
DISTANCE_EFFECT = -0.3
#: Distance a null is treated as, for its effect.
NULL_DISTANCE_AS = 2.0
#: Logit effect per unit of discount depth (1 - converted rate).
DEPTH_EFFECT = 3.0
#: Logit effect per unit of log(spend threshold / 20) for ``x:y`` coupons.
THRESHOLD_EFFECT = -0.45
#: Logit effect of a plain rate coupon (no spend threshold).
NO_THRESHOLD_EFFECT = 0.2
#: Merchant effect: slope on the standardised log size, and the spread of the rest.
MERCHANT_SIZE_EFFECT = 0.3
MERCHANT_EFFECT_SD = 0.6

#: User kinds: (name, share of users, propensity mean, propensity sd, receipt weight, normal weight).
USER_KINDS: tuple[tuple[str, float, float, float, float, float], ...] = (
    ("normal_only", 0.25, 0.0, 0.0, 0.0, 1.0),
    ("coupon_casual", 0.503, -5.0, 0.8, 1.0, 0.0),
    ("mixed", 0.23, -1.0, 1.0, 1.5, 1.5),
    ("shopping_mania", 0.017, 1.5, 0.7, 2.0, 0.0),
)
_NORMAL_ONLY, _CASUAL, _MIXED, _MANIA = 0, 1, 2, 3

#: Coupon menu: ``x:y`` texts and their relative weights among coupons.
SPEND_SAVE_MENU: tuple[tuple[str, float], ...] = (
    ("30:5", 30.0),
    ("100:10", 14.0),
    ("200:20", 12.0),
    ("20:1", 8.0),
    ("20:5", 8.0),
    ("50:10", 6.0),
    ("10:1", 4.0),
    ("30:1", 4.0),
    ("50:5", 4.0),
    ("100:20", 3.0),
    ("150:20", 3.0),
    ("300:30", 2.0),
    ("200:30", 2.0),
    ("150:10", 1.5),
    ("100:30", 1.5),
    ("10:5", 1.5),
    ("150:5", 1.0),
    ("100:5", 1.0),
    ("50:1", 1.0),
    ("30:10", 1.0),
    ("5:1", 0.6),
    ("200:50", 0.6),
    ("100:50", 0.6),
    ("150:30", 0.6),
    ("20:10", 0.5),
    ("50:20", 0.5),
    ("150:50", 0.4),
    ("30:20", 0.3),
    ("200:10", 0.3),
    ("300:50", 0.3),
    ("200:5", 0.2),
    ("300:20", 0.2),
    ("200:100", 0.1),
    ("500:30", 0.1),
)
#: Plain-rate coupons and their relative weights.
RATE_MENU: tuple[tuple[str, float], ...] = (
    ("0.95", 35.0),
    ("0.9", 30.0),
    ("0.8", 22.0),
    ("0.85", 3.0),
    ("0.75", 3.0),
    ("0.7", 3.0),
    ("0.6", 1.5),
    ("0.5", 2.0),
    ("0.2", 0.5),
)

#: Observed usage rate by receipt day (days since start, rate); linear in between.
RATE_KNOTS: tuple[tuple[int, float], ...] = (
    (0, 0.09),
    (14, 0.07),
    (21, 0.04),
    (25, 0.03),
    (32, 0.03),
    (40, 0.05),
    (55, 0.08),
    (69, 0.14),
    (79, 0.26),
    (82, 0.30),
    (88, 0.30),
    (95, 0.16),
    (110, 0.09),
    (125, 0.07),
    (145, 0.06),
    (166, 0.06),
)
#: Usage rate of the test layout's month (days since its first day, rate).
TEST_RATE_KNOTS: tuple[tuple[int, float], ...] = ((0, 0.08), (30, 0.07))
#: Everyday receipt volume (days since start, relative volume); a pre-holiday campaign spike
#: (:data:`SPIKE_KNOTS`) is added on top, sized so that the overall usage rate is USAGE_RATE.
VOLUME_KNOTS: tuple[tuple[int, float], ...] = (
    (0, 0.5),
    (20, 0.8),
    (60, 0.7),
    (90, 0.9),
    (120, 1.4),
    (140, 1.8),
    (166, 1.3),
)
SPIKE_KNOTS: tuple[tuple[int, float], ...] = ((20, 0.0), (24, 1.0), (33, 1.0), (37, 0.0))
#: Relative volume by weekday (Monday first) for receipts and for normal purchases.
RECEIPT_WEEKDAY = (1.0, 0.95, 0.95, 1.0, 1.05, 1.1, 1.1)
PURCHASE_WEEKDAY = (0.9, 0.9, 0.92, 0.95, 1.05, 1.2, 1.15)
#: Relative number of normal purchases by day since start (a holiday dip in February).
PURCHASE_KNOTS: tuple[tuple[int, float], ...] = (
    (0, 0.8),
    (35, 0.9),
    (37, 0.55),
    (44, 0.55),
    (46, 0.9),
    (181, 1.2),
)
#: Distance distribution (0..10) of the real test file, non-null rows; mania users go farther.
DISTANCE_WEIGHTS = (43867, 18474, 9523, 5934, 4006, 2977, 2179, 1685, 1359, 1219, 10353)
MANIA_DISTANCE_TILT = 0.25
HOME_DISTANCE_TILT = -0.1
#: Within-15-day delay: truncated geometric with this daily use probability (coupon-only
#: users, who do not shop there otherwise, come in later).
DELAY_DAILY_P = 0.17
MANIA_DELAY_DAILY_P = 0.08
#: Delay of a late use: 16 + floor(Exponential(mean)).
LATE_DELAY_MEAN = 14.0
#: Share of receipts that get extra same-day copies (same user, coupon and day).
SAME_DAY_REPEAT_SHARE = 0.008
#: Probability that a receipt or purchase is at the user's home merchant.
HOME_RECEIPT_SHARE = 0.7
HOME_PURCHASE_SHARE = 0.75
#: Logit effect of a receipt at the user's home merchant (where they also shop).
HOME_MERCHANT_EFFECT = 3.5
#: Merchant sizes are lognormal with this spread (a few very popular merchants).
MERCHANT_SIZE_SD = 1.8


@dataclass(frozen=True, repr=False)
class O2OGenerationSummary(Result):
    """What :func:`generate_o2o` wrote: counts, realised rates and the planted parameters.

    ``usage_rate`` and ``usage_rate_15d`` are None for the test layout (it has no ``Date``).
    """

    path: str
    truth_path: str | None
    layout: str
    seed: int
    rows: int
    world_rows: int
    users: int
    merchants: int
    coupons: int
    receipts: int
    normal_purchases: int
    coupon_used: int | None
    coupon_used_15d: int | None
    usage_rate: float | None
    usage_rate_15d: float | None
    null_distance: int
    first_receipt: str
    last_receipt: str
    mean_truth_probability: float
    seconds: float
    planted: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _World:
    """Users, merchants and coupons with their planted effects (indices are positions)."""

    user_ids: IntArray
    user_kind: npt.NDArray[np.int8]
    user_propensity: FloatArray
    user_receipt_weight: FloatArray
    user_normal_weight: FloatArray
    user_home: IntArray
    merchant_ids: IntArray
    merchant_effect: FloatArray
    merchant_receipt_weight: FloatArray
    merchant_normal_weight: FloatArray
    coupon_ids: IntArray
    coupon_merchant: IntArray
    coupon_weight: FloatArray
    coupon_text: list[str]
    coupon_effect: FloatArray
    merchant_coupon_first: IntArray
    merchant_coupon_count: IntArray
    salt: np.uint64


# --- helpers -------------------------------------------------------------------------------


def _scaled(real: int, rows: int, minimum: int) -> int:
    return max(minimum, round(real * rows / REAL_ROWS))


def _curve(knots: tuple[tuple[int, float], ...], days: int) -> FloatArray:
    xs, ys = zip(*knots, strict=True)
    return np.interp(np.arange(days, dtype=np.float64), np.array(xs, float), np.array(ys, float))


def _weekday(start: dt.date, offset: int, days: int, factors: tuple[float, ...]) -> FloatArray:
    first = (start + dt.timedelta(days=offset)).weekday()
    return np.array(factors, dtype=np.float64)[(first + np.arange(days)) % 7]


def _ids(rng: np.random.Generator, n: int, typical_max: int) -> IntArray:
    """``n`` distinct positive ids spread up to about ``typical_max``, in random order."""
    mean_gap = max(1.0, typical_max / max(n, 1))
    gaps = 1 + rng.integers(0, max(1, int(2 * mean_gap - 1)), size=n)
    ids = np.cumsum(gaps).astype(np.int64)
    return rng.permutation(ids)


def _cover_then_sample(
    rng: np.random.Generator, rows: int, items: IntArray, weights: FloatArray
) -> IntArray:
    """Item indices for ``rows`` rows: every item of ``items`` once (as far as rows allow),
    the rest drawn with probability proportional to ``weights`` (over all items)."""
    forced = rng.permutation(items)[:rows]
    rest = rows - len(forced)
    drawn = rng.choice(len(weights), size=rest, p=weights / weights.sum()) if rest else forced[:0]
    out = np.concatenate([forced, drawn]).astype(np.int64)
    return out[rng.permutation(rows)]


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 finaliser: a fast, well-mixed hash of 64-bit keys."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _unit(h: npt.NDArray[np.uint64]) -> FloatArray:
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _converted_rate(text: str) -> tuple[float, float]:
    """(converted rate as the seed computes it, spend threshold or 0 for a plain rate)."""
    if ":" in text:
        spend, save = (float(part) for part in text.split(":"))
        return round((spend - save) / spend, 2), spend
    return float(text), 0.0


# --- the world -----------------------------------------------------------------------------


def _build_world(world_rows: int, rng: np.random.Generator) -> _World:
    n_users = _scaled(REAL_USERS, world_rows, 4)
    n_merchants = _scaled(REAL_MERCHANTS, world_rows, 2)
    n_coupon_merchants = min(n_merchants, max(1, round(n_merchants * COUPON_MERCHANT_SHARE)))
    n_coupons = max(n_coupon_merchants, _scaled(REAL_COUPONS, world_rows, 1))

    # Merchants: heavy-tailed sizes; a random COUPON_MERCHANT_SHARE of them issue coupons.
    size = rng.lognormal(0, MERCHANT_SIZE_SD, n_merchants)
    issues = np.zeros(n_merchants, dtype=bool)
    issues[rng.permutation(n_merchants)[:n_coupon_merchants]] = True
    receipt_weight = np.where(issues, size * rng.lognormal(0, 0.4, n_merchants), 0.0)
    normal_weight = size * rng.lognormal(0, 0.5, n_merchants)
    log_size = np.log(size)
    z_size = (log_size - log_size.mean()) / (log_size.std() or 1.0)
    merchant_effect = MERCHANT_SIZE_EFFECT * z_size + rng.normal(0, MERCHANT_EFFECT_SD, n_merchants)

    # Coupons: each issuing merchant has at least one; bigger merchants have more.
    coupon_merchants = np.flatnonzero(issues)
    extra_share = receipt_weight[coupon_merchants] ** 0.5
    extra = rng.multinomial(n_coupons - n_coupon_merchants, extra_share / extra_share.sum())
    per_merchant = np.zeros(n_merchants, dtype=np.int64)
    per_merchant[coupon_merchants] = 1 + extra
    coupon_merchant = np.repeat(np.arange(n_merchants, dtype=np.int64), per_merchant)
    first = np.concatenate([[0], np.cumsum(per_merchant)[:-1]]).astype(np.int64)
    within = rng.lognormal(0, 1.0, n_coupons)
    within_sum = np.bincount(coupon_merchant, within, minlength=n_merchants)
    coupon_weight = receipt_weight[coupon_merchant] * within / within_sum[coupon_merchant]

    # Discounts: SPEND_SAVE_COUPON_SHARE of coupons are x:y, the rest plain rates.
    n_rate = round(n_coupons * (1 - SPEND_SAVE_COUPON_SHARE))
    is_rate = np.zeros(n_coupons, dtype=bool)
    is_rate[rng.permutation(n_coupons)[:n_rate]] = True
    texts = np.empty(n_coupons, dtype=object)
    for menu, mask in ((SPEND_SAVE_MENU, ~is_rate), (RATE_MENU, is_rate)):
        names = [name for name, _ in menu]
        w = np.array([weight for _, weight in menu])
        texts[mask] = np.array(names, dtype=object)[
            rng.choice(len(names), int(mask.sum()), p=w / w.sum())
        ]
    menu_effect = {}
    for name, _ in SPEND_SAVE_MENU + RATE_MENU:
        rate, threshold = _converted_rate(name)
        effect = DEPTH_EFFECT * (1 - rate)
        effect += THRESHOLD_EFFECT * np.log(threshold / 20) if threshold else NO_THRESHOLD_EFFECT
        menu_effect[name] = float(effect)
    coupon_effect = np.array([menu_effect[t] for t in texts], dtype=np.float64)

    # Users: kinds, propensities, activity weights (heavy-tailed) and a home merchant.
    shares = np.array([kind[1] for kind in USER_KINDS])
    counts = np.floor(shares * n_users).astype(np.int64)
    counts[_CASUAL] += n_users - counts.sum()
    counts[_MIXED] = max(counts[_MIXED], 1)
    counts[_CASUAL] = n_users - counts[_NORMAL_ONLY] - counts[_MIXED] - counts[_MANIA]
    kind = rng.permutation(np.repeat(np.arange(len(USER_KINDS), dtype=np.int8), counts))
    params = np.array([k[2:] for k in USER_KINDS])
    activity = rng.lognormal(0, 1.1, n_users)
    propensity = params[kind, 0] + params[kind, 1] * rng.standard_normal(n_users)
    user_receipt_weight = activity * params[kind, 2]
    user_normal_weight = activity * params[kind, 3]
    home_by_receipts = rng.choice(n_merchants, n_users, p=receipt_weight / receipt_weight.sum())
    home_by_purchases = rng.choice(n_merchants, n_users, p=normal_weight / normal_weight.sum())
    home = np.where(kind == _NORMAL_ONLY, home_by_purchases, home_by_receipts).astype(np.int64)

    return _World(
        user_ids=_ids(rng, n_users, 7_360_000),
        user_kind=kind,
        user_propensity=propensity,
        user_receipt_weight=user_receipt_weight,
        user_normal_weight=user_normal_weight,
        user_home=home,
        merchant_ids=_ids(rng, n_merchants, 8_856),
        merchant_effect=merchant_effect,
        merchant_receipt_weight=receipt_weight,
        merchant_normal_weight=normal_weight,
        coupon_ids=_ids(rng, n_coupons, 14_045),
        coupon_merchant=coupon_merchant,
        coupon_weight=coupon_weight,
        coupon_text=[str(t) for t in texts],
        coupon_effect=coupon_effect,
        merchant_coupon_first=first,
        merchant_coupon_count=per_merchant,
        salt=np.uint64(rng.integers(0, 2**63 - 1)),
    )


def _pair_distance(world: _World, user: IntArray, merchant: IntArray) -> IntArray:
    """Distance of a (user, merchant) pair, the same every time the pair occurs; -1 is null."""
    n_merchants = np.uint64(len(world.merchant_ids))
    key = user.astype(np.uint64) * n_merchants + merchant.astype(np.uint64) + world.salt
    h1 = _splitmix(key)
    h2 = _splitmix(h1 ^ np.uint64(0x5851F42D4C957F2D))
    # Users live near their home merchant; mania users travel farther.
    tilt = np.where(world.user_home[user] == merchant, HOME_DISTANCE_TILT, 0.0)
    tilt = tilt + np.where(world.user_kind[user] == _MANIA, MANIA_DISTANCE_TILT, 0.0)
    base = np.array(DISTANCE_WEIGHTS, dtype=np.float64)
    u = _unit(h1)
    distance = np.zeros(len(user), dtype=np.int64)
    for value in np.unique(tilt):
        weights = base * np.exp(value * np.arange(len(base)))
        cdf = np.cumsum(weights) / weights.sum()
        rows = tilt == value
        distance[rows] = np.searchsorted(cdf, u[rows], side="right")
    distance = np.minimum(distance, len(base) - 1)
    return np.where(_unit(h2) < NULL_DISTANCE_SHARE, -1, distance)


def _coupons_for(world: _World, rng: np.random.Generator, user: IntArray) -> IntArray:
    """A coupon for each receipt: at the user's home merchant or drawn over all coupons."""
    n = len(user)
    weights = world.coupon_weight
    drawn = rng.choice(len(weights), size=n, p=weights / weights.sum())
    home = world.user_home[user]
    at_home = (rng.random(n) < HOME_RECEIPT_SHARE) & (world.merchant_coupon_count[home] > 0)
    # Weighted draw inside the home merchant: search the cumulative coupon weights.
    cum = np.cumsum(weights)
    lo = np.where(world.merchant_coupon_first > 0, cum[world.merchant_coupon_first - 1], 0.0)
    mass = world.merchant_receipt_weight
    target = lo[home] + rng.random(n) * mass[home]
    local = np.searchsorted(cum, target, side="right")
    last = world.merchant_coupon_first[home] + np.maximum(world.merchant_coupon_count[home], 1) - 1
    local = np.clip(local, world.merchant_coupon_first[home], last)
    return np.where(at_home, local, drawn).astype(np.int64)


def _day_intercepts(day: IntArray, x: FloatArray, target: FloatArray) -> FloatArray:
    """Per-day intercepts a[d] with mean(sigmoid(a[d] + x)) = target[d] (Newton steps)."""
    days = len(target)
    n = np.bincount(day, minlength=days).astype(np.float64)
    present = n > 0
    mean_x = np.bincount(day, x, minlength=days) / np.maximum(n, 1)
    a = np.log(target / (1 - target)) - mean_x
    for _ in range(30):
        s = _sigmoid(a[day] + x)
        f = np.bincount(day, s, minlength=days) / np.maximum(n, 1) - target
        slope = np.bincount(day, s * (1 - s), minlength=days) / np.maximum(n, 1)
        step = np.where(present, f / np.maximum(slope, 1e-12), 0.0)
        a -= np.clip(step, -5, 5)
        if np.max(np.abs(np.where(present, f, 0.0))) < 1e-10:
            break
    return a


def _late_fits(days_left: FloatArray) -> FloatArray:
    """P(a late delay 16 + floor(Exp(mean)) <= days_left)."""
    return np.where(days_left >= 16, 1 - np.exp(-(days_left - 15) / LATE_DELAY_MEAN), 0.0)


def _receipt_volume(start: dt.date) -> FloatArray:
    """Receipt volume by day: everyday curve plus the campaign spike, sized for USAGE_RATE."""
    rate = _curve(RATE_KNOTS, RECEIPT_DAYS)
    week = _weekday(start, 0, RECEIPT_DAYS, RECEIPT_WEEKDAY)
    base = _curve(VOLUME_KNOTS, RECEIPT_DAYS) * week
    spike = _curve(SPIKE_KNOTS, RECEIPT_DAYS) * week
    k = float(np.sum(base * (rate - USAGE_RATE)) / np.sum(spike * (USAGE_RATE - rate)))
    volume = base + k * spike
    return volume / volume.sum()


def _planted() -> dict[str, float]:
    return {
        "within_15_days_share": WITHIN_15_DAYS_SHARE,
        "distance_effect_per_unit": DISTANCE_EFFECT,
        "depth_effect_per_unit": DEPTH_EFFECT,
        "threshold_effect_per_log_unit": THRESHOLD_EFFECT,
        "no_threshold_effect": NO_THRESHOLD_EFFECT,
        "home_merchant_effect": HOME_MERCHANT_EFFECT,
        "merchant_size_effect": MERCHANT_SIZE_EFFECT,
        "merchant_effect_sd": MERCHANT_EFFECT_SD,
        **{f"user_propensity_mean_{k[0]}": k[2] for k in USER_KINDS if k[4] > 0},
        **{f"user_propensity_sd_{k[0]}": k[3] for k in USER_KINDS if k[4] > 0},
        "target_usage_rate": USAGE_RATE,
    }


# --- writing -------------------------------------------------------------------------------


def _text_table(values: list[str]) -> pa.Array:
    """Strings for positions 0..n-1 plus ``null`` at position n (for index -1 mapped to n)."""
    return pa.array([*values, "null"], type=pa.string())


def _take(table: pa.Array, index: IntArray) -> pa.Array:
    n = len(table) - 1
    return pc.take(table, pa.array(np.where(index < 0, n, index)))


def _write_csv(path: Path, header: str, columns: list[pa.Array]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    names = [f"c{i}" for i in range(len(columns))]
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none", batch_size=1 << 16)
    with tmp.open("wb") as handle:
        handle.write((header + "\n").encode())
        pa_csv.write_csv(pa.table(columns, names=names), handle, write_options=options)
    tmp.replace(path)


def _date_texts(start: dt.date, days: int) -> list[str]:
    return [(start + dt.timedelta(days=d)).strftime("%Y%m%d") for d in range(days)]


# --- the generator -------------------------------------------------------------------------


def generate_o2o(
    rows: int,
    seed: int,
    out: str | Path,
    truth: str | Path | None = None,
    *,
    layout: str = "train",
    start: dt.date = DEFAULT_START,
    world_rows: int | None = None,
) -> O2OGenerationSummary:
    """Write a synthetic O2O coupon log in the Tianchi layout, and optionally its truth file.

    Args:
        rows: data rows to write (the real train file has 1,754,884).
        seed: the random seed; the same arguments give the same bytes.
        out: the CSV to write (``null`` for nulls, dates ``yyyymmdd``, LF line endings).
        truth: optional CSV ``line_number,User_id,Coupon_id,Date_received,probability`` with
            one row per receipt: its physical line in ``out`` (the header is line 1) and its
            true probability of being used within 15 days.
        layout: ``"train"`` (7 columns, receipts start..+166 days, purchases to +181 days) or
            ``"test"`` (6 columns, receipts in the 31 days after the train period).
        start: the first day of the train period (2016-01-01 like the real file).
        world_rows: size of the train file whose users, merchants and coupons to use (default
            ``rows``); give a test file the train file's ``rows`` and ``seed`` to share its world.

    Returns:
        :class:`O2OGenerationSummary`.

    Raises:
        InputError: ``rows`` or ``world_rows`` below 100, a negative seed, an unknown layout, or
            ``truth`` the same file as ``out``.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> s = generate_o2o(1_000, seed=1, out=d / "test.csv", layout="test")
        >>> (s.layout, s.receipts, s.usage_rate)
        ('test', 1000, None)
    """
    began = time.perf_counter()
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < 100:
        raise InputError(f"rows: expected a whole number of at least 100, got {rows!r}")
    world_rows = rows if world_rows is None else world_rows
    if (
        isinstance(world_rows, bool)
        or not isinstance(world_rows, int | np.integer)
        or world_rows < 100
    ):
        raise InputError(f"world_rows: expected a whole number of at least 100, got {world_rows!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed: expected a whole number >= 0, got {seed!r}")
    if layout not in ("train", "test"):
        raise InputError(f"layout: expected 'train' or 'test', got {layout!r}")
    out = Path(out)
    truth = Path(truth) if truth is not None else None
    if truth is not None and truth.resolve() == out.resolve():
        raise InputError(f"{truth}: the truth file must differ from the output file")
    if out.is_dir():
        raise InputError(f"{out}: is a folder; expected a file name such as o2o.csv")

    world_seq, train_seq, test_seq = np.random.SeedSequence(int(seed)).spawn(3)
    world = _build_world(int(world_rows), np.random.default_rng(world_seq))
    rows = int(rows)
    if layout == "train":
        events = _train_events(world, np.random.default_rng(train_seq), rows, start)
        day_offset, n_days = 0, PURCHASE_DAYS
    else:
        events = _test_events(world, np.random.default_rng(test_seq), rows, start)
        day_offset, n_days = PURCHASE_DAYS, TEST_DAYS
    user, merchant, coupon, distance, received, purchased, probability = events

    # Group rows by user (users in random order), as the real file is; random order within.
    rng_order = np.random.default_rng(np.random.SeedSequence([int(seed), 99, rows]))
    user_rank = rng_order.permutation(len(world.user_ids)).astype(np.int64)
    key = user_rank[user] * (1 << 32) + rng_order.integers(0, 1 << 31, size=rows)
    order = np.argsort(key, kind="stable")
    user, merchant, coupon, distance = user[order], merchant[order], coupon[order], distance[order]
    received, purchased, probability = received[order], purchased[order], probability[order]

    dates = _text_table(_date_texts(start, day_offset + n_days))
    columns = [
        _take(_text_table(world.user_ids.astype(str).tolist()), user),
        _take(_text_table(world.merchant_ids.astype(str).tolist()), merchant),
        _take(_text_table(world.coupon_ids.astype(str).tolist()), coupon),
        _take(_text_table(world.coupon_text), coupon),
        _take(_text_table([str(d) for d in range(len(DISTANCE_WEIGHTS))]), distance),
        _take(dates, received),
    ]
    if layout == "train":
        columns.append(_take(dates, purchased))
    _write_csv(out, TRAIN_HEADER if layout == "train" else TEST_HEADER, columns)

    is_receipt = coupon >= 0
    if truth is not None:
        lines = np.flatnonzero(is_receipt).astype(np.int64) + 2
        _write_csv(
            truth,
            TRUTH_HEADER,
            [
                pa.array(lines),
                columns[0].filter(pa.array(is_receipt)),
                columns[2].filter(pa.array(is_receipt)),
                columns[5].filter(pa.array(is_receipt)),
                pa.array(probability[is_receipt]),
            ],
        )

    n_receipts = int(is_receipt.sum())
    used = is_receipt & (purchased >= 0)
    used_15 = used & (purchased - received <= 15)
    received_days = received[is_receipt]
    train = layout == "train"
    summary_dates = _date_texts(start, day_offset + n_days)

    def iso(day: int) -> str:
        text = summary_dates[day]
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"

    return O2OGenerationSummary(
        path=str(out),
        truth_path=str(truth) if truth is not None else None,
        layout=layout,
        seed=int(seed),
        rows=rows,
        world_rows=int(world_rows),
        users=int(np.count_nonzero(np.bincount(user))),
        merchants=int(np.count_nonzero(np.bincount(merchant))),
        coupons=int(np.count_nonzero(np.bincount(coupon[is_receipt]))) if is_receipt.any() else 0,
        receipts=n_receipts,
        normal_purchases=rows - n_receipts,
        coupon_used=int(used.sum()) if train else None,
        coupon_used_15d=int(used_15.sum()) if train else None,
        usage_rate=float(used.sum() / n_receipts) if train and n_receipts else None,
        usage_rate_15d=float(used_15.sum() / n_receipts) if train and n_receipts else None,
        null_distance=int((distance < 0).sum()),
        first_receipt=iso(int(received_days.min())),
        last_receipt=iso(int(received_days.max())),
        mean_truth_probability=float(probability[is_receipt].mean()),
        seconds=round(time.perf_counter() - began, 3),
        planted=_planted(),
    )


_Events = tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray, FloatArray]


def _receipts(
    world: _World,
    user: IntArray,
    coupon: IntArray,
    day: IntArray,
    rate_target: FloatArray,
    days_left: FloatArray,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Merchant, distance, p_ever and p_15 for receipts whose user, coupon and day are set."""
    merchant = world.coupon_merchant[coupon]
    distance = _pair_distance(world, user, merchant)
    effective_distance = np.where(distance < 0, NULL_DISTANCE_AS, distance).astype(np.float64)
    x = (
        world.user_propensity[user]
        + world.merchant_effect[merchant]
        + world.coupon_effect[coupon]
        + DISTANCE_EFFECT * effective_distance
        + HOME_MERCHANT_EFFECT * (world.user_home[user] == merchant)
    )
    # The observed daily rate counts late uses only when they fall inside the purchase period.
    observed_share = WITHIN_15_DAYS_SHARE + (1 - WITHIN_15_DAYS_SHARE) * _late_fits(days_left)
    target = np.clip(rate_target / observed_share, 1e-4, 0.95)
    intercept = _day_intercepts(day, x, target)
    p_ever = _sigmoid(intercept[day] + x)
    return merchant, distance, p_ever, WITHIN_15_DAYS_SHARE * p_ever


def _train_events(world: _World, rng: np.random.Generator, rows: int, start: dt.date) -> _Events:
    n_receipts = min(rows - 1, max(1, round(rows * REAL_RECEIPTS / REAL_ROWS)))
    n_normal = rows - n_receipts
    n_repeat = round(n_receipts * SAME_DAY_REPEAT_SHARE)
    n_base = n_receipts - n_repeat

    # Receipts: every coupon-receiving user and every coupon at least once.
    receipt_users = np.flatnonzero(world.user_receipt_weight > 0)
    user = _cover_then_sample(rng, n_base, receipt_users, world.user_receipt_weight)
    coupon = _coupons_for(world, rng, user)
    forced = rng.permutation(n_base)[: len(world.coupon_ids)]
    coupon[forced] = rng.permutation(len(world.coupon_ids))[: len(forced)]
    day = rng.choice(RECEIPT_DAYS, size=n_base, p=_receipt_volume(start)).astype(np.int64)
    # Same-day repeats: extra copies of some receipts (same user, coupon and day).
    copies = rng.choice(n_base, size=n_repeat)
    user, coupon, day = (np.concatenate([a, a[copies]]) for a in (user, coupon, day))

    days_left = (PURCHASE_DAYS - 1 - np.arange(RECEIPT_DAYS)).astype(np.float64)
    merchant, distance, p_ever, p_15 = _receipts(
        world, user, coupon, day, _curve(RATE_KNOTS, RECEIPT_DAYS), days_left
    )

    # Realised uses: used with p_ever; within 15 days with WITHIN_15_DAYS_SHARE, else later.
    used = rng.random(n_receipts) < p_ever
    late = rng.random(n_receipts) >= WITHIN_15_DAYS_SHARE
    coupon_only = world.user_normal_weight[user] == 0
    daily_p = np.where(coupon_only, MANIA_DELAY_DAILY_P, DELAY_DAILY_P)
    top = 1 - (1 - daily_p) ** 16
    early_delay = np.floor(np.log1p(-rng.random(n_receipts) * top) / np.log1p(-daily_p))
    late_delay = 16 + np.floor(rng.exponential(LATE_DELAY_MEAN, n_receipts))
    delay = np.where(late, late_delay, np.minimum(early_delay, 15)).astype(np.int64)
    purchased = np.where(used, day + delay, -1)
    purchased = np.where(purchased > PURCHASE_DAYS - 1, -1, purchased)

    # Normal purchases: every purchasing user and every non-issuing merchant at least once.
    buyers = np.flatnonzero(world.user_normal_weight > 0)
    n_user = _cover_then_sample(rng, n_normal, buyers, world.user_normal_weight)
    weights = world.merchant_normal_weight
    n_merchant = np.where(
        rng.random(n_normal) < HOME_PURCHASE_SHARE,
        world.user_home[n_user],
        rng.choice(len(weights), size=n_normal, p=weights / weights.sum()),
    ).astype(np.int64)
    no_coupons = np.flatnonzero(world.merchant_coupon_count == 0)
    forced = rng.permutation(n_normal)[: len(no_coupons)]
    n_merchant[forced] = rng.permutation(no_coupons)[: len(forced)]
    volume = _curve(PURCHASE_KNOTS, PURCHASE_DAYS) * _weekday(
        start, 0, PURCHASE_DAYS, PURCHASE_WEEKDAY
    )
    n_day = rng.choice(PURCHASE_DAYS, size=n_normal, p=volume / volume.sum()).astype(np.int64)
    n_distance = _pair_distance(world, n_user, n_merchant)

    none = np.full(n_normal, -1, dtype=np.int64)
    return (
        np.concatenate([user, n_user]),
        np.concatenate([merchant, n_merchant]),
        np.concatenate([coupon, none]),
        np.concatenate([distance, n_distance]),
        np.concatenate([day, none]),
        np.concatenate([purchased, n_day]),
        np.concatenate([p_15, np.full(n_normal, np.nan)]),
    )


def _test_events(world: _World, rng: np.random.Generator, rows: int, start: dt.date) -> _Events:
    weights = world.user_receipt_weight
    user = rng.choice(len(weights), size=rows, p=weights / weights.sum()).astype(np.int64)
    coupon = _coupons_for(world, rng, user)
    volume = _weekday(start, PURCHASE_DAYS, TEST_DAYS, RECEIPT_WEEKDAY)
    day = rng.choice(TEST_DAYS, size=rows, p=volume / volume.sum()).astype(np.int64)
    n_repeat = round(rows * SAME_DAY_REPEAT_SHARE)
    if n_repeat:
        copies = rng.choice(rows - n_repeat, size=n_repeat)
        keep = rows - n_repeat
        user, coupon, day = (
            np.concatenate([a[:keep], a[:keep][copies]]) for a in (user, coupon, day)
        )
    # In the test month every use can still be seen: the whole target is the rate.
    merchant, distance, _, p_15 = _receipts(
        world,
        user,
        coupon,
        day,
        _curve(TEST_RATE_KNOTS, TEST_DAYS),
        np.full(TEST_DAYS, 1e9),
    )
    none = np.full(rows, -1, dtype=np.int64)
    return user, merchant, coupon, distance, day + PURCHASE_DAYS, none, p_15


__all__ = ["O2OGenerationSummary", "generate_o2o"]
