"""Per-receipt values for targeting: what a redemption of each candidate receipt is worth.

By default targeting maximises expected redemptions. With values it maximises expected value,
``sum(probability * value)``: the margin a use brings, or the incremental value of sending the
coupon (negative when the coupon only discounts a purchase that would have happened anyway;
such receipts are never chosen). The values file is keyed like the score file,

    User_id,Coupon_id,Date_received,Value
    1439408,11002,20160528,12.5

one row per receipt; every candidate needs its value. A bad file is refused as a whole, with
the file, line and column of the first bad field.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "values.csv"
    >>> _ = path.write_text("User_id,Coupon_id,Date_received,Value\\n1,7,20160528,12.5\\n")
    >>> load_receipt_values(path).to_dict("records")[0]["value"]
    12.5
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from couponlens.errors import InputError

#: The header a values file must have.
VALUE_COLUMNS = ("User_id", "Coupon_id", "Date_received", "Value")
_KEYS = ["user_id", "coupon_id", "date_received"]


def _first_bad(path: Path, bad: np.ndarray, column: str, raw: pd.DataFrame, expected: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}, line {raw['_line'].iloc[row]}, column {column}: expected {expected}, "
            f"got {raw[column].iloc[row]!r}"
        )


def load_receipt_values(path: str | Path) -> pd.DataFrame:
    """Read and check a values file: ``user_id``, ``coupon_id``, ``date_received`` (a
    datetime64) and ``value`` (float), one row per receipt.

    Raises:
        InputError: naming the file, line and column of the first field that is not a whole
            number (ids), a YYYYMMDD date or a finite number (value), or the two lines that
            give the same receipt.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such values file")
    try:
        # blank lines kept (and dropped below) so that every row knows its line in the file
        raw = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            skipinitialspace=True,
            skip_blank_lines=False,
        )
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start} of the file)") from exc
    except pd.errors.ParserError as exc:
        raise InputError(
            f"{path}: not a CSV file with the header {','.join(VALUE_COLUMNS)} ({exc})"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise InputError(
            f"{path}: the file is empty; expected the header {','.join(VALUE_COLUMNS)}"
        ) from exc
    header = [str(c).strip() for c in raw.columns]
    if tuple(header) != VALUE_COLUMNS:
        raise InputError(
            f"{path}, line 1: expected the header {','.join(VALUE_COLUMNS)}, got {','.join(header)!r}"
        )
    raw.columns = list(VALUE_COLUMNS)
    raw = raw.apply(lambda column: column.str.strip())
    raw["_line"] = np.arange(len(raw)) + 2  # the header is line 1
    raw = raw[(raw[list(VALUE_COLUMNS)] != "").any(axis=1)].reset_index(drop=True)
    if raw.empty:
        raise InputError(f"{path}: the file has a header and no values")
    whole = re.compile(r"[0-9]{1,18}")
    for column in ("User_id", "Coupon_id"):
        bad = ~raw[column].map(lambda text: whole.fullmatch(text) is not None).to_numpy(bool)
        _first_bad(path, bad, column, raw, "a whole number of up to 18 digits")
    days = pd.to_datetime(raw["Date_received"], format="%Y%m%d", errors="coerce")
    eight_digits = raw["Date_received"].str.fullmatch(r"[0-9]{8}").to_numpy(bool)
    bad = days.isna().to_numpy() | ~eight_digits
    _first_bad(path, bad, "Date_received", raw, "a date YYYYMMDD")
    value = pd.to_numeric(raw["Value"], errors="coerce").to_numpy(np.float64)
    _first_bad(path, ~np.isfinite(value), "Value", raw, "a finite number")
    values = pd.DataFrame(
        {
            "user_id": raw["User_id"].astype(np.int64),
            "coupon_id": raw["Coupon_id"].astype(np.int64),
            "date_received": days,
            "value": value,
        }
    )
    again = values.duplicated(_KEYS, keep="first").to_numpy()
    if again.any():
        second = int(np.flatnonzero(again)[0])
        same = (values[_KEYS] == values[_KEYS].iloc[second]).all(axis=1).to_numpy()
        first = int(np.flatnonzero(same)[0])
        raise InputError(
            f"{path}: lines {raw['_line'].iloc[first]} and {raw['_line'].iloc[second]} give the "
            "same receipt (User_id, Coupon_id, Date_received); one value per receipt"
        )
    return values


def values_for(candidates: pd.DataFrame, values: pd.DataFrame, source: str | Path) -> np.ndarray:
    """Each candidate's value (``candidates`` holds ``user_id``, ``coupon_id``,
    ``date_received`` and ``line_number``), in the candidates' order.

    Raises:
        InputError: some candidates have no value; names how many and the first.

    Example:
        >>> when = pd.to_datetime(["2016-07-01", "2016-07-02"])
        >>> candidates = pd.DataFrame({"user_id": [1, 2], "coupon_id": [7, 7],
        ...                            "date_received": when, "line_number": [2, 3]})
        >>> values = pd.DataFrame({"user_id": [2, 1], "coupon_id": [7, 7],
        ...                        "date_received": when[::-1], "value": [3.0, 1.5]})
        >>> values_for(candidates, values, "values.csv").tolist()
        [1.5, 3.0]
    """
    keys = candidates[_KEYS].copy()
    keys["date_received"] = pd.to_datetime(keys["date_received"]).astype("datetime64[ns]")
    table = values.copy()
    table["date_received"] = table["date_received"].astype("datetime64[ns]")
    joined = keys.merge(table, on=_KEYS, how="left", validate="many_to_one")
    missing = joined["value"].isna().to_numpy()
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        row = candidates.iloc[first]
        day = pd.Timestamp(row["date_received"]).strftime("%Y%m%d")
        raise InputError(
            f"{source}: no value for {int(missing.sum()):,} of the {len(candidates):,} candidates; "
            f"the first is User_id={row['user_id']}, Coupon_id={row['coupon_id']}, "
            f"Date_received={day} (line {row['line_number']} of the candidates)"
        )
    return joined["value"].to_numpy(np.float64)


__all__ = ["VALUE_COLUMNS", "load_receipt_values", "values_for"]
