"""Load customer-activity tables (the cinema ticketing layout) into one canonical schema.

Five tables describe a ticketing business (DOMAIN §4). Each has a canonical form:

- ``customers(customer_id, gender, birth_date)``: ``gender`` is ``male``, ``female``,
  ``not verified`` or ``unknown``; ``birth_date`` is NULL when unknown.
- ``tickets(ticket_id, customer_id, payment_method, theater, device_id, original_price,
  discount_value, final_price, time, status_id, campaign_id, movie)``: ``campaign_id`` is NULL
  when no campaign was used (the files write ``0``).
- ``devices(device_id, model, platform, os)``: ``platform`` is ``mobile`` or ``website``;
  ``os`` (``iOS``, ``Android``, ``Windows``, ``web``, ``unknown``) is derived from the model.
- ``campaigns(campaign_id, campaign_type)``.
- ``statuses(status_id, status_name, description, error_group)``: status 1 is a success.

Both known releases are recognised from their headers: the later release
(``customer_id``, ``usergender`` Male/Female/Not verify, ``device_number``, ``campaign_id``)
and the 2019 release (``user_id``, gender codes 0/1/2, ``device_id``, ``campaign_code``,
``status_name``). In the 2019 release code 0 is "not verified": 1,791 of its 1,927 placeholder
birth dates carry it; codes 1 and 2 follow ISO/IEC 5218 (1 male, 2 female). Any other layout
is read through a column-mapping file (JSON or TOML; see :func:`read_mapping`).

Cleaning, always reported: exact duplicate rows are counted and dropped; the placeholder birth
date 1970-01-01 becomes unknown (it is a default, not a birthday: the 2019 release has 1,927
people "born" on 1970-01-01 and 55 on all the other days of 1970 together); ticket campaign
``0`` becomes NULL; device models ``devicemodel`` or empty become unknown.

Example:
    >>> import pandas as pd
    >>> from couponlens.datasets.customers import customer_data_from_frames
    >>> people = pd.DataFrame({"user_id": [1, 2, 2], "usergender": [1, 0, 0],
    ...                        "dob": ["1990-05-01", "1970-01-01", "1970-01-01"]})
    >>> data = customer_data_from_frames(customers=people)
    >>> data.report.tables["customers"].duplicates_dropped, data.report.placeholder_birth_dates
    (1, 1)
    >>> data.customers.order_by("customer_id").execute()["gender"].tolist()
    ['male', 'not verified']
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

from couponlens._results import Result
from couponlens.datasets import _mapping_checks as _checks
from couponlens.datasets._read_errors import (
    check_header_line,
    physical_line,
    read_failure,
    refuse_ragged_rows,
)
from couponlens.datasets.sources import duckdb_parquet_source, is_parquet, parquet_parts
from couponlens.errors import InputError
from couponlens.handoff import loading_engine, to_engine

#: The canonical tables, in load order.
TABLES: tuple[str, ...] = ("customers", "tickets", "devices", "campaigns", "statuses")


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column: its type, whether a table needs it, and the source names known."""

    name: str
    dtype: str
    required: bool
    aliases: tuple[str, ...]


def _col(name: str, dtype: str, required: bool, *aliases: str) -> ColumnSpec:
    return ColumnSpec(name, dtype, required, (name, *aliases))


#: Canonical columns per table; ``aliases`` lists the source names both releases use.
SCHEMA: dict[str, tuple[ColumnSpec, ...]] = {
    "customers": (
        _col("customer_id", "int64", True, "user_id"),
        _col("gender", "string", False, "usergender", "user_gender", "sex"),
        _col("birth_date", "date", False, "dob", "date_of_birth", "birthday"),
    ),
    "tickets": (
        _col("ticket_id", "string", True, "order_id"),
        _col("customer_id", "int64", True, "user_id"),
        _col("payment_method", "string", False, "paying_method"),
        _col("theater", "string", False, "theater_name"),
        _col("device_id", "string", False, "device_number"),
        _col("original_price", "float64", False),
        _col("discount_value", "float64", False, "discount"),
        _col("final_price", "float64", False),
        _col("time", "timestamp", True, "ticket_time", "created_at", "order_time"),
        _col("status_id", "int64", False, "status"),
        _col("campaign_id", "int64", False, "campaign_code"),
        _col("movie", "string", False, "movie_name"),
    ),
    "devices": (
        _col("device_id", "string", True, "device_number"),
        _col("model", "string", False, "device_model"),
        _col("platform", "string", False),
    ),
    "campaigns": (
        _col("campaign_id", "int64", True, "campaign_code"),
        _col("campaign_type", "string", True, "type"),
    ),
    "statuses": (
        _col("status_id", "int64", True),
        _col("status_name", "string", False),
        _col("description", "string", False),
        _col("error_group", "string", False),
    ),
}

#: File names looked for in a data folder (``.csv`` or ``.parquet``), first match wins.
FILE_STEMS: dict[str, tuple[str, ...]] = {
    "customers": ("customer", "customers"),
    "tickets": ("ticket_history", "tickets", "ticket", "orders"),
    "devices": ("device_detail", "devices", "device"),
    "campaigns": ("campaign", "campaigns"),
    "statuses": ("status_detail", "statuses", "status"),
}

#: Canonical gender labels.
MALE, FEMALE, NOT_VERIFIED, UNKNOWN = "male", "female", "not verified", "unknown"

#: Source gender values both releases use (lower-cased), and their canonical label.
GENDER_VALUES: dict[str, str] = {
    "male": MALE,
    "m": MALE,
    "1": MALE,
    "female": FEMALE,
    "f": FEMALE,
    "2": FEMALE,
    "not verify": NOT_VERIFIED,
    "not verified": NOT_VERIFIED,
    "0": NOT_VERIFIED,
}

#: Device models that mean "not recorded".
UNKNOWN_MODELS: tuple[str, ...] = ("devicemodel", "unknown", "null", "none", "n/a")

#: Platform spellings and their canonical value.
PLATFORM_VALUES: dict[str, str] = {
    "mobile": "mobile",
    "app": "mobile",
    "website": "website",
    "web": "website",
    "h5": "website",
}

#: Campaign types of the later release; other types (the 2019 release's ``lixi``) are kept.
KNOWN_CAMPAIGN_TYPES: tuple[str, ...] = ("direct discount", "voucher", "reward point")

#: The status id of a successful ticket in both releases.
SUCCESS_STATUS_ID = 1
#: The default birth date of a not-verified account.
PLACEHOLDER_BIRTH_DATE = "1970-01-01"


@dataclass(frozen=True)
class TableMapping:
    """How one source table maps to its canonical table."""

    file: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    time_format: str | None = None
    date_format: str | None = None


@dataclass(frozen=True)
class Mapping:
    """A column-mapping file: per-table file names, column names and value maps, plus options."""

    tables: dict[str, TableMapping] = field(default_factory=dict)
    placeholder_birth_date: str | None = PLACEHOLDER_BIRTH_DATE
    success_status_id: int = SUCCESS_STATUS_ID
    no_campaign_id: int | None = 0
    source: str = "built-in (later and 2019 cinema releases)"


def read_mapping(path: str | Path) -> Mapping:
    """Read a column-mapping file (``.json`` or ``.toml``).

    The layout (TOML shown; JSON has the same keys)::

        [options]
        placeholder_birth_date = "1970-01-01"   # or "" for none
        success_status_id = 1
        no_campaign_id = 0

        [customers]
        file = "clients.csv"                    # relative to the data folder
        columns = { customer_id = "client_no", gender = "sex", birth_date = "born" }
        date_format = "%d/%m/%Y"
        values.gender = { H = "male", F = "female", X = "not verified" }

        [tickets]
        file = "orders.parquet"
        columns = { ticket_id = "order", customer_id = "client_no", time = "paid_at" }
        time_format = "%d/%m/%Y %H:%M"

    Columns not named keep the built-in source names (so a file in either cinema layout needs
    no entry). Unknown tables, canonical columns or options are errors.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.toml"
        >>> _ = p.write_text('[customers]\\ncolumns = { customer_id = "client" }\\n')
        >>> read_mapping(p).tables["customers"].columns
        {'customer_id': 'client'}
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: mapping file not found")
    raw = _checks.parse_mapping_text(path)
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a table of tables at the top level")
    options = _checks.table(path, "[options]", raw.pop("options", {}), "{ no_campaign_id = 0 }")
    unknown = set(raw) - set(TABLES)
    if unknown:
        raise InputError(
            f"{path}: unknown table(s) {sorted(unknown)}; expected some of {list(TABLES)} and [options]"
        )
    tables: dict[str, TableMapping] = {}
    for table, spec in raw.items():
        if not isinstance(spec, dict):
            raise InputError(f"{path}: [{table}] must be a table")
        allowed = {"file", "columns", "values", "time_format", "date_format"}
        if set(spec) - allowed:
            raise InputError(
                f"{path}: [{table}] has unknown key(s) {sorted(set(spec) - allowed)}; "
                f"expected some of {sorted(allowed)}"
            )
        names = {c.name for c in SCHEMA[table]}
        columns = _checks.names(path, f"[{table}] columns", spec.get("columns", {}))
        value_maps = _checks.table(
            path, f"[{table}] values", spec.get("values", {}), '{ gender = { H = "male" } }'
        )
        values = {
            str(k): {
                str(a): str(b)
                for a, b in _checks.table(
                    path, f"[{table}] values.{k}", v, '{ H = "male", F = "female" }'
                ).items()
            }
            for k, v in value_maps.items()
        }
        claimed: dict[str, str] = {}
        for key, source in columns.items():
            other = claimed.setdefault(source.strip().lower(), key)
            if other != key:
                raise InputError(
                    f"{path}: [{table}] maps both {other} and {key} to the column {source!r}; "
                    "each canonical column needs a column of its own"
                )
        for key in list(columns) + list(values):
            if key not in names:
                raise InputError(
                    f"{path}: [{table}] names column {key!r}, which is not canonical; "
                    f"expected one of {sorted(names)}"
                )
        tables[table] = TableMapping(
            file=_checks.text(path, f"[{table}] file", spec.get("file")),
            columns=columns,
            values=values,
            time_format=_checks.strptime_format(
                path, f"[{table}] time_format", spec.get("time_format")
            ),
            date_format=_checks.strptime_format(
                path, f"[{table}] date_format", spec.get("date_format")
            ),
        )
    allowed_options = {"placeholder_birth_date", "success_status_id", "no_campaign_id"}
    if set(options) - allowed_options:
        raise InputError(
            f"{path}: [options] has unknown key(s) {sorted(set(options) - allowed_options)}; "
            f"expected some of {sorted(allowed_options)}"
        )
    placeholder = options.get("placeholder_birth_date", PLACEHOLDER_BIRTH_DATE) or None
    no_campaign = options.get("no_campaign_id", 0)
    return Mapping(
        tables=tables,
        placeholder_birth_date=(
            None
            if placeholder is None
            else _checks.iso_date(path, "[options] placeholder_birth_date", placeholder)
        ),
        success_status_id=_checks.whole_number(
            path, "[options] success_status_id", options.get("success_status_id", 1)
        ),
        no_campaign_id=(
            None
            if no_campaign in (None, "")
            else _checks.whole_number(path, "[options] no_campaign_id", no_campaign)
        ),
        source=str(path),
    )


@dataclass(frozen=True, repr=False)
class TableLoad(Result):
    """What loading one table read, dropped and kept."""

    table: str
    source: str
    layout: str
    columns: dict[str, str]
    rows_read: int
    duplicates_dropped: int
    rows_kept: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, repr=False)
class CustomerLoadReport(Result):
    """What a load found: per-table counts, the missing tables, and the cleaning applied."""

    data_dir: str
    mapping: str
    tables: dict[str, TableLoad]
    missing_tables: list[str]
    placeholder_birth_dates: int
    placeholder_birth_dates_not_verified: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CustomerData:
    """The canonical tables on the engine (None for a table the folder lacks) and the load report."""

    con: BaseBackend
    report: CustomerLoadReport
    customers: ir.Table | None = None
    tickets: ir.Table | None = None
    devices: ir.Table | None = None
    campaigns: ir.Table | None = None
    statuses: ir.Table | None = None
    success_status_id: int = SUCCESS_STATUS_ID
    #: Tables the analyses materialise once per load (see :meth:`cached`).
    derived: dict[str, ir.Table] = field(default_factory=dict, compare=False, repr=False)

    def cached(self, key: str, build: Callable[[], ir.Table]) -> ir.Table:
        """``build()`` materialised on the engine the first time ``key`` is asked for, then reused.

        The reference is held here: Ibis drops a cached table when its last reference goes.
        """
        if key not in self.derived:
            self.derived[key] = build().cache()
        return self.derived[key]

    def has(self, table: str) -> bool:
        """True when ``table`` was loaded."""
        return getattr(self, table) is not None

    def require(self, table: str) -> ir.Table:
        """The table, or an :class:`InputError` saying it is missing."""
        value = getattr(self, table)
        if value is None:
            raise InputError(f"the {table} table is missing from {self.report.data_dir}")
        return value


def _find_file(data_dir: Path, table: str, mapping: Mapping) -> Path | None:
    spec = mapping.tables.get(table)
    if spec is not None and spec.file:
        path = Path(spec.file)
        path = path if path.is_absolute() else data_dir / path
        if not path.is_file():
            raise InputError(
                f"{path}: the mapping names this file for {table}, but it does not exist"
            )
        return path
    for stem in FILE_STEMS[table]:
        for suffix in (".csv", ".parquet", ".csv.gz"):
            path = data_dir / f"{stem}{suffix}"
            if path.is_file():
                return path
        for folder in (data_dir / stem, data_dir / f"{stem}.parquet"):
            if folder.is_dir():  # a folder of Parquet parts (Spark's, Hive's layout)
                return folder
    return None


def _read_source(con: BaseBackend, path: Path) -> ir.Table:
    literal = str(path).replace("'", "''")
    name = f"_cl_src_{uuid.uuid4().hex[:12]}"
    parquet = is_parquet(path)
    if not parquet:
        check_header_line(path)
    try:
        if parquet:
            source = duckdb_parquet_source(parquet_parts(path))
            con.raw_sql(f"CREATE TEMP TABLE {name} AS SELECT * FROM {source}")
        else:
            con.raw_sql(
                f"CREATE TEMP TABLE {name} AS SELECT * FROM read_csv('{literal}', header=true, "
                f"all_varchar=true, auto_detect=true)"
            )
    except InputError:
        raise
    except Exception as exc:  # duckdb raises several types for unreadable files
        if parquet:
            first = str(exc).splitlines()[0]
            raise InputError(f"{path}: could not be read as a table ({first})") from exc
        raise InputError(read_failure(con, path, exc)) from exc
    if not parquet:
        refuse_ragged_rows(con, path, con.table(name).columns)
    return _numbered(con, name, first_line=1 if parquet else 2)


def _numbered(con: BaseBackend, name: str, first_line: int = 2) -> ir.Table:
    """The staged source with ``_line`` (its line in a CSV file: header is line 1; a Parquet
    file's row number, counted from 1 across the parts of a folder).

    CSV files are read as text; Parquet keeps its types, and columns already of the canonical
    type skip the text round trip (see :func:`_native`).
    """
    return con.sql(f'SELECT rowid + {first_line} AS "_line", * FROM {name}')


#: A header name that is a number, a date or the reader's own name for a headerless column.
_DATA_LIKE = re.compile(r"^(-?[0-9][0-9.:/ -]*|column[0-9]+)$")


def _match_columns(
    source: ir.Table, table: str, spec: TableMapping | None, where: str
) -> tuple[dict[str, str], str]:
    """canonical name -> source name, and the layout recognised."""
    lower = {c.strip().lower(): c for c in source.columns}
    # A column the mapping names for one canonical column is not another's by its alias.
    claimed = {v.strip().lower() for v in spec.columns.values()} if spec else set()
    chosen: dict[str, str] = {}
    for column in SCHEMA[table]:
        explicit = spec.columns.get(column.name) if spec else None
        if explicit is not None:
            if explicit not in source.columns and explicit.lower() not in lower:
                raise InputError(
                    f"{where}: the mapping names column {explicit!r} for {column.name}, but the "
                    f"file has only {[c for c in source.columns if c != '_line']}"
                )
            chosen[column.name] = (
                explicit if explicit in source.columns else lower[explicit.lower()]
            )
            continue
        for alias in column.aliases:
            if alias in lower and alias not in claimed:
                chosen[column.name] = lower[alias]
                break
        if column.required and column.name not in chosen:
            names = [c for c in source.columns if c != "_line"]
            if any(_DATA_LIKE.match(c) for c in names):
                raise InputError(
                    f"{where}, line 1: the header is missing (the first line is data: "
                    f"{','.join(names)[:80]!r}); expected a header naming {column.name}"
                )
            raise InputError(
                f"{where}: no column for {column.name} (expected one of {list(column.aliases)}; "
                f"the file has {names}); name it in a mapping file"
            )
    older = {"user_id", "campaign_code", "status_name"} & set(lower)
    if spec and spec.columns:
        layout = "mapped"
    elif older or (table == "devices" and "device_id" in lower):
        layout = "2019 release"
    else:
        layout = "later release"
    return chosen, layout


@ibis.udf.scalar.builtin(name="trim")
def _trim(value: str) -> str:  # type: ignore[empty-body]
    """DuckDB's own ``trim`` (spaces): Ibis's ``strip()`` lists every whitespace character and
    ran 30 times slower on a million rows."""


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(value: str, format: str) -> dt.datetime:  # type: ignore[empty-body]
    """DuckDB's ``try_strptime``: NULL for a text that does not match the format (``strptime``,
    what Ibis's ``as_timestamp`` compiles to, stops the whole query instead)."""


def _native(value: ir.Value, dtype: str) -> bool:
    """True when a typed (Parquet) source column already holds the canonical type."""
    t = value.type()
    if dtype == "int64":
        return t.is_integer()
    if dtype == "float64":
        return t.is_floating() or t.is_integer() or t.is_decimal()
    if dtype == "timestamp":
        return t.is_timestamp()
    if dtype == "date":
        return t.is_date() or t.is_timestamp()
    return False


def _clean_text(value: ir.Value) -> ir.StringValue:
    """Text without leading/trailing spaces; empty text becomes missing.

    ``trim`` runs only on the values that start or end with a space: it copies every string
    it sees, which cost three times the rest of the load on ten million tickets.
    """
    text = value.cast("string")
    padded = text.startswith(" ") | text.endswith(" ")
    return ibis.ifelse(padded, _trim(text), text).nullif("")


def _parse(text: ir.StringValue, dtype: str, fmt: str | None) -> ir.Value:
    if dtype == "string":
        return text
    if dtype == "int64":
        return _int_from_text(text)
    if dtype == "float64":
        number = text.try_cast("float64")
        return ibis.ifelse(number.isinf() | number.isnan(), ibis.null("float64"), number)
    if dtype == "date":
        if fmt:
            return _try_strptime(text, fmt).cast("date")
        return text.try_cast("date")
    if dtype == "timestamp":
        if fmt:
            return _try_strptime(text, fmt)
        return text.try_cast("timestamp")
    raise AssertionError(dtype)


def _int_from_text(text: ir.StringValue) -> ir.IntegerValue:
    """Whole numbers, accepting ``12.0`` (as pandas writes ints with missing values).

    Not ``1e6`` (a spreadsheet's rounding of a long id), fractions, ``inf``/``nan`` or numbers
    beyond 64 bits; the digits themselves are cast, so a 17-digit id keeps every digit.
    """
    number = text.try_cast("float64")
    whole = (
        (number % 1 == 0)  # not number.floor(): Ibis casts it to BIGINT, which overflows
        & (number.abs() < 9.2e18)
        & ~text.contains("e")
        & ~text.contains("E")
    )
    return ibis.ifelse(whole, text.try_cast("int64"), ibis.null("int64"))


def _first_bad(con: BaseBackend, staged: ir.Table, column: str, where: str, expected: str) -> None:
    bad = staged.filter(staged[f"_bad_{column}"])
    count = int(bad.count().execute())
    if count:
        row = bad.order_by("_line").select("_line", f"_src_{column}").limit(1).execute()
        line = int(row["_line"].iloc[0])
        if where.endswith((".csv", ".csv.gz")) and Path(where).is_file():
            line = physical_line(where, line - 2)  # blank lines shift rowid + 2
        value = row[f"_src_{column}"].iloc[0]
        raise InputError(
            f"{where}, line {line}, column {column}: {value!r} is not {expected} "
            f"({count:,} such row(s))"
        )


_EXPECTED = {
    "int64": "a whole number",
    "float64": "a number",
    "date": "a date (YYYY-MM-DD, or the mapping's date_format)",
    "timestamp": "a date-time (YYYY-MM-DD HH:MM:SS, or the mapping's time_format)",
}


def _value_map(text: ir.StringValue, mapping: dict[str, str]) -> ir.StringValue:
    key = text.lower()
    cases = [(key == k.lower(), ibis.literal(v)) for k, v in mapping.items()]
    return ibis.cases(*cases, else_=text) if cases else text


def _deduplicated(source: ir.Table, data_columns: list[str]) -> ir.Table:
    """``source`` without exact duplicate rows (the first line kept) and with ``_copies``.

    Rows are compared by a 64-bit hash of every cell (a collision between two different rows
    among 10 M has a probability of about 3e-6). Only the few hashes seen more than once are
    joined back, so a file without duplicates costs one group-by of the hashes.
    """
    row = ibis.struct({f"c{i}": source[c] for i, c in enumerate(data_columns)})
    hashed = source.mutate(_h=row.hash())
    repeated = (
        hashed.group_by("_h")
        .aggregate(_first=hashed._line.min(), _copies=hashed.count())
        .filter(lambda t: t._copies > 1)
    )
    joined = hashed.left_join(repeated, hashed._h == repeated._h)
    return joined.filter(joined._first.isnull() | (joined._line == joined._first)).select(
        *data_columns, "_line", _copies=joined._copies.fill_null(1)
    )


def _canonical_table(
    con: BaseBackend,
    source: ir.Table,
    table: str,
    mapping: Mapping,
    where: str,
    source_name: str,
) -> tuple[ir.Table, TableLoad, dict[str, int]]:
    """Deduplicate, clean, parse and check one source table in a single materialised pass.

    The canonical columns, the cleaned source text of every parsed column (``_src_*``, kept
    to name a bad value), whether it failed to parse (``_bad_*``) and the table's own flags (``_flag_*``, see :func:`_clean`) are
    written once; the checks and counts read that table, and the helper columns are dropped
    from it afterwards.
    """
    spec = mapping.tables.get(table)
    chosen, layout = _match_columns(source, table, spec, where)
    notes: list[str] = []
    data_columns = [c for c in source.columns if c != "_line"]
    base = _deduplicated(source, data_columns)
    helpers: dict[str, ir.Value] = {"_line": base["_line"], "_copies": base["_copies"]}
    values: dict[str, ir.Value] = {}
    checked: list[ColumnSpec] = []
    for column in SCHEMA[table]:
        if column.name not in chosen:
            values[column.name] = ibis.null(column.dtype)
            continue
        source_column = base[chosen[column.name]]
        if not (spec and column.name in spec.values) and _native(source_column, column.dtype):
            values[column.name] = source_column.cast(column.dtype)
            continue
        text = _clean_text(source_column)
        if spec and column.name in spec.values:
            text = _value_map(text, spec.values[column.name])
        if column.dtype == "string":
            values[column.name] = text
            continue
        fmt = None
        if spec is not None:
            fmt = spec.time_format if column.dtype == "timestamp" else spec.date_format
        parsed = _parse(text, column.dtype, fmt).cast(column.dtype)
        helpers[f"_src_{column.name}"] = text
        helpers[f"_bad_{column.name}"] = text.notnull() & parsed.isnull()
        values[column.name] = parsed
        checked.append(column)
    canonical, flags = _clean(base.select(**helpers, **values), table, mapping, chosen)
    name = f"_cl_{table}_{uuid.uuid4().hex[:12]}"
    con.create_table(name, canonical, temp=True)
    staged = con.table(name)
    metrics: dict[str, ir.Value] = {"rows": staged._copies.sum(), "distinct": staged.count()}
    for column in checked:
        metrics[f"bad_{column.name}"] = staged[f"_bad_{column.name}"].cast("int64").sum()
    for flag in flags:
        metrics[flag] = staged[flag].cast("int64").sum()
    counts = staged.aggregate(**metrics).execute().iloc[0]
    rows_read = int(0 if pd.isna(counts["rows"]) else counts["rows"])
    rows_distinct = int(counts["distinct"])
    for column in checked:
        if int(0 if pd.isna(counts[f"bad_{column.name}"]) else counts[f"bad_{column.name}"]):
            _first_bad(con, staged, column.name, where, _EXPECTED[column.dtype])
    flag_counts = {f: int(0 if pd.isna(counts[f]) else counts[f]) for f in flags}
    extra = _flag_notes(table, flag_counts, mapping, chosen, notes)
    duplicates = rows_read - rows_distinct
    if duplicates:
        notes.insert(0, f"{duplicates:,} exact duplicate row(s) dropped")
    for helper in [c for c in staged.columns if c.startswith("_")]:
        con.raw_sql(f'ALTER TABLE temp.main."{name}" DROP COLUMN "{helper}"')
    result = con.table(name)
    load = TableLoad(
        table=table,
        source=source_name,
        layout=layout,
        columns=chosen,
        rows_read=rows_read,
        duplicates_dropped=duplicates,
        rows_kept=rows_distinct,
        notes=notes,
    )
    return result, load, extra


def _clean(
    t: ir.Table, table: str, mapping: Mapping, chosen: dict[str, str]
) -> tuple[ir.Table, list[str]]:
    """The table's own value rules, and the names of the ``_flag_*`` columns it adds to be
    counted once the table is written (see :func:`_flag_notes`)."""
    flags: list[str] = []
    if table == "customers":
        raw_gender = t.gender.lower()
        cases = [(raw_gender == k, ibis.literal(v)) for k, v in GENDER_VALUES.items()]
        cases += [(raw_gender == v, ibis.literal(v)) for v in (UNKNOWN,)]
        gender = ibis.cases(*cases, else_=ibis.literal(UNKNOWN))
        t = t.mutate(gender=gender)
        t = t.mutate(_flag_unknown_gender=t.gender == UNKNOWN)
        flags.append("_flag_unknown_gender")
        if mapping.placeholder_birth_date:
            placeholder = ibis.literal(mapping.placeholder_birth_date).cast("date")
            is_placeholder = (t.birth_date == placeholder).fill_null(False)
            t = t.mutate(
                _flag_placeholder=is_placeholder,
                _flag_placeholder_not_verified=is_placeholder & (t.gender == NOT_VERIFIED),
                birth_date=ibis.ifelse(is_placeholder, ibis.null("date"), t.birth_date),
            )
            flags += ["_flag_placeholder", "_flag_placeholder_not_verified"]
    elif table == "tickets":
        if mapping.no_campaign_id is not None:
            t = t.mutate(
                campaign_id=ibis.ifelse(
                    t.campaign_id == mapping.no_campaign_id, ibis.null("int64"), t.campaign_id
                )
            )
        if "status_id" not in chosen:
            t = t.mutate(status_id=ibis.literal(mapping.success_status_id, "int64"))
        if "final_price" not in chosen and "original_price" in chosen:
            t = t.mutate(final_price=t.original_price - t.discount_value.fill_null(0))
    elif table == "devices":
        model = t.model
        unknown_model = model.isnull() | model.lower().isin(list(UNKNOWN_MODELS))
        platform_text = t.platform.lower()
        platform = ibis.cases(
            *[(platform_text == k, ibis.literal(v)) for k, v in PLATFORM_VALUES.items()],
            else_=platform_text,
        )
        t = t.mutate(
            model=ibis.ifelse(unknown_model, ibis.null("string"), model), platform=platform
        )
        t = t.mutate(os=os_from_model(t.model, t.platform))
    elif table == "campaigns":
        t = t.mutate(campaign_type=t.campaign_type.lower())
    elif table == "statuses":
        group = t.error_group.lower()
        t = t.mutate(error_group=ibis.ifelse(group == "", ibis.null("string"), group))
    return t, flags


def _flag_notes(
    table: str, counts: dict[str, int], mapping: Mapping, chosen: dict[str, str], notes: list[str]
) -> dict[str, int]:
    """Notes for the counts of :func:`_clean`'s flags; the placeholder counts for the report."""
    extra: dict[str, int] = {}
    if table == "customers":
        unknown = counts["_flag_unknown_gender"]
        if "gender" in chosen and unknown:
            notes.append(f"{unknown:,} gender value(s) not recognised: set to 'unknown'")
        if mapping.placeholder_birth_date:
            extra["placeholder"] = counts["_flag_placeholder"]
            extra["placeholder_not_verified"] = counts["_flag_placeholder_not_verified"]
            if extra["placeholder"]:
                notes.append(
                    f"{extra['placeholder']:,} placeholder birth date(s) "
                    f"{mapping.placeholder_birth_date} set to unknown "
                    f"({extra['placeholder_not_verified']:,} of them on not-verified accounts)"
                )
    elif table == "tickets" and "status_id" not in chosen:
        notes.append("no status column: every ticket is taken as successful")
    return extra


def os_from_model(model: ir.StringValue, platform: ir.StringValue) -> ir.StringValue:
    """The operating system a device model implies: ``iOS``, ``Android``, ``Windows``, ``web``, ``unknown``.

    Apple models are written ``iphone 11,6``, ``ipad7,5``, ``ipod``; the website's browser
    sessions are ``h5`` or platform ``website``; every other named brand in both releases
    (Samsung, Xiaomi, OPPO, Huawei, Sony, Nokia/HMD, Vsmart, ...) ships Android, except Windows
    phones (``lumia``, ``windows``).

    Example:
        >>> import ibis
        >>> t = ibis.memtable({"model": ["iphone 11,6", "Samsung SM-N960F", "h5", None],
        ...                    "platform": ["mobile", "mobile", "website", "mobile"]})
        >>> t.select(os=os_from_model(t.model, t.platform)).execute()["os"].tolist()
        ['iOS', 'Android', 'web', 'unknown']
    """
    m = model.lower()
    return ibis.cases(
        ((platform == "website") | m.startswith("h5"), ibis.literal("web")),
        (model.isnull(), ibis.literal("unknown")),
        (
            m.startswith("iphone")
            | m.startswith("ipad")
            | m.startswith("ipod")
            | m.startswith("apple"),
            ibis.literal("iOS"),
        ),
        (m.contains("lumia") | m.contains("windows"), ibis.literal("Windows")),
        else_=ibis.literal("Android"),
    )


def _drop_sources(con: BaseBackend) -> None:
    """Drop the staged source copies once the canonical tables exist."""
    names = con.sql(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE '_cl_src_%'"
    ).execute()["table_name"]
    for name in names:
        con.raw_sql(f'DROP TABLE IF EXISTS temp.main."{name}"')


def _load_sources(
    con: BaseBackend,
    sources: dict[str, tuple[ir.Table, str]],
    mapping: Mapping,
    data_dir: str,
) -> CustomerData:
    loaded: dict[str, ir.Table] = {}
    loads: dict[str, TableLoad] = {}
    placeholder = placeholder_nv = 0
    for table in TABLES:
        if table not in sources:
            continue
        source, name = sources[table]
        result, load, extra = _canonical_table(con, source, table, mapping, name, name)
        loaded[table] = result
        loads[table] = load
        placeholder = extra.get("placeholder", placeholder)
        placeholder_nv = extra.get("placeholder_not_verified", placeholder_nv)
    _drop_sources(con)
    missing = [t for t in TABLES if t not in loaded]
    notes: list[str] = []
    if "tickets" in missing:
        notes.append(
            "no ticket table: the time, payment, promotion, customer-table, failure, cohort, "
            "acquisition, RFM and CLV analyses need it and are not computed"
        )
    if "devices" in loaded:
        devices = loaded["devices"]
        repeated = (
            devices.group_by("device_id").aggregate(n=devices.count()).filter(lambda t: t.n > 1)
        )
        n_repeated = int(repeated.count().execute())
        if n_repeated:
            loads["devices"].notes.append(
                f"{n_repeated:,} device id(s) appear on more than one row (different models); "
                "ticket joins use one row per id (a known model first)"
            )
    if "tickets" in loaded:
        tickets = loaded["tickets"]
        repeated = (
            tickets.group_by("ticket_id").aggregate(n=tickets.count()).filter(lambda t: t.n > 1)
        )
        n_repeated = int(repeated.count().execute())
        if n_repeated:
            loads["tickets"].notes.append(
                f"{n_repeated:,} ticket id(s) appear on more than one distinct row; all are kept"
            )
    report = CustomerLoadReport(
        data_dir=data_dir,
        mapping=mapping.source,
        tables=loads,
        missing_tables=missing,
        placeholder_birth_dates=placeholder,
        placeholder_birth_dates_not_verified=placeholder_nv,
        notes=notes,
    )
    return CustomerData(
        con=con,
        report=report,
        success_status_id=mapping.success_status_id,
        **loaded,
    )


def load_customer_data(
    data_dir: str | Path,
    mapping: str | Path | Mapping | None = None,
    con: BaseBackend | None = None,
) -> CustomerData:
    """Load every customer-activity table found in ``data_dir`` into the canonical schema.

    Tables the folder lacks are None in the result and listed in ``report.missing_tables``
    (the 2019 release has no ticket table); the customers table or the tickets table must be
    there.

    Args:
        data_dir: the folder with ``customer.csv``, ``ticket_history.csv``, ... (CSV, Parquet,
            or a folder of Parquet parts named like the file: ``ticket_history/``).
        mapping: a mapping file (JSON/TOML) or a :class:`Mapping`; None uses the built-in names.
        con: the engine the analyses run on; a new in-process DuckDB when None. The tables
            are read and cleaned on DuckDB, then handed to ``con`` when it is Spark.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "customer.csv").write_text("user_id,usergender,dob\\n7,2,1995-03-04\\n")
        >>> data = load_customer_data(d)
        >>> data.report.missing_tables
        ['tickets', 'devices', 'campaigns', 'statuses']
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise InputError(f"{folder}: data folder not found")
    if mapping is None:
        mapping = Mapping()
    elif not isinstance(mapping, Mapping):
        mapping = read_mapping(mapping)
    engine, con = con, loading_engine(con)
    sources: dict[str, tuple[ir.Table, str]] = {}
    for table in TABLES:
        path = _find_file(folder, table, mapping)
        if path is not None:
            sources[table] = (_read_source(con, path), str(path))
    if "customers" not in sources and "tickets" not in sources:
        raise InputError(
            f"{folder}: found neither a customers table ({', '.join(s + '.csv' for s in FILE_STEMS['customers'])}) "
            f"nor a ticket table ({', '.join(s + '.csv' for s in FILE_STEMS['tickets'])})"
        )
    return on_engine(_load_sources(con, sources, mapping, str(folder)), engine)


def customer_data_from_frames(
    customers: pd.DataFrame | None = None,
    tickets: pd.DataFrame | None = None,
    devices: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    statuses: pd.DataFrame | None = None,
    mapping: Mapping | None = None,
    con: BaseBackend | None = None,
) -> CustomerData:
    """Canonical tables from pandas frames in either release's layout (same rules as files).

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"ticket_id": ["a"], "customer_id": [1], "time": ["2019-01-05 19:00:00"],
        ...                   "status_id": [1], "campaign_id": [0]})
        >>> data = customer_data_from_frames(tickets=t)
        >>> data.tickets.execute()["campaign_id"].isna().tolist()
        [True]
    """
    engine, con = con, loading_engine(con)
    mapping = mapping or Mapping()
    frames = {
        "customers": customers,
        "tickets": tickets,
        "devices": devices,
        "campaigns": campaigns,
        "statuses": statuses,
    }
    sources: dict[str, tuple[ir.Table, str]] = {}
    for table, frame in frames.items():
        if frame is None:
            continue
        text = frame.astype(object).where(frame.notna(), None)
        text = pd.DataFrame(
            {c: [None if v is None else str(v) for v in text[c]] for c in text.columns},
            dtype=object,
        )
        name = f"_cl_src_{uuid.uuid4().hex[:12]}"
        con.create_table(
            name, ibis.memtable(text, schema={c: "string" for c in text.columns}), temp=True
        )
        sources[table] = (_numbered(con, name), f"<{table} frame>")
    if not sources:
        raise InputError("no tables given: pass at least customers or tickets")
    return on_engine(_load_sources(con, sources, mapping, "<frames>"), engine)


def on_engine(data: CustomerData, engine: BaseBackend | None) -> CustomerData:
    """``data`` with every table handed to ``engine`` (itself when ``engine`` is None or
    already its engine): loading stays on DuckDB, the analyses run on ``engine``."""
    if engine is None or engine is data.con:
        return data
    moved = {t: to_engine(getattr(data, t), engine) for t in TABLES if data.has(t)}
    return CustomerData(
        con=engine, report=data.report, success_status_id=data.success_status_id, **moved
    )


__all__ = [
    "SCHEMA",
    "TABLES",
    "ColumnSpec",
    "CustomerData",
    "CustomerLoadReport",
    "Mapping",
    "TableLoad",
    "TableMapping",
    "customer_data_from_frames",
    "load_customer_data",
    "on_engine",
    "os_from_model",
    "read_mapping",
]
