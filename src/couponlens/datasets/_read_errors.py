"""One line naming the file, line and column when the engine cannot read a CSV file.

DuckDB's CSV reader stops on a broken file with a long, multi-line message. The loaders turn
it into one line a user can act on, naming the physical line (the header is line 1) and, where
it can be found, the column: bytes that are not UTF-8, a line with too few or too many fields, a
line over the reader's size limit, mixed line endings, binary data, an empty file. The file is
only scanned here, on the error path, so a good load pays nothing.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_bytes(b"a,b,c\\n1,2,3\\n4,5\\n")
    >>> error = RuntimeError("CSV Error on Line: 3\\nExpected Number of Columns: 3 Found: 2")
    >>> read_error_message(path, error).split(", ", 1)[1]
    'line 3, column c: expected 3 comma-separated fields, found 2 (a cut-off line, or a comma inside a value without quotes)'
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, cast

from ibis.backends import BaseBackend

from couponlens.errors import InputError

_LINE = re.compile(r"CSV Error on Line: (\d+)")
_FIELDS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_LINE_SIZE = re.compile(r"Maximum line size of (\d+) bytes exceeded")
_NUMBER = re.compile(r"^-?[0-9][0-9.:/ -]*$")
_CONVERSION = re.compile(
    r'Error when converting column "([^"]+)"\. Could not convert string "(.*?)" to \'(\w+)\''
)
_KINDS = {"DOUBLE": "a number", "BIGINT": "a whole number", "INTEGER": "a whole number",
          "DATE": "a date", "TIMESTAMP": "a date-time", "BOOLEAN": "true or false"}  # fmt: skip


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Physical lines with their numbers (the header is line 1), line endings kept."""
    with _open(path) as handle:
        yield from enumerate(handle, start=1)


def header_names(path: Path, delimiter: str = ",") -> list[str]:
    """The names in the file's first line (quotes honoured, BOM dropped)."""
    with _open(path) as handle:
        first = handle.readline(1 << 20).decode("utf-8-sig", errors="replace")
    return [c.strip() for c in next(csv.reader([first.rstrip("\r\n")], delimiter=delimiter), [])]


def duplicated_header_name(names: Sequence[str]) -> str | None:
    """The first header name that appears twice (compared trimmed and in lower case), if any.

    Example:
        >>> duplicated_header_name(["id", "Amount", "amount "])
        'amount '
    """
    seen: set[str] = set()
    for name in names:
        key = name.strip().lower()
        if key in seen:
            return name
        seen.add(key)
    return None


def check_header_line(path: str | Path) -> list[str]:
    """Refuse an empty file, binary data or a header naming a column twice; return the names.

    The delimiter is the most frequent of ``, ; tab |`` in the first line (the engine's reader
    detects it the same way).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = path.write_text("id;amount;id\\n1;2;3\\n")
        >>> check_header_line(path)
        Traceback (most recent call last):
        couponlens.errors.InputError: ...t.csv, line 1, column id: the header names this column twice
    """
    path = Path(path)
    if is_empty(path):
        raise InputError(f"{path}: the file is empty; expected a header line and data rows")
    with _open(path) as handle:
        first = handle.readline(1 << 20)
    if b"\x00" in first:
        raise InputError(f"{path}, line 1: binary data (a NUL byte), not CSV text")
    text = first.decode("utf-8", errors="replace")
    delimiter = max(",;\t|", key=text.count)
    names = header_names(path, delimiter)
    twice = duplicated_header_name(names)
    if twice is not None and _NUMBER.match(twice):
        raise InputError(
            f"{path}, line 1: the header is missing (the first line is data: {text.strip()[:80]!r})"
        )
    if twice is not None:
        raise InputError(f"{path}, line 1, column {twice}: the header names this column twice")
    return names


def _strict_comma_error(con: BaseBackend, path: Path) -> str | None:
    """The message of reading ``path`` as strict comma-separated CSV, or None if that works."""
    literal = str(path).replace("'", "''")
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(max(1, len(header_names(path)))))
    try:
        con.raw_sql(
            f"SELECT count(*) FROM read_csv('{literal}', header=true, all_varchar=true, "
            f"delim=',', quote='\"', escape='\"', strict_mode=true, null_padding=false, "
            f"auto_detect=false, columns={{{columns}}})"
        ).fetchall()
    except Exception as exc:  # the engine's reader names the line
        return read_error_message(path, exc)
    return None


def read_failure(con: BaseBackend, path: str | Path, error: BaseException) -> str:
    """:func:`read_error_message` for a file the engine's sniffing reader could not read.

    When the sniffer gave up (it reports no line), the file is read again as strict
    comma-separated CSV, whose error names the line that broke it.
    """
    path = Path(path)
    if "sniffing" in str(error) and not is_empty(path):
        strict = _strict_comma_error(con, path)
        if strict is not None:
            return strict
    return read_error_message(path, error)


def refuse_ragged_rows(con: BaseBackend, path: str | Path, columns: Sequence[str]) -> None:
    """Raise the reader's own error when its delimiter detection gave up on a comma file.

    On a small file whose rows do not all have the header's number of fields (a cut-off last
    line, say), DuckDB's sniffer falls back to one column holding whole lines; reading the file
    again as comma-separated names the line and column that broke it.
    """
    if len(columns) != 1 or "," not in columns[0]:
        return
    strict = _strict_comma_error(con, Path(path))
    if strict is not None:
        raise InputError(strict)


def _column(columns: Sequence[str], index: int) -> str:
    return f", column {columns[index]}" if 0 <= index < len(columns) else ""


def _not_utf8(path: Path, line_number: int, columns: Sequence[str]) -> str:
    column = ""
    for number, raw in _lines(path):
        if number == line_number:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as bad:
                column = _column(columns, raw[: bad.start].count(b","))
            break
    return (
        f"line {line_number}{column}: bytes that are not UTF-8 text; "
        "save the file as UTF-8 and load it again"
    )


def _too_long(path: Path, limit: int, columns: Sequence[str]) -> str | None:
    for number, raw in _lines(path):
        if len(raw) > limit:
            fields = raw.rstrip(b"\r\n").split(b",")
            longest = max(range(len(fields)), key=lambda i: len(fields[i]))
            return (
                f"line {number}{_column(columns, longest)}: a value of "
                f"{len(fields[longest]):,} bytes; lines over {limit:,} bytes are refused "
                "(is the file cut or garbled?)"
            )
    return None


def _layout_problem(path: Path) -> str | None:
    """Mixed line endings or binary data, found by scanning the file."""
    first_ending: bytes | None = None
    for number, raw in _lines(path):
        if b"\x00" in raw:
            return f"line {number}: binary data (a NUL byte), not CSV text"
        if not raw.endswith(b"\n"):
            continue
        ending = b"\r\n" if raw.endswith(b"\r\n") else b"\n"
        if first_ending is None:
            first_ending = ending
        elif ending != first_ending:
            kinds = {b"\r\n": "CRLF (Windows)", b"\n": "LF (Unix)"}
            return (
                f"line {number}: mixed line endings (this line ends in {kinds[ending]}, line 1 "
                f"in {kinds[first_ending]}); save the file with one kind of line ending"
            )
    return None


def is_empty(path: Path) -> bool:
    """True when the file holds nothing but white space."""
    with _open(path) as handle:
        return not handle.read(1 << 16).strip() and not handle.read(1)


def read_error_message(
    path: str | Path, error: BaseException, columns: Sequence[str] | None = None
) -> str:
    """``"FILE, line N, column C: what is wrong"`` for a CSV read failure.

    Args:
        path: the file the engine failed to read.
        error: the engine's exception (DuckDB's message is parsed for the line and the cause).
        columns: the header's column names; read from the file when ``None``.
    """
    path = Path(path)
    message = str(error)
    try:
        if is_empty(path):
            return f"{path}: the file is empty; expected a header line and data rows"
        names = list(columns) if columns is not None else header_names(path)
        found = _LINE.search(message)
        size = _LINE_SIZE.search(message)
        if size is not None:
            located = _too_long(path, int(size.group(1)), names)
            if located is not None:
                return f"{path}, {located}"
        if found is not None and "unicode" in message.lower():
            return f"{path}, {_not_utf8(path, int(found.group(1)), names)}"
        converting = _CONVERSION.search(message)
        if found is not None and converting is not None:
            column, value, kind = converting.groups()
            return (
                f"{path}, line {found.group(1)}, column {column}: {value!r} is not "
                f"{_KINDS.get(kind, kind.lower())}, as the column's other values are"
            )
        fields = _FIELDS.search(message)
        if found is not None and fields is not None:
            expected, got = int(fields.group(1)), int(fields.group(2))
            column = _column(names, got) if got < expected else ""
            return (
                f"{path}, line {found.group(1)}{column}: expected {expected} comma-separated "
                f"fields, found {got} (a cut-off line, or a comma inside a value without quotes)"
            )
        problem = _layout_problem(path)
        if problem is not None:
            return f"{path}, {problem}"
    except OSError:
        pass
    first = message.splitlines()[0] if message else type(error).__name__
    return f"{path}: could not read the file: {first}"


def physical_line(path: str | Path, record: int) -> int:
    """The physical line (header = 1) where data record ``record`` (0 = the first) starts.

    Blank lines are skipped by the engine's reader and a quoted value may span lines, so the
    record's position plus two is not always its line.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = path.write_text('a,b\\n1,2\\n\\n"x\\ny",3\\n4,5\\n')
        >>> [physical_line(path, r) for r in range(3)]
        [2, 4, 6]
    """
    path = Path(path)
    csv.field_size_limit(1 << 30)
    with _open(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        next(reader, None)  # the header
        seen = -1
        start = reader.line_num + 1
        for row in reader:
            if row:
                seen += 1
                if seen == record:
                    return start
            start = reader.line_num + 1
    return record + 2
