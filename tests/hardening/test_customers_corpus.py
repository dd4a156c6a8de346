"""Broken customer tables through the CLI (``couponlens customers report``).

A file either loads (exit 0; every table's ``read = duplicates dropped + kept`` printed and in
results.json) or the job stops with exit 2 and one stderr line naming the file, the line and,
where there is one, the column. Never a traceback. Each case breaks ``customer.csv`` of a small
generated business (or its ticket table) and runs the report on it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from couponlens.cli import main

HEADER = b"customer_id,usergender,dob"
ROWS = [b"100156,Male,1988-04-01", b"100501,Female,1989-07-16", b"100777,Not verify,1970-01-01",
        b"100900,Male,1995-12-31", b"101001,Female,2001-02-28"]  # fmt: skip
TICKETS = (
    b"ticket_id,customer_id,paying_method,theater_name,device_number,original_price,"
    b"discount_value,final_price,time,status_id,campaign_id,movie_name\n"
    b"T1,100156,e-wallet,Cinema A,d1,46000.0,14000.0,32000.0,2019-02-23 22:34:36,1,0,Film\n"
    b"T2,100501,card,Cinema B,d2,50000.0,0.0,50000.0,2019-02-30 19:00:00,1,0,Film\n"
)


def _file(*lines: bytes, end: bytes = b"\n") -> bytes:
    return b"".join(line + end for line in lines)


#: name -> (customer.csv bytes, rows read, duplicates dropped) for files that load.
LOADS: dict[str, tuple[bytes, int, int]] = {
    "utf-8 BOM": (b"\xef\xbb\xbf" + _file(HEADER, *ROWS), 5, 0),
    "CRLF line endings": (_file(HEADER, *ROWS, end=b"\r\n"), 5, 0),
    "blank lines": (_file(HEADER, ROWS[0], b"", ROWS[1], b"", *ROWS[2:]), 5, 0),
    "header only": (_file(HEADER), 0, 0),
    "negative ids": (_file(HEADER, b"-5,Male,1990-01-01", *ROWS), 6, 0),
    "semicolons (the reader detects the delimiter)": (
        _file(HEADER.replace(b",", b";"), *(r.replace(b",", b";") for r in ROWS)),
        5,
        0,
    ),
    "exact duplicate rows": (_file(HEADER, *ROWS, ROWS[0], ROWS[0]), 7, 2),
}

#: name -> (customer.csv bytes, the one line must match this expression after "FILE, ").
REFUSALS: dict[str, tuple[bytes, str]] = {
    "truncated last line": (
        _file(HEADER, *ROWS) + b"101002,Ma",
        r"line 7, column dob: expected 3 comma-separated fields, found 2",
    ),
    "mixed line endings": (
        _file(HEADER, ROWS[0]) + _file(*ROWS[1:], end=b"\r\n"),
        r"line 3: mixed line endings",
    ),
    "non-UTF-8 bytes": (
        _file(HEADER, ROWS[0], b"100501,F\xe9male,1989-07-16", *ROWS[2:]),
        r"line 3, column usergender: bytes that are not UTF-8 text",
    ),
    "binary garbage": (bytes(range(256)) * 20, r"line \d+: binary data"),
    "a 10 MB field": (
        _file(HEADER, ROWS[0], b"100501," + b"F" * 10_000_000 + b",1989-07-16", *ROWS[2:]),
        r"line 3, column usergender: a value of 10,000,000 bytes",
    ),
    "duplicated header column": (
        _file(b"customer_id,usergender,customer_id", b"1,Male,2", b"3,Female,4"),
        r"line 1, column customer_id: the header names this column twice",
    ),
    "missing header": (_file(*ROWS), r"line 1: the header is missing"),
    "id in scientific notation": (
        _file(HEADER, b"1e6,Male,1990-01-01", *ROWS),
        r"line 2, column customer_id: '1e6' is not a whole number",
    ),
    "id beyond 64 bits": (
        _file(HEADER, *ROWS, b"1e30,Male,1990-01-01"),
        r"line 7, column customer_id: '1e30' is not a whole number",
    ),
    "2016-02-30": (
        _file(HEADER, *ROWS[:2], b"100777,Male,2016-02-30", *ROWS[3:]),
        r"line 4, column birth_date: '2016-02-30' is not a date",
    ),
    "empty file": (b"", r"the file is empty"),
    "blank lines before a bad value": (
        _file(HEADER, b"", b"", ROWS[0], b"", b"100501,Female,born yesterday"),
        r"line 6, column birth_date: 'born yesterday' is not a date",
    ),
}


def _run(
    tmp_path: Path, files: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    data = tmp_path / "data"
    data.mkdir()
    for name, content in files.items():
        (data / name).write_bytes(content)
    capsys.readouterr()
    code = main(["customers", "report", str(data), "--out", str(tmp_path / "out"), "--no-clv"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", sorted(LOADS))
def test_broken_customer_file_loads_and_counts_reconcile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    content, read, dropped = LOADS[case]
    code, out, err = _run(tmp_path, {"customer.csv": content}, capsys)
    assert code == 0, err
    assert "Traceback" not in out + err
    load = json.loads((tmp_path / "out" / "results.json").read_text())["dataset"]["tables"]
    counts = load["customers"]
    assert (counts["rows_read"], counts["duplicates_dropped"]) == (read, dropped)
    assert counts["rows_read"] == counts["rows_kept"] + counts["duplicates_dropped"]
    assert (
        f"customers: read {read:,}, duplicates dropped {dropped:,}, kept {read - dropped:,}" in out
    )


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_unusable_customer_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    content, expected = REFUSALS[case]
    code, out, err = _run(tmp_path, {"customer.csv": content}, capsys)
    _assert_refused(tmp_path, code, out, err, "customer.csv", expected)


def test_impossible_ticket_time_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"customer.csv": _file(HEADER, *ROWS), "ticket_history.csv": TICKETS}
    code, out, err = _run(tmp_path, files, capsys)
    expected = r"line 3, column time: '2019-02-30 19:00:00' is not a date-time"
    _assert_refused(tmp_path, code, out, err, "ticket_history.csv", expected)


def _assert_refused(
    tmp_path: Path, code: int, out: str, err: str, name: str, expected: str
) -> None:
    assert code == 2, out + err
    assert "Traceback" not in out + err
    message = err.strip()
    assert len(message.splitlines()) == 1, message
    path = tmp_path / "data" / name
    assert message.startswith((f"error: {path}, line ", f"error: {path}: ")), message
    assert re.search(expected, message), message
    assert not (tmp_path / "out").exists()
