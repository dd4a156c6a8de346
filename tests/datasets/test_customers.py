"""Customer-activity loaders: both cinema releases, mapping files, cleaning counts, the generator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from couponlens.datasets.customers import (
    customer_data_from_frames,
    load_customer_data,
    read_mapping,
)
from couponlens.datasets.customers_synthetic import (
    CustomerGenerator,
    generate_customer_tables,
    generate_customers,
)
from couponlens.errors import InputError

RELEASE_2019 = "cinema_2019_release"


@pytest.fixture(scope="module")
def release_2019(real_file: Callable[[str], Path]) -> Path:
    for name in ("customer.csv", "device_detail.csv", "campaign.csv", "status_detail.csv"):
        real_file(f"{RELEASE_2019}/{name}")
    return real_file(RELEASE_2019)


@pytest.mark.realdata
def test_real_2019_release_figures(release_2019: Path) -> None:
    data = load_customer_data(release_2019)
    report = data.report
    assert report.missing_tables == ["tickets"]
    assert data.tickets is None
    customers = report.tables["customers"]
    assert (customers.rows_read, customers.rows_kept, customers.layout) == (
        52_054,
        52_054,
        "2019 release",
    )
    assert customers.columns == {
        "customer_id": "user_id",
        "gender": "usergender",
        "birth_date": "dob",
    }
    genders = data.customers.gender.value_counts().execute().set_index("gender")["gender_count"]
    # codes 1 / 2 / 0 of the file
    assert (genders["male"], genders["female"], genders["not verified"]) == (25_115, 24_522, 2_417)
    assert report.placeholder_birth_dates == 1_927
    assert int(data.customers.birth_date.isnull().sum().execute()) == 1_927
    assert data.customers.count().execute() == 52_054
    devices = data.devices.platform.value_counts().execute().set_index("platform")["platform_count"]
    assert int(devices.sum()) == 55_639
    assert (devices["mobile"], devices["website"]) == (55_097, 542)
    assert report.tables["campaigns"].rows_kept == 105
    assert report.tables["campaigns"].columns["campaign_id"] == "campaign_code"
    types = set(data.campaigns.campaign_type.execute())
    assert {"direct discount", "voucher", "lixi"} == types
    statuses = data.statuses.execute().set_index("status_id")
    assert statuses.loc[1, "status_name"] == "SUCCESS"
    assert pd.isna(statuses.loc[1, "error_group"])
    assert statuses.loc[-5, "error_group"] == "external"


def test_duplicates_and_placeholders_counted() -> None:
    people = pd.DataFrame(
        {
            "customer_id": [1, 2, 2, 3, 4],
            "usergender": ["Male", "Not verify", "Not verify", "Female", "X"],
            "dob": ["1990-05-01", "1970-01-01", "1970-01-01", "1970-01-01", None],
        }
    )
    tickets = pd.DataFrame(
        {
            "ticket_id": ["a", "a", "b"],
            "customer_id": [1, 1, 3],
            "time": ["2019-01-05 19:00:00"] * 2 + ["2019-01-06 10:00:00"],
            "status_id": [1, 1, -5],
            "campaign_id": [0, 0, 12],
        }
    )
    data = customer_data_from_frames(customers=people, tickets=tickets)
    r = data.report
    assert r.tables["customers"].duplicates_dropped == 1
    assert r.tables["tickets"].duplicates_dropped == 1
    assert r.tables["tickets"].rows_kept == 2
    assert r.placeholder_birth_dates == 2
    assert r.placeholder_birth_dates_not_verified == 1
    c = data.customers.order_by("customer_id").execute()
    assert c.gender.tolist() == ["male", "not verified", "female", "unknown"]
    assert c.birth_date.isna().tolist() == [False, True, True, True]
    t = data.tickets.order_by("ticket_id").execute()
    assert t.campaign_id.isna().tolist() == [True, False]


def test_mapping_file_for_a_user_layout(tmp_path: Path) -> None:
    (tmp_path / "clients.csv").write_text("client_no,sex,born\n7,H,04/03/1995\n8,F,01/01/1970\n")
    (tmp_path / "orders.csv").write_text(
        "order,client_no,paid_at,state,promo\n"
        "o1,7,05/01/2019 19:30,1,0\n"
        "o2,8,06/01/2019 20:00,1,44\n"
        "o2,8,06/01/2019 20:00,1,44\n"
    )
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        '[options]\nplaceholder_birth_date = "1970-01-01"\n\n'
        '[customers]\nfile = "clients.csv"\n'
        'columns = { customer_id = "client_no", gender = "sex", birth_date = "born" }\n'
        'date_format = "%d/%m/%Y"\n'
        'values.gender = { H = "male", F = "female" }\n\n'
        '[tickets]\nfile = "orders.csv"\n'
        'columns = { ticket_id = "order", customer_id = "client_no", time = "paid_at", '
        'status_id = "state", campaign_id = "promo" }\n'
        'time_format = "%d/%m/%Y %H:%M"\n'
    )
    data = load_customer_data(tmp_path, mapping)
    assert data.report.tables["customers"].layout == "mapped"
    assert data.report.tables["tickets"].duplicates_dropped == 1
    assert data.report.placeholder_birth_dates == 1
    c = data.customers.order_by("customer_id").execute()
    assert c.gender.tolist() == ["male", "female"]
    assert str(c.birth_date.iloc[0])[:10] == "1995-03-04"
    t = data.tickets.order_by("ticket_id").execute()
    assert str(t.time.iloc[0]) == "2019-01-05 19:30:00"
    assert t.campaign_id.isna().tolist() == [True, False]
    # the same mapping as JSON
    as_json = tmp_path / "map.json"
    as_json.write_text(
        json.dumps(
            {
                "customers": {
                    "file": "clients.csv",
                    "columns": {"customer_id": "client_no", "gender": "sex", "birth_date": "born"},
                    "date_format": "%d/%m/%Y",
                }
            }
        )
    )
    assert read_mapping(as_json).tables["customers"].columns["customer_id"] == "client_no"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[clients]\nfile = 'x.csv'\n", "unknown table"),
        ("[customers]\ncolumns = { shoe_size = 'x' }\n", "not canonical"),
        ("[customers\n", "not valid TOML"),
    ],
)
def test_bad_mapping_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_mapping(path)


def test_bad_inputs_give_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="data folder not found"):
        load_customer_data(tmp_path / "nope")
    with pytest.raises(InputError, match="found neither"):
        load_customer_data(tmp_path)
    (tmp_path / "ticket_history.csv").write_text(
        "ticket_id,customer_id,time,status_id\nt1,1,2019-01-01 10:00:00,1\nt2,2,yesterday,1\n"
    )
    with pytest.raises(InputError, match=r"line 3, column time") as err:
        load_customer_data(tmp_path)
    assert "\n" not in str(err.value)


def test_generator_is_deterministic_and_writes_its_truths(tmp_path: Path) -> None:
    a, truth_a = generate_customer_tables(
        CustomerGenerator(customers=400, seed=4, duplicate_rows=5)
    )
    b, _ = generate_customer_tables(CustomerGenerator(customers=400, seed=4, duplicate_rows=5))
    pd.testing.assert_frame_equal(a["ticket_history"], b["ticket_history"])
    assert truth_a["duplicate_rows"] == 5
    assert truth_a["customers_total"] == 400
    out = generate_customers(tmp_path / "g", customers=500, seed=2)
    truth = json.loads((out / "truth.json").read_text())
    data = load_customer_data(out)
    assert data.report.tables["tickets"].duplicates_dropped == truth["duplicate_rows"] == 1
    assert data.report.placeholder_birth_dates == truth["placeholder_birth_dates"]
    assert data.report.tables["tickets"].rows_kept == truth["tickets_written"] - 1
    tickets = data.tickets.execute()
    months = set(tickets.time.dt.strftime("%Y-%m"))
    assert not months & set(truth["missing_months"])
    web = data.devices.filter(data.devices.platform == "website").device_id.execute()
    web_times = tickets[tickets.device_id.isin(set(web))].time
    assert web_times.min() >= pd.Timestamp(truth["website_from"])
    parquet = generate_customers(tmp_path / "p", customers=200, seed=2, file_format="parquet")
    assert load_customer_data(parquet).report.tables["tickets"].rows_kept > 0
    with pytest.raises(InputError):
        generate_customer_tables(CustomerGenerator(customers=3))


def test_tables_as_folders_of_parquet_parts(tmp_path: Path) -> None:
    """``ticket_history/`` holding Parquet parts loads like ``ticket_history.csv``; a Parquet
    column that cannot be the canonical type names the file, row and column."""
    csv_dir = generate_customers(tmp_path / "csv", customers=150, seed=4)
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    for table in ("customer", "device_detail", "campaign", "status_detail"):
        (parts_dir / f"{table}.csv").write_bytes((csv_dir / f"{table}.csv").read_bytes())
    tickets = pd.read_csv(csv_dir / "ticket_history.csv")
    (parts_dir / "ticket_history").mkdir()
    half = len(tickets) // 2
    tickets.iloc[:half].to_parquet(parts_dir / "ticket_history" / "part-0.parquet", index=False)
    tickets.iloc[half:].to_parquet(parts_dir / "ticket_history" / "part-1.parquet", index=False)
    from_csv, from_parts = load_customer_data(csv_dir), load_customer_data(parts_dir)
    assert from_parts.report.tables["tickets"].rows_read == len(tickets)
    for name in ("rows_kept", "duplicates_dropped"):
        assert getattr(from_parts.report.tables["tickets"], name) == getattr(
            from_csv.report.tables["tickets"], name
        )
    key = ["ticket_id", "time", "customer_id"]
    left = from_csv.tickets.execute().sort_values(key, ignore_index=True)
    right = from_parts.tickets.execute().sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    broken = tickets.assign(customer_id=tickets["customer_id"].astype(str))
    broken.loc[3, "customer_id"] = "abc"
    broken.to_parquet(parts_dir / "ticket_history" / "part-0.parquet", index=False)
    (parts_dir / "ticket_history" / "part-1.parquet").unlink()
    with pytest.raises(InputError, match=r"ticket_history, line 4, column customer_id: 'abc'"):
        load_customer_data(parts_dir)
