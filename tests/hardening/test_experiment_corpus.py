"""Broken experiment files through the CLI (``couponlens experiment report``).

A file either loads whole (exit 0; the arms in results.json hold every data row) or the job
stops with exit 2 and one stderr line naming the file, the line and, where there is one, the
column. Never a traceback. The format has no date columns, so the impossible-date case does not
apply; a number in scientific notation is a valid amount.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from couponlens.cli import main

HEADER = b"customer_id,treatment,converted,revenue,gender"
ROWS = [
    f"{i + 1},{'control' if i % 2 else 'coupon'},{int(i % 3 == 0)},{(i * 7) % 50}.5,"
    f"{'F' if i % 4 else 'M'}".encode()
    for i in range(40)
]


def _file(*lines: bytes, end: bytes = b"\n") -> bytes:
    return b"".join(line + end for line in lines)


def _with(line: int, column: int, value: bytes) -> bytes:
    """The file with one field of one physical line (header = line 1) replaced."""
    rows = [HEADER, *ROWS]
    fields = rows[line - 1].split(b",")
    fields[column] = value
    rows[line - 1] = b",".join(fields)
    return _file(*rows)


#: name -> (file bytes, data rows the report must count).
LOADS: dict[str, tuple[bytes, int]] = {
    "utf-8 BOM": (b"\xef\xbb\xbf" + _file(HEADER, *ROWS), 40),
    "CRLF line endings": (_file(HEADER, *ROWS, end=b"\r\n"), 40),
    "blank lines": (_file(HEADER, *ROWS[:10], b"", b"", *ROWS[10:]), 40),
    "semicolons (the reader detects the delimiter)": (
        _file(*(line.replace(b",", b";") for line in (HEADER, *ROWS))),
        40,
    ),
    "negative ids": (_with(2, 0, b"-5"), 40),
    "amount in scientific notation": (_with(3, 3, b"1.5e2"), 40),
    "quoted field with a comma": (_with(4, 4, b'"F, verified"'), 40),
}

#: name -> (file bytes, the one line must match this expression after "FILE").
REFUSALS: dict[str, tuple[bytes, str]] = {
    "truncated last line": (
        _file(HEADER, *ROWS) + b"41,coupon,1",
        r", line 42, column revenue: expected 5 comma-separated fields, found 3",
    ),
    "mixed line endings": (
        _file(HEADER, *ROWS[:5]) + _file(*ROWS[5:], end=b"\r\n"),
        r", line 7: mixed line endings",
    ),
    "non-UTF-8 bytes": (_with(5, 4, b"\xe9"), r", line 5, column gender: bytes that are not UTF-8"),
    "binary garbage": (bytes(range(256)) * 20, r", line 1: binary data"),
    "a 10 MB field": (
        _with(6, 4, b"F" * 10_000_000),
        r", line 6, column gender: a value of 10,000,000 bytes",
    ),
    "duplicated header column": (
        _file(HEADER + b",converted", *(r + b",1" for r in ROWS)),
        r", line 1, column converted: the header names this column twice",
    ),
    "missing header": (_file(*ROWS), r", line 1: the header is missing"),
    "outcome that is not a number": (
        _with(9, 2, b"yes"),
        r", line 9, column converted: 'yes' is not a finite number",
    ),
    "missing outcome after blank lines": (
        _file(HEADER, b"", *ROWS[:3], b"", b"", ROWS[3].replace(b",1,", b",,", 1), *ROWS[4:]),
        r", line 8, column converted: the outcome value is missing",
    ),
    "a value the reader's type guess cannot convert": (
        _with(10, 3, b"0x1F"),
        r", line 10, column revenue: '0x1F' is not a (finite )?number",
    ),
    "missing arm": (_with(12, 1, b""), r", line 12, column treatment: the arm is missing"),
    "header only": (_file(HEADER), r": the table has no rows"),
    "empty file": (b"", r": the file is empty"),
}


def _run(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str, Path]:
    path = tmp_path / "experiment.csv"
    path.write_bytes(content)
    capsys.readouterr()
    code = main(
        [
            "experiment",
            "report",
            str(path),
            "--treatment",
            "treatment",
            "--control",
            "control",
            "--outcome",
            "converted",
            "--outcome",
            "revenue",
            "--covariate",
            "gender",
            "--bootstrap",
            "0",
            "--out",
            str(tmp_path / "out"),
        ]  # fmt: skip
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err, path


@pytest.mark.parametrize("case", sorted(LOADS))
def test_broken_experiment_file_loads_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    content, rows = LOADS[case]
    code, out, err, _ = _run(tmp_path, content, capsys)
    assert code == 0, err
    assert "Traceback" not in out + err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert sum(arm["n"] for arm in results["arms"]) == rows
    assert f"rows read {rows:,}, all kept" in out


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_unusable_experiment_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    content, expected = REFUSALS[case]
    code, out, err, path = _run(tmp_path, content, capsys)
    assert code == 2, out + err
    assert "Traceback" not in out + err
    message = err.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f"error: {path}"), message
    assert re.search(expected, message.removeprefix(f"error: {path}")), message
    assert not (tmp_path / "out").exists()
