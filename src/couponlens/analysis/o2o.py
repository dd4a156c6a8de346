"""The O2O coupon-usage analyses in one call: the seed analyses and the ones beyond them.

:func:`analyse_o2o` runs every analysis on a canonical O2O table (see
:mod:`couponlens.datasets.o2o`) and returns an :class:`O2OAnalysis` that holds each typed
result, turns into the ``results.json`` layout (:meth:`O2OAnalysis.to_results_json`) and
writes its own findings (:meth:`O2OAnalysis.findings`).

The analyses, each a public function returning a typed result:

- seeds (exact definitions, DOMAIN §1): :func:`record_classes`, :func:`usage_rates`,
  :func:`popular_merchants`, :func:`shopping_mania`, :func:`daily_usage`;
- consumer habits: :func:`purchases_by_weekday`, :func:`purchases_by_distance`,
  :func:`purchases_per_user`;
- coupon usage patterns: :func:`usage_by_discount_rate`, :func:`usage_by_spend_threshold`,
  :func:`usage_by_distance`, :func:`usage_by_weekday`, :func:`days_to_use`.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.o2o import load_o2o
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "log.csv").write_text(
    ...     "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date\\n"
    ...     "1,10,100,150:20,0,20160101,20160105\\n"
    ...     "2,10,null,null,null,null,20160102\\n"
    ...     "3,10,100,150:20,1,20160101,null\\n"
    ... )
    >>> analysis = analyse_o2o(load_o2o(d / "log.csv"), popular_threshold=0)
    >>> results = analysis.to_results_json()
    >>> (results["usage_rate"], results["record_classes"]["normal_purchase"])
    (0.5, 1)
    >>> results["popular_merchants"]["merchants"]
    [{'merchant_id': 10, 'coupon_users': 1, 'coupon_purchases': 1, 'mean_distance': 0.0, 'mean_discount': 0.87}]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir

from couponlens._results import Result, jsonable
from couponlens.analysis.o2o_common import NO_DATE_COLUMN, Proportion, resolve
from couponlens.analysis.o2o_findings import o2o_findings
from couponlens.analysis.o2o_habits import (
    PurchaseBreakdown,
    PurchasesPerUser,
    purchases_by_distance,
    purchases_by_weekday,
    purchases_per_user,
)
from couponlens.analysis.o2o_mania import PurchaseProfile, ShoppingMania, shopping_mania
from couponlens.analysis.o2o_merchants import Correlation, PopularMerchants, popular_merchants
from couponlens.analysis.o2o_patterns import (
    DaysToUse,
    UsageBreakdown,
    days_to_use,
    usage_by_discount_rate,
    usage_by_distance,
    usage_by_spend_threshold,
    usage_by_weekday,
)
from couponlens.analysis.o2o_usage import (
    DailyUsage,
    RecordClasses,
    UsageRates,
    daily_usage,
    record_classes,
    usage_rates,
)
from couponlens.datasets.o2o import O2OData

__all__ = [
    "ANALYSIS_STEPS",
    "NO_DATE_COLUMN",
    "O2OAnalysis",
    "analyse_o2o",
    "daily_usage",
    "days_to_use",
    "o2o_findings",
    "popular_merchants",
    "purchases_by_distance",
    "purchases_by_weekday",
    "purchases_per_user",
    "record_classes",
    "shopping_mania",
    "usage_by_discount_rate",
    "usage_by_distance",
    "usage_by_spend_threshold",
    "usage_by_weekday",
    "usage_rates",
]

#: The steps :func:`analyse_o2o` runs, in order (the names its ``progress`` callback receives).
ANALYSIS_STEPS: tuple[str, ...] = (
    "record classes",
    "usage rates",
    "popular merchants",
    "shopping mania",
    "daily usage",
    "purchases by weekday",
    "purchases by distance",
    "purchases per user",
    "usage by discount rate",
    "usage by spend threshold",
    "usage by distance",
    "usage by weekday",
    "days to use",
)


def _proportion_json(p: Proportion) -> dict[str, Any]:
    return jsonable(p.to_dict())  # type: ignore[no-any-return]


def _correlation_json(c: Correlation) -> dict[str, Any]:
    return {
        "r": c.r,
        "p": c.p,
        "n": c.n,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "spearman_r": c.spearman_r,
        "spearman_p": c.spearman_p,
        "x": c.x,
        "y": c.y,
        "status": c.status,
    }


def _profile_json(p: PurchaseProfile) -> dict[str, Any]:
    return {
        "mean_discount": p.mean_discount,
        "mean_distance": p.mean_distance,
        "mean_days_to_use": p.mean_days_to_use,
        "records": p.records,
    }


@dataclass(frozen=True, repr=False)
class O2OAnalysis(Result):
    """Every O2O analysis of one table (see :func:`analyse_o2o`)."""

    has_purchase_dates: bool
    popular_threshold: int
    window_days: int
    record_classes: RecordClasses
    usage: UsageRates
    popular_merchants: PopularMerchants
    shopping_mania: ShoppingMania
    daily: DailyUsage
    purchases_by_weekday: PurchaseBreakdown
    purchases_by_distance: PurchaseBreakdown
    purchases_per_user: PurchasesPerUser
    usage_by_discount_rate: UsageBreakdown
    usage_by_spend_threshold: UsageBreakdown
    usage_by_distance: UsageBreakdown
    usage_by_weekday: UsageBreakdown
    days_to_use: DaysToUse

    def to_results_json(self) -> dict[str, Any]:
        """The ``results.json`` content (without ``dataset``, which comes from the load report).

        Keys other tools rely on: ``record_classes``, ``usage_rate``, ``usage_rate_15d``,
        ``popular_merchants``, ``shopping_mania``, ``daily``; more detail under ``usage``,
        ``consumer_habits`` and ``usage_patterns``. Missing numbers are ``null``.
        """
        rc = self.record_classes
        pm = self.popular_merchants
        sm = self.shopping_mania
        window_key = f"usage_rate_{self.window_days}d"
        results: dict[str, Any] = {
            "has_purchase_dates": self.has_purchase_dates,
            "record_classes": {
                "coupon_not_used": rc.coupon_not_used,
                "normal_purchase": rc.normal_purchase,
                "coupon_used": rc.coupon_used,
                "no_coupon_no_purchase": rc.no_coupon_no_purchase,
                "records": rc.records,
                "coupon_receipts": rc.coupon_receipts,
                "shares": rc.shares,
                "status": rc.status,
            },
            "usage_rate": self.usage.overall.rate,
            "usage_rate_15d": None,
            "usage": {
                "window_days": self.window_days,
                "overall": _proportion_json(self.usage.overall),
                "within_window": _proportion_json(self.usage.within_window),
                "status": self.usage.status,
            },
            "popular_merchants": {
                "threshold": pm.threshold,
                "merchants": jsonable(pm.merchants),
                "correlations": {k: _correlation_json(c) for k, c in pm.correlations.items()},
                "status": pm.status,
            },
            "shopping_mania": {
                "users": sm.users,
                "records": sm.records,
                "strict_users": sm.strict_users,
                "coupon_users": sm.coupon_users,
                "mania": _profile_json(sm.mania),
                "strict": _profile_json(sm.strict),
                "all_coupon_purchases": _profile_json(sm.all_coupon_purchases),
                "status": sm.status,
            },
            "daily": self.daily.records(),
            "consumer_habits": {
                "purchases_by_weekday": self.purchases_by_weekday.to_dict(),
                "purchases_by_distance": self.purchases_by_distance.to_dict(),
                "purchases_per_user": self.purchases_per_user.to_dict(),
            },
            "usage_patterns": {
                "by_discount_rate": self.usage_by_discount_rate.to_dict(),
                "by_spend_threshold": self.usage_by_spend_threshold.to_dict(),
                "by_distance": self.usage_by_distance.to_dict(),
                "by_weekday": self.usage_by_weekday.to_dict(),
                "days_to_use": self.days_to_use.to_dict(),
            },
        }
        if self.window_days == 15:
            results["usage_rate_15d"] = self.usage.within_window.rate
        else:  # the 15-day key is the competition's; another window gets its own key
            del results["usage_rate_15d"]
            results[window_key] = self.usage.within_window.rate
        return jsonable(results)  # type: ignore[no-any-return]

    def findings(self) -> list[str]:
        """Sentences generated from the numbers (see :func:`o2o_findings`)."""
        return o2o_findings(self)


def analyse_o2o(
    data: ir.Table | O2OData,
    popular_threshold: int = 500,
    progress: Callable[[str], object] | None = None,
    *,
    window_days: int = 15,
    has_purchase_dates: bool | None = None,
) -> O2OAnalysis:
    """Run every O2O analysis on a canonical table.

    Args:
        data: the canonical table, or the :class:`O2OData` from
            :func:`~couponlens.datasets.o2o.load_o2o` (which also says whether the file has a
            ``Date`` column).
        popular_threshold: a popular merchant has more than this many distinct coupon users.
        progress: called with each step's name (:data:`ANALYSIS_STEPS`) as that step finishes.
        window_days: the usage window (15 days in the competition label).
        has_purchase_dates: override whether the table has purchase dates (``None``: take it
            from ``data``; for a bare table, whether any purchase date is set).

    Without purchase dates (a test-layout file) nothing fails: every usage-based part carries
    the state ``"not available: the file has no Date column"``.
    """
    t, dated = resolve(data, has_purchase_dates)
    kw = {"has_purchase_dates": dated}
    done = progress if progress is not None else (lambda _step: None)
    results: dict[str, Any] = {}
    steps: list[tuple[str, str, Callable[[], Any]]] = [
        ("record classes", "record_classes", lambda: record_classes(t, **kw)),
        ("usage rates", "usage", lambda: usage_rates(t, window_days, **kw)),
        ("popular merchants", "popular_merchants", lambda: popular_merchants(t, popular_threshold, **kw)),
        ("shopping mania", "shopping_mania", lambda: shopping_mania(t, **kw)),
        ("daily usage", "daily", lambda: daily_usage(t, **kw)),
        ("purchases by weekday", "purchases_by_weekday", lambda: purchases_by_weekday(t, **kw)),
        ("purchases by distance", "purchases_by_distance", lambda: purchases_by_distance(t, **kw)),
        ("purchases per user", "purchases_per_user", lambda: purchases_per_user(t, **kw)),
        ("usage by discount rate", "usage_by_discount_rate", lambda: usage_by_discount_rate(t, **kw)),
        ("usage by spend threshold", "usage_by_spend_threshold", lambda: usage_by_spend_threshold(t, **kw)),
        ("usage by distance", "usage_by_distance", lambda: usage_by_distance(t, **kw)),
        ("usage by weekday", "usage_by_weekday", lambda: usage_by_weekday(t, **kw)),
        ("days to use", "days_to_use", lambda: days_to_use(t, window_days, **kw)),
    ]  # fmt: skip
    assert tuple(s[0] for s in steps) == ANALYSIS_STEPS
    for step, name, run in steps:
        results[name] = run()
        done(step)
    return O2OAnalysis(
        has_purchase_dates=dated,
        popular_threshold=popular_threshold,
        window_days=window_days,
        **results,
    )
