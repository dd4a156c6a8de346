"""Row samples drawn on the engine: the same rows on every engine where a row id exists.

Two ways, one per need:

- :func:`keep_share` picks rows by an integer key (a row id such as ``line_number``) with
  integer arithmetic only, so DuckDB and Spark keep exactly the same rows for the same seed
  (a multiplicative hash modulo the prime 2^31 - 1 with the golden-ratio multiplier: consecutive
  keys spread evenly over the range, so the kept share is the fraction asked for, to within a
  few rows).
- :func:`sample_rows` samples a table without a row id. DuckDB's seeded ``TABLESAMPLE`` and
  Spark's seeded ``rand(seed)`` are each reproducible on their engine (Spark: for the same
  partitioning of the input) but pick different rows; Ibis itself refuses a seeded sample on
  Spark, so this is the one place that knows the difference.

Example:
    >>> import ibis
    >>> from couponlens.engine import connect
    >>> t = connect().create_table("rows", ibis.memtable({"id": list(range(1, 100_001))}))
    >>> kept = t.filter(keep_share(t.id, 0.25, seed=3)).count().execute()
    >>> abs(kept - 25_000) < 10
    True
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from couponlens.engine import is_spark

#: The modulus and multiplier of :func:`keep_share`: p = 2^31 - 1 and round(p / golden ratio),
#: so ``(key mod p) * multiplier`` fits in int64 and consecutive keys land far apart.
_PRIME = 2_147_483_647
_MULTIPLIER = 1_327_217_884


def keep_share(key: ir.IntegerValue, fraction: float, seed: int = 0) -> ir.BooleanValue:
    """True for about ``fraction`` of the rows, chosen by ``key`` and ``seed``, identically on
    every engine."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    offset = (seed * 7_919) % _PRIME
    hashed = ((key.cast("int64") % _PRIME) * _MULTIPLIER + offset) % _PRIME
    return hashed < int(fraction * _PRIME)


@ibis.udf.scalar.builtin(name="rand")
def _spark_rand(seed: int) -> float:  # type: ignore[empty-body]
    """Spark's seeded uniform ``rand(seed)``."""


def sample_rows(table: ir.Table, fraction: float, seed: int = 0) -> ir.Table:
    """About ``fraction`` of ``table``'s rows, reproducible for ``seed`` on its engine.

    Example:
        >>> import ibis
        >>> from couponlens.engine import connect
        >>> t = connect().create_table("many", ibis.memtable({"x": list(range(20_000))}))
        >>> a = sample_rows(t, 0.1, seed=1).x.sum().execute()
        >>> a == sample_rows(t, 0.1, seed=1).x.sum().execute()
        True
    """
    if fraction >= 1:
        return table
    if is_spark(table._find_backend()):
        return table.filter(_spark_rand(ibis.literal(seed, "int64")) < fraction)
    return table.sample(fraction, seed=seed)


__all__ = ["keep_share", "sample_rows"]
