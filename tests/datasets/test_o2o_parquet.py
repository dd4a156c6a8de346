"""O2O inputs as Parquet: a file, a folder of parts, typed columns as pandas writes them, and
clear errors for a wrong column; quarantined rows as Parquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from couponlens.datasets.o2o import CANONICAL_SCHEMA, TRAIN_COLUMNS, load_o2o
from couponlens.errors import InputError, ValidationError

ROWS = [
    "1,10,100,150:20,0,20160101,20160105",
    "2,10,null,null,null,null,20160102",
    "3,11,101,0.95,10,20160110,null",
    "4,11,101,0.95,12,20160110,null",  # Distance out of range
    "5,12,102,20:5,null,20160111,20160112",
]
COLUMNS = [c for c in CANONICAL_SCHEMA.names if c != "line_number"]


@pytest.fixture()
def csv_log(tmp_path: Path) -> Path:
    path = tmp_path / "log.csv"
    path.write_text("\n".join([",".join(TRAIN_COLUMNS), *ROWS]) + "\n")
    return path


def _as_pandas_writes_it(csv_log: Path) -> pd.DataFrame:
    """The log read by pandas with its default types: ids with gaps and dates become floats."""
    return pd.read_csv(csv_log, na_values=["null"])


def _canonical(path: Path) -> pd.DataFrame:
    return load_o2o(path).table.order_by("line_number").execute()


def test_typed_parquet_loads_like_the_csv(csv_log: Path, tmp_path: Path) -> None:
    frame = _as_pandas_writes_it(csv_log)
    assert frame["Coupon_id"].dtype.kind == "f" and frame["Date"].dtype.kind == "f"
    path = tmp_path / "typed.parquet"
    frame.to_parquet(path, index=False)
    from_csv, from_parquet = load_o2o(csv_log), load_o2o(path)
    assert from_parquet.report.rows_quarantined == from_csv.report.rows_quarantined == 1
    assert from_parquet.report.reasons == from_csv.report.reasons
    left = from_csv.table.order_by("line_number").execute()[COLUMNS]
    right = from_parquet.table.order_by("line_number").execute()[COLUMNS]
    pd.testing.assert_frame_equal(left, right)


def test_dates_stored_as_dates_and_columns_in_another_order(csv_log: Path, tmp_path: Path) -> None:
    frame = _as_pandas_writes_it(csv_log)
    for column in ("Date_received", "Date"):
        text = frame[column].astype("Int64").astype("string")
        frame[column] = pd.to_datetime(text, format="%Y%m%d").dt.date
    path = tmp_path / "dates.parquet"
    frame[list(reversed(frame.columns))].to_parquet(path, index=False)
    assert _canonical(path)[COLUMNS].equals(_canonical(csv_log)[COLUMNS])


def test_a_folder_of_parts_is_one_table(csv_log: Path, tmp_path: Path) -> None:
    frame = _as_pandas_writes_it(csv_log)
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:2].to_parquet(folder / "part-00000.parquet", index=False)
    frame.iloc[2:].to_parquet(folder / "part-00001.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000.parquet.crc").write_text("not parquet")
    quarantine = tmp_path / "quarantine.csv"
    data = load_o2o(folder, quarantine_path=quarantine)
    assert (data.report.rows_read, data.report.rows_quarantined) == (5, 1)
    loaded = data.table.order_by("line_number").execute()
    assert loaded.line_number.tolist() == [1, 2, 3, 5]  # row numbers across the parts
    assert (
        loaded[COLUMNS]
        .reset_index(drop=True)
        .equals(_canonical(csv_log)[COLUMNS].reset_index(drop=True))
    )
    bad = pd.read_csv(quarantine)
    assert list(bad.columns) == ["line_number", "raw", "reason", "source_file", "source_row"]
    assert bad.source_file.iloc[0].endswith("part-00001.parquet") and bad.source_row.iloc[0] == 2
    with pytest.raises(ValidationError, match=r"part-00001.parquet, row 2, column Distance"):
        load_o2o(folder, strict=True)


def test_quarantine_as_parquet(csv_log: Path, tmp_path: Path) -> None:
    quarantine = tmp_path / "bad.parquet"
    load_o2o(csv_log, quarantine_path=quarantine)
    bad = pd.read_parquet(quarantine)
    assert bad.line_number.tolist() == [5] and bad.raw.iloc[0] == ROWS[3]


def test_wrong_or_missing_parquet_columns_name_file_and_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "User_id": [True],
            "Merchant_id": [1],
            "Coupon_id": [1],
            "Discount_rate": ["0.9"],
            "Distance": [1],
            "Date_received": [20160101],
            "Date": [None],
        }
    )
    path = tmp_path / "wrong.parquet"
    frame.to_parquet(path, index=False)
    with pytest.raises(InputError, match=r"wrong.parquet: column User_id has type boolean"):
        load_o2o(path)
    frame.drop(columns=["Merchant_id"]).assign(User_id=[1]).to_parquet(path, index=False)
    with pytest.raises(InputError, match=r"wrong.parquet: no column Merchant_id"):
        load_o2o(path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="a folder with no .parquet files"):
        load_o2o(empty)
