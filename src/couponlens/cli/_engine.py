"""The ``--engine`` and ``--spark-master`` options every table job shares.

``--engine duckdb`` (the default) runs in-process; ``--engine spark`` runs the same Ibis
expressions on Spark, ``local[*]`` unless ``--spark-master`` names a cluster (giving
``--spark-master`` alone implies ``--engine spark``). Two environment variables tune Spark
without more options: ``COUPONLENS_SPARK_DRIVER_MEMORY`` (e.g. ``8g``) and
``COUPONLENS_SPARK_SCRATCH`` (the folder tables are handed to Spark through; on a cluster a
path every executor can read). See ``docs/scale.md``.
"""

from __future__ import annotations

import os

from ibis.backends import BaseBackend

from couponlens.cli._app import console
from couponlens.engine import ENGINE_KINDS, connect, describe
from couponlens.errors import InputError

ENGINE_HELP = "Table engine: duckdb (in-process, the default) or spark."
SPARK_MASTER_HELP = (
    "Spark master URL (default local[*]): spark://host:7077, yarn, k8s://...; "
    "implies --engine spark."
)


def job_engine(engine: str | None, spark_master: str | None) -> BaseBackend:
    """The engine a command's table work runs on, from its ``--engine``/``--spark-master``.

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
        return connect()
    con = connect(
        "spark",
        master=spark_master,
        driver_memory=os.environ.get("COUPONLENS_SPARK_DRIVER_MEMORY") or None,
        scratch=os.environ.get("COUPONLENS_SPARK_SCRATCH") or None,
    )
    about = describe(con)
    console.print(f"engine: Spark {about['version']} on {about['master']}", highlight=False)
    return con


__all__ = ["ENGINE_HELP", "SPARK_MASTER_HELP", "job_engine"]
