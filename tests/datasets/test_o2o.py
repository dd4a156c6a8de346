"""The O2O loader: canonical types, every quarantine reason, strict mode, and the real test file."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from couponlens.datasets.o2o import CANONICAL_SCHEMA, TRAIN_COLUMNS, load_o2o
from couponlens.errors import InputError, ValidationError

HEADER = ",".join(TRAIN_COLUMNS)
GOOD = [
    "1,10,100,150:20,0,20160101,20160105",  # coupon used
    "2,10,null,null,null,null,20160102",  # normal purchase
    "3,11,101,0.95,10,20160110,null",  # coupon not used
    "4,11,,,,,20160103",  # empty fields are null too
]


def write(tmp_path: Path, lines: list[str], name: str = "log.csv", eol: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes((eol.join(lines) + eol).encode("utf-8"))
    return path


def test_good_rows_get_canonical_types(tmp_path: Path) -> None:
    data = load_o2o(write(tmp_path, [HEADER, *GOOD]))
    assert data.table.schema() == CANONICAL_SCHEMA
    frame = data.table.order_by("line_number").execute()
    assert frame.line_number.tolist() == [2, 3, 4, 5]
    kinds = frame.discount_kind.tolist()
    assert kinds[0] == "spend_save" and pd.isna(kinds[1]) and kinds[2] == "rate"
    assert frame.discount_rate.tolist()[0] == pytest.approx(0.87)  # round((150-20)/150, 2)
    assert frame.discount_threshold.tolist()[0] == 150 and frame.discount_amount.tolist()[0] == 20
    assert frame.discount_rate.tolist()[2] == 0.95
    assert pd.isna(frame.discount_threshold.tolist()[2])
    assert frame.distance.tolist()[2] == 10 and pd.isna(frame.distance.tolist()[1])
    assert str(frame.date_received.tolist()[0])[:10] == "2016-01-01"
    assert pd.isna(frame.coupon_id.tolist()[3])
    assert data.report.rows_read == 4 and data.report.rows_kept == 4
    assert data.report.rows_quarantined == 0 and data.report.layout == "train"


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("1,10,100,150:20,0,20160101", "", "expected 7 comma-separated fields"),
        ("x,10,100,150:20,0,20160101,null", "User_id", "User_id: expected a whole number"),
        ("-5,10,100,150:20,0,20160101,null", "User_id", "User_id: expected a whole number"),
        ("1e5,10,100,150:20,0,20160101,null", "User_id", "User_id: expected a whole number"),
        ("null,10,100,150:20,0,20160101,null", "User_id", "User_id is missing"),
        ("1,abc,100,150:20,0,20160101,null", "Merchant_id", "Merchant_id: expected a whole number"),
        ("1,10,1.5,150:20,0,20160101,null", "Coupon_id", "Coupon_id: expected a whole number"),
        ("1,10,100,150:200,0,20160101,null", "Discount_rate", "the saving y must be above 0"),
        ("1,10,100,150:150,0,20160101,null", "Discount_rate", "the saving y must be above 0"),
        ("1,10,100,a:b,0,20160101,null", "Discount_rate", "expected a rate in (0, 1]"),
        ("1,10,100,1.5,0,20160101,null", "Discount_rate", "a rate must be in (0, 1]"),
        ("1,10,100,0,0,20160101,null", "Discount_rate", "a rate must be in (0, 1]"),
        ("1,10,100,150:20,11,20160101,null", "Distance", "Distance: expected a whole number 0..10"),
        ("1,10,100,150:20,-1,20160101,null", "Distance", "Distance: expected a whole number 0..10"),
        ("1,10,100,150:20,0,20160230,null", "Date_received", "Date_received: expected a date"),
        ("1,10,100,150:20,0,2016-01-01,null", "Date_received", "Date_received: expected a date"),
        ("1,10,100,150:20,0,20160101,20161341", "Date", "Date: expected a date"),
        ("1,10,100,150:20,0,20160110,20160105", "Date", "the purchase is before Date_received"),
        ("1,10,100,null,0,20160110,null", "Coupon_id", "coupon fields partly null"),
        ("1,10,null,150:20,0,null,20160105", "Coupon_id", "coupon fields partly null"),
    ],
)
def test_each_bad_row_is_quarantined_with_its_reason(
    tmp_path: Path, row: str, column: str, reason: str
) -> None:
    path = write(tmp_path, [HEADER, GOOD[0], row, GOOD[1]])
    quarantine = tmp_path / "out" / "quarantine.csv"
    data = load_o2o(path, quarantine_path=quarantine)
    report = data.report
    assert (report.rows_read, report.rows_kept, report.rows_quarantined) == (3, 2, 1)
    assert report.rows_read == report.rows_kept + report.rows_quarantined
    with quarantine.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    assert rows[0]["line_number"] == "3"
    assert rows[0]["raw"] == row
    assert reason in rows[0]["reason"]
    assert sum(report.reasons.values()) == 1
    assert data.table.count().execute() == 2

    with pytest.raises(ValidationError) as error:
        load_o2o(path, strict=True)
    message = str(error.value)
    assert message.startswith(f"{path}, line 3")
    assert reason in message
    assert error.value.line == 3
    assert (error.value.column or "") == column


def test_strict_mode_names_the_first_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path, [HEADER, GOOD[0], "1,10,100,150:20,99,20160101,null", "bad"])
    with pytest.raises(ValidationError, match=r"line 3, column Distance: Distance: expected"):
        load_o2o(path, strict=True)


def test_counts_reconcile_over_many_bad_rows(tmp_path: Path) -> None:
    lines = [HEADER] + [GOOD[i % 4] if i % 3 else "1,2,3" for i in range(300)]
    data = load_o2o(write(tmp_path, lines), quarantine_path=tmp_path / "q.csv")
    report = data.report
    assert report.rows_read == 300
    assert report.rows_quarantined == 100
    assert report.rows_kept == 200 == data.table.count().execute()
    assert len(pd.read_csv(tmp_path / "q.csv")) == 100


def test_crlf_bom_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "crlf.csv"
    body = "\r\n".join([HEADER, GOOD[0], "", GOOD[2]]) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    data = load_o2o(path)
    assert data.report.rows_read == 2 and data.report.blank_lines == 1
    assert data.table.order_by("line_number").line_number.execute().tolist() == [2, 4]


def test_test_layout_has_no_purchase_dates(tmp_path: Path) -> None:
    header = ",".join(TRAIN_COLUMNS[:6])
    path = write(tmp_path, [header, "1,10,100,30:5,null,20160712", "2,11,null,null,null,null"])
    data = load_o2o(path, quarantine_path=tmp_path / "q.csv")
    assert data.report.layout == "test" and not data.has_purchase_dates
    assert data.report.rows_kept == 1 and data.report.rows_quarantined == 1
    assert "candidate receipt needs a coupon" in next(iter(data.report.reasons))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (HEADER.replace(",", ";").encode() + b"\n1;2;3\n", "not comma-separated"),
        (b"1,10,100,150:20,0,20160101,20160105\n", "the header is missing"),
        (b"user,merchant,coupon\n1,2,3\n", "wrong header"),
        (b"\xff\xfe\x00garbage\n", "not UTF-8"),
    ],
)
def test_unusable_files_raise_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_o2o(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_o2o(tmp_path / "nope.csv")


def test_header_only_gives_an_empty_table(tmp_path: Path) -> None:
    data = load_o2o(write(tmp_path, [HEADER]))
    assert data.report.rows_read == 0 and data.table.count().execute() == 0


def test_parquet_input_matches_csv(tmp_path: Path) -> None:
    csv_path = write(tmp_path, [HEADER, *GOOD, "1,10,100,150:200,0,20160101,null"])
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    frame = frame.replace({"": None, "null": None})
    parquet_path = tmp_path / "log.parquet"
    frame.to_parquet(parquet_path, index=False)
    from_csv = load_o2o(csv_path)
    from_parquet = load_o2o(parquet_path)
    assert from_parquet.report.rows_quarantined == 1 == from_csv.report.rows_quarantined
    columns = [c for c in CANONICAL_SCHEMA.names if c != "line_number"]
    left = from_csv.table.order_by("line_number").execute()[columns]
    right = from_parquet.table.order_by("line_number").execute()[columns]
    pd.testing.assert_frame_equal(left, right)


def test_discount_conversion_matches_the_seed_formula(tmp_path: Path) -> None:
    pairs = [
        (x, y)
        for x in (5, 10, 20, 30, 50, 100, 150, 200, 300, 500)
        for y in (1, 5, 10, 20, 30, 50)
        if y < x
    ]
    lines = [HEADER] + [f"1,1,1,{x}:{y},0,20160101,null" for x, y in pairs]
    frame = load_o2o(write(tmp_path, lines)).table.order_by("line_number").execute()
    expected = [round((x - y) / x, 2) for x, y in pairs]
    assert frame.discount_rate.tolist() == pytest.approx(expected, abs=1e-12)


@pytest.mark.realdata
def test_real_tianchi_test_file(real_file) -> None:
    path = real_file("o2o/ccf_offline_stage1_test_revised.csv")
    data = load_o2o(path)
    table = data.table
    assert data.report.layout == "test"
    assert data.report.rows_read == 113_640
    assert data.report.rows_quarantined == 0
    assert table.count().execute() == 113_640
    assert table.distance.isnull().sum().execute() == 12_064
    assert table.coupon_id.nunique().execute() == 2_050
    dates = table.aggregate(lo=table.date_received.min(), hi=table.date_received.max()).execute()
    assert str(dates.lo.iloc[0])[:10] == "2016-07-01" and str(dates.hi.iloc[0])[:10] == "2016-07-31"
