"""Connect to the table engine every job runs on.

All table work in couponlens is written as Ibis expressions, so the same code runs on
DuckDB in-process (the default: embedded, multi-threaded, spills to disk under a memory
limit) and, later, on other Ibis backends.

Example:
    >>> from couponlens.engine import connect
    >>> con = connect(threads=2, memory_limit="2GB")
    >>> con.sql("SELECT 41 + 1 AS answer").execute()["answer"].item()
    42
"""

from __future__ import annotations

from typing import Any, Literal

import ibis
from ibis.backends import BaseBackend

EngineKind = Literal["duckdb"]


class EngineError(RuntimeError):
    """The engine could not be started with the options given."""


def connect(
    kind: str = "duckdb",
    database: str | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
) -> BaseBackend:
    """Return an Ibis backend for ``kind``.

    Args:
        kind: ``"duckdb"`` (in-process, the default).
        database: a DuckDB database file; ``None`` keeps everything in memory (spilling to a
            temporary directory when ``memory_limit`` is reached).
        threads: worker threads; ``None`` lets DuckDB use every core.
        memory_limit: e.g. ``"4GB"``; ``None`` keeps DuckDB's default (80% of RAM).
        temp_directory: where DuckDB spills; defaults to DuckDB's own choice.

    Example:
        >>> con = connect()
        >>> con.name
        'duckdb'
    """
    if kind != "duckdb":
        raise EngineError(f"unknown engine kind {kind!r}: expected 'duckdb'")
    config: dict[str, Any] = {}
    if threads is not None:
        if threads < 1:
            raise EngineError(f"threads must be at least 1, got {threads}")
        config["threads"] = threads
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    if temp_directory is not None:
        config["temp_directory"] = temp_directory
    try:
        con = ibis.duckdb.connect(database=database or ":memory:", **config)
    except Exception as exc:  # duckdb raises several unrelated types for bad settings
        raise EngineError(f"could not start DuckDB: {exc}") from exc
    # Reading a file in its own order is what gives quarantined rows their line numbers.
    con.raw_sql("SET preserve_insertion_order = true")
    return con
