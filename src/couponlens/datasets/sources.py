"""What an input path is (a CSV file, a Parquet file, a folder of Parquet parts) and how DuckDB
reads its Parquet.

Every loader accepts Parquet as well as CSV: a ``.parquet``/``.pq`` file, or a folder of
Parquet parts (what Spark, Hive and ``pyarrow.dataset`` write: ``part-00000-....parquet``
files, maybe beside ``_SUCCESS`` and ``.crc`` files, which are ignored). The parts are read in
name order, so "row N" of a folder counts rows across the parts in that order; each row also
keeps its part file and its row inside it, for error messages.

Example:
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "parts").mkdir()
    >>> for i in range(2):
    ...     pd.DataFrame({"x": [i, i]}).to_parquet(d / "parts" / f"part-{i}.parquet")
    >>> [p.name for p in parquet_parts(d / "parts")], is_parquet(d / "parts")
    (['part-0.parquet', 'part-1.parquet'], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from couponlens.errors import InputError

#: File suffixes read as Parquet.
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")


def is_parquet(path: Path) -> bool:
    """True for a Parquet file (by suffix) or a folder (read as Parquet parts)."""
    return path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES


def parquet_parts(path: Path) -> list[Path]:
    """The Parquet files ``path`` stands for: itself, or a folder's ``*.parquet``/``*.pq`` files
    (searched recursively, hidden and ``_``-prefixed files skipped) in name order."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if not path.is_dir():
        return [path]
    parts = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in PARQUET_SUFFIXES
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    )
    if not parts:
        raise InputError(
            f"{path}: a folder with no .parquet files; expected a CSV or Parquet file, or a "
            "folder of Parquet parts"
        )
    return parts


def duckdb_parquet_source(parts: Sequence[Path], *, with_origin: bool = False) -> str:
    """The DuckDB table function reading ``parts`` in order (``filename`` and
    ``file_row_number`` columns too when ``with_origin``)."""
    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts)
    origin = ", filename=true, file_row_number=true" if with_origin else ""
    return f"read_parquet([{listed}]{origin})"


def read_table_file(con: BaseBackend, path: Path, *, nulls: Sequence[str] = ()) -> ir.Table:
    """A CSV file, Parquet file or folder of Parquet parts as a DuckDB table (lazy: a view
    over the file), for the inputs read whole without row-level validation.

    ``nulls`` are the CSV texts read as missing (DuckDB's default when empty).
    """
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        if is_parquet(path):
            return con.sql(f"SELECT * FROM {duckdb_parquet_source(parquet_parts(path))}")
        if nulls:
            return con.read_csv(path, nullstr=list(nulls))
        return con.read_csv(path)
    except InputError:
        raise
    except Exception as exc:  # the engine's reader: unreadable, not CSV, ...
        raise read_error(path, exc) from exc


def read_error(path: Path, exc: Exception) -> InputError:
    """One line naming ``path`` for an engine error while reading it."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(f"{path}: could not read the file: {first}")


#: Kinds of Parquet column a loader may accept (see :func:`check_parquet_type`).
KIND_NAMES: dict[str, str] = {
    "integer": "whole numbers",
    "floating": "numbers",
    "string": "text",
    "date": "dates",
    "timestamp": "date-times",
    "boolean": "true/false",
}


def parquet_text(
    value: ir.Value, kind: str, *, whole_floats: bool = True, date_format: str = "%Y%m%d"
) -> ir.StringValue:
    """A typed Parquet value as the text a CSV file would hold, so the CSV rules check it.

    Text stays as it is; whole numbers become their digits; with ``whole_floats`` a float
    with a whole value becomes whole-number text (``3.0`` -> ``3``: pandas writes ids with
    gaps as floats) and NaN is missing; a date or date-time is written with ``date_format``.

    Example:
        >>> import ibis
        >>> t = ibis.memtable({"x": [3.0, 2.5, None]})
        >>> t.select(s=parquet_text(t.x, "floating")).to_pyarrow()["s"].to_pylist()
        ['3', '2.5', None]
    """
    if kind == "string":
        return value  # type: ignore[return-value]
    if kind in ("date", "timestamp"):
        return value.strftime(date_format)  # type: ignore[attr-defined,no-any-return]
    if kind == "integer":
        return value.cast("string")  # type: ignore[return-value]
    number = value.cast("float64")
    assert isinstance(number, ir.FloatingValue)
    missing = number.isnull() | number.isnan()
    text = number.cast("string")
    if whole_floats:
        whole = (number == number.floor()) & (number.abs() < 1e18)
        text = ibis.ifelse(whole, number.cast("int64").cast("string"), text)
    return ibis.ifelse(missing, ibis.null("string"), text)


def type_kind(dtype: dt.DataType) -> str:
    """``integer``, ``floating``, ``string``, ``date``, ``timestamp``, ``boolean`` or ``other``."""
    if dtype.is_integer():
        return "integer"
    if dtype.is_floating() or dtype.is_decimal():
        return "floating"
    if dtype.is_string():
        return "string"
    if dtype.is_date():
        return "date"
    if dtype.is_timestamp():
        return "timestamp"
    if dtype.is_boolean():
        return "boolean"
    return "other"


def check_parquet_type(path: Path, column: str, dtype: dt.DataType, allowed: Sequence[str]) -> str:
    """The column's kind, or an :class:`InputError` naming file, column, type and what fits.

    Example:
        >>> check_parquet_type(Path("x.parquet"), "User_id", dt.float64, ["integer", "string"])
        Traceback (most recent call last):
        couponlens.errors.InputError: x.parquet: column User_id has type float64; expected whole numbers or text
    """
    kind = type_kind(dtype)
    if kind in allowed:
        return kind
    wanted = " or ".join(KIND_NAMES[k] for k in allowed)
    raise InputError(f"{path}: column {column} has type {dtype}; expected {wanted}")


__all__ = [
    "PARQUET_SUFFIXES",
    "check_parquet_type",
    "duckdb_parquet_source",
    "is_parquet",
    "parquet_parts",
    "parquet_text",
    "read_error",
    "read_table_file",
    "type_kind",
]
