"""Findings sentences for the O2O report, generated from the numbers of an :class:`O2OAnalysis`.

Every sentence is built from the result objects: percentages with their 95% intervals and
counts, correlations with p-value, interval and n, and the word "significant" only where a
test says so (5% level).

Example:
    >>> fmt_p(0.0004), fmt_p(0.2712), pct(0.07157)
    ('p < 0.001', 'p = 0.27', '7.2%')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from couponlens.analysis.o2o_breakdown import RATE_COUPON_LABEL, UNKNOWN_DISTANCE
from couponlens.analysis.o2o_common import OK, Proportion
from couponlens.analysis.o2o_merchants import Correlation

if TYPE_CHECKING:
    from couponlens.analysis.o2o import O2OAnalysis
    from couponlens.analysis.o2o_habits import PurchaseBreakdown
    from couponlens.analysis.o2o_patterns import UsageBreakdown

#: Significance level the findings use.
ALPHA = 0.05
#: Groups smaller than this are left out when a finding names the highest and lowest rate.
MIN_GROUP = 100


def pct(value: float | None, digits: int = 1) -> str:
    """``0.0716`` -> ``"7.2%"``; None -> ``"n/a"``."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def num(value: int | float | None) -> str:
    """A count with thousands separators."""
    return "n/a" if value is None else f"{value:,}"


def fmt_p(p: float | None) -> str:
    """A p-value as text: ``p < 0.001`` or ``p = 0.27`` (two significant digits)."""
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def ci(p: Proportion) -> str:
    """``95% CI 7.1% to 7.2%`` for a proportion."""
    return f"95% CI {pct(p.ci_low)} to {pct(p.ci_high)}"


def _reason(status: str) -> str:
    return status.split(": ", 1)[1] if ": " in status else status


def _record_classes(a: O2OAnalysis) -> list[str]:
    rc = a.record_classes
    if rc.status != OK:
        return []
    s = rc.shares
    text = (
        f"Of {num(rc.records)} records, {num(rc.coupon_not_used)} ({pct(s['coupon_not_used'])}) "
        f"are coupons received and not used, {num(rc.normal_purchase)} "
        f"({pct(s['normal_purchase'])}) are normal purchases and {num(rc.coupon_used)} "
        f"({pct(s['coupon_used'])}) are purchases with a coupon."
    )
    if rc.no_coupon_no_purchase:
        text += (
            f" {num(rc.no_coupon_no_purchase)} records have neither a coupon nor a purchase "
            "and record nothing."
        )
    return [text]


def _usage(a: O2OAnalysis) -> list[str]:
    overall, within = a.usage.overall, a.usage.within_window
    if overall.rate is None:
        return []
    lead = "Only " if overall.rate < 0.10 else ""
    text = (
        f"{lead}{pct(overall.rate)} of coupons issued were used ({ci(overall)}; "
        f"{num(overall.successes)} of {num(overall.trials)})"
    )
    if within.rate is not None:
        text += f", and {pct(within.rate)} within {a.window_days} days of receipt ({ci(within)})"
    return [text + "."]


_PAIR_TEXT = {
    "distance": ("distinct coupon users", "mean distance"),
    "discount": ("distinct coupon users", "mean discount"),
    "distance_discount": ("mean distance", "mean discount"),
}


def _correlation(key: str, c: Correlation, merchants: int) -> str:
    x, y = _PAIR_TEXT.get(key, (c.x, c.y))
    if c.status != OK or c.r is None:
        return (
            f"Among the {merchants} popular merchants, the correlation of {x} with {y} is "
            f"not estimable: {_reason(c.status)}."
        )
    verdict = "significant" if c.significant else "not significant"
    spearman = "" if c.spearman_r is None else f"; Spearman rho = {c.spearman_r:.2f}"
    return (
        f"Among the {merchants} popular merchants, {x} correlate with {y} at r = {c.r:.2f} "
        f"(95% CI {c.ci_low:.2f} to {c.ci_high:.2f}, {fmt_p(c.p)}, n = {c.n}{spearman}): "
        f"{verdict} at the {ALPHA:.0%} level."
    )


def _popular(a: O2OAnalysis) -> list[str]:
    pm = a.popular_merchants
    if len(pm.merchants) == 0:
        return [f"No merchant has more than {num(pm.threshold)} distinct coupon users."]
    top = pm.merchants.iloc[0]
    out = [
        f"{len(pm.merchants)} merchant{'s have' if len(pm.merchants) != 1 else ' has'} more than "
        f"{num(pm.threshold)} distinct coupon users (the most: merchant {int(top['merchant_id'])} "
        f"with {num(int(top['coupon_users']))})."
    ]
    n = len(pm.merchants)
    out += [_correlation(k, c, n) for k, c in pm.correlations.items()]
    drivers = [pm.correlations.get("distance"), pm.correlations.get("discount")]
    if all(c is not None and c.status == OK and not c.significant for c in drivers):
        out.append(
            f"With only {n} popular merchants, neither correlation is distinguishable from zero: "
            "these data do not show that a merchant's popularity is driven by distance or discount."
        )
    return out


def _mania(a: O2OAnalysis) -> list[str]:
    sm = a.shopping_mania
    if sm.status != OK or sm.users is None:
        return []
    m, al = sm.mania, sm.all_coupon_purchases

    def pair(x: float | None, y: float | None, digits: int) -> str:
        show = [("n/a" if v is None else f"{v:.{digits}f}") for v in (x, y)]
        return f"{show[0]} vs {show[1]}"

    out = [
        f"{num(sm.users)} users bought with a coupon at some merchant and never without one there "
        f"(the seed's shopping_mania), with {num(sm.records)} coupon purchases. Compared with all "
        f"{num(al.records)} coupon purchases: mean discount {pair(m.mean_discount, al.mean_discount, 3)}, "
        f"mean distance {pair(m.mean_distance, al.mean_distance, 2)}, mean days from receipt to "
        f"use {pair(m.mean_days_to_use, al.mean_days_to_use, 1)}."
    ]
    if sm.coupon_users:
        share = (sm.strict_users or 0) / sm.coupon_users
        out.append(
            f"Under the strict definition (no normal purchase anywhere), {num(sm.strict_users)} "
            f"users ({pct(share)} of the {num(sm.coupon_users)} users who used a coupon) rely on "
            "coupons alone."
        )
    return out


def _daily(a: O2OAnalysis) -> list[str]:
    frame = a.daily.frame
    if a.daily.status != OK or frame.empty:
        return []
    big = frame[frame["issued"] >= MIN_GROUP]
    note = f" (days with at least {MIN_GROUP} coupons issued)" if len(big) else ""
    use = big if len(big) else frame
    low, high = use.loc[use["usage_rate"].idxmin()], use.loc[use["usage_rate"].idxmax()]
    return [
        f"By receipt date{note}, the daily usage rate ranges from {pct(low['usage_rate'])} "
        f"({low['date'].isoformat()}, {num(int(low['issued']))} issued) to "
        f"{pct(high['usage_rate'])} ({high['date'].isoformat()}, {num(int(high['issued']))} issued)."
    ]


def _group_name(dimension: str, group: str) -> str:
    if dimension == "distance":
        return "an unknown distance" if group == UNKNOWN_DISTANCE else f"distance {group}"
    if dimension == "discount_rate":
        return f"discount rate {group}"
    if dimension == "spend_threshold":
        return "plain-rate coupons" if group == RATE_COUPON_LABEL else f"spend threshold {group}"
    return f"receipts on {group}" if dimension == "weekday" else str(group)


_DIMENSION_TEXT = {
    "distance": "distance",
    "discount_rate": "discount rate",
    "spend_threshold": "spend threshold",
    "weekday": "day of week of receipt",
}


def _extremes(frame: pd.DataFrame, rate: str, size: str) -> tuple[pd.Series, pd.Series] | None:
    rows = frame[frame[rate].notna()]
    big = rows[rows[size] >= MIN_GROUP]
    rows = big if len(big) >= 2 else rows
    if len(rows) < 2:
        return None
    return rows.loc[rows[rate].idxmax()], rows.loc[rows[rate].idxmin()]


def _usage_pattern(b: UsageBreakdown) -> list[str]:
    if b.status != OK:
        return []
    ends = _extremes(b.frame, "usage_rate", "issued")
    if ends is None:
        return []
    high, low = ends
    what = _DIMENSION_TEXT.get(b.dimension, b.dimension)

    def part(row: pd.Series) -> str:
        return (
            f"{_group_name(b.dimension, str(row['group']))} ({pct(row['usage_rate'])}, "
            f"95% CI {pct(row['ci_low'])} to {pct(row['ci_high'])}, {num(int(row['issued']))} issued)"
        )

    if b.test.p is not None and b.test.p < ALPHA:
        head = f"The usage rate differs by {what} (chi-square {fmt_p(b.test.p)})"
    elif b.test.p is not None:
        head = (
            f"The usage rate does not differ significantly by {what} (chi-square {fmt_p(b.test.p)})"
        )
    else:
        head = f"By {what}"
    return [f"{head}: highest for {part(high)}, lowest for {part(low)}."]


def _days(a: O2OAnalysis) -> list[str]:
    d = a.days_to_use
    if d.status != OK or d.mean is None:
        return []
    return [
        f"Used coupons were used on average {d.mean:.1f} days after receipt (median {d.median:g}, "
        f"90th percentile {d.p90:g}); {pct(d.within_window.rate)} of uses came within "
        f"{d.window_days} days ({ci(d.within_window)})."
    ]


def _purchases(b: PurchaseBreakdown) -> list[str]:
    if b.status != OK or b.frame.empty:
        return []
    frame = b.frame
    if b.dimension == "weekday":
        high = frame.loc[frame["share"].idxmax()]
        low = frame.loc[frame["share"].idxmin()]
        text = (
            f"Purchases peak on {high['group']} ({pct(high['share'])} of purchases) and are fewest "
            f"on {low['group']} ({pct(low['share'])})"
        )
    else:
        known = frame[frame["group"] != UNKNOWN_DISTANCE]
        if known.empty:
            return []
        near = int(known.loc[known["group"] == "0", "purchases"].sum())
        text = (
            f"{pct(near / known['purchases'].sum())} of purchases with a known distance are made "
            "under 500 m from the store (distance 0)"
        )
    ends = _extremes(frame, "coupon_share", "purchases")
    if ends is not None:
        high, low = ends
        label = "day" if b.dimension == "weekday" else "distance"
        text += (
            f"; the share made with a coupon ranges from {pct(low['coupon_share'])} "
            f"({label} {low['group']}) to {pct(high['coupon_share'])} ({label} {high['group']})"
        )
        if b.coupon_share_test.p is not None:
            text += f", chi-square {fmt_p(b.coupon_share_test.p)}"
    return [text + "."]


def _per_user(a: O2OAnalysis) -> list[str]:
    u = a.purchases_per_user
    if u.status != OK or not u.buyers:
        return []
    c, n = u.coupon_purchases_per_buyer, u.normal_purchases_per_buyer
    return [
        f"Of {num(u.buyers)} buyers, {num(u.only_normal)} ({pct((u.only_normal or 0) / u.buyers)}) "
        f"never used a coupon, {num(u.only_coupon)} ({pct((u.only_coupon or 0) / u.buyers)}) bought "
        f"only with coupons and {num(u.both)} did both; a buyer makes on average "
        f"{(n.mean or 0):.2f} normal and {(c.mean or 0):.2f} coupon purchases."
    ]


def o2o_findings(analysis: O2OAnalysis) -> list[str]:
    """The findings of an O2O analysis, as sentences built from its numbers."""
    a = analysis
    if not a.has_purchase_dates:
        daily = a.daily.frame
        span = ""
        if not daily.empty:
            span = (
                f" received {daily['date'].min().isoformat()} to {daily['date'].max().isoformat()}"
            )
        return [
            f"The file has no Date column (the test layout), so coupon use cannot be measured: it "
            f"holds {num(a.record_classes.coupon_receipts)} coupon receipts{span}. Usage rates, "
            "popular merchants, shopping_mania and purchase habits are not available."
        ]
    out: list[str] = []
    out += _record_classes(a)
    out += _usage(a)
    out += _days(a)
    out += _popular(a)
    out += _mania(a)
    out += _daily(a)
    for breakdown in (
        a.usage_by_discount_rate,
        a.usage_by_spend_threshold,
        a.usage_by_distance,
        a.usage_by_weekday,
    ):
        out += _usage_pattern(breakdown)
    out += _purchases(a.purchases_by_weekday)
    out += _purchases(a.purchases_by_distance)
    out += _per_user(a)
    return out
