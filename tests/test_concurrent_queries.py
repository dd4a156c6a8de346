"""Queries run side by side on DuckDB cursors give what they give one after the other."""

from __future__ import annotations

import threading

import duckdb
import ibis
import pandas as pd
import pytest

from couponlens.concurrent_queries import shareable, to_pyarrow_all
from couponlens.datasets.o2o import load_o2o
from couponlens.engine import connect
from couponlens.features.o2o import build_features, to_frame, to_frames
from couponlens.features.windows import label_rows, plan_for_history
from tests.features.conftest import random_o2o


def test_feature_windows_side_by_side_equal_one_by_one(tmp_path) -> None:
    path = tmp_path / "log.csv"
    random_o2o(3000, seed=11).to_csv(path, index=False)
    con = connect(threads=2)
    data = load_o2o(path, con)
    plan = plan_for_history(data.table, pairs=3)
    assert len(plan.pairs) == 3
    exprs = [build_features(data.table, label_rows(data.table, p, 15), p) for p in plan.pairs]
    assert all(shareable(e) for e in exprs)
    together = to_frames(exprs)
    alone = [to_frame(e) for e in exprs]
    assert len(together) == 3
    for a, b in zip(together, alone, strict=True):
        assert len(a) > 50
        pd.testing.assert_frame_equal(a, b)


def test_the_queries_really_run_on_other_cursors(monkeypatch) -> None:
    con = connect(threads=2)
    t = con.create_table("numbers", ibis.memtable({"x": list(range(100))}))
    seen: list[int] = []
    original = duckdb.DuckDBPyConnection.sql

    def spy(self, *args, **kwargs):
        seen.append(threading.get_ident())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(duckdb.DuckDBPyConnection, "sql", spy)
    out = to_pyarrow_all([t.filter(t.x < 10), t.filter(t.x >= 90), t.x.sum().as_table()])
    assert [o.num_rows for o in out] == [10, 10, 1]
    assert out[2].column(0).to_pylist() == [4950]
    assert threading.get_ident() not in seen and len(seen) == 3


def test_temporary_and_in_memory_tables_run_on_the_connection() -> None:
    con = connect()
    scratch = con.create_table("scratch", ibis.memtable({"x": [1, 2, 3]}), temp=True)
    memory = ibis.memtable({"x": [4, 5]})
    kept = con.create_table("kept", ibis.memtable({"x": [6]}))
    assert not shareable(scratch) and not shareable(memory) and shareable(kept)
    assert not shareable(kept.union(scratch))
    out = to_pyarrow_all([scratch, kept.union(scratch), kept])
    assert [sorted(o["x"].to_pylist()) for o in out] == [[1, 2, 3], [1, 2, 3, 6], [6]]
    assert to_pyarrow_all([]) == []


def test_a_failing_query_raises_and_stops_nothing_else_from_closing() -> None:
    con = connect(threads=2)
    t = con.create_table("words", ibis.memtable({"w": ["1", "2", "x"]}))
    with pytest.raises(duckdb.ConversionException):
        to_pyarrow_all([t.count().as_table(), t.select(n=t.w.cast("int64"))])
    # the connection still works afterwards
    assert to_pyarrow_all([t.count().as_table(), t])[1].num_rows == 3
