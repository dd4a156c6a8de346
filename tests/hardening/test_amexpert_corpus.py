"""Broken AmExpert tables through the CLI (``couponlens amexpert predict``).

The AmExpert loader is strict: a file either loads whole (every data row kept, the counts
printed) or the job stops with exit 2 and one stderr line naming the file, the line and, where
there is one, the column. Never a traceback. Each case breaks one table of a small generated
folder (or the candidates file) and scores with a model trained once for the module.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from couponlens.cli import main
from couponlens.datasets.amexpert_synthetic import write_amexpert

Edit = Callable[[bytes], bytes]


def _lines(content: bytes) -> list[bytes]:
    return content.splitlines()


def _join(lines: list[bytes], end: bytes = b"\n") -> bytes:
    return b"".join(line + end for line in lines)


def _set_field(line_number: int, column: int, value: bytes) -> Edit:
    """Replace one field of one physical line (the header is line 1)."""

    def edit(content: bytes) -> bytes:
        lines = _lines(content)
        fields = lines[line_number - 1].split(b",")
        fields[column] = value
        lines[line_number - 1] = b",".join(fields)
        return _join(lines)

    return edit


def _truncate_last_line(content: bytes) -> bytes:
    lines = _lines(content)
    last = lines[-1].split(b",")
    return _join(lines[:-1]) + b",".join(last[:2]) + b","  # no newline, three of five fields


def _mixed_endings(content: bytes) -> bytes:
    lines = _lines(content)
    return b"".join(line + (b"\r\n" if i % 2 else b"\n") for i, line in enumerate(lines))


def _insert_blank_lines(content: bytes) -> bytes:
    lines = _lines(content)
    return _join([lines[0], b"", b"", *lines[1:3], b"", *lines[3:]])


def _quoted_comma(content: bytes) -> bytes:
    lines = _lines(content)
    fields = lines[1].split(b",")
    lines[1] = b",".join([*fields[:3], b'"Dairy, Juices & Snacks"'])
    return _join(lines)


def _blank_lines_then_bad_brand(content: bytes) -> bytes:
    lines = _lines(content)
    fields = lines[2].split(b",")
    lines[2] = b",".join([fields[0], b"x", *fields[2:]])
    return _join([lines[0], b"", b"", lines[1], b"", *lines[2:]])


#: name -> (file, edit) for files that load whole.
LOADS: dict[str, tuple[str, Edit]] = {
    "utf-8 BOM": ("train.csv", lambda c: b"\xef\xbb\xbf" + c),
    "CRLF line endings": ("campaign_data.csv", lambda c: _join(_lines(c), b"\r\n")),
    "blank lines": ("item_data.csv", _insert_blank_lines),
    "negative customer id": ("train.csv", _set_field(2, 3, b"-5")),
    "quoted field with a comma": ("item_data.csv", _quoted_comma),
    "candidates: header only": ("test.csv", lambda c: _lines(c)[0] + b"\n"),
}

#: name -> (file, edit, the one line must match this regular expression after "FILE, ").
REFUSALS: dict[str, tuple[str, Edit, str]] = {
    "truncated last line": (
        "train.csv",
        _truncate_last_line,
        r"line \d+, column customer_id: expected 5 comma-separated fields, found 3",
    ),
    "wrong delimiter": (
        "train.csv",
        lambda c: c.replace(b",", b";"),
        r"line 1: the file is not comma-separated",
    ),
    "mixed line endings": ("train.csv", _mixed_endings, r"line 2: mixed line endings"),
    "non-UTF-8 bytes": (
        "train.csv",
        _set_field(3, 3, b"1\xe94"),
        r"line 3, column customer_id: bytes that are not UTF-8 text",
    ),
    "binary garbage": ("train.csv", lambda c: bytes(range(256)) * 20, r"line 1: binary data"),
    "a 10 MB field": (
        "item_data.csv",
        _set_field(4, 3, b"x" * 10_000_000),
        r"line 4, column category: a value of 10,000,000 bytes",
    ),
    "duplicated header column": (
        "train.csv",
        lambda c: c.replace(b"redemption_status\n", b"redemption_status,id\n", 1),
        r"line 1, column id: the header names this column twice",
    ),
    "missing header": (
        "train.csv",
        lambda c: _join(_lines(c)[1:]),
        r"line 1: the header is missing",
    ),
    "id in scientific notation": (
        "train.csv",
        _set_field(2, 0, b"1e6"),
        r"line 2, column id: id: expected a whole number",
    ),
    "negative campaign id": (
        "train.csv",
        _set_field(2, 1, b"-5"),
        r"line 2, column campaign_id: campaign_id -5 is not in campaign_data.csv",
    ),
    "30/02/16 (dd/mm/yy)": (
        "campaign_data.csv",
        _set_field(2, 2, b"30/02/16"),
        r"line 2, column start_date: start_date: expected a date dd/mm/yy or yyyy-mm-dd",
    ),
    "2016-02-30 (yyyy-mm-dd)": (
        "customer_transaction_data.csv",
        _set_field(2, 0, b"2016-02-30"),
        r"line 2, column date: date: expected a date",
    ),
    "empty file": ("train.csv", lambda c: b"", r"the file is empty"),
    "blank lines before a bad value": (
        "item_data.csv",
        _blank_lines_then_bad_brand,
        r"line 6, column brand: brand: expected a whole number",
    ),
    "candidates: non-UTF-8 bytes": (
        "test.csv",
        _set_field(2, 3, b"\xff"),
        r"line 2, column customer_id: bytes that are not UTF-8 text",
    ),
    "candidates: truncated last line": (
        "test.csv",
        lambda c: c[: c.rstrip(b"\n").rfind(b",")],
        r"line \d+, column customer_id: expected 4 comma-separated fields, found 3",
    ),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("amexpert_corpus")
    folder = root / "data"
    write_amexpert(folder, seed=3, customers=20)
    (folder / "synthetic_truth.csv").unlink()
    model = root / "model"
    argv = [
        "amexpert",
        "train",
        str(folder),
        "--model",
        str(model),
        "--rounds",
        "5",
        "--no-transactions",
    ]
    assert main([*argv, "--folds", "2"]) == 0
    return {"folder": folder, "model": model}


def _run(
    world: dict[str, Path],
    tmp_path: Path,
    table: str,
    edit: Edit,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str, Path]:
    folder = tmp_path / "data"
    shutil.copytree(world["folder"], folder)
    path = folder / table
    path.write_bytes(edit(path.read_bytes()))
    capsys.readouterr()
    code = main(
        [
            "amexpert",
            "predict",
            str(world["model"]),
            str(folder / "test.csv"),
            "--data",
            str(folder),
            "--out",
            str(tmp_path / "scores.csv"),
        ]  # fmt: skip
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err, path


@pytest.mark.parametrize("case", sorted(LOADS))
def test_broken_table_loads_whole(
    world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    table, edit = LOADS[case]
    code, out, err, path = _run(world, tmp_path, table, edit, capsys)
    assert code == 0, err
    assert "Traceback" not in out + err
    data_rows = sum(1 for line in path.read_bytes().splitlines()[1:] if line.strip())
    scores = (tmp_path / "scores.csv").read_text().splitlines()
    if table == "test.csv":  # the candidates: one score per row
        assert len(scores) - 1 == data_rows
    else:  # every data row of the broken table was read and kept, and the count printed
        assert re.search(rf"\b{re.escape(table)} {data_rows:,}\b", out), out


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_unusable_table_is_refused_in_one_line(
    world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    table, edit, expected = REFUSALS[case]
    code, out, err, path = _run(world, tmp_path, table, edit, capsys)
    assert code == 2, out + err
    assert "Traceback" not in out + err
    message = err.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith((f"error: {path}, line ", f"error: {path}: ")), message
    assert re.search(expected, message), message
    assert not (tmp_path / "scores.csv").exists()
