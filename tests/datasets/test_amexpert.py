"""The AmExpert loader: the real tables, the dataset's quirks, and errors naming file/line/column."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from couponlens.datasets.amexpert import TABLES, load_amexpert, load_candidates
from couponlens.datasets.amexpert_synthetic import write_amexpert
from couponlens.errors import InputError, ValidationError

GOOD: dict[str, list[str]] = {
    "train.csv": [
        "id,campaign_id,coupon_id,customer_id,redemption_status",
        "1,1,10,100,0",
        "2,1,11,101,1",
        "4,2,10,101,0",
    ],
    "test.csv": ["id,campaign_id,coupon_id,customer_id", "3,2,11,100"],
    "campaign_data.csv": [
        "campaign_id,campaign_type,start_date,end_date",
        "2,X,1/3/13,15/04/13",
        "1,Y,21/10/12,20/12/12",
    ],
    "coupon_item_mapping.csv": ["coupon_id,item_id", "10,1", "10,2", "11,3"],
    "item_data.csv": [
        "item_id,brand,brand_type,category",
        "1,5,Established,Grocery",
        "2,5,Established,Grocery",
        '3,6,Local,"Dairy, Juices & Snacks"',
    ],
    "customer_demographics.csv": [
        "customer_id,age_range,marital_status,rented,family_size,no_of_children,income_bracket",
        "100,70+,Married,0,5+,3+,4",
        "101,26-35,,1,1,,2",
    ],
    "customer_transaction_data.csv": [
        "date,customer_id,item_id,quantity,selling_price,other_discount,coupon_discount",
        "2012-01-02,100,1,1,10.5,-1.0,0.0",
        "2012-02-03,101,3,2,20,0,-3.5",
    ],
}


def write_folder(
    tmp_path: Path, overrides: dict[str, list[str] | None] | None = None, eol: str = "\n"
) -> Path:
    """Write the GOOD tables, with some files replaced (or left out when None)."""
    folder = tmp_path / "amx"
    folder.mkdir(exist_ok=True)
    files: dict[str, list[str] | None] = {**GOOD, **(overrides or {})}
    for name, lines in files.items():
        if lines is not None:
            (folder / name).write_bytes((eol.join(lines) + eol).encode("utf-8"))
    return folder


def replace_line(name: str, index: int, line: str) -> dict[str, list[str] | None]:
    lines = list(GOOD[name])
    lines[index] = line
    return {name: lines}


def test_good_tables_load_with_the_quirks(tmp_path: Path) -> None:
    data = load_amexpert(write_folder(tmp_path, eol="\r\n"))
    assert data.has_transactions and data.report.has_test
    assert data.report.rows == {
        "train": 3,
        "test": 1,
        "campaigns": 2,
        "coupon_items": 3,
        "items": 3,
        "demographics": 2,
        "transactions": 2,
    }
    campaigns = data.campaigns.order_by("campaign_id").execute()
    assert [d.date() for d in pd.to_datetime(campaigns.start_date)] == [
        dt.date(2012, 10, 21),
        dt.date(2013, 3, 1),
    ]
    assert [d.date() for d in pd.to_datetime(campaigns.end_date)] == [
        dt.date(2012, 12, 20),
        dt.date(2013, 4, 15),
    ]
    demo = data.demographics.order_by("customer_id").execute()
    assert demo.family_size.tolist() == [5, 1]  # "5+" is 5 (or more)
    assert demo.no_of_children.tolist()[0] == 3  # "3+"
    assert demo.no_of_children.isna().tolist() == [False, True]
    assert demo.marital_status.isna().tolist() == [False, True]
    items = data.items.order_by("item_id").execute()
    assert items.category.tolist()[2] == "Dairy, Juices & Snacks"  # quoted comma
    tx = data.transactions.order_by("line_number").execute()  # type: ignore[union-attr]
    assert [d.date() for d in pd.to_datetime(tx.date)] == [dt.date(2012, 1, 2), dt.date(2012, 2, 3)]
    assert tx.coupon_discount.tolist() == [0.0, -3.5]
    train = data.train.order_by("line_number").execute()
    assert train.line_number.tolist() == [2, 3, 4]
    assert train.redemption_status.tolist() == [0, 1, 0]


def test_optional_tables_may_be_absent(tmp_path: Path) -> None:
    data = load_amexpert(
        write_folder(tmp_path, {"test.csv": None, "customer_transaction_data.csv": None})
    )
    assert data.test is None and data.transactions is None and not data.has_transactions
    assert any("customer_transaction_data.csv is absent" in w for w in data.report.warnings)


@pytest.mark.parametrize("missing", ["train.csv", "campaign_data.csv", "item_data.csv"])
def test_a_missing_required_table_is_named(tmp_path: Path, missing: str) -> None:
    with pytest.raises(InputError, match=missing):
        load_amexpert(write_folder(tmp_path, {missing: None}))


def test_a_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder"):
        load_amexpert(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("overrides", "file", "line", "column", "words"),
    [
        (replace_line("campaign_data.csv", 2, "1,Y,31/02/12,20/12/12"), "campaign_data.csv", 3, "start_date", "dd/mm/yy"),
        (replace_line("campaign_data.csv", 1, "2,Z,1/3/13,15/04/13"), "campaign_data.csv", 2, "campaign_type", "X or Y"),
        (replace_line("campaign_data.csv", 1, "2,X,1/3/13,15/02/13"), "campaign_data.csv", 2, "end_date", "before"),
        (replace_line("train.csv", 2, "2,1,11,101,yes"), "train.csv", 3, "redemption_status", "0 or 1"),
        (replace_line("train.csv", 3, "4,2,10,,0"), "train.csv", 4, "customer_id", "missing"),
        (replace_line("train.csv", 3, "1,2,10,101,0"), "train.csv", 4, "id", "repeats line 2"),
        (replace_line("train.csv", 3, "4,9,10,101,0"), "train.csv", 4, "campaign_id", "not in campaign_data.csv"),
        (replace_line("test.csv", 1, "3,2,99,100"), "test.csv", 2, "coupon_id", "not in coupon_item_mapping.csv"),
        (replace_line("coupon_item_mapping.csv", 2, "10,77"), "coupon_item_mapping.csv", 3, "item_id", "not in item_data.csv"),
        (replace_line("customer_demographics.csv", 2, "101,26-35,,1,lots,,2"), "customer_demographics.csv", 3, "family_size", "5+"),
        (replace_line("customer_demographics.csv", 2, "101,26-35,,1,1,4++,2"), "customer_demographics.csv", 3, "no_of_children", "3+"),
        (replace_line("customer_demographics.csv", 1, "100,90+,Married,0,2,,4"), "customer_demographics.csv", 2, "age_range", "70+"),
        (replace_line("customer_transaction_data.csv", 2, "2012-02-30,101,3,2,20,0,-3.5"), "customer_transaction_data.csv", 3, "date", "date"),
        (replace_line("customer_transaction_data.csv", 1, "2012-01-02,100,1,1,ten,-1.0,0.0"), "customer_transaction_data.csv", 2, "selling_price", "number"),
    ],
)  # fmt: skip
def test_bad_values_name_file_line_and_column(
    tmp_path: Path,
    overrides: dict[str, list[str] | None],
    file: str,
    line: int,
    column: str,
    words: str,
) -> None:
    with pytest.raises(ValidationError) as info:
        load_amexpert(write_folder(tmp_path, overrides))
    error = info.value
    assert Path(error.path).name == file
    assert (error.line, error.column) == (line, column)
    assert words in str(error) and "\n" not in str(error)


def test_a_missing_header_column_is_named(tmp_path: Path) -> None:
    bad = ["id,campaign_id,coupon,customer_id,redemption_status", "1,1,10,100,0"]
    with pytest.raises(InputError, match=r"train\.csv, line 1: missing column\(s\) coupon_id"):
        load_amexpert(write_folder(tmp_path, {"train.csv": bad}))


def test_a_semicolon_file_is_explained(tmp_path: Path) -> None:
    bad = ["coupon_id;item_id", "10;1"]
    with pytest.raises(InputError, match="not comma-separated"):
        load_amexpert(write_folder(tmp_path, {"coupon_item_mapping.csv": bad}))


def test_candidates_keep_file_order_and_are_checked(tmp_path: Path) -> None:
    data = load_amexpert(write_folder(tmp_path))
    good = tmp_path / "cands.csv"
    good.write_text("id,campaign_id,coupon_id,customer_id\n9,2,11,100\n5,1,10,999\n")
    table = load_candidates(good, data).order_by("line_number").execute()
    assert table.id.tolist() == [9, 5]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,campaign_id,coupon_id,customer_id\n9,2,11,100\n5,7,10,100\n")
    with pytest.raises(ValidationError, match=r"bad\.csv, line 3, column campaign_id"):
        load_candidates(bad, data)
    with pytest.raises(InputError, match="no such file"):
        load_candidates(tmp_path / "none.csv", data)


# ------------------------------------------------------------------------------ real tables

REAL_ROWS = {
    "train": 78_369,
    "test": 50_226,
    "campaigns": 28,
    "coupon_items": 92_663,
    "demographics": 760,
    "items": 74_066,
}


@pytest.mark.realdata
def test_real_tables_load_with_the_documented_row_counts(
    real_file: Callable[[str], Path],
) -> None:
    # Each required file through the fixture: a missing one fails under COUPONLENS_REQUIRE_DATA=1.
    for name, (file_name, _, _) in TABLES.items():
        if name != "transactions":
            real_file(f"amexpert/{file_name}")
    folder = real_file("amexpert/train.csv").parent
    data = load_amexpert(folder)
    assert {k: v for k, v in data.report.rows.items()} == REAL_ROWS
    assert not data.has_transactions  # the shared folder lacks the seventh table
    assert int(data.train.redemption_status.sum().execute()) == 729
    campaigns = data.campaigns.execute().set_index("campaign_id")
    assert pd.Timestamp(campaigns.loc[26, "start_date"]).date() == dt.date(
        2012, 8, 12
    )  # "12/08/12" is dd/mm/yy
    assert set(campaigns.campaign_type) == {"X", "Y"}
    demo = data.demographics.execute()
    assert demo.family_size.max() == 5 and demo.no_of_children.max() == 3  # 5+ and 3+
    assert demo.marital_status.isna().any() and demo.no_of_children.isna().any()
    # Train and test campaigns do not overlap.
    train_c = set(data.train.campaign_id.execute())
    test_c = set(data.test.campaign_id.execute())  # type: ignore[union-attr]
    assert not train_c & test_c


def test_parquet_tables_load_like_the_csv_files(tmp_path: Path) -> None:
    """train.parquet (typed), campaign dates stored as dates, transactions as a folder of parts."""
    csv_dir = tmp_path / "csv"
    write_amexpert(csv_dir, seed=3, customers=50)
    pq_dir = tmp_path / "parquet"
    pq_dir.mkdir()
    for name in ("coupon_item_mapping", "item_data", "customer_demographics", "test"):
        (pq_dir / f"{name}.csv").write_bytes((csv_dir / f"{name}.csv").read_bytes())
    pd.read_csv(csv_dir / "train.csv").to_parquet(pq_dir / "train.parquet", index=False)
    campaigns = pd.read_csv(csv_dir / "campaign_data.csv")
    for column in ("start_date", "end_date"):
        campaigns[column] = pd.to_datetime(campaigns[column], format="%d/%m/%y").dt.date
    campaigns.to_parquet(pq_dir / "campaign_data.parquet", index=False)
    transactions = pd.read_csv(csv_dir / "customer_transaction_data.csv")
    (pq_dir / "customer_transaction_data").mkdir()
    half = len(transactions) // 2
    for i, part in enumerate((transactions.iloc[:half], transactions.iloc[half:])):
        part.to_parquet(pq_dir / "customer_transaction_data" / f"part-{i}.parquet", index=False)
    from_csv, from_parquet = load_amexpert(csv_dir), load_amexpert(pq_dir)
    assert from_parquet.report.rows == from_csv.report.rows
    for name in ("train", "campaigns", "transactions"):
        left = getattr(from_csv, name).drop("line_number").execute()
        right = getattr(from_parquet, name).drop("line_number").execute()
        key = list(left.columns)
        pd.testing.assert_frame_equal(
            left.sort_values(key, ignore_index=True), right.sort_values(key, ignore_index=True)
        )
    campaigns.assign(start_date=True).to_parquet(pq_dir / "campaign_data.parquet", index=False)
    with pytest.raises(
        InputError, match=r"campaign_data.parquet: column start_date has type boolean"
    ):
        load_amexpert(pq_dir)
