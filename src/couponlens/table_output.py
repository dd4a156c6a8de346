"""Write a table output (scores, recipients, feature tables) as CSV or Parquet.

One rule everywhere: **the file name's extension chooses the format**. ``.parquet`` or
``.pq`` writes Parquet; anything else writes CSV. Outputs are replaced whole or not at all
(:mod:`couponlens.outputs`), and an existing one needs ``force``.

A table computed in pandas (scores, recipients) is one file either way. A table on the engine
(a feature table) never passes through pandas: from DuckDB it streams in Arrow batches into
one file (with exactly the table's types); from Spark, a Parquet output is a *folder* of
parts under that name (Spark's own layout, written by its executors), which every couponlens
input, DuckDB, pandas and pyarrow read as one table, and a CSV output is one file gathered on
the driver.

Example:
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> frame = pd.DataFrame({"User_id": [1, 2], "Probability": [0.25, 0.5]})
    >>> write_frame(frame, d / "scores.parquet", force=False)
    'parquet'
    >>> pd.read_parquet(d / "scores.parquet").equals(frame)
    True
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from couponlens.datasets.sources import PARQUET_SUFFIXES
from couponlens.engine import is_spark
from couponlens.handoff import backend_of, table_parts, write_csv, write_parquet
from couponlens.outputs import check_writable, replacing_file, replacing_folder


def output_format(path: str | Path) -> str:
    """``"parquet"`` for a ``.parquet``/``.pq`` name, else ``"csv"``.

    Example:
        >>> output_format("scores.PARQUET"), output_format("scores.csv"), output_format("x.txt")
        ('parquet', 'csv', 'csv')
    """
    return "parquet" if Path(path).suffix.lower() in PARQUET_SUFFIXES else "csv"


def write_frame(
    frame: pd.DataFrame, path: str | Path, *, force: bool, float_format: str | None = None
) -> str:
    """Write a pandas table by its extension (CSV keeps ``float_format``); returns the format."""
    kind = output_format(path)
    with replacing_file(path, force=force) as work:
        if kind == "parquet":
            frame.to_parquet(work, index=False)
        else:
            frame.to_csv(work, index=False, float_format=float_format)
    return kind


def write_table(table: ir.Table | Sequence[ir.Table], path: str | Path, *, force: bool) -> str:
    """Write an engine table by its extension, computed by its engine; returns the format.

    ``table`` may be a sequence of tables with one schema (e.g. one per window): the output is
    their union. Spark computes it as one union; DuckDB computes the parts one after the
    other into the same file (DuckDB 1.5 can hang on a large ``UNION ALL`` of the feature
    windows, and one part at a time needs less memory).
    """
    target = Path(path)
    kind = output_format(target)
    parts = table_parts(table)
    backend = backend_of(parts[0])
    if is_spark(backend) and len(parts) > 1:
        parts = [ibis.union(*parts)]
    if kind == "parquet" and is_spark(backend):
        (table,) = parts
        if target.is_file():
            check_writable(target, force=force)
            target.unlink()
        with replacing_folder(target, force=force) as work:
            backend.to_parquet(table, work, mode="overwrite")
        return kind
    if target.is_dir() and force:  # a folder of parts from an earlier Spark run
        shutil.rmtree(target)
    with replacing_file(target, force=force) as work:
        if kind == "parquet":
            write_parquet(parts, work)
        else:
            write_csv(parts, work)
    return kind


__all__ = ["output_format", "write_frame", "write_table"]
