"""Every O2O feature against an independent pandas computation, and the no-future-leak rule."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from couponlens.datasets.o2o import load_o2o
from couponlens.errors import InputError
from couponlens.features.o2o import build_features, count_features, feature_names, to_frame
from couponlens.features.windows import WindowPair, label_rows, plan_for_history

_REF = Path(__file__).resolve().parents[2] / "bench" / "reference_o2o_pandas.py"


def _reference():
    spec = importlib.util.spec_from_file_location("reference_o2o_pandas", _REF)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference_o2o_pandas"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("leakage", [False, True])
def test_every_feature_matches_pandas(o2o_csv, con, leakage: bool) -> None:
    data = load_o2o(o2o_csv(2500, seed=3), con)
    plan = plan_for_history(data.table)
    pair = plan.pairs[-1]
    candidates = label_rows(data.table, pair, 15)
    ours = to_frame(build_features(data.table, candidates, pair, leakage=leakage))
    ref = _reference().pandas_features(
        data.table.to_pandas(),
        candidates.to_pandas(),
        pair.feature_start,
        pair.feature_end,
        leakage=leakage,
    )
    assert len(ours) == len(ref) > 100
    assert list(ours.columns) == list(ref.columns)
    assert ours["line_number"].tolist() == ref["line_number"].tolist()
    for name in feature_names(leakage):
        a = ours[name].astype(float).to_numpy()
        b = ref[name].astype(float).to_numpy()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)
    # the families carry information: not all missing, not constant
    for name in feature_names(leakage):
        assert ours[name].notna().any(), name
    assert set(count_features(leakage)) <= set(feature_names(leakage))
    counts = ours[count_features(leakage)]
    assert not counts.isna().any().any()


def test_feature_window_sees_no_future(o2o_csv, con) -> None:
    """Changing anything after the feature window's end leaves the window's features unchanged."""
    path = o2o_csv(2000, seed=5)
    data = load_o2o(path, con)
    pair = plan_for_history(data.table).pairs[-1]
    end = pd.Timestamp(pair.feature_end)
    candidates = label_rows(data.table, pair, 15).to_pandas()

    def features(history: pd.DataFrame) -> pd.DataFrame:
        import ibis

        table = ibis.memtable(history, schema=data.table.schema())
        cands = ibis.memtable(candidates, schema=data.table.schema() | {"label": "int8"})
        return to_frame(build_features(table, cands, pair, leakage=False))

    history = data.table.to_pandas()
    before = features(history)

    rng = np.random.default_rng(0)
    changed = history.copy()
    received = pd.to_datetime(changed["date_received"])
    bought = pd.to_datetime(changed["purchase_date"])
    # 1. uses after the end move to other dates after the end, or vanish
    later_use = bought > end
    assert later_use.sum() > 20
    shift = pd.to_timedelta(rng.integers(1, 40, len(changed)), unit="D")
    new_bought = (bought + shift).where(rng.random(len(changed)) < 0.5)
    changed.loc[later_use, "purchase_date"] = new_bought[later_use]
    # 2. receipts used inside the window... stay; unused receipts before the end get used after it
    unused_before = (
        changed["coupon_id"].notna() & changed["purchase_date"].isna() & (received <= end)
    )
    changed.loc[unused_before, "purchase_date"] = end + pd.Timedelta(days=3)
    # 3. everything about rows received after the end is scrambled
    after = received > end
    changed.loc[after, "discount_rate"] = 0.5
    changed.loc[after, "distance"] = 7
    changed.loc[after, "merchant_id"] = changed.loc[after, "merchant_id"][::-1].to_numpy()
    # 4. new rows after the end: receipts and normal purchases of known users
    extra = history.sample(300, random_state=1, replace=True).copy()
    extra["line_number"] = np.arange(len(extra)) + 10_000_000
    extra["date_received"] = end + pd.Timedelta(days=1)
    extra.loc[extra["coupon_id"].isna(), "date_received"] = pd.NaT
    extra["purchase_date"] = end + pd.Timedelta(days=2)
    changed = pd.concat([changed, extra], ignore_index=True)
    assert not changed.equals(history)
    after_change = features(changed)
    pd.testing.assert_frame_equal(before, after_change, check_exact=False, rtol=1e-12)

    # and a change inside the window does move them (the test can fail)
    inside = history.copy()
    inside_used = inside["purchase_date"].notna() & (pd.to_datetime(inside["purchase_date"]) <= end)
    inside.loc[inside_used, "purchase_date"] = pd.NaT
    assert not features(inside)["u_uses"].equals(before["u_uses"])


def test_candidates_must_have_the_columns(o2o_csv, con) -> None:
    data = load_o2o(o2o_csv(200, seed=1), con)
    pair = WindowPair(
        "x", dt.date(2016, 1, 1), dt.date(2016, 3, 1), dt.date(2016, 3, 2), dt.date(2016, 4, 1)
    )
    with pytest.raises(InputError, match="missing column 'distance'"):
        build_features(data.table, data.table.drop("distance"), pair)


def test_counts_leave_the_engine_as_int64(o2o_csv, con) -> None:
    """Every count is a BIGINT in DuckDB's own result, not a HUGEINT sum (which reaches Arrow
    as decimal128 and pandas as one Python object per row)."""
    import ibis

    data = load_o2o(o2o_csv(800, seed=4), con)
    pair = plan_for_history(data.table).pairs[-1]
    candidates = label_rows(data.table, pair, 15)
    sql = ibis.to_sql(build_features(data.table, candidates, pair, leakage=True), dialect="duckdb")
    arrow = con.raw_sql(str(sql)).to_arrow_table()
    for name in count_features(leakage=True):
        assert str(arrow.schema.field(name).type) == "int64", name


def test_bucket_rules_agree_between_the_engine_and_numpy(con) -> None:
    """The service computes the rate and threshold buckets in numpy, the features on the
    engine: both must put every rate and threshold, edges included, in the same bucket."""
    import ibis

    from couponlens.features.o2o import (
        rate_bucket,
        rate_buckets,
        threshold_bucket,
        threshold_buckets,
    )

    rates = [1 - y / x for x in (5, 10, 20, 30, 50, 100, 150, 200, 300, 500) for y in (1, 5, 10)]
    rates += [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0, 0.049, 0.05, 0.051]
    thresholds = [np.nan, 0.5, 10, 10.5, 20, 30, 50, 100, 150, 200, 300, 500, 500.5, 1e4]
    frame = pd.DataFrame({"rate": rates})
    ours = con.execute(ibis.memtable(frame).select(b=rate_bucket(ibis._.rate)))["b"]
    assert ours.tolist() == rate_buckets(np.array(rates)).tolist()
    assert rate_buckets(np.array([0.95, 0.9, 1 - 20 / 150, 1.0])).tolist() == [19, 18, 17, 20]
    frame = pd.DataFrame({"threshold": thresholds})
    ours = con.execute(ibis.memtable(frame).select(b=threshold_bucket(ibis._.threshold)))["b"]
    expected = [0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6, 7, 7]
    assert ours.tolist() == threshold_buckets(np.array(thresholds)).tolist() == expected
