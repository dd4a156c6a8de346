"""The values file for targeting by expected value: read, checked, matched to the candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from couponlens.errors import InputError
from couponlens.targeting.values import load_receipt_values, values_for

HEADER = "User_id,Coupon_id,Date_received,Value\n"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "values.csv"
    path.write_text(text)
    return path


def test_a_good_file_reads_into_typed_columns(tmp_path: Path) -> None:
    path = _file(tmp_path, HEADER + "1, 7 ,20160528,12.5\n2,7,20160601,-3\n")
    values = load_receipt_values(path)
    assert values["user_id"].tolist() == [1, 2] and values["coupon_id"].tolist() == [7, 7]
    assert values["date_received"].tolist() == [
        pd.Timestamp("2016-05-28"),
        pd.Timestamp("2016-06-01"),
    ]
    assert values["value"].tolist() == [12.5, -3.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("User_id,Coupon_id,Date,Value\n1,7,20160528,1\n", "line 1: expected the header"),
        (HEADER, "a header and no values"),
        (
            HEADER + "1,7,20160528,1\nx,7,20160528,1\n",
            "line 3, column User_id: expected a whole number",
        ),
        (HEADER + "1,-7,20160528,1\n", "line 2, column Coupon_id"),
        (
            HEADER + "1,7,20160230,1\n",
            "line 2, column Date_received: expected a date YYYYMMDD, got '20160230'",
        ),
        (HEADER + "1,7,2016-05-28,1\n", "line 2, column Date_received"),
        (
            HEADER + "1,7,20160528,inf\n",
            "line 2, column Value: expected a finite number, got 'inf'",
        ),
        (HEADER + "1,7,20160528,\n", "line 2, column Value"),
        (
            HEADER + "1,7,20160528,1\n2,7,20160528,1\n1,7,20160528,2\n",
            "lines 2 and 4 give the same receipt",
        ),
        ("", "the file is empty"),
        # two receipts each given twice: the message names a receipt and the line it repeats
        (
            HEADER + "1,7,20160528,1\n2,7,20160528,1\n1,7,20160528,2\n2,7,20160528,3\n",
            "lines 2 and 4 give",
        ),
        # blank lines do not shift the line named
        (HEADER + "1,7,20160528,1\n\n\n2,7,20160528,x\n", "line 5, column Value"),
        (HEADER + "\n\n", "a header and no values"),
    ],
)
def test_bad_files_are_refused_naming_line_and_column(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        load_receipt_values(_file(tmp_path, text))


def test_a_missing_file_and_non_utf8_bytes(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such values file"):
        load_receipt_values(tmp_path / "nope.csv")
    path = tmp_path / "latin.csv"
    path.write_bytes(HEADER.encode() + b"1,7,20160528,1\xe9\n")
    with pytest.raises(InputError, match="not UTF-8"):
        load_receipt_values(path)


def test_values_follow_the_candidates_and_every_candidate_needs_one() -> None:
    days = pd.to_datetime(["2016-07-01", "2016-07-01", "2016-07-02"])
    candidates = pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "coupon_id": [7, 7, 8],
            "date_received": days,
            "line_number": [2, 3, 4],
        }
    )
    values = pd.DataFrame(
        {"user_id": [2, 1], "coupon_id": [8, 7], "date_received": days[[2, 0]], "value": [4.0, 1.0]}
    )
    # a receipt given twice in the candidates gets its value twice
    np.testing.assert_array_equal(values_for(candidates, values, "v.csv"), [1.0, 1.0, 4.0])
    with pytest.raises(
        InputError,
        match=r"no value for 1 of the 3 candidates; the first is User_id=2, Coupon_id=8, Date_received=20160702 \(line 4",
    ):
        values_for(candidates, values.iloc[1:], "v.csv")
