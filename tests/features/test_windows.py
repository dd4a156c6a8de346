"""The window planner's defaults, overrides and refusals, and the label rule's boundary."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from couponlens.errors import InputError
from couponlens.features.windows import WindowPair, label_rows, plan_windows

D = dt.date


def test_defaults_follow_the_tianchi_range() -> None:
    plan = plan_windows(D(2016, 1, 1), D(2016, 6, 15), D(2016, 6, 30))
    last, first = plan.pairs[-1], plan.pairs[0]
    assert (last.label_start, last.label_end) == (D(2016, 5, 16), D(2016, 6, 15))
    assert last.feature_end == D(2016, 5, 15)
    assert first.label_end == D(2016, 5, 15) and first.feature_start == D(2016, 1, 1)
    assert first.feature_days == last.feature_days == plan.feature_days
    predict = plan.prediction_pair(D(2016, 7, 1), D(2016, 7, 31))
    assert predict.feature_end == D(2016, 6, 30) and predict.feature_days == plan.feature_days


def test_label_window_leaves_room_for_the_follow_up() -> None:
    # purchases only observed to 06-20: a 15-day follow-up ends receipts on 06-05
    plan = plan_windows(D(2016, 1, 1), D(2016, 6, 15), D(2016, 6, 20))
    assert plan.pairs[-1].label_end == D(2016, 6, 5)


def test_overrides_and_refusals() -> None:
    plan = plan_windows(
        D(2016, 1, 1),
        D(2016, 6, 15),
        D(2016, 6, 30),
        pairs=3,
        label_window_days=20,
        feature_days=60,
        label_days=7,
    )
    assert len(plan.pairs) == 3 and plan.feature_days == 60 and plan.label_days == 7
    assert all(p.label_end - p.label_start == dt.timedelta(days=19) for p in plan.pairs)
    with pytest.raises(InputError, match="too short"):
        plan_windows(D(2016, 5, 1), D(2016, 6, 15), D(2016, 6, 30))
    # the latest label window may end earlier than the history allows, never later
    earlier = plan_windows(D(2016, 1, 1), D(2016, 6, 15), D(2016, 6, 30), label_end=D(2016, 5, 20))
    assert earlier.pairs[-1].label_end == D(2016, 5, 20)
    assert earlier.pairs[-1].label_start == D(2016, 4, 20)  # 31 days
    assert earlier.pairs[0].feature_start == D(2016, 1, 1)
    with pytest.raises(InputError, match="up to 2016-06-15 only"):
        plan_windows(D(2016, 1, 1), D(2016, 6, 15), D(2016, 6, 30), label_end=D(2016, 6, 16))
    with pytest.raises(InputError, match="up to 2016-06-15 only .* no purchase"):
        plan_windows(D(2016, 1, 1), D(2016, 6, 15), None, label_end=D(2016, 6, 16))
    # a label end so early that no history is left for the oldest window's features
    with pytest.raises(
        InputError,
        match="label_end 2016-02-20: 2 label windows of 31 days ending then leave 0 days",
    ):
        plan_windows(D(2016, 1, 1), D(2016, 6, 15), D(2016, 6, 30), label_end=D(2016, 2, 20))
    with pytest.raises(InputError, match="feature_end < label_start"):
        WindowPair("bad", D(2016, 1, 1), D(2016, 2, 1), D(2016, 2, 1), D(2016, 3, 1))


def test_label_is_used_within_the_rule() -> None:
    received = pd.Timestamp("2016-03-01")
    frame = pd.DataFrame(
        {
            "coupon_id": [1, 1, 1, 1, None],
            "date_received": [received] * 4 + [pd.NaT],
            "purchase_date": [received + pd.Timedelta(days=d) for d in (0, 15, 16)]
            + [pd.NaT, received],
        }
    )
    pair = WindowPair("x", D(2016, 1, 1), D(2016, 2, 28), D(2016, 2, 29), D(2016, 3, 31))
    labels = label_rows(ibis.memtable(frame), pair, 15).label.execute().tolist()
    assert labels == [1, 1, 0, 0]
    assert label_rows(ibis.memtable(frame), pair, 16).label.execute().tolist() == [1, 1, 1, 0]
