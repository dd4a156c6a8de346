"""The Spark engine: its settings, the hand-over of tables from DuckDB, samples, outputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import pandas as pd
import pyarrow.parquet as pq
from ibis.backends import BaseBackend

from couponlens.engine import connect, describe, engine_name, scratch_folder
from couponlens.handoff import to_engine
from couponlens.sampling import keep_share, sample_rows
from couponlens.table_output import write_table


def test_session_settings(spark: BaseBackend) -> None:
    conf = spark._session.conf  # type: ignore[attr-defined]
    assert engine_name(spark) == "spark"
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.ansi.enabled") == "false"
    assert conf.get("spark.sql.shuffle.partitions") == "1"
    about = describe(spark)
    assert about["engine"] == "spark" and about["master"] == "local[2]"
    assert about["version"].startswith("4.")


def _typed_table() -> ibis.Table:
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "amount": [0.1, None, 2.5],
            "name": ["a", None, 'ü,"x"'],
            "day": [dt.date(2016, 1, 1), None, dt.date(2016, 6, 30)],
            "at": pd.to_datetime(["2019-01-01 23:30:00", None, "2022-12-31 00:00:01"]),
            "flag": [True, False, None],
        }
    )
    schema = {
        "id": "int64",
        "amount": "float64",
        "name": "string",
        "day": "date",
        "at": "timestamp",
        "flag": "boolean",
    }
    return connect().create_table("typed", ibis.memtable(frame, schema=schema))


def test_handoff_keeps_every_type_and_value(spark: BaseBackend) -> None:
    table = _typed_table()
    moved = to_engine(table, spark)
    for name, dtype in table.schema().items():
        got = moved.schema()[name]
        assert got == dtype or (got.is_timestamp() and dtype.is_timestamp() and not got.timezone)
    left = table.order_by("id").execute()
    right = moved.order_by("id").execute()
    for frame in (left, right):  # microseconds on one side, nanoseconds on the other
        frame["at"] = frame["at"].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    # the timestamp is read as written (no time-zone shift) and NULLs stay NULL
    assert str(right["at"].iloc[0]) == "2019-01-01 23:30:00"
    assert right["amount"].isna().tolist() == [False, True, False]
    parts = list(Path(scratch_folder(spark)).glob("*.parquet"))
    assert parts, "the hand-over file lives in the scratch folder"


def test_aggregate_types_survive_the_handoff(spark: BaseBackend) -> None:
    """DuckDB computes SUM(int64) as a 128-bit integer; the hand-over writes Ibis's int64."""
    t = connect().create_table("g", ibis.memtable({"g": [1, 1, 2], "x": [1, 2, 3]}))
    summed = t.group_by("g").aggregate(s=t.x.sum())
    moved = to_engine(summed, spark)
    assert moved.schema()["s"] == ibis.dtype("int64")
    assert moved.order_by("g").s.execute().tolist() == [3, 3]


def test_keep_share_picks_the_same_rows_on_both_engines(spark: BaseBackend) -> None:
    duck = connect().create_table("ids", ibis.memtable({"id": list(range(1, 5_001))}))
    on_spark = to_engine(duck, spark)
    chosen = [
        sorted(t.filter(keep_share(t.id, 0.1, seed=4)).id.execute().tolist())
        for t in (duck, on_spark)
    ]
    assert chosen[0] == chosen[1] and abs(len(chosen[0]) - 500) <= 2


def test_seeded_sample_on_spark_is_reproducible(spark: BaseBackend) -> None:
    t = to_engine(connect().create_table("s", ibis.memtable({"x": list(range(2_000))})), spark)
    first = sorted(sample_rows(t, 0.2, seed=5).x.execute().tolist())
    again = sorted(sample_rows(t, 0.2, seed=5).x.execute().tolist())
    other = sorted(sample_rows(t, 0.2, seed=6).x.execute().tolist())
    assert first == again != other
    assert 300 < len(first) < 500


def test_spark_writes_parquet_as_a_folder_of_parts(spark: BaseBackend, tmp_path: Path) -> None:
    table = to_engine(_typed_table(), spark)
    out = tmp_path / "table.parquet"
    assert write_table(table, out, force=False) == "parquet"
    assert out.is_dir() and list(out.glob("*.parquet"))
    back = pq.read_table(out).to_pandas().sort_values("id", ignore_index=True)
    assert back["id"].tolist() == [1, 2, 3] and back["name"].iloc[2] == 'ü,"x"'
    csv = tmp_path / "table.csv"
    assert write_table(table, csv, force=False) == "csv"
    assert pd.read_csv(csv)["id"].sort_values().tolist() == [1, 2, 3]
