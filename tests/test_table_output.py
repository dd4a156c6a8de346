"""Table outputs: the extension chooses CSV or Parquet; engine tables keep their Ibis types."""

from __future__ import annotations

from pathlib import Path

import ibis
import pandas as pd
import pyarrow.parquet as pq
import pytest

from couponlens.engine import connect
from couponlens.outputs import OutputExistsError
from couponlens.table_output import output_format, write_frame, write_table


def test_frames_by_extension_and_csv_float_format(tmp_path: Path) -> None:
    frame = pd.DataFrame({"User_id": [1, 2], "Probability": [1 / 3, 0.5]})
    assert write_frame(frame, tmp_path / "s.csv", force=False, float_format="%.8g") == "csv"
    assert (tmp_path / "s.csv").read_text() == "User_id,Probability\n1,0.33333333\n2,0.5\n"
    assert write_frame(frame, tmp_path / "s.pq", force=False) == "parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s.pq"), frame)
    with pytest.raises(OutputExistsError):
        write_frame(frame, tmp_path / "s.pq", force=False)
    assert output_format("a.Parquet") == "parquet" and output_format("a.tsv") == "csv"


def test_engine_tables_keep_ibis_types(tmp_path: Path) -> None:
    t = connect().create_table("t", ibis.memtable({"g": [1, 1, 2], "x": [1, 2, 3]}))
    summed = t.group_by("g").aggregate(s=t.x.sum(), m=t.x.mean()).order_by("g")
    write_table(summed, tmp_path / "s.parquet", force=False)
    schema = pq.read_schema(tmp_path / "s.parquet")
    assert str(schema.field("s").type) == "int64"  # DuckDB's own COPY writes a double here
    write_table(summed, tmp_path / "s.csv", force=False)
    assert (tmp_path / "s.csv").read_text().splitlines() == ['"g","s","m"', "1,3,1.5", "2,3,3"]


def test_parts_are_written_as_their_union_in_order(tmp_path: Path) -> None:
    t = connect().create_table("p", ibis.memtable({"w": ["a", "a", "b"], "x": [1, 2, 3]}))
    parts = [t.filter(t.w == w).order_by("x") for w in ("b", "a")]
    write_table(parts, tmp_path / "u.parquet", force=False)
    frame = pd.read_parquet(tmp_path / "u.parquet")
    assert frame.to_dict("list") == {"w": ["b", "a", "a"], "x": [3, 1, 2]}
    write_table(parts, tmp_path / "u.csv", force=False)
    assert (tmp_path / "u.csv").read_text().splitlines() == ['"w","x"', '"b",3', '"a",1', '"a",2']
    with pytest.raises(ValueError, match="nothing to write"):
        write_table([], tmp_path / "none.parquet", force=False)
