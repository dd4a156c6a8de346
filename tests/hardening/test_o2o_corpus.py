"""Broken O2O files through the CLI: a clean load whose counts reconcile, or one clear line.

Every case of docs/reliability.md's O2O table is here. "Clean" means exit 0, ``rows_read =
rows_kept + rows_quarantined`` in results.json, and quarantine.csv holding exactly the
quarantined rows with their line numbers; "refused" means exit 2 and a single stderr line that
names the file (and the line and column where there is one). Never a traceback.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from couponlens.cli import main

HEADER = "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date"
RECEIPT = "1439408,2632,8591,20:1,0,20160217,null"
PURCHASE = "1439408,4663,null,null,1,null,20160101"

#: name -> (file bytes, expected quarantined line numbers) for files that load.
LOADS: dict[str, tuple[bytes, list[int]]] = {
    "truncated last line": (
        f"{HEADER}\n{RECEIPT}\n{PURCHASE}\n1439408,2632,8591,20:".encode(),
        [4],
    ),
    "utf-8 BOM": (f"\ufeff{HEADER}\n{RECEIPT}\n".encode(), []),
    "mixed line endings": (f"{HEADER}\r\n{RECEIPT}\n{PURCHASE}\r\n{RECEIPT}\n".encode(), []),
    "a 10 MB field": (
        f"{HEADER}\n{RECEIPT}\n{'9' * 10_000_000},1,2,0.9,1,20160101,null\n{RECEIPT}\n".encode(),
        [3],
    ),
    "header repeated inside": (f"{HEADER}\n{RECEIPT}\n{HEADER}\n{PURCHASE}\n".encode(), [3]),
    "scientific notation ids": (
        f"{HEADER}\n1e6,2632,8591,20:1,0,20160217,null\n{RECEIPT}\n".encode(),
        [2],
    ),
    "negative ids": (f"{HEADER}\n-5,2632,8591,20:1,0,20160217,null\n{RECEIPT}\n".encode(), [2]),
    "20160230": (f"{HEADER}\n1,2,3,0.9,1,20160230,null\n{RECEIPT}\n".encode(), [2]),
    "quoted field with a comma": (
        f'{HEADER}\n"1,2",3,4,0.9,1,20160101,null\n{RECEIPT}\n'.encode(),
        [2],
    ),
    "blank lines": (f"{HEADER}\n\n{RECEIPT}\n\n{PURCHASE}\n".encode(), []),
    "header only": (f"{HEADER}\n".encode(), []),
}

#: name -> (file bytes, text the one-line error must contain) for files that are refused.
REFUSALS: dict[str, tuple[bytes, str]] = {
    "empty file": (b"", "the file is empty"),
    "wrong delimiter": (
        HEADER.replace(",", ";").encode() + b"\n1;2;3;0.9;1;20160101;null\n",
        "not comma-separated",
    ),
    "missing header": (f"{RECEIPT}\n{RECEIPT}\n".encode(), "line 1: the header is missing"),
    "duplicated header column": (
        HEADER.replace("Merchant_id", "User_id").encode() + f"\n{RECEIPT}\n".encode(),
        "line 1: wrong header",
    ),
    "binary garbage": (bytes(range(256)) * 20, "line 1"),
    "non-UTF-8 bytes": (
        f"{HEADER}\n{RECEIPT}\n".encode() + b"14394\xe9,2632,8591,20:1,0,20160217,null\n",
        "line 3, column User_id: bytes that are not UTF-8",
    ),
}


def _run(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    source = tmp_path / "log.csv"
    source.write_bytes(content)
    code = main(["o2o", "report", str(source), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", sorted(LOADS))
def test_broken_file_loads_and_counts_reconcile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    content, quarantined = LOADS[case]
    code, out, err = _run(tmp_path, content, capsys)
    assert code == 0, err
    assert "Traceback" not in out + err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    dataset = results["dataset"]
    assert dataset["rows_read"] == dataset["rows_kept"] + dataset["rows_quarantined"]
    assert dataset["rows_quarantined"] == len(quarantined)
    quarantine = tmp_path / "out" / "quarantine.csv"
    if quarantined:
        csv.field_size_limit(32 * 1024 * 1024)  # the 10 MB field is kept whole
        with quarantine.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [int(r["line_number"]) for r in rows] == quarantined
        assert all(r["reason"] for r in rows)
        lines = content.decode("utf-8", "replace").lstrip("\ufeff").splitlines()
        assert [r["raw"] for r in rows] == [lines[n - 1].rstrip("\r") for n in quarantined]
    else:
        assert not quarantine.exists()
    assert f"quarantined {dataset['rows_quarantined']:,}" in out


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_unusable_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    content, expected = REFUSALS[case]
    code, out, err = _run(tmp_path, content, capsys)
    assert code == 2
    assert "Traceback" not in out + err
    message = err.strip()
    assert len(message.splitlines()) == 1, message
    assert "log.csv" in message and expected in message, message
    assert not (tmp_path / "out" / "report.html").exists()
