"""The ``--engine`` and ``--spark-master`` options every table job shares.

``--engine duckdb`` (the default) runs in-process; ``--engine spark`` runs the same Ibis
expressions on Spark, ``local[*]`` unless ``--spark-master`` names a cluster (giving
``--spark-master`` alone implies ``--engine spark``). ``--memory-limit`` caps DuckDB's memory
(it spills to disk beyond it) or, on Spark, sets the driver's memory. Two environment variables tune Spark
without more options: ``COUPONLENS_SPARK_DRIVER_MEMORY`` (e.g. ``8g``) and
``COUPONLENS_SPARK_SCRATCH`` (the folder tables are handed to Spark through; on a cluster a
path every executor can read). See ``docs/scale.md``.
"""

from __future__ import annotations

import os
import re

from ibis.backends import BaseBackend

from couponlens.cli import _resources
from couponlens.cli._app import console
from couponlens.engine import ENGINE_KINDS, connect, describe
from couponlens.errors import InputError

ENGINE_HELP = "Table engine: duckdb (in-process, the default) or spark."
SPARK_MASTER_HELP = (
    "Spark master URL (default local[*]): spark://host:7077, yarn, k8s://...; "
    "implies --engine spark."
)


def spark_memory(limit: str) -> str:
    """A ``--memory-limit`` (DuckDB's spelling, e.g. ``4GB``) as Spark's driver memory (``4096m``).

    Example:
        >>> spark_memory("4GB"), spark_memory("1.5GiB"), spark_memory("500MB")
        ('4096m', '1536m', '500m')
    """
    found = re.fullmatch(r"([0-9.]+)\s*([KMGT])i?B", limit.strip(), flags=re.IGNORECASE)
    if found is None:
        raise InputError(f"--memory-limit {limit!r}: expected a size such as 4GB")
    number, unit = float(found.group(1)), found.group(2).upper() + "B"
    megabytes = number * {"KB": 1 / 1024, "MB": 1, "GB": 1024, "TB": 1024 * 1024}[unit]
    return f"{max(1, round(megabytes))}m"


def job_engine(
    engine: str | None,
    spark_master: str | None,
    memory_limit: str | None = None,
    job: str | None = None,
) -> BaseBackend:
    """The engine a command's table work runs on, from its ``--engine``/``--spark-master`` and
    ``--memory-limit`` (DuckDB's memory limit, or the Spark driver's memory).

    Example:
        >>> job_engine(None, None).name
        'duckdb'
        >>> job_engine("duckdb", "local[2]")
        Traceback (most recent call last):
        couponlens.errors.InputError: --spark-master is a Spark option; use it with --engine spark
    """
    kind = (engine or ("spark" if spark_master else "duckdb")).lower()
    if kind not in ENGINE_KINDS:
        raise InputError(f"--engine {engine!r}: expected {' or '.join(ENGINE_KINDS)}")
    if kind == "duckdb":
        if spark_master:
            raise InputError("--spark-master is a Spark option; use it with --engine spark")
        return _resources.job_engine(memory_limit, job or "the job")
    _resources.record_job(memory_limit, job or "the job")
    driver_memory = os.environ.get("COUPONLENS_SPARK_DRIVER_MEMORY") or (
        spark_memory(memory_limit) if memory_limit else None
    )
    con = connect(
        "spark",
        master=spark_master,
        driver_memory=driver_memory,
        scratch=os.environ.get("COUPONLENS_SPARK_SCRATCH") or None,
    )
    about = describe(con)
    console.print(f"engine: Spark {about['version']} on {about['master']}", highlight=False)
    return con


__all__ = ["ENGINE_HELP", "SPARK_MASTER_HELP", "job_engine", "spark_memory"]
