"""Popular merchants and what their popularity correlates with (seed definition, plus inference).

Seed definition: among purchases made with a coupon, count the *distinct* users of each
merchant and keep the merchants with more than ``threshold`` of them (500 in the seed). Each
kept merchant gets its mean ``distance`` (nulls skipped) and mean converted discount over its
coupon purchases. The seed then reads Pearson correlations between the three columns; here each
comes with its p-value, a Fisher-z 95% interval and its ``n`` (pairwise deletion: a merchant
without any known distance drops out of the pairs that use distance), plus Spearman's rho.

Example:
    >>> c = correlation([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0], "x", "y")
    >>> (round(c.r, 2), c.n, c.status)
    (0.8, 5, 'ok')
    >>> correlation([1.0, 2.0, 3.0], [1.0, 2.0, float("nan")], "x", "y").status
    'not estimable: only 2 complete pairs (need at least 4)'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from couponlens._results import Result
from couponlens.analysis.o2o_common import (
    CONFIDENCE,
    NO_DATE_COLUMN,
    OK,
    coupon_purchases,
    none_if_nan,
    resolve,
)
from couponlens.datasets.o2o import O2OData

#: Fewest complete pairs for a correlation with a Fisher-z interval (its standard error is 1/sqrt(n-3)).
MIN_PAIRS = 4

#: The correlations reported for popular merchants: key -> (x column, y column).
CORRELATION_PAIRS: dict[str, tuple[str, str]] = {
    "distance": ("coupon_users", "mean_distance"),
    "discount": ("coupon_users", "mean_discount"),
    "distance_discount": ("mean_distance", "mean_discount"),
}


@dataclass(frozen=True, repr=False)
class Correlation(Result):
    """Pearson r (p-value, Fisher-z 95% interval) and Spearman rho on the complete pairs.

    ``status`` is ``"ok"`` or ``"not estimable: reason"`` (too few pairs, no variation), in
    which case the numbers are None.
    """

    x: str
    y: str
    n: int
    r: float | None
    p: float | None
    ci_low: float | None
    ci_high: float | None
    spearman_r: float | None
    spearman_p: float | None
    status: str = OK

    @property
    def significant(self) -> bool | None:
        """Whether Pearson's p-value is below 5% (None when not estimable)."""
        return None if self.p is None else self.p < 1 - CONFIDENCE


def correlation(
    x: Sequence[float] | np.ndarray | pd.Series,
    y: Sequence[float] | np.ndarray | pd.Series,
    x_name: str = "x",
    y_name: str = "y",
) -> Correlation:
    """Pearson and Spearman correlation of ``x`` and ``y`` with pairwise deletion of missing values.

    Uses :func:`scipy.stats.pearsonr` (its 95% interval is the Fisher-z one) and
    :func:`scipy.stats.spearmanr`. Fewer than 4 complete pairs, or a constant column, gives a
    "not estimable" state rather than NaN.

    Example:
        >>> correlation([1, 2, 3, 4], [5, 5, 5, 5], "a", "b").status
        'not estimable: b does not vary over the 4 complete pairs'
    """
    xs = pd.to_numeric(pd.Series(np.asarray(x, dtype=object)), errors="coerce").to_numpy(float)
    ys = pd.to_numeric(pd.Series(np.asarray(y, dtype=object)), errors="coerce").to_numpy(float)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in length ({xs.size} vs {ys.size})")
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    n = int(keep.sum())

    def missing(reason: str) -> Correlation:
        return Correlation(x_name, y_name, n, None, None, None, None, None, None, reason)

    if n < MIN_PAIRS:
        return missing(
            f"not estimable: only {n} complete pair{'s' if n != 1 else ''} "
            f"(need at least {MIN_PAIRS})"
        )
    for name, values in ((x_name, xs), (y_name, ys)):
        if np.ptp(values) == 0:
            return missing(f"not estimable: {name} does not vary over the {n} complete pairs")
    pearson = stats.pearsonr(xs, ys)
    interval = pearson.confidence_interval(confidence_level=CONFIDENCE)
    spearman = stats.spearmanr(_without_float_noise(xs), _without_float_noise(ys))
    return Correlation(
        x=x_name,
        y=y_name,
        n=n,
        r=float(pearson.statistic),
        p=float(pearson.pvalue),
        ci_low=float(interval.low),
        ci_high=float(interval.high),
        spearman_r=none_if_nan(spearman.statistic),
        spearman_p=none_if_nan(spearman.pvalue),
    )


def _without_float_noise(values: np.ndarray) -> np.ndarray:
    """Values rounded to 12 significant digits, for ranking.

    Means summed in another order (on another engine) differ in their last bits, and that
    must not decide which merchants tie in a rank correlation.

    Example:
        >>> _without_float_noise(np.array([0.8299999999999991, 0.83])).tolist()
        [0.83, 0.83]
    """
    return np.array([float(f"{v:.12g}") for v in values])


@dataclass(frozen=True, repr=False)
class PopularMerchants(Result):
    """Merchants with more than ``threshold`` distinct coupon users, and the correlations.

    ``merchants`` columns: ``merchant_id``, ``coupon_users`` (distinct users who bought there
    with a coupon), ``coupon_purchases``, ``mean_distance`` (None when every distance is
    unknown), ``mean_discount``; most coupon users first. ``correlations`` maps
    ``distance`` (coupon users ~ mean distance), ``discount`` (coupon users ~ mean discount)
    and ``distance_discount`` to a :class:`Correlation`.
    """

    threshold: int
    merchants: pd.DataFrame
    correlations: dict[str, Correlation] = field(default_factory=dict)
    status: str = OK

    def to_frame(self) -> pd.DataFrame:
        """The popular merchants table."""
        return self.merchants.copy()

    def correlation_frame(self) -> pd.DataFrame:
        """One row per correlation: ``pair`` plus the :class:`Correlation` fields."""
        return pd.DataFrame([{"pair": key, **c.to_dict()} for key, c in self.correlations.items()])


def popular_merchants(
    data: ir.Table | O2OData, threshold: int = 500, *, has_purchase_dates: bool | None = None
) -> PopularMerchants:
    """Merchants with more than ``threshold`` distinct coupon users (one grouped pass).

    Example:
        >>> from couponlens.engine import connect
        >>> import pandas as pd, datetime as dt
        >>> d = dt.date(2016, 1, 1)
        >>> t = connect().create_table("m", pd.DataFrame({
        ...     "user_id": [1, 2, 2, 3], "merchant_id": [7, 7, 7, 8], "coupon_id": [1, 1, 1, 2],
        ...     "discount_rate": [0.9, 0.8, 0.8, 0.5], "distance": [1, None, 3, 0],
        ...     "date_received": [d] * 4, "purchase_date": [d] * 4}))
        >>> popular_merchants(t, threshold=1).merchants.values.tolist()
        [[7.0, 2.0, 3.0, 2.0, 0.8333333333333334]]
    """
    if threshold < 0:
        raise ValueError(f"threshold must be 0 or more, got {threshold}")
    t, dated = resolve(data, has_purchase_dates)
    columns = ["merchant_id", "coupon_users", "coupon_purchases", "mean_distance", "mean_discount"]
    if not dated:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
        correlations = {
            key: Correlation(x, y, 0, None, None, None, None, None, None, NO_DATE_COLUMN)
            for key, (x, y) in CORRELATION_PAIRS.items()
        }
        return PopularMerchants(threshold, empty, correlations, NO_DATE_COLUMN)
    used = coupon_purchases(t)
    per_merchant = used.group_by("merchant_id").aggregate(
        coupon_users=used.user_id.nunique(),
        coupon_purchases=used.count(),
        mean_distance=used.distance.mean(),
        mean_discount=used.discount_rate.mean(),
    )
    popular = per_merchant.filter(per_merchant.coupon_users > threshold)
    frame = popular.order_by([ibis.desc("coupon_users"), ibis.asc("merchant_id")]).execute()[
        columns
    ]
    for column in ("merchant_id", "coupon_users", "coupon_purchases"):
        frame[column] = frame[column].astype("int64")
    for column in ("mean_distance", "mean_discount"):
        frame[column] = frame[column].astype("float64")
    correlations = {
        key: correlation(frame[x], frame[y], x, y) for key, (x, y) in CORRELATION_PAIRS.items()
    }
    status = OK if len(frame) else f"no merchant has more than {threshold} distinct coupon users"
    return PopularMerchants(threshold, frame.reset_index(drop=True), correlations, status)
