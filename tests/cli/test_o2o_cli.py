"""The ``o2o report`` command end to end: files written, counts shown, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from couponlens.cli import main

HEADER = "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date"
ROWS = [
    "1,10,100,150:20,0,20160101,20160105",
    "2,10,null,null,null,null,20160102",
    "3,11,101,0.95,10,20160110,null",
    "4,11,101,0.95,12,20160110,null",  # Distance out of range
]


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    path = tmp_path / "log.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n")
    return path


def test_report_writes_files_and_reconciles(log: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["o2o", "report", str(log), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rows read 4 = kept 3 + quarantined 1" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["rows_read"] == 4
    assert results["dataset"]["rows_kept"] + results["dataset"]["rows_quarantined"] == 4
    assert results["record_classes"]["coupon_used"] == 1
    assert results["usage_rate"] == pytest.approx(0.5)
    quarantine = (out / "quarantine.csv").read_text().splitlines()
    assert quarantine[0] == "line_number,raw,reason" and quarantine[1].startswith("5,")
    html = (out / "report.html").read_text()
    assert "<html" in html and "Plotly.newPlot" in html
    assert "<script src=" not in html and "<link " not in html  # self-contained, offline


def test_strict_mode_fails_with_one_line(log: Path, tmp_path: Path, capsys) -> None:
    code = main(["o2o", "report", str(log), "--out", str(tmp_path / "out"), "--strict"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "line 5, column Distance" in err
    assert "Traceback" not in err and len(err.splitlines()) <= 2
    assert not (tmp_path / "out" / "report.html").exists()


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["o2o", "report", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_installed_entry_point_prints_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a;b;c\n1;2;3\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from couponlens.cli import _entry; _entry()",
            "o2o",
            "report",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "not comma-separated" in proc.stderr
