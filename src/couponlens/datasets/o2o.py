"""Load a Tianchi-layout O2O coupon log into a canonical, typed table, with row validation.

The Tianchi offline log has the header
``User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date`` (the test file
has no ``Date``). Nulls are written ``null`` (an empty field is accepted too), dates are
``yyyymmdd``, and ``Discount_rate`` is either a rate (``0.95``) or "spend x, save y"
(``150:20``).

Every row is checked. A bad row is either quarantined (the default: written to
``quarantine.csv`` with its line number, raw text and reason, and the load goes on) or, in
strict mode, stops the load with a message naming the file, line, column and expected form.
The counts always reconcile: ``rows_read == rows_kept + rows_quarantined``.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.o2o import load_o2o
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "log.csv").write_text(
    ...     "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date\\n"
    ...     "1,10,100,150:20,0,20160101,20160105\\n"
    ...     "2,10,null,null,null,null,20160102\\n"
    ...     "3,10,100,150:200,1,20160101,null\\n"
    ... )
    >>> data = load_o2o(d / "log.csv", quarantine_path=d / "quarantine.csv")
    >>> (data.report.rows_read, data.report.rows_kept, data.report.rows_quarantined)
    (3, 2, 1)
    >>> data.table.discount_rate.execute().tolist()
    [0.87, nan]
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

from couponlens._results import Result
from couponlens.datasets.sources import (
    PARQUET_SUFFIXES,
    check_parquet_type,
    duckdb_parquet_source,
    is_parquet,
    parquet_parts,
    parquet_text,
)
from couponlens.errors import InputError, ValidationError
from couponlens.handoff import loading_engine, to_engine, write_parquet

TRAIN_COLUMNS: tuple[str, ...] = (
    "User_id",
    "Merchant_id",
    "Coupon_id",
    "Discount_rate",
    "Distance",
    "Date_received",
    "Date",
)
TEST_COLUMNS: tuple[str, ...] = TRAIN_COLUMNS[:6]

#: The canonical columns of a loaded O2O table, in order, with their Ibis types.
CANONICAL_SCHEMA = ibis.schema(
    {
        "line_number": "int64",
        "user_id": "int64",
        "merchant_id": "int64",
        "coupon_id": "int64",
        "discount_text": "string",
        "discount_kind": "string",
        "discount_rate": "float64",
        "discount_threshold": "float64",
        "discount_amount": "float64",
        "distance": "int64",
        "date_received": "date",
        "purchase_date": "date",
    }
)

#: Values of ``discount_kind``.
RATE = "rate"
SPEND_SAVE = "spend_save"

_INT = r"^[0-9]{1,18}$"
_NUMBER = r"^[0-9]+(\.[0-9]+)?$"
_SPEND_SAVE = r"^([0-9]+(\.[0-9]+)?):([0-9]+(\.[0-9]+)?)$"
_NUMBER_RE = re.compile(_NUMBER[1:-1])
_SPEND_SAVE_RE = re.compile(_SPEND_SAVE[1:-1])


@dataclass(frozen=True, repr=False)
class LoadReport(Result):
    """What a load read, kept and quarantined, and why.

    ``rows_read`` counts data lines (blank lines are skipped and counted apart).
    """

    path: str
    layout: str
    rows_read: int
    rows_kept: int
    rows_quarantined: int
    blank_lines: int
    quarantine_path: str | None
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class O2OData:
    """A loaded O2O log: the canonical table on the engine and the load report."""

    table: ir.Table
    report: LoadReport
    con: BaseBackend

    @property
    def has_purchase_dates(self) -> bool:
        """True for the train layout (with ``Date``), False for the test layout."""
        return self.report.layout == "train"


def _null_if_token(value: ir.StringValue) -> ir.StringValue:
    """``null`` (any case) or an empty/blank field becomes NULL; otherwise the trimmed text."""
    trimmed = value.strip()
    return ibis.ifelse((trimmed == "") | (trimmed.lower() == "null"), ibis.null("string"), trimmed)


def _check_header(path: Path, columns: Sequence[str]) -> str:
    names = [c.strip() for c in columns]
    if tuple(names) == TRAIN_COLUMNS:
        return "train"
    if tuple(names) == TEST_COLUMNS:
        return "test"
    shown = ",".join(names)
    if len(names) == 1 and any(sep in shown for sep in (";", "\t", "|")):
        raise InputError(
            f"{path}, line 1: the file is not comma-separated (found {shown[:80]!r}); "
            f"expected the header {','.join(TRAIN_COLUMNS)}"
        )
    if names and names[0].isdigit():
        raise InputError(
            f"{path}, line 1: the header is missing (the first line is data: {shown[:80]!r}); "
            f"expected {','.join(TRAIN_COLUMNS)} (train) or {','.join(TEST_COLUMNS)} (test)"
        )
    raise InputError(
        f"{path}, line 1: wrong header {shown[:120]!r}; expected "
        f"{','.join(TRAIN_COLUMNS)} (train) or {','.join(TEST_COLUMNS)} (test)"
    )


def _read_first_line(path: Path) -> str:
    with path.open("rb") as handle:
        first = handle.readline(1 << 20)
    if not first.strip():
        raise InputError(f"{path}: the file is empty; expected a header line and data rows")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}, line 1: not UTF-8 text ({exc.reason})") from exc
    return text.rstrip("\r\n")


def _raw_lines_csv(con: BaseBackend, path: Path, name: str) -> None:
    """Materialise ``name(line_number, raw)``: every physical line of the file, in order."""
    literal = str(path).replace("'", "''")
    con.raw_sql(
        f"CREATE TEMP TABLE {name} AS "
        f"SELECT raw FROM read_csv('{literal}', columns={{'raw': 'VARCHAR'}}, header=false, "
        f"delim='\\x01', quote='', escape='', auto_detect=false, strict_mode=false, "
        f"max_line_size=16777216)"
    )


def _read_error_message(path: Path, message: str, layout: str) -> str:
    """One line naming the file, line and column of a read failure (e.g. bytes that are not UTF-8)."""
    found = re.search(r"CSV Error on Line: (\d+)", message)
    if found is None or "unicode" not in message.lower():
        first = message.splitlines()[0] if message else "unknown error"
        return f"{path}: could not read the file: {first}"
    line_number = int(found.group(1))
    column = ""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == line_number:
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as bad:
                    fields = raw[: bad.start].count(b",")
                    names = TRAIN_COLUMNS if layout == "train" else TEST_COLUMNS
                    if fields < len(names):
                        column = f", column {names[fields]}"
                break
    return (
        f"{path}, line {line_number}{column}: bytes that are not UTF-8 text; "
        "save the file as UTF-8 and load it again"
    )


def _fields_from_csv(con: BaseBackend, path: Path, layout: str, name: str) -> ir.Table:
    columns = TRAIN_COLUMNS if layout == "train" else TEST_COLUMNS
    numbered = con.sql(f"SELECT rowid + 1 AS line_number, raw FROM {name}")
    data = numbered.filter((numbered.line_number > 1) & numbered.raw.notnull())
    parts = data.raw.split(",")
    return data.select(
        "line_number",
        "raw",
        n_fields=parts.length(),
        **{col: parts[i] for i, col in enumerate(columns)},
    )


#: What each column of a Parquet input may hold (pandas writes ids with gaps as floats).
_PARQUET_KINDS: dict[str, tuple[str, ...]] = {
    "User_id": ("integer", "string", "floating"),
    "Merchant_id": ("integer", "string", "floating"),
    "Coupon_id": ("integer", "string", "floating"),
    "Discount_rate": ("string", "floating", "integer"),
    "Distance": ("integer", "string", "floating"),
    "Date_received": ("integer", "string", "floating", "date", "timestamp"),
    "Date": ("integer", "string", "floating", "date", "timestamp"),
}


def _parquet_layout(path: Path, columns: Sequence[str]) -> str:
    """``train`` or ``test`` from a Parquet file's column names (any order)."""
    names = set(columns)
    if names == set(TRAIN_COLUMNS):
        return "train"
    if names == set(TEST_COLUMNS):
        return "test"
    missing = [c for c in TEST_COLUMNS if c not in names]
    extra = [c for c in columns if c not in TRAIN_COLUMNS]
    found = f"no column {missing[0]}" if missing else f"an unexpected column {extra[0]}"
    raise InputError(
        f"{path}: {found} (the columns are {', '.join(columns)[:160]}); expected "
        f"{','.join(TRAIN_COLUMNS)} (train) or {','.join(TEST_COLUMNS)} (test)"
    )


def _fields_from_parquet(con: BaseBackend, path: Path, name: str) -> tuple[ir.Table, str]:
    """The fields of a Parquet file or folder of parts, as texts; a folder's rows also carry
    ``source_file`` and ``source_row`` (the part and the row inside it)."""
    parts = parquet_parts(path)
    folder = path.is_dir()
    source = duckdb_parquet_source(parts, with_origin=folder)
    con.raw_sql(f"CREATE TEMP TABLE {name} AS SELECT * FROM {source}")
    table = con.table(name)
    origin = ("filename", "file_row_number") if folder else ()
    data_columns = [c for c in table.columns if c not in origin]
    layout = _parquet_layout(path, data_columns)
    columns = TRAIN_COLUMNS if layout == "train" else TEST_COLUMNS
    kinds = {c: check_parquet_type(path, c, table[c].type(), _PARQUET_KINDS[c]) for c in columns}
    numbered = con.sql(f"SELECT rowid + 1 AS line_number, * FROM {name}")
    text = {
        c: parquet_text(numbered[c], kinds[c], whole_floats=c != "Discount_rate") for c in columns
    }
    raw = ibis.literal(",").join([text[c].fill_null("null") for c in columns])
    extra: dict[str, ir.Value] = {}
    if folder:
        extra = {
            "source_file": numbered.filename,
            "source_row": (numbered.file_row_number + 1).cast("int64"),
        }
    return (
        numbered.select(
            "line_number", raw=raw, n_fields=ibis.literal(len(columns)), **text, **extra
        ),
        layout,
    )


def _problems(t: ir.Table, layout: str) -> list[tuple[str, ir.BooleanValue, str]]:
    """(column, condition that marks a bad row, reason) in the order they are reported."""
    expected = len(TRAIN_COLUMNS if layout == "train" else TEST_COLUMNS)
    problems: list[tuple[str, ir.BooleanValue, str]] = [
        ("", t.n_fields != expected, f"expected {expected} comma-separated fields"),
        ("User_id", t.user_text.isnull(), "User_id is missing; expected a whole number"),
        ("User_id", ~t.user_text.re_search(_INT), "User_id: expected a whole number"),
        (
            "Merchant_id",
            t.merchant_text.isnull(),
            "Merchant_id is missing; expected a whole number",
        ),
        ("Merchant_id", ~t.merchant_text.re_search(_INT), "Merchant_id: expected a whole number"),
        ("Coupon_id", ~t.coupon_text.re_search(_INT), "Coupon_id: expected a whole number or null"),
        (
            "Discount_rate",
            ~(t.discount_is_number | t.discount_is_spend_save),
            "Discount_rate: expected a rate in (0, 1] such as 0.95, or x:y such as 150:20",
        ),
        (
            "Discount_rate",
            t.discount_is_number & ((t.rate_value <= 0) | (t.rate_value > 1)),
            "Discount_rate: a rate must be in (0, 1]",
        ),
        (
            "Discount_rate",
            t.discount_is_spend_save
            & (
                (t.threshold_value <= 0)
                | (t.amount_value <= 0)
                | (t.amount_value >= t.threshold_value)
            ),
            "Discount_rate: in x:y the saving y must be above 0 and below the spend x",
        ),
        (
            "Distance",
            ~t.distance_is_small_int,
            "Distance: expected a whole number 0..10 or null",
        ),
        (
            "Distance",
            t.distance_is_small_int & (t.distance_text.try_cast("int64") > 10),
            "Distance: expected a whole number 0..10 or null",
        ),
        (
            "Date_received",
            t.received_text.notnull() & t.received_value.isnull(),
            "Date_received: expected a date yyyymmdd or null",
        ),
        (
            "Coupon_id",
            ~(
                (t.coupon_text.isnull() & t.discount_text.isnull() & t.received_text.isnull())
                | (t.coupon_text.notnull() & t.discount_text.notnull() & t.received_text.notnull())
            ),
            "coupon fields partly null: Coupon_id, Discount_rate and Date_received must be "
            "all set or all null",
        ),
    ]
    if layout == "train":
        problems += [
            (
                "Date",
                t.date_text.notnull() & t.date_value.isnull(),
                "Date: expected a date yyyymmdd or null",
            ),
            ("Date", t.date_value < t.received_value, "Date: the purchase is before Date_received"),
        ]
    else:
        problems.append(
            ("Coupon_id", t.coupon_text.isnull(), "Coupon_id: a candidate receipt needs a coupon")
        )
    return problems


_WHITESPACE = " \t\n\r\x0b\x0c"  # what the engine's TRIM strips in _null_if_token


def _token(raw: str | None) -> str | None:
    """Python twin of :func:`_null_if_token` for the lookup tables."""
    if raw is None:
        return None
    text = raw.strip(_WHITESPACE)
    return None if text == "" or text.lower() == "null" else text


def _discount_row(raw: str | None) -> dict[str, object]:
    text = _token(raw)
    row: dict[str, object] = {
        "discount_text": text,
        "discount_is_number": None if text is None else bool(_NUMBER_RE.fullmatch(text)),
        "discount_is_spend_save": None,
        "rate_value": None,
        "threshold_value": None,
        "amount_value": None,
        "converted": None,
    }
    if text is None:
        return row
    found = _SPEND_SAVE_RE.fullmatch(text)
    row["discount_is_spend_save"] = found is not None
    if row["discount_is_number"]:
        row["rate_value"] = row["converted"] = float(text)
    elif found is not None:
        x, y = float(found.group(1)), float(found.group(3))
        row["threshold_value"], row["amount_value"] = x, y
        row["converted"] = seed_discount_rate(x, y) if x > 0 else None
    return row


def parse_discount(text: str) -> tuple[str, float, float | None, float | None]:
    """(kind, converted rate, threshold, amount) of one ``Discount_rate`` text, by the loader's rules.

    Raises :class:`InputError` for a text the loader would quarantine.

    Example:
        >>> parse_discount("150:20"), parse_discount(" 0.95")
        (('spend_save', 0.87, 150.0, 20.0), ('rate', 0.95, None, None))
    """
    row = _discount_row(text)
    if row["discount_text"] is None:
        raise InputError("discount_rate is missing")
    if row["discount_is_number"]:
        rate = float(row["rate_value"])  # type: ignore[arg-type]
        if not 0 < rate <= 1:
            raise InputError(f"discount_rate {text!r}: a rate must be in (0, 1]")
        return "rate", rate, None, None
    if row["discount_is_spend_save"]:
        x, y = float(row["threshold_value"]), float(row["amount_value"])  # type: ignore[arg-type]
        if not 0 < y < x:
            raise InputError(
                f"discount_rate {text!r}: in x:y the saving y must be above 0 and below the spend x"
            )
        return "spend_save", float(row["converted"]), x, y  # type: ignore[arg-type]
    raise InputError(f"discount_rate {text!r}: expected a rate such as 0.95 or x:y such as 150:20")


def _distance_row(raw: str | None) -> dict[str, object]:
    text = _token(raw)
    small = None if text is None else bool(re.fullmatch(r"[0-9]{1,2}", text))
    return {"distance_text": text, "distance_is_small_int": small}


def _date_row(raw: str | None, prefix: str) -> dict[str, object]:
    text = _token(raw)
    value = None
    if text is not None and re.fullmatch(r"[0-9]{8}", text):
        try:
            value = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            value = None
    return {f"{prefix}_text": text, f"{prefix}_value": value}


_LOOKUP_SCHEMAS: dict[str, dict[str, str]] = {
    "Discount_rate": {
        "discount_text": "string",
        "discount_is_number": "boolean",
        "discount_is_spend_save": "boolean",
        "rate_value": "float64",
        "threshold_value": "float64",
        "amount_value": "float64",
        "converted": "float64",
    },
    "Distance": {"distance_text": "string", "distance_is_small_int": "boolean"},
    "Date_received": {"received_text": "string", "received_value": "date"},
    "Date": {"date_text": "string", "date_value": "date"},
}


def _lookup(column: str, texts: list[str | None]) -> ir.Table:
    """Parse each *distinct* text of a low-cardinality column once, in Python.

    Discounts, distances and dates take a few hundred distinct values in millions of rows, so
    parsing them here and joining the result back is far cheaper than regular expressions on
    every row, and it gives the seed's exact Python rounding of ``x:y`` discounts.
    """
    if column == "Discount_rate":
        rows = [_discount_row(t) for t in texts]
    elif column == "Distance":
        rows = [_distance_row(t) for t in texts]
    else:
        rows = [_date_row(t, "received" if column == "Date_received" else "date") for t in texts]
    schema = {f"_raw_{column}": "string"} | _LOOKUP_SCHEMAS[column]
    frame = pd.DataFrame([{f"_raw_{column}": t, **r} for t, r in zip(texts, rows, strict=True)])
    if frame.empty:
        frame = pd.DataFrame({name: [] for name in schema})
    return ibis.memtable(frame.astype(object).where(frame.notna(), None), schema=schema)


def _id_text(raw: ir.StringValue) -> ir.StringValue:
    """:func:`_null_if_token` with a fast path: a field of plain digits is already its text."""
    return ibis.ifelse(raw.re_search(_INT).fill_null(False), raw, _null_if_token(raw))


def _typed_values(fields: ir.Table, layout: str) -> ir.Table:
    """The fields as null-aware texts and parsed values (no verdict yet).

    Only the typed columns are kept (not ``raw`` nor the split texts), so the joins with the
    lookup tables move narrow rows; ``raw`` is fetched back only for quarantined rows.
    """
    columns = ["Discount_rate", "Distance", "Date_received"] + (
        ["Date"] if layout == "train" else []
    )
    t = fields.select(
        "line_number",
        "n_fields",
        *columns,
        user_text=_id_text(fields.User_id),
        merchant_text=_id_text(fields.Merchant_id),
        coupon_text=_id_text(fields.Coupon_id),
    )
    # The distinct texts of every lookup column, in one pass over the file.
    distinct = (
        fields.aggregate(**{c: fields[c].collect(distinct=True) for c in columns})
        .to_pyarrow()
        .to_pylist()[0]
    )
    for column in columns:
        lookup = _lookup(column, list(distinct[column] or []))
        t = t.left_join(lookup, t[column] == lookup[f"_raw_{column}"]).drop(
            f"_raw_{column}", column
        )
    if layout != "train":
        t = t.mutate(date_text=ibis.null("string"), date_value=ibis.null("date"))
    return t


def _typed(fields: ir.Table, layout: str) -> ir.Table:
    """:func:`_typed_values` plus ``problem``: the index of the first rule the row breaks, or null."""
    t = _typed_values(fields, layout)
    # One integer code per row (null when the row is fine): evaluating the rules once here and
    # naming the reason only for the few bad rows (see _reasons) is far cheaper than two CASEs.
    problems = _problems(t, layout)
    return t.mutate(
        problem=ibis.cases(*[(cond.fill_null(False), i) for i, (_, cond, _) in enumerate(problems)])
    )


def _reasons(layout: str) -> ir.Table:
    """``(problem, reason_column, reason)`` for every rule of :func:`_problems`."""
    typed = {"n_fields": "int64", "user_text": "string", "merchant_text": "string"}
    typed |= {"coupon_text": "string"}
    for columns in _LOOKUP_SCHEMAS.values():
        typed |= columns
    rules = _problems(ibis.table(typed, name="_o2o_typed"), layout)
    frame = pd.DataFrame(
        {
            "problem": range(len(rules)),
            "reason_column": [col for col, _, _ in rules],
            "reason": [text for _, _, text in rules],
        }
    )
    return ibis.memtable(
        frame, schema={"problem": "int64", "reason_column": "string", "reason": "string"}
    )


def seed_discount_rate(threshold: float, amount: float) -> float:
    """The seed notebooks' conversion of "spend x, save y" to a rate: ``round((x - y) / x, 2)``.

    Python's ``round`` on the binary double (so 200:1 gives 0.99, not 1.0).

    Example:
        >>> seed_discount_rate(150, 20), seed_discount_rate(200, 1)
        (0.87, 0.99)
    """
    return round((threshold - amount) / threshold, 2)


def _canonical(t: ir.Table) -> ir.Table:
    is_rate = t.rate_value.notnull()
    converted = t.converted
    return t.select(
        line_number=t.line_number.cast("int64"),
        user_id=t.user_text.cast("int64"),
        merchant_id=t.merchant_text.cast("int64"),
        coupon_id=t.coupon_text.cast("int64"),
        discount_text=t.discount_text,
        discount_kind=ibis.cases(
            (is_rate, ibis.literal(RATE)),
            (t.threshold_value.notnull(), ibis.literal(SPEND_SAVE)),
            else_=ibis.null("string"),
        ),
        discount_rate=converted.cast("float64"),
        discount_threshold=t.threshold_value,
        discount_amount=t.amount_value,
        distance=t.distance_text.cast("int64"),
        date_received=t.received_value,
        purchase_date=t.date_value,
    ).order_by("line_number")


def _write_quarantine(bad: ir.Table, path: Path) -> None:
    """The bad rows in line order: Parquet for a ``.parquet``/``.pq`` name, else CSV."""
    ordered = bad.order_by("line_number")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        write_parquet(ordered, tmp)
    else:
        ordered.execute().to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL)
    tmp.replace(path)


def load_o2o(
    path: str | Path,
    con: BaseBackend | None = None,
    *,
    strict: bool = False,
    quarantine_path: str | Path | None = None,
    table_name: str | None = None,
) -> O2OData:
    """Load and validate a Tianchi-layout O2O file: CSV, Parquet (by its ``.parquet``/``.pq``
    suffix) or a folder of Parquet parts.

    Parquet columns may be text or typed (whole numbers, floats with whole values as pandas
    writes ids with gaps, dates); each value is checked by the same rules as its CSV text, and
    a column of another type stops the load naming the file and column. A Parquet row's
    ``line_number`` is its row number (1-based; across the parts of a folder, in name order).

    Args:
        path: the file or folder.
        con: the engine the table should end on; a new in-process DuckDB when ``None``.
            Loading and validation always run on DuckDB (``con`` itself, or a private one when
            ``con`` is Spark, whose table is then handed over: :mod:`couponlens.handoff`).
        strict: stop at the first bad row (by line number) with :class:`ValidationError`.
        quarantine_path: where bad rows go (``line_number,raw,reason``, plus ``source_file,
            source_row`` for a folder; Parquet when the name ends in ``.parquet``); ``None``
            writes no file (the counts are still reported).
        table_name: the name of the canonical table on the engine (a fresh one by default).

    Returns:
        :class:`O2OData` with the canonical table (see :data:`CANONICAL_SCHEMA`).

    Raises:
        InputError: the file is missing, empty, not UTF-8, not comma-separated or has the
            wrong header.
        ValidationError: ``strict`` and a row is bad.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    parquet = is_parquet(path)
    engine = con
    con = loading_engine(con)
    suffix = uuid.uuid4().hex[:10]
    raw_name = f"_o2o_raw_{suffix}"
    layout = "train"
    try:
        if parquet:
            fields, layout = _fields_from_parquet(con, path, raw_name)
            blank_lines = 0
        else:
            layout = _check_header(path, _read_first_line(path).split(","))
            _raw_lines_csv(con, path, raw_name)
            fields = _fields_from_csv(con, path, layout, raw_name)
            blank_lines = int(
                con.sql(f"SELECT count(*) AS n FROM {raw_name} WHERE raw IS NULL")
                .execute()["n"]
                .iloc[0]
            )
    except InputError:
        raise
    except Exception as exc:  # the engine's reader: invalid UTF-8, unreadable file, ...
        raise InputError(_read_error_message(path, str(exc), layout)) from exc
    origin = [c for c in ("source_file", "source_row") if c in fields.columns]

    checked_name = f"_o2o_checked_{suffix}"
    checked = con.create_table(checked_name, _typed(fields, layout), temp=True)
    failing = checked.filter(checked.problem.notnull())
    bad = failing.join(_reasons(layout), "problem").join(
        fields.select("line_number", "raw", *origin), "line_number"
    )
    counts = checked.aggregate(
        rows_read=checked.count(), rows_quarantined=checked.problem.notnull().sum()
    ).execute()
    rows_read = int(counts["rows_read"].iloc[0])
    rows_quarantined = int(counts["rows_quarantined"].fillna(0).iloc[0])

    if strict and rows_quarantined:
        first = bad.order_by("line_number").limit(1).execute().iloc[0]
        where, number = str(path), int(first["line_number"])
        if origin:  # a folder of parts: the part file and the row inside it
            where, number = str(first["source_file"]), int(first["source_row"])
        raise ValidationError(
            where,
            number,
            first["reason_column"] or None,
            str(first["reason"]),
            unit="row" if parquet else "line",
        )

    reasons: dict[str, int] = {}
    if rows_quarantined:
        by_reason = (
            bad.group_by("reason").aggregate(n=bad.count()).order_by(ibis.desc("n")).execute()
        )
        reasons = {str(r): int(n) for r, n in zip(by_reason["reason"], by_reason["n"], strict=True)}
        if quarantine_path is not None:
            _write_quarantine(
                bad.select("line_number", "raw", "reason", *origin), Path(quarantine_path)
            )

    name = table_name or f"o2o_{suffix}"
    kept = checked.filter(checked.problem.isnull())
    table = con.create_table(name, _canonical(kept), overwrite=True)
    con.drop_table(checked_name, force=True)
    con.drop_table(raw_name, force=True)

    rows_kept = rows_read - rows_quarantined
    warnings: list[str] = []
    if layout == "train" and rows_kept:
        empty = (
            table.filter(table.coupon_id.isnull() & table.purchase_date.isnull()).count().execute()
        )
        if empty:
            warnings.append(
                f"{empty} rows have neither a coupon nor a purchase (they record nothing)"
            )
    if blank_lines:
        warnings.append(f"{blank_lines} blank lines skipped")
    report = LoadReport(
        path=str(path),
        layout=layout,
        rows_read=rows_read,
        rows_kept=rows_kept,
        rows_quarantined=rows_quarantined,
        blank_lines=blank_lines,
        quarantine_path=str(quarantine_path) if (quarantine_path and rows_quarantined) else None,
        reasons=reasons,
        warnings=warnings,
    )
    if engine is not None and engine is not con:  # a job on Spark: hand the table over
        moved = to_engine(table, engine, name=name)
        con.drop_table(name, force=True)
        return O2OData(table=moved, report=report, con=engine)
    return O2OData(table=table, report=report, con=con)
