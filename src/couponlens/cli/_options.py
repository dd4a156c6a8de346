"""Option values the CLI parses itself, with a one-line error naming the option."""

from __future__ import annotations

import datetime as dt

from couponlens.errors import InputError


def date_option(flag: str, value: str | None) -> dt.date | None:
    """A ``YYYY-MM-DD`` option as a date (None when not given); anything else is refused.

    Example:
        >>> date_option("--as-of", "2016-07-01"), date_option("--as-of", None)
        (datetime.date(2016, 7, 1), None)
        >>> date_option("--as-of", "20160701")
        Traceback (most recent call last):
        couponlens.errors.InputError: --as-of: expected a date YYYY-MM-DD, got '20160701'
    """
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InputError(f"{flag}: expected a date YYYY-MM-DD, got {value!r}") from None
