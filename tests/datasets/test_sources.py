"""What an input path is: Parquet files and folders of parts, and type errors that name the file."""

from __future__ import annotations

from pathlib import Path

import ibis.expr.datatypes as dt
import pandas as pd
import pytest

from couponlens.datasets.sources import check_parquet_type, is_parquet, parquet_parts
from couponlens.errors import InputError


def test_parts_in_name_order_skipping_hidden_and_marker_files(tmp_path: Path) -> None:
    folder = tmp_path / "t.parquet"
    (folder / "day=2").mkdir(parents=True)
    for name in ("part-10.parquet", "part-02.parquet", "day=2/part-00.pq"):
        pd.DataFrame({"x": [1]}).to_parquet(folder / name)
    for name in ("_SUCCESS", ".part-02.parquet.crc", "_metadata.parquet", "notes.txt"):
        (folder / name).write_text("")
    names = [p.relative_to(folder).as_posix() for p in parquet_parts(folder)]
    assert names == ["day=2/part-00.pq", "part-02.parquet", "part-10.parquet"]
    assert (
        is_parquet(folder) and is_parquet(tmp_path / "x.PQ") and not is_parquet(tmp_path / "x.csv")
    )


def test_missing_and_empty_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        parquet_parts(tmp_path / "nope.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: a folder with no .parquet files"):
        parquet_parts(tmp_path / "empty")


def test_type_check_names_file_column_and_what_fits() -> None:
    assert check_parquet_type(Path("a.parquet"), "d", dt.date, ["integer", "date"]) == "date"
    with pytest.raises(InputError) as error:
        check_parquet_type(Path("a.parquet"), "Distance", dt.Array(dt.int64), ["integer"])
    assert (
        str(error.value)
        == "a.parquet: column Distance has type array<int64>; expected whole numbers"
    )
