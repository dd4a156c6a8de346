"""Load a randomized experiment table (CSV or Parquet) onto the engine, and the Hillstrom test.

An experiment table has one row per unit: a treatment column naming the arm (two or more
values, one of them the control), outcome columns (binary, count or amount), and optional
covariates and pre-period columns. The loader reads the file with the engine's own reader,
materialises it once as a temporary table (so every later query scans memory, not the file),
and checks that every named column exists, that outcomes and pre-period columns are numeric
with no missing values, and that the control value is one of the arms.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "exp.csv").write_text("arm,bought\\nA,1\\nB,0\\nA,0\\n")
    >>> data = load_experiment(d / "exp.csv", treatment="arm", control="A", outcomes=["bought"])
    >>> data.arms, data.n_rows
    (['A', 'B'], 3)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from couponlens.datasets._read_errors import (
    check_header_line,
    physical_line,
    read_failure,
    refuse_ragged_rows,
)
from couponlens.datasets.sources import (
    duckdb_parquet_source,
    is_parquet,
    parquet_parts,
    read_error,
)
from couponlens.errors import InputError
from couponlens.handoff import loading_engine, to_engine

#: The column the loader adds: the arm as text, so any treatment column type works the same way.
ARM_COLUMN = "_arm"

#: Categorical covariates with more distinct values than this are refused (balance needs levels).
MAX_LEVELS = 50


@dataclass(frozen=True)
class ExperimentData:
    """An experiment table on the engine and what its columns mean.

    ``table`` has every column of the file plus :data:`ARM_COLUMN`. ``covariates`` are
    checked for balance and composition; ``pre_period`` are numeric pre-treatment measures used
    for the ANCOVA (CUPED) adjustment (and checked for balance too). ``categorical`` holds,
    for every text/boolean covariate, its levels in sorted order (a missing value is the level
    ``"(missing)"``).
    """

    table: ir.Table
    con: BaseBackend
    source: str
    treatment: str
    control: str
    arms: list[str]
    arm_counts: dict[str, int]
    outcomes: list[str]
    covariates: list[str] = field(default_factory=list)
    pre_period: list[str] = field(default_factory=list)
    categorical: dict[str, list[str]] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Rows in the table."""
        return sum(self.arm_counts.values())

    @property
    def treated_arms(self) -> list[str]:
        """Every arm except the control, in sorted order."""
        return [a for a in self.arms if a != self.control]


def _arm_text(column: ir.Value) -> ir.StringValue:
    """The arm as text; whole-number floats print without ``.0`` so ``1.0`` matches ``--control 1``."""
    dtype = column.type()
    if dtype.is_floating():
        assert isinstance(column, ir.FloatingValue)
        whole = column == column.round(0)
        return ibis.ifelse(whole, column.cast("int64").cast("string"), column.cast("string"))
    if dtype.is_boolean():
        assert isinstance(column, ir.BooleanValue)
        return ibis.ifelse(column, ibis.literal("True"), ibis.literal("False"))
    return column.cast("string")


def _read(con: BaseBackend, path: Path) -> ir.Table:
    """The file (CSV, Parquet, or a folder of Parquet parts) materialised as a DuckDB table."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    name = f"_experiment_{uuid.uuid4().hex[:10]}"
    parquet = is_parquet(path)
    if not parquet:
        check_header_line(path)
    try:
        if parquet:
            parts = parquet_parts(path)
            table = con.create_table(
                name, con.sql(f"SELECT * FROM {duckdb_parquet_source(parts)}"), temp=True
            )
        else:
            source = con.read_csv(path, nullstr=["", "NA", "null", "NaN"])
            table = con.create_table(name, source, temp=True)
    except InputError:
        raise
    except Exception as exc:  # the engine's reader: unreadable, not CSV, bad encoding, ...
        if parquet:
            raise read_error(path, exc) from exc
        raise InputError(read_failure(con, path, exc)) from exc
    if not parquet:
        refuse_ragged_rows(con, path, table.columns)
    return table


def _check_file_values(
    con: BaseBackend,
    table: ir.Table,
    path: Path,
    treatment: str,
    numeric: Sequence[str],
    roles: Sequence[str],
) -> None:
    """Name the file, line and column of the first bad value (the header is line 1).

    A missing header, a missing arm, and a missing or non-numeric outcome or pre-period value;
    in a Parquet file the position is the row number.
    """
    if int(table.count().execute()) == 0:
        raise InputError(f"{path}: the table has no rows; expected one row per unit")
    names = [treatment, *numeric]
    if any(n not in table.columns for n in names) and any(
        re.fullmatch(r"column[0-9]+|-?[0-9][0-9.:/ -]*", c) for c in table.columns
    ):
        raise InputError(
            f"{path}, line 1: the header is missing (the first line is data: "
            f"{','.join(table.columns)[:80]!r}); expected a header naming {', '.join(names)}"
        )
    parquet = is_parquet(path)
    name = table.get_name()
    found: list[tuple[int, str, object, str, int]] = []
    checks = [(treatment, "")] if treatment in table.columns else []
    checks += [(c, role) for c, role in zip(numeric, roles, strict=True) if c in table.columns]
    for column, role in checks:
        quoted = '"' + column.replace('"', '""') + '"'
        bad = f"{quoted} IS NULL"
        if role:  # text that is not a number, and infinities (NaN is read as missing)
            bad += f" OR NOT coalesce(isfinite(TRY_CAST({quoted} AS DOUBLE)), false)"
        row = con.sql(
            f"SELECT rowid AS _row, CAST({quoted} AS VARCHAR) AS _value, count(*) OVER () AS _n "
            f"FROM {name} WHERE {bad} ORDER BY rowid LIMIT 1"
        ).execute()
        if len(row):
            first = row.iloc[0]
            found.append((int(first["_row"]), column, first["_value"], role, int(first["_n"])))
    if not found:
        return
    record, column, value, role, count = min(found, key=lambda f: f[0])
    where = f"row {record + 1}" if parquet else f"line {physical_line(path, record)}"
    rows = f"({count:,} row{'s' if count > 1 else ''})"
    if value is None or value != value:
        what = (
            f"the arm is missing {rows}"
            if not role
            else f"the {role} value is missing {rows}; record 0 when nothing happened, or drop "
            "the row"
        )
    else:
        what = f"{value!r} is not a finite number {rows}; {role} values are numbers (or 0/1)"
    raise InputError(f"{path}, {where}, column {column}: {what}")


def _require_columns(path: str, table: ir.Table, names: Sequence[str], role: str) -> None:
    for name in names:
        if name not in table.columns:
            shown = ", ".join(table.columns[:40])
            raise InputError(f"{path}: no {role} column {name!r}; the columns are: {shown}")


def experiment_from_table(
    table: ir.Table,
    con: BaseBackend,
    *,
    treatment: str,
    control: str | int | float,
    outcomes: Sequence[str],
    covariates: Sequence[str] = (),
    pre_period: Sequence[str] = (),
    source: str = "<table>",
) -> ExperimentData:
    """Check an engine table and describe it as an experiment (see :func:`load_experiment`)."""
    if not outcomes:
        raise InputError(f"{source}: name at least one outcome column")
    _require_columns(source, table, [treatment], "treatment")
    _require_columns(source, table, outcomes, "outcome")
    _require_columns(source, table, covariates, "covariate")
    _require_columns(source, table, pre_period, "pre-period")
    for name in [*outcomes, *pre_period]:
        dtype = table[name].type()
        if not (dtype.is_numeric() or dtype.is_boolean()):
            role = "outcome" if name in outcomes else "pre-period"
            raise InputError(
                f"{source}: {role} column {name!r} has type {dtype}; expected numbers (or 0/1)"
            )
    table = table.mutate(**{ARM_COLUMN: _arm_text(table[treatment])})

    checks: dict[str, ir.Scalar] = {"_rows": table.count()}
    for name in dict.fromkeys([*outcomes, *pre_period]):
        checks[f"_null_{name}"] = table[name].isnull().sum()
    checks["_null_arm"] = table[ARM_COLUMN].isnull().sum()
    counts = table.aggregate(**checks).execute().iloc[0]
    if int(counts["_rows"]) == 0:
        raise InputError(f"{source}: the table has no rows")
    if int(counts["_null_arm"] or 0):
        raise InputError(
            f"{source}: treatment column {treatment!r} is missing in {int(counts['_null_arm'])} rows"
        )
    for name in dict.fromkeys([*outcomes, *pre_period]):
        missing = int(counts[f"_null_{name}"] or 0)
        if missing:
            role = "outcome" if name in outcomes else "pre-period"
            raise InputError(
                f"{source}: {role} column {name!r} is missing in {missing} rows; record 0 when "
                "nothing happened, or drop those rows"
            )

    arm_frame = table.group_by(ARM_COLUMN).aggregate(n=table.count()).order_by(ARM_COLUMN).execute()
    arm_counts = {
        str(a): int(n) for a, n in zip(arm_frame[ARM_COLUMN], arm_frame["n"], strict=True)
    }
    control_text = str(control)
    if isinstance(control, float) and control.is_integer():
        control_text = str(int(control))
    if control_text not in arm_counts:
        shown = ", ".join(repr(a) for a in list(arm_counts)[:20])
        raise InputError(
            f"{source}: control value {control_text!r} is not in column {treatment!r}; its values are {shown}"
        )
    if len(arm_counts) > MAX_LEVELS:
        raise InputError(
            f"{source}: treatment column {treatment!r} has {len(arm_counts)} values; expected a few arms"
        )

    categorical: dict[str, list[str]] = {}
    for name in covariates:
        dtype = table[name].type()
        if dtype.is_numeric():
            continue
        if not (dtype.is_string() or dtype.is_boolean()):
            raise InputError(
                f"{source}: covariate {name!r} has type {dtype}; expected numbers, text or booleans"
            )
        text = table[name].cast("string").fill_null("(missing)")
        levels = (
            table.select(level=text)
            .distinct()
            .order_by("level")
            .limit(MAX_LEVELS + 1)
            .execute()["level"]
        )
        if len(levels) > MAX_LEVELS:
            raise InputError(
                f"{source}: covariate {name!r} has more than {MAX_LEVELS} distinct values; expected a category"
            )
        categorical[name] = [str(v) for v in levels]

    return ExperimentData(
        table=table,
        con=con,
        source=source,
        treatment=treatment,
        control=control_text,
        arms=list(arm_counts),
        arm_counts=arm_counts,
        outcomes=list(outcomes),
        covariates=list(covariates),
        pre_period=list(pre_period),
        categorical=categorical,
    )


def load_experiment(
    path: str | Path,
    *,
    treatment: str,
    control: str | int | float,
    outcomes: Sequence[str],
    covariates: Sequence[str] = (),
    pre_period: Sequence[str] = (),
    con: BaseBackend | None = None,
) -> ExperimentData:
    """Read an experiment file (CSV, Parquet by its suffix, or a folder of Parquet parts) and
    check it.

    The file is read by DuckDB (``con`` itself, or a private one when ``con`` is Spark, which
    then gets the table through :mod:`couponlens.handoff`); the checks run on ``con``.

    Args:
        path: the file or folder.
        treatment: the column naming each unit's arm.
        control: the control arm's value (compared as text: ``1`` and ``"1"`` are the same).
        outcomes: outcome columns (numbers or 0/1), no missing values.
        covariates: pre-treatment covariates (numbers, text or booleans) for balance/composition.
        pre_period: numeric pre-period measures for the ANCOVA adjustment.
        con: the engine the analysis runs on; a new in-process DuckDB when ``None``.

    Raises:
        InputError: missing file or column, wrong type, missing values, unknown control value.
    """
    path = Path(path)
    loading = loading_engine(con)
    table = _read(loading, path)
    numeric = [*outcomes, *pre_period]
    roles = ["outcome"] * len(outcomes) + ["pre-period"] * len(pre_period)
    _check_file_values(loading, table, path, treatment, numeric, roles)
    # Every value is a finite number now; a CSV reader may still have typed a column as text
    # (leading zeros such as ``00``), so read those as numbers. A Parquet file's text column is
    # its writer's choice, refused below by type.
    as_text = {
        c: table[c].cast("float64")
        for c in numeric
        if table[c].type().is_string() and not is_parquet(path)
    }
    if as_text:
        table = loading.create_table(f"{table.get_name()}_n", table.mutate(**as_text), temp=True)
    if con is not None and con is not loading:  # a job on Spark: hand the table over
        table = to_engine(table, con)
    else:
        con = loading
    return experiment_from_table(
        table,
        con,
        treatment=treatment,
        control=control,
        outcomes=outcomes,
        covariates=covariates,
        pre_period=pre_period,
        source=str(path),
    )


#: Hillstrom's e-mail test: arm column, control and outcomes.
HILLSTROM_TREATMENT = "segment"
HILLSTROM_CONTROL = "No E-Mail"
HILLSTROM_OUTCOMES = ("visit", "conversion", "spend")
HILLSTROM_COVARIATES = ("recency", "history", "mens", "womens", "newbie", "zip_code", "channel")


def load_hillstrom(path: str | Path, con: BaseBackend | None = None) -> ExperimentData:
    """Load Kevin Hillstrom's MineThatData e-mail test (64,000 customers, three arms).

    The arms are ``Mens E-Mail``, ``Womens E-Mail`` and the control ``No E-Mail``; outcomes
    ``visit``, ``conversion`` and ``spend``; covariates recency, history, past mens/womens
    purchase flags, newbie, zip code and channel.
    """
    return load_experiment(
        path,
        treatment=HILLSTROM_TREATMENT,
        control=HILLSTROM_CONTROL,
        outcomes=HILLSTROM_OUTCOMES,
        covariates=HILLSTROM_COVARIATES,
        con=con,
    )
