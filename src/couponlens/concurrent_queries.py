"""Run several independent Ibis queries at once on DuckDB, each on its own cursor.

A DuckDB query on a few hundred thousand rows spends part of its time in steps that use one
thread (building a small hash table, the final merge of an aggregate, the result's
conversion); two independent queries run side by side keep both cores busy through those
steps, and Ibis compiles the next query's SQL while the previous one runs (DuckDB releases
the GIL while it executes). The feature build uses this for its windows.

Cursors see the database's tables, not the temporary tables or in-memory tables
(``ibis.memtable``) of the connection that made them; queries that read those, and every
query on another engine, run one after the other on the connection as usual.

Example:
    >>> import ibis
    >>> from couponlens.engine import connect
    >>> con = connect(threads=2)
    >>> t = con.create_table("numbers", ibis.memtable({"x": list(range(10))}))
    >>> big, small = to_pyarrow_all([t.filter(t.x > 4), t.filter(t.x < 2)])
    >>> big.num_rows, small["x"].to_pylist()
    (5, [0, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import duckdb
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pyarrow as pa


def shareable(expr: ir.Table) -> bool:
    """True when every table ``expr`` reads is visible to another cursor of its database
    (no temporary table, no in-memory table).

    Example:
        >>> import ibis
        >>> from couponlens.engine import connect
        >>> con = connect()
        >>> kept = con.create_table("kept", ibis.memtable({"x": [1]}))
        >>> scratch = con.create_table("scratch", ibis.memtable({"x": [1]}), temp=True)
        >>> shareable(kept), shareable(scratch), shareable(ibis.memtable({"x": [1]}))
        (True, False, False)
    """
    for op in expr.op().find((ops.DatabaseTable, ops.InMemoryTable)):
        if isinstance(op, ops.InMemoryTable):
            return False
        namespace = getattr(op, "namespace", None)
        if namespace is not None and namespace.catalog == "temp":
            return False
    return True


def to_pyarrow_all(exprs: Sequence[ir.Table], max_concurrent: int = 2) -> list[pa.Table]:
    """Every expression's result as an Arrow table, in the order given (same types as Ibis's
    ``to_pyarrow``).

    On DuckDB, when the expressions share one connection and only read tables its cursors can
    see (:func:`shareable`), up to ``max_concurrent`` run at once, each on a cursor of its own;
    otherwise one after the other.
    """
    if not exprs:
        return []
    backends = {id(e._find_backend()): e._find_backend() for e in exprs}
    con = next(iter(backends.values()))
    if (
        len(exprs) == 1
        or max_concurrent < 2
        or len(backends) > 1
        or con.name != "duckdb"
        or not all(shareable(e) for e in exprs)
    ):
        return [e.to_pyarrow() for e in exprs]
    from ibis.backends.duckdb.converter import DuckDBPyArrowData

    cursors = [con.con.cursor() for _ in exprs]  # type: ignore[attr-defined]

    def run(cursor: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
        return cursor.sql(sql).to_arrow_table()

    pool = ThreadPoolExecutor(max_workers=max_concurrent)
    try:
        futures: list[Future[pa.Table]] = []
        for cursor, expr in zip(cursors, exprs, strict=True):  # compile the next while one runs
            futures.append(pool.submit(run, cursor, con.compile(expr)))
        tables = [f.result() for f in futures]
    except BaseException:  # Ctrl-C or a failed query: stop the others instead of waiting
        for cursor in cursors:
            cursor.interrupt()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for cursor in cursors:
            cursor.close()
    return [
        e.__pyarrow_result__(t, data_mapper=DuckDBPyArrowData)
        for e, t in zip(exprs, tables, strict=True)
    ]


__all__ = ["shareable", "to_pyarrow_all"]
