"""One-line read errors (datasets/_read_errors.py) for failures the corpora reach only by chance."""

from __future__ import annotations

from pathlib import Path

import pytest

from couponlens.datasets._read_errors import physical_line, read_error_message
from couponlens.datasets.experiment import load_experiment
from couponlens.errors import InputError


def test_a_value_the_readers_type_guess_cannot_convert_is_named(tmp_path: Path) -> None:
    # DuckDB's sniffer takes the column for DOUBLE, then cannot convert 0x1F on line 2.
    path = tmp_path / "t.csv"
    path.write_text("arm,spend\ncoupon,0x1F\ncontrol,0.0\n")
    with pytest.raises(InputError) as raised:
        load_experiment(path, treatment="arm", control="control", outcomes=["spend"])
    assert str(raised.value) == (
        f"{path}, line 2, column spend: '0x1F' is not a number, as the column's other values are"
    )


def test_a_message_without_a_line_keeps_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    message = read_error_message(path, RuntimeError("IO Error: disk on fire\nmore detail"))
    assert message == f"{path}: could not read the file: IO Error: disk on fire"


def test_physical_lines_past_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b'a,b\r\n\r\n1,"x\r\ny"\r\n\r\n2,3\r\n')
    assert [physical_line(path, r) for r in range(2)] == [3, 6]
