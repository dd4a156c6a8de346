"""Errors a user can act on. The CLI prints their message on one line and exits non-zero."""

from __future__ import annotations


class CouponlensError(Exception):
    """Base class of every error couponlens raises on purpose."""


class InputError(CouponlensError):
    """An input file is missing, unreadable or not in the expected layout."""


class ValidationError(InputError):
    """A row breaks a rule, in strict mode: names the file, line (or ``row`` of a Parquet file),
    column and the expected form."""

    def __init__(
        self, path: str, line: int, column: str | None, message: str, *, unit: str = "line"
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = f"{path}, {unit} {line}" + (f", column {column}" if column else "")
        super().__init__(f"{where}: {message}")
