"""Point-in-time windows: each label window gets features only from an earlier, disjoint window.

A :class:`WindowPair` says which receipts are scored (the *label window*, by receipt date) and
which history the features may look at (the *feature window*, which ends the day before the
label window starts). Inside a feature window a history row counts only as far as it was known
on the window's last day: a coupon used after that day counts as *not used*, a purchase after
it does not exist. Nothing after a feature window's end can change that window's features.

The label is the Tianchi rule: a receipt is positive when the coupon was used within
``label_days`` days of receipt (``purchase_date - date_received <= label_days``).

Example:
    >>> import datetime as dt
    >>> plan = plan_windows(dt.date(2016, 1, 1), dt.date(2016, 6, 15), dt.date(2016, 6, 30))
    >>> [(p.label_start.isoformat(), p.label_end.isoformat()) for p in plan.pairs]
    [('2016-04-15', '2016-05-15'), ('2016-05-16', '2016-06-15')]
    >>> plan.pairs[-1].feature_start.isoformat(), plan.pairs[-1].feature_end.isoformat()
    ('2016-02-01', '2016-05-15')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from couponlens._results import Result
from couponlens.errors import InputError

#: Default label rule: used within this many days of receipt.
DEFAULT_LABEL_DAYS = 15
#: Default length of a label window (receipts scored per window), in days.
DEFAULT_LABEL_WINDOW_DAYS = 31
#: Default number of (feature, label) pairs to train on.
DEFAULT_PAIRS = 2
#: A feature window shorter than this is refused: too little history to say anything.
MIN_FEATURE_DAYS = 14


@dataclass(frozen=True, repr=False)
class WindowPair(Result):
    """A feature window and the label window it describes (all dates inclusive)."""

    name: str
    feature_start: dt.date
    feature_end: dt.date
    label_start: dt.date
    label_end: dt.date

    def __post_init__(self) -> None:
        if not self.feature_start <= self.feature_end < self.label_start <= self.label_end:
            raise InputError(
                f"window {self.name}: expected feature_start <= feature_end < label_start <= "
                f"label_end, got {self.feature_start}..{self.feature_end} -> "
                f"{self.label_start}..{self.label_end}"
            )

    @property
    def feature_days(self) -> int:
        """Length of the feature window in days."""
        return (self.feature_end - self.feature_start).days + 1

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> WindowPair:
        """Rebuild a pair from :meth:`to_dict` output (ISO dates)."""
        return cls(
            name=data["name"],
            feature_start=dt.date.fromisoformat(data["feature_start"]),
            feature_end=dt.date.fromisoformat(data["feature_end"]),
            label_start=dt.date.fromisoformat(data["label_start"]),
            label_end=dt.date.fromisoformat(data["label_end"]),
        )


@dataclass(frozen=True, repr=False)
class WindowPlan(Result):
    """The training pairs, oldest first, with the label rule and feature-window length."""

    pairs: list[WindowPair]
    label_days: int
    feature_days: int

    def prediction_pair(self, first_candidate: dt.date, last_candidate: dt.date) -> WindowPair:
        """The pair for scoring receipts ``first_candidate..last_candidate``: same feature length,
        ending the day before the first candidate."""
        feature_end = first_candidate - dt.timedelta(days=1)
        return WindowPair(
            name="predict",
            feature_start=feature_end - dt.timedelta(days=self.feature_days - 1),
            feature_end=feature_end,
            label_start=first_candidate,
            label_end=last_candidate,
        )


def plan_windows(
    first_receipt: dt.date,
    last_receipt: dt.date,
    last_purchase: dt.date | None,
    *,
    label_days: int = DEFAULT_LABEL_DAYS,
    label_window_days: int = DEFAULT_LABEL_WINDOW_DAYS,
    pairs: int = DEFAULT_PAIRS,
    feature_days: int | None = None,
    label_end: dt.date | None = None,
) -> WindowPlan:
    """Plan ``pairs`` (feature, label) windows from a history's date range.

    The latest label window ends on ``label_end``, by default the last receipt date whose
    ``label_days`` follow-up is fully observed (``min(last_receipt, last_purchase -
    label_days)``; a later ``label_end`` is refused), and spans ``label_window_days``; each
    earlier label window ends the day before the next one starts.
    Feature windows end the day before their label window and, unless ``feature_days`` is
    given, are as long as the oldest pair allows (its feature window starts on the first
    receipt date), so every pair has the same length.

    Example:
        >>> plan = plan_windows(dt.date(2016, 1, 1), dt.date(2016, 6, 15), dt.date(2016, 6, 30),
        ...                     feature_days=105)
        >>> plan.pairs[0].feature_start.isoformat(), plan.feature_days
        ('2016-01-01', 105)
        >>> plan = plan_windows(dt.date(2016, 1, 1), dt.date(2016, 6, 15), dt.date(2016, 6, 30),
        ...                     label_end=dt.date(2016, 5, 31), label_window_days=14)
        >>> [(p.label_start.isoformat(), p.label_end.isoformat()) for p in plan.pairs]
        [('2016-05-04', '2016-05-17'), ('2016-05-18', '2016-05-31')]
    """
    if label_days < 0:
        raise InputError(f"label_days must be 0 or more, got {label_days}")
    if label_window_days < 1 or pairs < 1:
        raise InputError("label_window_days and pairs must be at least 1")
    observed = last_receipt
    if last_purchase is not None:
        observed = min(observed, last_purchase - dt.timedelta(days=label_days))
    chosen_end = label_end
    if label_end is None:
        label_end = observed
    elif label_end > observed:
        purchase = (
            "no purchase" if last_purchase is None else f"its last purchase on {last_purchase}"
        )
        raise InputError(
            f"label_end {label_end}: the history can label receipts up to {observed} only (its "
            f"last receipt is on {last_receipt}, {purchase}, and a label needs {label_days} days "
            "of follow-up)"
        )
    ends = []
    for _ in range(pairs):
        start = label_end - dt.timedelta(days=label_window_days - 1)
        ends.append((start, label_end))
        label_end = start - dt.timedelta(days=1)
    ends.reverse()
    oldest_feature_end = ends[0][0] - dt.timedelta(days=1)
    room = (oldest_feature_end - first_receipt).days + 1
    if chosen_end is not None and room < MIN_FEATURE_DAYS:
        raise InputError(
            f"label_end {chosen_end}: {pairs} label windows of {label_window_days} days ending "
            f"then leave {max(room, 0)} days of history before the oldest (the history starts "
            f"on {first_receipt}); at least {MIN_FEATURE_DAYS} are needed for its features"
        )
    if feature_days is None:
        feature_days = room
    if feature_days < MIN_FEATURE_DAYS or feature_days > room:
        raise InputError(
            f"the history {first_receipt}..{last_receipt} is too short for {pairs} label windows "
            f"of {label_window_days} days with {feature_days} days of features before each "
            f"(at most {room} days fit, at least {MIN_FEATURE_DAYS} are needed); "
            "use fewer pairs or shorter windows"
        )
    planned = []
    for i, (start, end) in enumerate(ends):
        feature_end = start - dt.timedelta(days=1)
        planned.append(
            WindowPair(
                name=f"w{i + 1}",
                feature_start=feature_end - dt.timedelta(days=feature_days - 1),
                feature_end=feature_end,
                label_start=start,
                label_end=end,
            )
        )
    return WindowPlan(pairs=planned, label_days=label_days, feature_days=feature_days)


def history_dates(history: ir.Table) -> tuple[dt.date, dt.date, dt.date | None]:
    """First and last receipt date and last purchase date of a canonical O2O table."""
    row = history.aggregate(
        first=history.date_received.min(),
        last=history.date_received.max(),
        last_purchase=history.purchase_date.max(),
    ).execute()
    first, last, last_purchase = (
        row["first"].iloc[0],
        row["last"].iloc[0],
        row["last_purchase"].iloc[0],
    )
    if first is None or last is None or first != first:
        raise InputError("the history has no coupon receipts: nothing to learn from")

    def as_date(value: object) -> dt.date:
        return value.date() if hasattr(value, "date") else value  # type: ignore[return-value]

    return (
        as_date(first),
        as_date(last),
        None if last_purchase is None or last_purchase != last_purchase else as_date(last_purchase),
    )


def plan_for_history(history: ir.Table, **options: int | dt.date | None) -> WindowPlan:
    """:func:`plan_windows` over the date range of a canonical O2O table."""
    first, last, last_purchase = history_dates(history)
    return plan_windows(first, last, last_purchase, **options)  # type: ignore[arg-type]


def label_rows(history: ir.Table, pair: WindowPair, label_days: int) -> ir.Table:
    """The receipts in ``pair``'s label window with their label (used within ``label_days``).

    Example:
        >>> import pandas as pd
        >>> t = ibis.memtable(pd.DataFrame({
        ...     "coupon_id": [1, 1], "date_received": pd.to_datetime(["2016-02-01", "2016-02-02"]).date,
        ...     "purchase_date": [pd.Timestamp("2016-02-10").date(), None]}))
        >>> pair = WindowPair("x", dt.date(2016, 1, 1), dt.date(2016, 1, 31),
        ...                   dt.date(2016, 2, 1), dt.date(2016, 2, 28))
        >>> label_rows(t, pair, 15).label.execute().tolist()
        [1, 0]
    """
    rows = history.filter(
        history.coupon_id.notnull(),
        history.date_received.between(pair.label_start, pair.label_end),
    )
    used_in_time = rows.purchase_date.notnull() & (
        rows.purchase_date.delta(rows.date_received, unit="day") <= label_days
    )
    return rows.mutate(label=ibis.ifelse(used_in_time, 1, 0).cast("int8"))
