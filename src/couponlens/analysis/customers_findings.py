"""Findings sentences for the customer report, generated from the numbers of a :class:`CustomerAnalysis`.

Each sentence is built from a result object; a result that could not be computed gives no
sentence (its section says why). Percentages carry their 95% interval where one exists.

Example:
    >>> pct(0.5972), money(1234567.0)
    ('59.7%', '1,234,567')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from couponlens.analysis.customers_activity import (
    Failures,
    OSShares,
    PaymentMix,
    PlatformShares,
    PromotionUse,
    Spikes,
    TimePatterns,
)
from couponlens.analysis.customers_behaviour import RFM, Acquisition, Cohorts, CustomerSummary
from couponlens.analysis.customers_profile import Demographics
from couponlens.analysis.customers_value import CLV

if TYPE_CHECKING:
    from couponlens.analysis.customers import CustomerAnalysis

#: Segments smaller than this are left out when a finding names the most and least responsive.
MIN_SEGMENT = 50


def pct(value: float | None, digits: int = 1) -> str:
    """``0.5972`` -> ``"59.7%"``; None -> ``"n/a"``."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def money(value: float | None) -> str:
    """A money amount rounded to a whole unit with thousands separators."""
    return "n/a" if value is None else f"{value:,.0f}"


def _ok(result: object, kind: type) -> bool:
    return isinstance(result, kind) and getattr(result, "status", "") == "ok"


def _demographics(d: Demographics) -> list[str]:
    out = []
    g = d.gender.set_index("gender")["share"]
    out.append(
        f"{d.customers:,} customers: {pct(g.get('male'))} male, {pct(g.get('female'))} female, "
        f"{pct(g.get('not verified'))} not verified."
    )
    if d.gen_y_z_share is not None:
        out.append(
            f"Gen Y and Gen Z make up {pct(d.gen_y_z_share)} of the customers with a known birth "
            f"date; the middle half are {d.age_p25:.0f} to {d.age_p75:.0f} years old on {d.as_of}."
        )
    if d.placeholder_birth_dates:
        out.append(
            f"{d.placeholder_birth_dates:,} placeholder birth dates (1970-01-01) were treated as "
            f"unknown; {d.unknown_birth_dates:,} birth dates are unknown in all."
        )
    return out


def _time(t: TimePatterns, s: Spikes | object) -> list[str]:
    out = [
        f"{t.tickets:,} successful tickets from {t.first_day} to {t.last_day}"
        + (
            f"; no tickets at all in {len(t.missing_months)} month(s) "
            f"({', '.join(t.missing_months)}), shown as gaps."
            if t.missing_months
            else "."
        )
    ]
    if t.active_hours is not None:
        out.append(
            f"Busiest days: {', '.join(t.top_weekdays)}. Tickets are bought from "
            f"{t.active_hours[0]}h to {t.active_hours[1]}h, peaking at {t.peak_hour}h "
            f"(weekdays {t.peak_hour_weekday}h, weekends {t.peak_hour_weekend}h)."
        )
    if isinstance(s, Spikes) and not s.episodes.empty:
        top = s.episodes.sort_values("excess", ascending=False).head(3)
        parts = []
        for e in top.itertuples(index=False):
            movie = e.top_movies[0]["movie"] if e.top_movies else "no movie recorded"
            parts.append(f"{e.start} ({e.ratio:.1f}x baseline, top movie {movie})")
        out.append(
            f"{len(s.episodes)} spike episode(s) above {s.ratio:g}x the seasonal baseline; the "
            f"largest: {'; '.join(parts)}."
        )
    return out


def _platform(p: PlatformShares, o: OSShares | object) -> list[str]:
    out = []
    if not p.devices.empty:
        d = p.devices.set_index("platform")["devices"]
        out.append(
            f"The device table lists {int(d.sum()):,} devices: {int(d.get('mobile', 0)):,} mobile "
            f"and {int(d.get('website', 0)):,} website."
        )
    if not p.tickets.empty:
        s = p.tickets.set_index("platform")["share"]
        out.append(
            f"Successful tickets by platform: mobile {pct(s.get('mobile'))}, website "
            f"{pct(s.get('website'))}, untracked {pct(s.get('unknown'))}"
            + (
                f"; the first website ticket is in {p.first_website_month}."
                if p.first_website_month
                else "."
            )
        )
    if isinstance(o, OSShares):
        frame = o.tickets if not o.tickets.empty else o.devices
        if not frame.empty:
            count = "tickets" if not o.tickets.empty else "devices"
            s = frame.set_index("os")["share"]
            out.append(
                f"Operating systems ({count}): Android {pct(s.get('Android'))}, iOS {pct(s.get('iOS'))}, "
                f"web {pct(s.get('web'))}, unknown {pct(s.get('unknown'))}."
            )
    return out


def _payment(p: PaymentMix) -> list[str]:
    if p.methods.empty:
        return []
    top = p.methods.iloc[0]
    trend = {k: v for k, v in p.trend_per_year.items() if v is not None}
    text = (
        f"Most used payment method: {top.payment_method} ({pct(top.share)} of successful tickets)."
    )
    if trend:
        up = max(trend, key=lambda k: trend[k])
        down = min(trend, key=lambda k: trend[k])
        text += (
            f" Fastest growing: {up} ({trend[up] * 100:+.1f} points a year); fastest shrinking: "
            f"{down} ({trend[down] * 100:+.1f} points a year)."
        )
    return [text]


def _promotion(p: PromotionUse) -> list[str]:
    out = [
        f"{pct(p.share)} of successful tickets used a promotion (95% CI {pct(p.ci_low)} to "
        f"{pct(p.ci_high)}); discounts were {pct(p.discount_rate)} of the original price."
    ]
    if not p.types.empty:
        t = p.types.iloc[0]
        out.append(
            f"The commonest promotion type is {t.campaign_type} ({pct(t.share)} of promoted tickets)."
        )
    r = p.responsiveness
    if not r.empty:
        for dimension in ("generation", "rfm"):
            part = r[
                (r.dimension == dimension) & (r.customers >= MIN_SEGMENT) & (r.segment != "unknown")
            ]
            if len(part) < 2:
                continue
            hi, lo = part.iloc[0], part.iloc[-1]
            out.append(
                f"By {dimension}, {hi.segment} responds most to promotions ({pct(hi.rate)}, 95% CI "
                f"{pct(hi.ci_low)} to {pct(hi.ci_high)}) and {lo.segment} least ({pct(lo.rate)}, "
                f"{pct(lo.ci_low)} to {pct(lo.ci_high)})."
            )
    return out


def _customers(c: CustomerSummary) -> list[str]:
    return [
        f"Of {c.buyers:,} buying customers, {pct(c.one_day_share)} came on one day only and "
        f"{pct(c.one_time_promotion_share)} came once and used a promotion that day; the mean "
        f"success rate of attempts is {pct(c.mean_success_rate)}."
    ]


def _failures(f: Failures) -> list[str]:
    if not f.failures:
        return [f"No failed payment attempts among {f.attempts:,}."]
    g = f.by_group.iloc[0]
    return [
        f"{pct(f.failure_rate)} of {f.attempts:,} payment attempts failed; the largest error group "
        f"is {g.error_group} ({pct(g.share)} of failures, 95% CI {pct(g.ci_low)} to {pct(g.ci_high)})."
    ]


def _cohorts(c: Cohorts) -> list[str]:
    m = c.mean_retention
    if not m:
        return []
    return [
        f"Across {c.cohorts} monthly cohorts, {pct(m.get('month_1'))} of new customers buy again "
        f"the next month, {pct(m.get('month_3'))} three months on and {pct(m.get('month_12'))} a year on."
    ]


def _acquisition(a: Acquisition) -> list[str]:
    ch = a.channels.set_index("channel")
    if a.new_customers == 0:
        return []
    text = (
        f"{pct(ch.loc['promotion', 'share'])} of new customers were acquired with a promotion; "
        f"{pct(ch.loc['promotion', 'return_rate'])} of them came back, against "
        f"{pct(ch.loc['organic', 'return_rate'])} of organic ones"
    )
    if a.difference_ci is not None:
        text += f" (difference {a.difference * 100:+.1f} points, 95% CI {a.difference_ci[0] * 100:+.1f} to {a.difference_ci[1] * 100:+.1f})"  # type: ignore[operator]
    return [text + "."]


def _rfm(r: RFM) -> list[str]:
    seg = r.segments.dropna(subset=["monetary_share"])
    if seg.empty:
        return []
    top = seg.sort_values("monetary_share", ascending=False).iloc[0]
    return [
        f"RFM: {top.segment} ({pct(top.share)} of buyers) bring {pct(top.monetary_share)} of the "
        f"revenue; {pct(r.segments.set_index('segment').loc['Hibernating', 'share'])} of buyers are hibernating."
    ]


def _clv(c: CLV) -> list[str]:
    bg = c.bgnbd
    return [
        f"BG/NBD + Gamma-Gamma ({c.library}): buyers are expected to make {c.expected_visits:,.0f} "
        f"visits in the next {c.horizon_days} days, worth {money(c.total_clv)} in all (mean "
        f"{money(c.mean_clv)} per buyer); mean P(alive) {pct(c.mean_probability_alive)}; fitted "
        f"r={bg['r']:.3g}, alpha={bg['alpha']:.3g}, a={bg['a']:.3g}, b={bg['b']:.3g}."
    ]


def customer_findings(a: CustomerAnalysis) -> list[str]:
    """Every finding the computed results support, in report order."""
    out: list[str] = []
    if _ok(a.demographics, Demographics):
        out += _demographics(a.demographics)  # type: ignore[arg-type]
    if _ok(a.time, TimePatterns):
        out += _time(a.time, a.spikes)  # type: ignore[arg-type]
    if _ok(a.platform, PlatformShares):
        out += _platform(a.platform, a.os)  # type: ignore[arg-type]
    if _ok(a.payment, PaymentMix):
        out += _payment(a.payment)  # type: ignore[arg-type]
    if _ok(a.promotion, PromotionUse):
        out += _promotion(a.promotion)  # type: ignore[arg-type]
    if _ok(a.customers, CustomerSummary):
        out += _customers(a.customers)  # type: ignore[arg-type]
    if _ok(a.failures, Failures):
        out += _failures(a.failures)  # type: ignore[arg-type]
    if _ok(a.cohorts, Cohorts):
        out += _cohorts(a.cohorts)  # type: ignore[arg-type]
    if _ok(a.acquisition, Acquisition):
        out += _acquisition(a.acquisition)  # type: ignore[arg-type]
    if _ok(a.rfm, RFM):
        out += _rfm(a.rfm)  # type: ignore[arg-type]
    if _ok(a.clv, CLV):
        out += _clv(a.clv)  # type: ignore[arg-type]
    return out
