"""Hand a validated table from the loading engine (DuckDB) to the engine a job runs on.

Every loader reads and validates its files on DuckDB: line numbers, the quarantine and the
per-distinct-value parsing are DuckDB's (``datasets/``). When a job runs on another engine
(Spark), the validated, canonical table is written once as a Parquet file into the engine's
scratch folder (:func:`couponlens.engine.scratch_folder`) and read back by that engine's own
Parquet reader. This is the one place a table crosses engines: no pandas round trip (pandas
NaN and nullable dtypes change values on the way to Spark), and the types are Parquet's
(int64, double, string, date, timestamp), which both engines read the same way.

Example:
    >>> import ibis
    >>> from couponlens.engine import connect
    >>> loading, other = connect(), connect()
    >>> t = loading.create_table("t", ibis.memtable({"x": [1, 2, 3]}))
    >>> moved = to_engine(t, other)
    >>> int(moved.x.sum().execute()), to_engine(t, loading) is t
    (6, True)
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from ibis.backends import BaseBackend

from couponlens.engine import connect, is_spark, scratch_folder


def backend_of(table: ir.Table) -> BaseBackend:
    """The engine ``table`` lives on."""
    return table._find_backend()  # type: ignore[no-any-return]


def write_parquet(table: ir.Table | Sequence[ir.Table], path: str | Path) -> int:
    """Write ``table`` to one Parquet file with exactly its Ibis types; returns the rows.

    The rows stream through Arrow record batches cast to the table's Ibis schema: DuckDB's
    own ``COPY ... TO`` (and the batches it hands out) keep its physical types instead (a
    ``SUM`` of int64 is a 128-bit integer there and lands in Parquet as a double). A sequence
    of tables with one schema is written as their union, one query after the other.
    """
    parts = table_parts(table)
    schema = parts[0].schema().to_pyarrow()
    with pq.ParquetWriter(str(path), schema) as writer:
        return _write_batches(parts, schema, writer.write_table)


def table_parts(table: ir.Table | Sequence[ir.Table]) -> list[ir.Table]:
    """``table`` as a non-empty list of parts (one table, or the tables of a sequence)."""
    parts = [table] if isinstance(table, ir.Table) else list(table)
    if not parts:
        raise ValueError("nothing to write: no tables given")
    return parts


def _write_batches(
    parts: Sequence[ir.Table], schema: pa.Schema, write: Callable[[pa.Table], object]
) -> int:
    """Stream each table in Arrow batches cast to ``schema`` into ``write``; returns the rows."""
    rows = 0
    for table in parts:
        for batch in table.to_pyarrow_batches():
            write(pa.Table.from_batches([batch]).cast(schema))
            rows += batch.num_rows
    return rows


def write_csv(table: ir.Table | Sequence[ir.Table], path: str | Path) -> int:
    """Write ``table`` to one CSV file (header, its Ibis types); returns the rows. A sequence
    of tables with one schema is written as their union, one query after the other."""
    parts = table_parts(table)
    schema = parts[0].schema().to_pyarrow()
    with pacsv.CSVWriter(str(path), schema) as writer:
        return _write_batches(parts, schema, writer.write_table)


def loading_engine(con: BaseBackend | None) -> BaseBackend:
    """The DuckDB a loader reads and validates with: ``con`` when it is DuckDB, else a new
    in-process DuckDB (whose result :func:`to_engine` then hands to ``con``).

    Example:
        >>> duck = connect()
        >>> loading_engine(duck) is duck, loading_engine(None).name
        (True, 'duckdb')
    """
    if con is not None and con.name == "duckdb":
        return con
    return connect()


def materialise(con: BaseBackend, expr: ir.Table, *, name: str | None = None) -> ir.Table:
    """``expr`` computed once and kept on ``con`` for the queries that follow.

    DuckDB: a temporary table. Spark: a cached view (Ibis's ``cache``; Spark has no temporary
    tables), or a named temporary view when ``name`` is given. Either way later expressions
    refer to it by name, so their SQL stays small.
    """
    if is_spark(con):
        if name is None:
            return expr.cache()
        con._session.sql(con.compile(expr)).createOrReplaceTempView(name)  # type: ignore[attr-defined]
        return con.table(name)
    return con.create_table(
        name or f"_kept_{uuid.uuid4().hex[:12]}", expr, temp=True, overwrite=name is not None
    )


def to_engine(table: ir.Table, engine: BaseBackend, *, name: str | None = None) -> ir.Table:
    """``table`` as a table on ``engine`` (itself when it is already there).

    The rows go through one Parquet file (streamed from the table's engine in Arrow batches,
    :func:`write_parquet`) read by ``engine``'s own reader. Spark reads that file on every query (columns and filters pushed into the
    scan), so it stays in the scratch folder for the session; caching it in Spark's memory
    was slower on small tables and competes for the driver's heap on big ones. ``name`` is
    the name of the new table (a fresh one by default).
    """
    source = backend_of(table)
    if source is engine:
        return table
    name = name or f"handoff_{uuid.uuid4().hex[:12]}"
    if is_spark(engine):
        folder = Path(scratch_folder(engine))
    else:
        folder = Path(tempfile.mkdtemp(prefix="couponlens-handoff-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    write_parquet(table, path)
    moved = engine.read_parquet(path, table_name=name)
    if is_spark(engine):
        return moved
    # DuckDB (and the other in-process engines) copy it in: the file can go at once.
    copied = engine.create_table(f"{name}_data", moved, temp=True)
    shutil.rmtree(folder, ignore_errors=True)
    return copied


__all__ = [
    "backend_of",
    "loading_engine",
    "materialise",
    "table_parts",
    "to_engine",
    "write_csv",
    "write_parquet",
]
