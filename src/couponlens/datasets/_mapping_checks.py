"""Checks of a column-mapping file's text and values, each failing with one line naming the file.

:func:`couponlens.datasets.customers.read_mapping` reads a user's TOML or JSON mapping; every
value it uses goes through one of these, so a wrong type, a bad date format or a repeated key is
an :class:`~couponlens.errors.InputError`, never a Python exception from deeper down.

Example:
    >>> names("m.toml", "[customers] columns", {"customer_id": "client"})
    {'customer_id': 'client'}
    >>> names("m.toml", "[customers] columns", ["client"])
    Traceback (most recent call last):
    couponlens.errors.InputError: m.toml: [customers] columns must be a table such as { customer_id = "client_no" }, got ['client']
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Any

from couponlens.errors import InputError


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def parse_mapping_text(path: Path) -> Any:
    """The parsed TOML or JSON of ``path`` (a JSON key repeated in one object is refused)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}, line {line}: bytes that are not UTF-8 text") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            return json.loads(text, object_pairs_hook=_no_repeated_keys)
    except (ValueError, tomllib.TOMLDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise InputError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    raise InputError(f"{path}: a mapping file must end in .json or .toml")


def table(path: str | Path, where: str, value: Any, example: str) -> dict[str, Any]:
    """``value`` when it is a table (a dict), else an error showing ``example``."""
    if not isinstance(value, dict):
        raise InputError(f"{path}: {where} must be a table such as {example}, got {value!r}")
    return value


def names(path: str | Path, where: str, value: Any) -> dict[str, str]:
    """A table of canonical name -> non-empty source text."""
    found = table(path, where, value, '{ customer_id = "client_no" }')
    for key, name in found.items():
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{path}: {where}: {key} must name a column as text, got {name!r}")
    return {str(k): v for k, v in found.items()}


def text(path: str | Path, where: str, value: Any) -> str | None:
    """``value`` when it is text (or absent), else an error."""
    if value is None or isinstance(value, str):
        return value
    raise InputError(f"{path}: {where} must be text, got {value!r}")


def whole_number(path: str | Path, where: str, value: Any) -> int:
    """``value`` as a whole number (``1`` or ``"1"``), else an error."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(f"{path}: {where} must be a whole number, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{path}: {where} must be a whole number, got {value!r}") from None


def iso_date(path: str | Path, where: str, value: Any) -> str:
    """``value`` when it is a date ``YYYY-MM-DD``, else an error."""
    if isinstance(value, dt.date):  # TOML has a date type
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise InputError(f"{path}: {where} must be a date YYYY-MM-DD (or empty), got {value!r}")


def strptime_format(path: str | Path, where: str, value: Any) -> str | None:
    """``value`` when the engine's strptime accepts it as a format (``%d/%m/%Y``), else an error.

    Example:
        >>> strptime_format("m.toml", "[customers] date_format", "%d/%m/%Y")
        '%d/%m/%Y'
        >>> strptime_format("m.toml", "[customers] date_format", "%Q")
        Traceback (most recent call last):
        couponlens.errors.InputError: m.toml: [customers] date_format '%Q' is not a date format such as %d/%m/%Y (Failed to parse format specifier %Q: Unrecognized format for strftime/strptime: %Q)
    """
    fmt = text(path, where, value)
    if fmt is None:
        return None
    import duckdb

    try:
        duckdb.execute("SELECT try_strptime('2000-01-01', ?)", [fmt]).fetchall()
    except duckdb.Error as exc:
        reason = str(exc).split(": ", 1)[-1] if str(exc) else type(exc).__name__
        raise InputError(
            f"{path}: {where} {fmt!r} is not a date format such as %d/%m/%Y ({reason})"
        ) from None
    return fmt
