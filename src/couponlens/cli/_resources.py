"""``--memory-limit`` for the table jobs, and the one line a job prints when memory runs out.

A table job builds its engine with :func:`job_engine`; DuckDB then keeps its memory under the
limit and spills to disk beyond it (into ``.tmp`` in the current folder). When an operation
cannot spill and the limit is reached, DuckDB raises an out-of-memory error, which the CLI turns
into :func:`out_of_memory_message` and exit code 2, never a traceback.

Example:
    >>> parse_memory_limit(" 4 gb ")
    '4GB'
    >>> try:
    ...     parse_memory_limit("lots")
    ... except typer.BadParameter as exc:
    ...     print(exc.message)
    expected a size such as 4GB, 500MB or 2GiB, got 'lots'
"""

from __future__ import annotations

import re
from typing import Annotated

import typer
from ibis.backends import BaseBackend

from couponlens.engine import connect

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
_UNITS = {u.lower(): u for u in ("KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB")}


def parse_memory_limit(text: str | None) -> str | None:
    """The limit in DuckDB's spelling (``4GB``), or a usage error naming what was expected."""
    if text is None:
        return None
    found = _SIZE.match(text)
    if found is None or float(found.group(1)) <= 0:
        raise typer.BadParameter(f"expected a size such as 4GB, 500MB or 2GiB, got {text!r}")
    return f"{found.group(1)}{_UNITS[found.group(2).lower()]}"


#: The ``--memory-limit`` option every table job shares.
MemoryLimit = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        metavar="SIZE",
        callback=parse_memory_limit,
        help="Most memory the table engine may use, e.g. 4GB or 500MB; beyond it DuckDB spills "
        "to disk (.tmp in the current folder). Default: DuckDB's 80% of RAM.",
    ),
]

_job: dict[str, str | None] = {"name": None, "limit": None}


def job_engine(memory_limit: str | None, job: str) -> BaseBackend:
    """The engine of the job ``job`` (``"o2o report"``) under ``memory_limit``.

    Example:
        >>> con = job_engine("200MB", "o2o report")
        >>> con.sql("SELECT current_setting('memory_limit') AS m").execute()["m"].item()
        '190.7 MiB'
    """
    record_job(memory_limit, job)
    return connect(memory_limit=memory_limit)


def record_job(memory_limit: str | None, job: str) -> None:
    """Remember the running job and its limit for :func:`out_of_memory_message`."""
    _job.update(name=job, limit=memory_limit)


def forget_job() -> None:
    """Clear the job recorded by :func:`job_engine` (each CLI run starts afresh)."""
    _job.update(name=None, limit=None)


def _is_out_of_memory(exc: BaseException) -> bool:
    try:
        from duckdb import OutOfMemoryException
    except ImportError:  # pragma: no cover - duckdb is a dependency
        return isinstance(exc, MemoryError)
    return isinstance(exc, OutOfMemoryException | MemoryError)


def out_of_memory_message(exc: BaseException) -> str | None:
    """One line for an out-of-memory error anywhere in ``exc``'s causes; None for other errors.

    Example:
        >>> _ = job_engine("20MB", "customers report")
        >>> out_of_memory_message(MemoryError())
        'out of memory under the 20MB limit while running customers report; raise --memory-limit, or free memory and run it again'
        >>> out_of_memory_message(ValueError("x")) is None
        True
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _is_out_of_memory(current):
            break
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    else:
        return None
    running = f"running {_job['name']}" if _job["name"] else "running the job"
    if _job["limit"]:
        return (
            f"out of memory under the {_job['limit']} limit while {running}; "
            "raise --memory-limit, or free memory and run it again"
        )
    return (
        f"out of memory while {running} (no --memory-limit: DuckDB's default of 80% of RAM); "
        f"set --memory-limit below the free memory so DuckDB spills to disk, or free memory"
    )
