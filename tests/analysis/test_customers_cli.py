"""The customer CLI: generate, report (results.json keys, report page), demo entry, user errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from couponlens.cli import main
from couponlens.cli.customers import demo_customers

KEYS = ("demographics", "time", "platform", "os", "payment", "promotion", "customers",
        "failures", "cohorts", "acquisition", "rfm", "clv")  # fmt: skip


def test_generate_then_report(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (
        main(["generate", "customers", "--out", str(data), "--seed", "2", "--customers", "600"])
        == 0
    )
    assert (data / "truth.json").is_file()
    out = tmp_path / "report"
    assert main(["customers", "report", str(data), "--out", str(out), "--no-clv"]) == 0
    results = json.loads((out / "results.json").read_text())
    for key in KEYS:
        assert key in results, key
    assert results["clv"]["status"] == "not computed: turned off"
    assert results["dataset"]["tables"]["tickets"]["duplicates_dropped"] == 1
    html = (out / "report.html").read_text()
    for title in (
        "Cohort retention",
        "RFM segments",
        "Promotions",
        "Payment failures",
        "Acquisition",
    ):
        assert title in html
    assert "Heatmap" in html or "heatmap" in html
    assert results["findings"]


@pytest.mark.realdata
def test_report_on_the_real_2019_release(real_file: Callable[[str], Path], tmp_path: Path) -> None:
    folder = real_file("cinema_2019_release/customer.csv").parent
    real_file("cinema_2019_release/device_detail.csv")
    assert main(["customers", "report", str(folder), "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["dataset"]["missing_tables"] == ["tickets"]
    gender = {g["gender"]: g["customers"] for g in results["demographics"]["gender"]}
    assert (gender["male"], gender["female"], gender["not verified"]) == (25_115, 24_522, 2_417)
    assert results["demographics"]["placeholder_birth_dates"] == 1_927
    devices = {d["platform"]: d["devices"] for d in results["platform"]["devices"]}
    assert devices == {"mobile": 55_097, "website": 542}
    assert results["rfm"]["status"].startswith("not available")


def test_mapping_option(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(
        "order,client,paid_at,state\n"
        + "".join(f"o{i},{i % 7},2019-0{1 + i % 3}-0{1 + i % 9} 19:00:00,1\n" for i in range(40))
    )
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[tickets]\nfile = "orders.csv"\n'
        'columns = { ticket_id = "order", customer_id = "client", time = "paid_at", status_id = "state" }\n'
    )
    out = tmp_path / "r"
    assert (
        main(
            [
                "customers",
                "report",
                str(tmp_path),
                "--out",
                str(out),
                "--mapping",
                str(mapping),
                "--no-clv",
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text())
    assert results["time"]["tickets"] == 40


@pytest.mark.parametrize(
    "args",
    [
        ["customers", "report", "/nonexistent/folder", "--out", "OUT"],
        ["customers", "report", "DATA", "--out", "OUT", "--mapping", "DATA/missing.toml"],
        ["generate", "customers", "--out", "OUT", "--customers", "3"],
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "customer.csv").write_text("user_id,usergender,dob\n1,1,1990-01-01\n")
    argv = [a.replace("OUT", str(tmp_path / "out")).replace("DATA", str(tmp_path)) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:")
    assert "Traceback" not in err


def test_demo_entry(tmp_path: Path) -> None:
    entry = demo_customers(tmp_path, seed=1)
    assert entry.link == "customers/report.html"
    assert (tmp_path / "customers" / "report.html").is_file()
    assert (tmp_path / "data" / "customers" / "ticket_history.csv").is_file()
    assert entry.figures["promotion share of tickets"].endswith("%")
    assert "return rate, organic" in entry.figures
    results = json.loads((tmp_path / "customers" / "results.json").read_text())
    assert results["clv"]["status"] == "not computed: turned off"
