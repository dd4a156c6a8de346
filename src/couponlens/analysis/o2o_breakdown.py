"""Grouping keys shared by the O2O breakdowns (day of week, distance, discount, spend threshold).

Each dimension is a numeric key computed on the engine (so a breakdown is one grouped pass)
and a readable label made from it afterwards. Breakdowns also get a chi-square test of
independence between the group and an outcome (used / not used, coupon / normal purchase).

Example:
    >>> label("distance", None), label("weekday", 5), label("spend_threshold", 1)
    ('unknown', 'Saturday', '(0, 20]')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from couponlens._results import Result
from couponlens.analysis.o2o_common import OK, WEEKDAYS

#: Spend-threshold buckets for "spend x, save y" coupons: (upper bound, label); key 0 is a
#: plain-rate coupon (no threshold).
THRESHOLD_BUCKETS: tuple[tuple[float, str], ...] = (
    (20.0, "(0, 20]"),
    (50.0, "(20, 50]"),
    (100.0, "(50, 100]"),
    (200.0, "(100, 200]"),
    (math.inf, "> 200"),
)
RATE_COUPON_LABEL = "rate (no threshold)"
UNKNOWN_DISTANCE = "unknown"
#: Sort key of an unknown distance (after 0..10).
_UNKNOWN_DISTANCE_KEY = 99

DIMENSIONS = ("weekday", "distance", "discount_rate", "spend_threshold")


def key(t: ir.Table, dimension: str, date_column: str = "date_received") -> ir.NumericValue:
    """The numeric grouping key of ``dimension`` for each row of ``t``.

    ``weekday`` uses ``date_column`` (0 = Monday); ``distance`` maps null to 99; ``discount_rate``
    is the converted discount rounded to 2 places; ``spend_threshold`` is a bucket index
    (0 = plain-rate coupon, 1.. = :data:`THRESHOLD_BUCKETS`).
    """
    if dimension == "weekday":
        return t[date_column].day_of_week.index().cast("int64")
    if dimension == "distance":
        return t.distance.fill_null(_UNKNOWN_DISTANCE_KEY).cast("int64")
    if dimension == "discount_rate":
        return t.discount_rate.round(2)
    if dimension == "spend_threshold":
        threshold = t.discount_threshold
        cases = [(threshold.isnull(), ibis.literal(0))]
        for index, (upper, _) in enumerate(THRESHOLD_BUCKETS[:-1], start=1):
            cases.append((threshold <= upper, ibis.literal(index)))
        return ibis.cases(*cases, else_=ibis.literal(len(THRESHOLD_BUCKETS))).cast("int64")
    raise ValueError(f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSIONS)}")


def label(dimension: str, value: object) -> str:
    """The readable label of a key value of ``dimension``."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if dimension == "weekday":
        return WEEKDAYS[int(value)] if not missing else "unknown"  # type: ignore[call-overload]
    if dimension == "distance":
        if missing or int(value) == _UNKNOWN_DISTANCE_KEY:  # type: ignore[call-overload]
            return UNKNOWN_DISTANCE
        return str(int(value))  # type: ignore[call-overload]
    if dimension == "discount_rate":
        return "unknown" if missing else f"{float(value):.2f}"  # type: ignore[arg-type]
    if dimension == "spend_threshold":
        if missing:
            return "unknown"
        index = int(value)  # type: ignore[call-overload]
        return RATE_COUPON_LABEL if index == 0 else THRESHOLD_BUCKETS[index - 1][1]
    raise ValueError(f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSIONS)}")


def labelled(frame: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """Sort ``frame`` by its ``key`` column and put the readable ``group`` label first."""
    out = frame.sort_values("key", na_position="last").reset_index(drop=True)
    out.insert(0, "group", [label(dimension, v) for v in out["key"]])
    return out


@dataclass(frozen=True, repr=False)
class IndependenceTest(Result):
    """Pearson chi-square test that an outcome's rate is the same in every group."""

    chi2: float | None
    p: float | None
    dof: int | None
    status: str = OK


def independence_test(successes: np.ndarray, failures: np.ndarray) -> IndependenceTest:
    """Chi-square test of independence on a groups x (success, failure) table (scipy).

    Groups with no observations are dropped; fewer than two groups, or an outcome that never
    (or always) happens, gives a "not estimable" state.

    Example:
        >>> round(independence_test(np.array([10, 30]), np.array([90, 70])).p, 6)
        0.000407
    """
    table = np.column_stack([np.asarray(successes, float), np.asarray(failures, float)])
    table = table[table.sum(axis=1) > 0]
    if table.shape[0] < 2:
        return IndependenceTest(None, None, None, "not estimable: fewer than two groups")
    if (table.sum(axis=0) == 0).any():
        return IndependenceTest(None, None, None, "not estimable: the outcome does not vary")
    result = stats.chi2_contingency(table, correction=False)
    return IndependenceTest(float(result.statistic), float(result.pvalue), int(result.dof))
