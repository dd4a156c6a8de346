"""Load the AmExpert 2019 "Predicting Coupon Redemption" tables from a folder, with validation.

The folder holds the tables under their competition names:

========================== ============================================================ =========
file                        columns                                                      required
========================== ============================================================ =========
train.csv                   id, campaign_id, coupon_id, customer_id, redemption_status   yes
test.csv                    id, campaign_id, coupon_id, customer_id                      no
campaign_data.csv           campaign_id, campaign_type, start_date, end_date             yes
coupon_item_mapping.csv     coupon_id, item_id                                           yes
item_data.csv               item_id, brand, brand_type, category                         yes
customer_demographics.csv   customer_id, age_range, marital_status, rented, family_size, yes
                            no_of_children, income_bracket
customer_transaction_data   date, customer_id, item_id, quantity, selling_price,         no
.csv                        other_discount, coupon_discount
========================== ============================================================ =========

The dataset's quirks are handled: campaign dates are ``dd/mm/yy`` (``yyyy-mm-dd`` is accepted
too, as the transaction table writes it); ``family_size`` has ``5+`` and ``no_of_children``
``3+`` (loaded as 5 and 3, "or more"); demographics cover only part of the customers, and
``marital_status`` / ``no_of_children`` are often empty (loaded as NULL: unknown).

Every value is checked; the first bad one stops the load with a
:class:`~couponlens.errors.ValidationError` naming the file, line, column and the expected form.
Cross-table references are checked too (a train row's campaign must be in ``campaign_data.csv``,
its coupon in ``coupon_item_mapping.csv``, a mapped item in ``item_data.csv``).

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.amexpert_synthetic import write_amexpert
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_amexpert(folder, seed=1, customers=60)
    >>> data = load_amexpert(folder)
    >>> data.report.has_transactions
    True
    >>> sorted(data.campaigns.columns)
    ['campaign_id', 'campaign_type', 'end_date', 'line_number', 'start_date']
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from couponlens._results import Result
from couponlens.datasets._read_errors import (
    duplicated_header_name,
    physical_line,
    read_error_message,
)
from couponlens.datasets.sources import (
    check_parquet_type,
    duckdb_parquet_source,
    is_parquet,
    parquet_parts,
    parquet_text,
    read_error,
)
from couponlens.errors import InputError, ValidationError
from couponlens.handoff import loading_engine, materialise, to_engine

#: Table name -> (file name, required columns, required file?).
TABLES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "train": (
        "train.csv",
        ("id", "campaign_id", "coupon_id", "customer_id", "redemption_status"),
        True,
    ),
    "test": ("test.csv", ("id", "campaign_id", "coupon_id", "customer_id"), False),
    "campaigns": (
        "campaign_data.csv",
        ("campaign_id", "campaign_type", "start_date", "end_date"),
        True,
    ),
    "coupon_items": ("coupon_item_mapping.csv", ("coupon_id", "item_id"), True),
    "items": ("item_data.csv", ("item_id", "brand", "brand_type", "category"), True),
    "demographics": (
        "customer_demographics.csv",
        (
            "customer_id",
            "age_range",
            "marital_status",
            "rented",
            "family_size",
            "no_of_children",
            "income_bracket",
        ),
        True,
    ),
    "transactions": (
        "customer_transaction_data.csv",
        (
            "date",
            "customer_id",
            "item_id",
            "quantity",
            "selling_price",
            "other_discount",
            "coupon_discount",
        ),
        False,
    ),
}

CANDIDATE_COLUMNS: tuple[str, ...] = TABLES["test"][1]

_INT = r"^-?[0-9]{1,18}$"
_COUNT = r"^[0-9]{1,18}$"
_NUMBER = r"^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$"
_DMY = r"^[0-9]{1,2}/[0-9]{1,2}/[0-9]{2}$"
_ISO = r"^(19|20)[0-9]{2}-[0-9]{1,2}-[0-9]{1,2}$"  # 1900-2099: DuckDB reads 0000 as 1 BC
_PLUS = r"^[0-9]{1,3}\+?$"

#: Age ranges in order (the feature builder turns them into an ordinal).
AGE_RANGES: tuple[str, ...] = ("18-25", "26-35", "36-45", "46-55", "56-70", "70+")


@dataclass(frozen=True, repr=False)
class AmExpertLoadReport(Result):
    """What was loaded: the folder, rows per table, and which optional tables were present."""

    folder: str
    rows: dict[str, int]
    has_test: bool
    has_transactions: bool
    customers_with_demographics: int
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AmExpertData:
    """The loaded tables on the engine (``test`` and ``transactions`` may be ``None``)."""

    con: BaseBackend
    train: ir.Table
    campaigns: ir.Table
    coupon_items: ir.Table
    items: ir.Table
    demographics: ir.Table
    test: ir.Table | None
    transactions: ir.Table | None
    report: AmExpertLoadReport

    @property
    def has_transactions(self) -> bool:
        """True when ``customer_transaction_data.csv`` was present."""
        return self.transactions is not None


# --------------------------------------------------------------------------- text helpers


def _blank_to_null(value: ir.StringValue) -> ir.StringValue:
    trimmed = value.strip()
    return ibis.ifelse(trimmed == "", ibis.null("string"), trimmed)


def _parse_date(text: ir.StringValue) -> ir.DateValue:
    """``dd/mm/yy`` (20yy) or ``yyyy-mm-dd`` (1900-2099) to DATE; NULL when not a real calendar date."""
    parts = text.split("/")
    day = parts[0].lpad(2, "0")
    month = parts[1].lpad(2, "0")
    dmy_iso = "20" + parts[2] + "-" + month + "-" + day
    return ibis.cases(
        (text.re_search(_DMY), dmy_iso.try_cast("date")),
        (text.re_search(_ISO), text.try_cast("date")),
        else_=ibis.null("date"),
    )


def _plus_int(text: ir.StringValue) -> ir.IntegerValue:
    """``5+`` -> 5, ``3`` -> 3 (the "or more" mark is dropped)."""
    return text.replace("+", "").try_cast("int64")


# --------------------------------------------------------------------------- reading


def _read_header(path: Path) -> list[str]:
    with path.open("rb") as handle:
        first = handle.readline(1 << 20)
    if not first.strip():
        raise InputError(f"{path}: the file is empty; expected a header line and data rows")
    if b"\x00" in first:
        raise InputError(f"{path}, line 1: binary data (a NUL byte), not CSV text")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}, line 1: not UTF-8 text ({exc.reason})") from exc
    return [c.strip() for c in next(csv.reader([text.rstrip("\r\n")]))]


def _check_header(path: Path, header: Sequence[str], required: Sequence[str]) -> None:
    twice = duplicated_header_name(header)
    if twice is not None:
        raise InputError(
            f"{path}, line 1, column {twice}: the header names this column twice; "
            f"expected {','.join(required)}"
        )
    missing = [c for c in required if c not in header]
    if not missing:
        return
    shown = ",".join(header)
    if len(header) == 1 and any(sep in shown for sep in (";", "\t", "|")):
        raise InputError(
            f"{path}, line 1: the file is not comma-separated (found {shown[:80]!r}); "
            f"expected the header {','.join(required)}"
        )
    if all(re.fullmatch(r"-?[0-9.]+", c) for c in header):
        raise InputError(
            f"{path}, line 1: the header is missing (the first line is data: {shown[:80]!r}); "
            f"expected {','.join(required)}"
        )
    raise InputError(
        f"{path}, line 1: missing column(s) {', '.join(missing)} in header {shown[:160]!r}; "
        f"expected {','.join(required)}"
    )


def _table_file(folder: Path, file_name: str) -> Path | None:
    """The table's file: ``train.csv``, else ``train.parquet`` or a folder ``train/`` of parts."""
    stem = file_name.removesuffix(".csv")
    for path in (folder / file_name, folder / f"{stem}.parquet", folder / f"{stem}.pq"):
        if path.is_file():
            return path
    for path in (folder / stem, folder / f"{stem}.parquet"):
        if path.is_dir():
            return path
    return None


#: Kinds of Parquet column the text rules can check (dates are written yyyy-mm-dd).
_PARQUET_KINDS = ("integer", "floating", "string", "date", "timestamp")


def _read_parquet_text(
    con: BaseBackend, path: Path, required: Sequence[str], name: str
) -> ir.Table:
    """A Parquet file or folder's required columns as text, plus ``line_number`` (row number)."""
    source = duckdb_parquet_source(parquet_parts(path))
    try:
        con.raw_sql(f"CREATE TEMP TABLE {name} AS SELECT * FROM {source}")
    except Exception as exc:  # the engine's reader: not Parquet, parts that differ, ...
        raise read_error(path, exc) from exc
    table = con.table(name)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(
            f"{path}: no column {missing[0]} (the columns are {', '.join(table.columns)[:160]}); "
            f"expected {','.join(required)}"
        )
    kinds = {c: check_parquet_type(path, c, table[c].type(), _PARQUET_KINDS) for c in required}
    numbered = con.sql(f"SELECT rowid + 1 AS line_number, * FROM {name}")
    return numbered.select(
        "line_number",
        **{c: parquet_text(numbered[c], kinds[c], date_format="%Y-%m-%d") for c in required},
    )


def _read_text_table(con: BaseBackend, path: Path, required: Sequence[str], name: str) -> ir.Table:
    """Every field as text, plus ``line_number`` (the header is line 1; a Parquet row number)."""
    if is_parquet(path):
        return _read_parquet_text(con, path, required, name)
    header = _read_header(path)
    _check_header(path, header, required)
    literal = str(path).replace("'", "''")
    try:
        con.raw_sql(
            f"CREATE TEMP TABLE {name} AS SELECT * FROM read_csv('{literal}', header=true, "
            f"all_varchar=true, delim=',', quote='\"', escape='\"', auto_detect=false, "
            f"columns={{{', '.join(repr(c) + ': ' + repr('VARCHAR') for c in header)}}}, "
            f"null_padding=false)"
        )
    except Exception as exc:  # the engine's reader: ragged rows, invalid UTF-8, ...
        raise InputError(read_error_message(path, exc, header)) from exc
    cols = ", ".join(f'"{c}"' for c in required)
    return con.sql(f"SELECT rowid + 2 AS line_number, {cols} FROM {name}")


Problem = tuple[str, ir.BooleanValue, str]


def _line(path: Path, numbered: object) -> int:
    """The physical line of a CSV row numbered ``rowid + 2`` (blank lines and quoted line
    breaks shift the two apart), or a Parquet row's number as it is; only called on the error
    path."""
    if is_parquet(path):
        return int(numbered)  # type: ignore[call-overload]
    return physical_line(path, int(numbered) - 2)  # type: ignore[call-overload]


def _first_problem(path: Path, t: ir.Table, problems: list[Problem]) -> None:
    """Raise :class:`ValidationError` for the first row (by line) that breaks a rule."""
    if not problems:
        return
    flagged = t.mutate(
        _column=ibis.cases(*[(cond.fill_null(False), col) for col, cond, _ in problems]),
        _reason=ibis.cases(*[(cond.fill_null(False), text) for _, cond, text in problems]),
    )
    bad = flagged.filter(flagged._reason.notnull()).order_by("line_number").limit(1).execute()
    if len(bad):
        row = bad.iloc[0]
        raise ValidationError(
            str(path), _line(path, row["line_number"]), str(row["_column"]), str(row["_reason"])
        )


def _required_int(column: str, text: ir.StringValue, pattern: str = _INT) -> list[Problem]:
    return [
        (column, text.isnull(), f"{column} is missing; expected a whole number"),
        (column, ~text.re_search(pattern), f"{column}: expected a whole number"),
    ]


def _duplicates(path: Path, t: ir.Table, key: str) -> None:
    first_lines = t.group_by(key).aggregate(first_line=t.line_number.min(), n=t.count())
    dup = t.join(first_lines.filter(first_lines.n > 1), key)
    dup = dup.filter(dup.line_number > dup.first_line).order_by("line_number").limit(1).execute()
    if len(dup):
        row = dup.iloc[0]
        raise ValidationError(
            str(path),
            _line(path, row["line_number"]),
            key,
            f"{key} {row[key]} repeats line {_line(path, row['first_line'])}; "
            f"expected one row per {key}",
        )


def _orphans(path: Path, t: ir.Table, key: str, parent: ir.Table, parent_file: str) -> None:
    keys = parent.select(parent[key].name("_parent_key")).distinct()
    missing = t.anti_join(keys, t[key] == keys._parent_key)
    row = missing.order_by("line_number").limit(1).execute()
    if len(row):
        first = row.iloc[0]
        raise ValidationError(
            str(path),
            _line(path, first["line_number"]),
            key,
            f"{key} {first[key]} is not in {parent_file}",
        )


# --------------------------------------------------------------------------- per table


def _offers(path: Path, raw: ir.Table, labelled: bool) -> ir.Table:
    t = raw.mutate(
        **{c: _blank_to_null(raw[c]) for c in raw.columns if c != "line_number"}  # type: ignore[misc]
    )
    problems: list[Problem] = []
    for col in ("id", "campaign_id", "coupon_id", "customer_id"):
        problems += _required_int(col, t[col])
    if labelled:
        problems.append(
            (
                "redemption_status",
                ~t.redemption_status.isin(["0", "1"]) | t.redemption_status.isnull(),
                "redemption_status: expected 0 or 1",
            )
        )
    _first_problem(path, t, problems)
    out = {
        "line_number": t.line_number.cast("int64"),
        "id": t.id.cast("int64"),
        "campaign_id": t.campaign_id.cast("int64"),
        "coupon_id": t.coupon_id.cast("int64"),
        "customer_id": t.customer_id.cast("int64"),
    }
    if labelled:
        out["redemption_status"] = t.redemption_status.cast("int64")
    return t.select(**out)


def _campaigns(path: Path, raw: ir.Table) -> ir.Table:
    t = raw.mutate(**{c: _blank_to_null(raw[c]) for c in raw.columns if c != "line_number"})  # type: ignore[misc]
    t = t.mutate(start=_parse_date(t.start_date), end=_parse_date(t.end_date))
    problems = _required_int("campaign_id", t.campaign_id)
    problems += [
        (
            "campaign_type",
            ~t.campaign_type.isin(["X", "Y"]) | t.campaign_type.isnull(),
            "campaign_type: expected X or Y",
        ),
        ("start_date", t.start.isnull(), "start_date: expected a date dd/mm/yy or yyyy-mm-dd"),
        ("end_date", t.end.isnull(), "end_date: expected a date dd/mm/yy or yyyy-mm-dd"),
        ("end_date", t.end < t.start, "end_date is before start_date"),
    ]
    _first_problem(path, t, problems)
    return t.select(
        line_number=t.line_number.cast("int64"),
        campaign_id=t.campaign_id.cast("int64"),
        campaign_type=t.campaign_type,
        start_date=t.start,
        end_date=t.end,
    )


def _coupon_items(path: Path, raw: ir.Table) -> ir.Table:
    t = raw.mutate(coupon_id=_blank_to_null(raw.coupon_id), item_id=_blank_to_null(raw.item_id))
    _first_problem(
        path, t, _required_int("coupon_id", t.coupon_id) + _required_int("item_id", t.item_id)
    )
    return t.select(
        line_number=t.line_number.cast("int64"),
        coupon_id=t.coupon_id.cast("int64"),
        item_id=t.item_id.cast("int64"),
    )


def _items(path: Path, raw: ir.Table) -> ir.Table:
    t = raw.mutate(**{c: _blank_to_null(raw[c]) for c in raw.columns if c != "line_number"})  # type: ignore[misc]
    problems = _required_int("item_id", t.item_id) + _required_int("brand", t.brand)
    problems += [
        (
            "brand_type",
            t.brand_type.isnull(),
            "brand_type is missing; expected e.g. Established or Local",
        ),
        ("category", t.category.isnull(), "category is missing; expected a category name"),
    ]
    _first_problem(path, t, problems)
    return t.select(
        line_number=t.line_number.cast("int64"),
        item_id=t.item_id.cast("int64"),
        brand=t.brand.cast("int64"),
        brand_type=t.brand_type,
        category=t.category,
    )


def _demographics(path: Path, raw: ir.Table) -> ir.Table:
    t = raw.mutate(**{c: _blank_to_null(raw[c]) for c in raw.columns if c != "line_number"})  # type: ignore[misc]
    problems = _required_int("customer_id", t.customer_id)
    problems += [
        (
            "age_range",
            t.age_range.notnull() & ~t.age_range.isin(list(AGE_RANGES)),
            f"age_range: expected one of {', '.join(AGE_RANGES)} or empty",
        ),
        (
            "marital_status",
            t.marital_status.notnull() & ~t.marital_status.isin(["Married", "Single"]),
            "marital_status: expected Married, Single or empty",
        ),
        (
            "rented",
            t.rented.notnull() & ~t.rented.isin(["0", "1"]),
            "rented: expected 0, 1 or empty",
        ),
        (
            "family_size",
            t.family_size.notnull() & ~t.family_size.re_search(_PLUS),
            "family_size: expected a whole number such as 3 or 5+, or empty",
        ),
        (
            "no_of_children",
            t.no_of_children.notnull() & ~t.no_of_children.re_search(_PLUS),
            "no_of_children: expected a whole number such as 1 or 3+, or empty",
        ),
        (
            "income_bracket",
            t.income_bracket.notnull() & ~t.income_bracket.re_search(_COUNT),
            "income_bracket: expected a whole number or empty",
        ),
    ]
    _first_problem(path, t, problems)
    return t.select(
        line_number=t.line_number.cast("int64"),
        customer_id=t.customer_id.cast("int64"),
        age_range=t.age_range,
        marital_status=t.marital_status,
        rented=t.rented.cast("int64"),
        family_size=_plus_int(t.family_size),
        no_of_children=_plus_int(t.no_of_children),
        income_bracket=t.income_bracket.cast("int64"),
    )


def _transactions(path: Path, raw: ir.Table) -> ir.Table:
    t = raw.mutate(**{c: _blank_to_null(raw[c]) for c in raw.columns if c != "line_number"})  # type: ignore[misc]
    t = t.mutate(parsed_date=_parse_date(t.date))
    problems: list[Problem] = [
        ("date", t.parsed_date.isnull(), "date: expected a date yyyy-mm-dd or dd/mm/yy"),
    ]
    problems += _required_int("customer_id", t.customer_id) + _required_int("item_id", t.item_id)
    problems += _required_int("quantity", t.quantity)
    for col in ("selling_price", "other_discount", "coupon_discount"):
        problems.append(
            (col, t[col].isnull() | ~t[col].re_search(_NUMBER), f"{col}: expected a number")
        )
    _first_problem(path, t, problems)
    return t.select(
        line_number=t.line_number.cast("int64"),
        date=t.parsed_date,
        customer_id=t.customer_id.cast("int64"),
        item_id=t.item_id.cast("int64"),
        quantity=t.quantity.cast("int64"),
        selling_price=t.selling_price.cast("float64"),
        other_discount=t.other_discount.cast("float64"),
        coupon_discount=t.coupon_discount.cast("float64"),
    )


def _materialise(con: BaseBackend, expr: ir.Table, prefix: str, suffix: str) -> ir.Table:
    return con.create_table(f"amx_{prefix}_{suffix}", expr, temp=True)


def load_candidates(
    path: str | Path,
    data: AmExpertData,
    *,
    table_name: str | None = None,
) -> ir.Table:
    """Load a candidate file in the test layout (``id,campaign_id,coupon_id,customer_id``).

    The rows keep their file order in ``line_number``; campaigns and coupons must be known to
    ``data`` (in ``campaign_data.csv`` / ``coupon_item_mapping.csv``).

    Example:
        >>> import tempfile, pathlib
        >>> from couponlens.datasets.amexpert_synthetic import write_amexpert
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = write_amexpert(folder, seed=1, customers=60)
        >>> data = load_amexpert(folder)
        >>> candidates = load_candidates(folder / "test.csv", data)
        >>> candidates.count().execute() == data.test.count().execute()
        True
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; expected a CSV with {','.join(CANDIDATE_COLUMNS)}")
    suffix = uuid.uuid4().hex[:10]
    loading = loading_engine(data.con)
    raw = _read_text_table(loading, path, CANDIDATE_COLUMNS, f"_amx_raw_cand_{suffix}")
    table = _materialise(loading, _offers(path, raw, labelled=False), "candidates", suffix)
    _duplicates(path, table, "id")
    table = to_engine(table, data.con)  # itself on DuckDB; Spark gets the checked rows
    _orphans(path, table, "campaign_id", data.campaigns, TABLES["campaigns"][0])
    _orphans(path, table, "coupon_id", data.coupon_items, TABLES["coupon_items"][0])
    if table_name:
        table = materialise(data.con, table, name=table_name)
    return table


def load_amexpert(folder: str | Path, con: BaseBackend | None = None) -> AmExpertData:
    """Load and validate the AmExpert tables in ``folder`` (see the module docstring).

    Args:
        folder: the folder holding the tables under their competition names: CSV files, or
            Parquet (``train.parquet``, or a folder ``train/`` of parts) in the same columns.
        con: the engine the features are built on; a new in-process DuckDB when ``None``. The
            files are read and checked on DuckDB, then handed to ``con`` when it is Spark.

    Returns:
        :class:`AmExpertData` with one typed table per file on the engine.

    Raises:
        InputError: the folder or a required file is missing, or a header lacks a column.
        ValidationError: a value or a cross-table reference is wrong (file, line, column named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; expected a folder holding the AmExpert tables")
    missing = [f for f, _, required in TABLES.values() if required and not _table_file(folder, f)]
    if missing:
        raise InputError(
            f"{folder}: missing {', '.join(missing)}; expected the AmExpert tables under their "
            f"competition names (train.csv, campaign_data.csv, coupon_item_mapping.csv, "
            f"item_data.csv, customer_demographics.csv; test.csv and "
            f"customer_transaction_data.csv are optional)"
        )
    engine, con = con, loading_engine(con)
    suffix = uuid.uuid4().hex[:10]
    builders = {
        "train": lambda p, r: _offers(p, r, labelled=True),
        "test": lambda p, r: _offers(p, r, labelled=False),
        "campaigns": _campaigns,
        "coupon_items": _coupon_items,
        "items": _items,
        "demographics": _demographics,
        "transactions": _transactions,
    }
    tables: dict[str, ir.Table | None] = {}
    paths: dict[str, Path] = {}
    for name, (file_name, columns, _required) in TABLES.items():
        found = _table_file(folder, file_name)
        paths[name] = found or folder / file_name
        if found is None:
            tables[name] = None
            continue
        path = found
        raw = _read_text_table(con, path, columns, f"_amx_raw_{name}_{suffix}")
        tables[name] = _materialise(con, builders[name](path, raw), name, suffix)
        con.drop_table(f"_amx_raw_{name}_{suffix}", force=True)

    def table(name: str) -> ir.Table:
        t = tables[name]
        assert t is not None
        return t

    campaign_file = TABLES["campaigns"][0]
    mapping_file = TABLES["coupon_items"][0]
    _duplicates(paths["campaigns"], table("campaigns"), "campaign_id")
    _duplicates(paths["items"], table("items"), "item_id")
    _duplicates(paths["demographics"], table("demographics"), "customer_id")
    _orphans(
        paths["coupon_items"], table("coupon_items"), "item_id", table("items"), TABLES["items"][0]
    )
    for name in ("train", "test"):
        if tables[name] is None:
            continue
        _duplicates(paths[name], table(name), "id")
        _orphans(paths[name], table(name), "campaign_id", table("campaigns"), campaign_file)
        _orphans(paths[name], table(name), "coupon_id", table("coupon_items"), mapping_file)
    if tables["transactions"] is not None:
        _orphans(
            paths["transactions"],
            table("transactions"),
            "item_id",
            table("items"),
            TABLES["items"][0],
        )

    rows = {name: int(t.count().execute()) for name, t in tables.items() if t is not None}
    warnings: list[str] = []
    if rows["train"] == 0:
        warnings.append("train.csv has no data rows")
    offered = table("train").select("customer_id").distinct()
    covered = int(offered.semi_join(table("demographics"), "customer_id").count().execute())
    n_offered = int(offered.count().execute())
    if n_offered and covered < n_offered:
        warnings.append(
            f"demographics cover {covered} of {n_offered} customers in train.csv "
            f"({covered / n_offered:.0%}); the others get missing demographic features"
        )
    if tables["transactions"] is None:
        warnings.append(
            "customer_transaction_data.csv is absent: purchase-history features are not available"
        )
    report = AmExpertLoadReport(
        folder=str(folder),
        rows=rows,
        has_test=tables["test"] is not None,
        has_transactions=tables["transactions"] is not None,
        customers_with_demographics=rows["demographics"],
        warnings=warnings,
    )
    if engine is not None and engine is not con:  # a job on Spark: hand the tables over
        tables = {n: None if t is None else to_engine(t, engine) for n, t in tables.items()}
        con = engine
    return AmExpertData(
        con=con,
        train=table("train"),
        campaigns=table("campaigns"),
        coupon_items=table("coupon_items"),
        items=table("items"),
        demographics=table("demographics"),
        test=tables["test"],
        transactions=tables["transactions"],
        report=report,
    )
