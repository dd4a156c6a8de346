"""Record classes, coupon usage rates and the daily series, exactly as the seed notebooks define them.

- Record classes: coupon received and not used; normal purchase; purchase with a coupon; and
  rows with neither (which record nothing; a validator flags them).
- Usage rate = coupon purchases / coupon receipts; the ``window_days`` usage rate counts only
  purchases at most ``window_days`` days after receipt (the Tianchi label uses 15).
- Daily series by receipt date: coupons issued that day, how many of them were used (at any
  later date) and the ratio.

Example:
    >>> import pandas as pd, datetime as dt
    >>> from couponlens.engine import connect
    >>> rows = pd.DataFrame({
    ...     "user_id": [1, 2, 3], "merchant_id": [9, 9, 9], "coupon_id": [5, 5, None],
    ...     "discount_rate": [0.9, 0.9, None], "distance": [0, 1, None],
    ...     "date_received": [dt.date(2016, 1, 1), dt.date(2016, 1, 1), None],
    ...     "purchase_date": [dt.date(2016, 1, 3), None, dt.date(2016, 1, 2)]})
    >>> t = connect().create_table("log", rows)
    >>> record_classes(t).coupon_used
    1
    >>> usage_rates(t).overall.rate
    0.5
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis.expr.types as ir
import pandas as pd

from couponlens._results import Result, jsonable
from couponlens.analysis.o2o_common import (
    NO_DATE_COLUMN,
    OK,
    Proportion,
    add_rate_columns,
    coupon_receipts,
    days_to_use,
    resolve,
)
from couponlens.datasets.o2o import O2OData

#: The record classes, in the order they are reported.
RECORD_CLASSES: tuple[str, ...] = (
    "coupon_not_used",
    "normal_purchase",
    "coupon_used",
    "no_coupon_no_purchase",
)


@dataclass(frozen=True, repr=False)
class RecordClasses(Result):
    """How many records fall in each class, and their shares of all records.

    Without purchase dates (a test-layout file) the classes are unknown: they are None and
    ``status`` says why; ``coupon_receipts`` is still counted.
    """

    records: int
    coupon_receipts: int
    coupon_not_used: int | None
    normal_purchase: int | None
    coupon_used: int | None
    no_coupon_no_purchase: int | None
    shares: dict[str, float | None] = field(default_factory=dict)
    status: str = OK

    def to_frame(self) -> pd.DataFrame:
        """One row per class: ``record_class``, ``records``, ``share``."""
        return pd.DataFrame(
            {
                "record_class": list(RECORD_CLASSES),
                "records": [getattr(self, name) for name in RECORD_CLASSES],
                "share": [self.shares.get(name) for name in RECORD_CLASSES],
            }
        )


def record_classes(
    data: ir.Table | O2OData, *, has_purchase_dates: bool | None = None
) -> RecordClasses:
    """Count the records in each class (one pass over the table).

    Args:
        data: the canonical O2O table, or the :class:`O2OData` a load returned.
        has_purchase_dates: whether the table comes from a file with a ``Date`` column; ``None``
            takes it from ``data`` (or, for a bare table, from whether any purchase date is set).

    Example:
        >>> from couponlens.engine import connect
        >>> import pandas as pd, datetime as dt
        >>> t = connect().create_table("r", pd.DataFrame({
        ...     "coupon_id": [1, None], "purchase_date": [None, dt.date(2016, 1, 2)]}))
        >>> record_classes(t).to_frame()["records"].tolist()
        [1, 1, 0, 0]
    """
    t, dated = resolve(data, has_purchase_dates)
    has_coupon = t.coupon_id.notnull()
    if dated:
        bought = t.purchase_date.notnull()
        counts = t.aggregate(
            records=t.count(),
            coupon_receipts=has_coupon.sum(),
            coupon_not_used=(has_coupon & ~bought).sum(),
            normal_purchase=(~has_coupon & bought).sum(),
            coupon_used=(has_coupon & bought).sum(),
            no_coupon_no_purchase=(~has_coupon & ~bought).sum(),
        ).execute()
    else:
        counts = t.aggregate(records=t.count(), coupon_receipts=has_coupon.sum()).execute()
    row = {k: int(v) for k, v in counts.fillna(0).iloc[0].items()}
    records = row["records"]
    if not dated:
        return RecordClasses(
            records=records,
            coupon_receipts=row["coupon_receipts"],
            coupon_not_used=None,
            normal_purchase=None,
            coupon_used=None,
            no_coupon_no_purchase=None,
            shares={name: None for name in RECORD_CLASSES},
            status=NO_DATE_COLUMN,
        )
    shares = {name: (row[name] / records if records else None) for name in RECORD_CLASSES}
    return RecordClasses(
        records=records,
        coupon_receipts=row["coupon_receipts"],
        coupon_not_used=row["coupon_not_used"],
        normal_purchase=row["normal_purchase"],
        coupon_used=row["coupon_used"],
        no_coupon_no_purchase=row["no_coupon_no_purchase"],
        shares=shares,
        status=OK if records else "not estimable: the table is empty",
    )


@dataclass(frozen=True, repr=False)
class UsageRates(Result):
    """Coupon usage: ``overall`` = used / issued; ``within_window`` = used within the window / issued."""

    window_days: int
    receipts: int
    overall: Proportion
    within_window: Proportion
    status: str = OK

    @property
    def usage_rate(self) -> float | None:
        """Coupon purchases / coupon receipts."""
        return self.overall.rate

    @property
    def usage_rate_window(self) -> float | None:
        """Coupons used within ``window_days`` days of receipt / coupon receipts."""
        return self.within_window.rate

    def to_frame(self) -> pd.DataFrame:
        """Two rows (``overall``, ``within_{window_days}d``) with counts, rate and interval."""
        rows = []
        for name, p in (
            ("overall", self.overall),
            (f"within_{self.window_days}d", self.within_window),
        ):
            rows.append({"measure": name, **p.to_dict()})
        return pd.DataFrame(rows)


def usage_rates(
    data: ir.Table | O2OData, window_days: int = 15, *, has_purchase_dates: bool | None = None
) -> UsageRates:
    """Overall and ``window_days`` usage rates of issued coupons, with Wilson 95% intervals.

    Example:
        >>> from couponlens.engine import connect
        >>> import pandas as pd, datetime as dt
        >>> d = dt.date(2016, 1, 1)
        >>> t = connect().create_table("u", pd.DataFrame({
        ...     "coupon_id": [1, 1, 1, 1], "date_received": [d] * 4,
        ...     "purchase_date": [d + dt.timedelta(days=3), d + dt.timedelta(days=20), None, None]}))
        >>> r = usage_rates(t)
        >>> (r.overall.rate, r.within_window.rate)
        (0.5, 0.25)
    """
    if window_days < 0:
        raise ValueError(f"window_days must be 0 or more, got {window_days}")
    t, dated = resolve(data, has_purchase_dates)
    receipts = coupon_receipts(t)
    if not dated:
        n = int(receipts.count().execute())
        return UsageRates(
            window_days=window_days,
            receipts=n,
            overall=Proportion.unavailable(trials=n),
            within_window=Proportion.unavailable(trials=n),
            status=NO_DATE_COLUMN,
        )
    days = days_to_use(receipts)
    counts = receipts.aggregate(
        receipts=receipts.count(),
        used=receipts.purchase_date.notnull().sum(),
        used_within=(days <= window_days).fill_null(False).sum(),
    ).execute()
    row = {k: int(v) for k, v in counts.fillna(0).iloc[0].items()}
    empty = "not estimable: no coupons were issued"
    overall = Proportion.of(row["used"], row["receipts"], empty=empty)
    within = Proportion.of(row["used_within"], row["receipts"], empty=empty)
    return UsageRates(
        window_days=window_days,
        receipts=row["receipts"],
        overall=overall,
        within_window=within,
        status=overall.status,
    )


@dataclass(frozen=True, repr=False)
class DailyUsage(Result):
    """Per receipt date: coupons ``issued``, how many of them were ``used``, the ``usage_rate``.

    ``frame`` columns: ``date``, ``issued``, ``used``, ``usage_rate``, ``ci_low``, ``ci_high``
    (Wilson 95%). Without purchase dates, ``used`` and the rates are missing.
    """

    frame: pd.DataFrame
    status: str = OK

    def to_frame(self) -> pd.DataFrame:
        """The daily table itself."""
        return self.frame.copy()

    def to_dict(self) -> dict[str, object]:
        """``{"days": [{date, issued, used, usage_rate, ci_low, ci_high}], "status"}``."""
        return {"days": self.records(), "status": self.status}

    def records(self) -> list[dict[str, object]]:
        """One JSON-ready dict per day (``date`` as ``YYYY-MM-DD``)."""
        frame = self.frame.copy()
        frame["date"] = [d.isoformat() for d in frame["date"]]
        return list(jsonable(frame))


def daily_usage(data: ir.Table | O2OData, *, has_purchase_dates: bool | None = None) -> DailyUsage:
    """Coupons issued, used and the usage rate by receipt date (one grouped pass).

    Example:
        >>> from couponlens.engine import connect
        >>> import pandas as pd, datetime as dt
        >>> d = dt.date(2016, 1, 1)
        >>> t = connect().create_table("d", pd.DataFrame({
        ...     "coupon_id": [1, 1, 2], "date_received": [d, d, d + dt.timedelta(days=1)],
        ...     "purchase_date": [d, None, None]}))
        >>> daily_usage(t).frame[["issued", "used", "usage_rate"]].values.tolist()
        [[2.0, 1.0, 0.5], [1.0, 0.0, 0.0]]
    """
    t, dated = resolve(data, has_purchase_dates)
    receipts = coupon_receipts(t)
    aggregates = {"issued": receipts.count()}
    if dated:
        aggregates["used"] = receipts.purchase_date.notnull().sum()
    frame = (
        receipts.group_by(date=receipts.date_received)
        .aggregate(**aggregates)
        .order_by("date")
        .execute()
    )
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["issued"] = frame["issued"].astype("int64")
    if dated:
        frame["used"] = frame["used"].fillna(0).astype("int64")
        frame = add_rate_columns(frame, "used", "issued", "usage_rate")
        status = OK
    else:
        for column in ("used", "usage_rate", "ci_low", "ci_high"):
            frame[column] = float("nan")
        status = NO_DATE_COLUMN
    return DailyUsage(frame=frame.reset_index(drop=True), status=status)
