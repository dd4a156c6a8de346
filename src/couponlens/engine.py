"""Connect to the table engine every job runs on.

All table work in couponlens is written as Ibis expressions, so the same code runs on DuckDB
in-process (the default: embedded, multi-threaded, spills to disk under a memory limit) and on
Spark (``kind="spark"``: Ibis's PySpark backend, on ``local[*]`` or a cluster). Files are read
and validated by DuckDB on every engine; :mod:`couponlens.handoff` moves the validated tables
to Spark (see ``docs/scale.md``).

Example:
    >>> from couponlens.engine import connect
    >>> con = connect(threads=2, memory_limit="2GB")
    >>> con.sql("SELECT 41 + 1 AS answer").execute()["answer"].item()
    42
    >>> engine_name(con)
    'duckdb'
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

import ibis
from ibis.backends import BaseBackend

from couponlens.errors import CouponlensError

EngineKind = Literal["duckdb", "spark"]
#: The engine kinds :func:`connect` accepts.
ENGINE_KINDS: tuple[str, ...] = ("duckdb", "spark")

#: Spark's driver memory when none is given (the JVM's heap; the data of one job lives there
#: in ``local`` mode).
DEFAULT_DRIVER_MEMORY = "4g"
#: The Spark configuration key that holds the folder tables are handed over through.
SCRATCH_CONF = "spark.couponlens.scratch"


class EngineError(CouponlensError):
    """The engine could not be started with the options given."""


def connect(
    kind: str = "duckdb",
    database: str | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    *,
    master: str | None = None,
    driver_memory: str | None = None,
    shuffle_partitions: int | None = None,
    scratch: str | None = None,
    spark_conf: dict[str, str] | None = None,
) -> BaseBackend:
    """Return an Ibis backend for ``kind``.

    Args:
        kind: ``"duckdb"`` (in-process, the default) or ``"spark"``.
        database: a DuckDB database file; ``None`` keeps everything in memory (spilling to a
            temporary directory when ``memory_limit`` is reached). DuckDB only.
        threads: worker threads; ``None`` uses every core. On Spark without ``master`` it
            sets ``local[threads]``.
        memory_limit: e.g. ``"4GB"``; ``None`` keeps DuckDB's default (80% of RAM). DuckDB only
            (Spark's memory is ``driver_memory``).
        temp_directory: where the engine spills (DuckDB's ``temp_directory``, Spark's
            ``spark.local.dir``).
        master: Spark's master URL: ``local[*]`` (the default), ``local[4]``,
            ``spark://host:7077``, ``yarn``, ...
        driver_memory: Spark's driver heap, e.g. ``"8g"`` (default :data:`DEFAULT_DRIVER_MEMORY`);
            it only takes effect when this call starts the JVM.
        shuffle_partitions: ``spark.sql.shuffle.partitions``; default: the local cores for a
            ``local`` master (Spark's 200 would make thousands of tiny tasks), Spark's own
            default on a cluster.
        scratch: the folder tables are handed to Spark through (Parquet files); default a
            fresh temporary folder, removed at exit. On a cluster it must be a path every
            executor can read (see ``docs/scale.md``).
        spark_conf: more Spark settings, applied last.

    Example:
        >>> con = connect()
        >>> con.name
        'duckdb'
        >>> connect("sqlite")
        Traceback (most recent call last):
        couponlens.engine.EngineError: unknown engine 'sqlite': expected duckdb or spark
    """
    if kind == "spark":
        if database is not None or memory_limit is not None:
            raise EngineError(
                "database and memory_limit are DuckDB options; give Spark driver_memory instead"
            )
        return _connect_spark(
            master=master,
            threads=threads,
            driver_memory=driver_memory,
            shuffle_partitions=shuffle_partitions,
            temp_directory=temp_directory,
            scratch=scratch,
            extra=spark_conf or {},
        )
    if kind != "duckdb":
        raise EngineError(f"unknown engine {kind!r}: expected {' or '.join(ENGINE_KINDS)}")
    spark_only = {
        "master": master,
        "driver_memory": driver_memory,
        "shuffle_partitions": shuffle_partitions,
        "scratch": scratch,
        "spark_conf": spark_conf,
    }
    given = [name for name, value in spark_only.items() if value is not None]
    if given:
        raise EngineError(f"{', '.join(given)}: Spark options, but the engine is DuckDB")
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


def engine_name(con: BaseBackend) -> str:
    """``"duckdb"`` or ``"spark"`` (Ibis calls its Spark backend ``pyspark``)."""
    return "spark" if con.name == "pyspark" else str(con.name)


def is_spark(con: BaseBackend) -> bool:
    """True for Ibis's PySpark backend."""
    return con.name == "pyspark"


def describe(con: BaseBackend) -> dict[str, Any]:
    """What a job ran on, for ``results.json`` and manifests: the engine, its version and, on
    Spark, the master.

    Example:
        >>> sorted(describe(connect()))
        ['engine', 'version']
    """
    out: dict[str, Any] = {"engine": engine_name(con), "version": str(con.version)}
    if is_spark(con):
        out["master"] = con._session.sparkContext.master  # type: ignore[attr-defined]
    return out


#: Spark's log configuration when couponlens starts the JVM: errors only.
_QUIET_LOGS = Path(__file__).with_name("spark-log4j2.properties")

_LOCAL = re.compile(r"^local(\[(\*|\d+)(,\s*\d+)?\])?$")


def _local_cores(master: str) -> int | None:
    """Cores of a ``local``/``local[N]``/``local[*]`` master; None for a cluster."""
    found = _LOCAL.match(master)
    if found is None:
        return None
    count = found.group(2)
    if count is None:
        return 1
    return os.cpu_count() or 1 if count == "*" else int(count)


def _connect_spark(
    *,
    master: str | None,
    threads: int | None,
    driver_memory: str | None,
    shuffle_partitions: int | None,
    temp_directory: str | None,
    scratch: str | None,
    extra: dict[str, str],
) -> BaseBackend:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a dependency
        raise EngineError(
            "the Spark engine needs pyspark: pip install 'pyspark>=4.0,<4.1'"
        ) from exc
    if threads is not None and threads < 1:
        raise EngineError(f"threads must be at least 1, got {threads}")
    if shuffle_partitions is not None and shuffle_partitions < 1:
        raise EngineError(f"shuffle_partitions must be at least 1, got {shuffle_partitions}")
    # Under spark-submit (or a service's notebook) the JVM is already up with its master,
    # memory and UI: only SQL settings are applied then, so --master/--driver-memory win.
    managed = "PYSPARK_GATEWAY_PORT" in os.environ
    if master is None and not managed:
        master = f"local[{threads}]" if threads else "local[*]"
    if not managed and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise EngineError(
            "the Spark engine needs Java 17 or later (java is not on PATH and JAVA_HOME is not set); "
            "install it, e.g. apt-get install openjdk-17-jre-headless"
        )
    # Spark's Python workers would otherwise run the system python3, without this package.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    sql = {
        "spark.sql.session.timeZone": "UTC",
        # DuckDB returns NULL where ANSI Spark raises (a division by zero, a failed cast); the
        # jobs are written for NULL semantics, so Spark runs with them too.
        "spark.sql.ansi.enabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    conf: dict[str, str] = {"spark.app.name": "couponlens", **sql}
    if master is not None:
        conf["spark.master"] = master
    if not managed:
        conf["spark.driver.memory"] = driver_memory or DEFAULT_DRIVER_MEMORY
        conf["spark.ui.showConsoleProgress"] = "false"
        conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={_QUIET_LOGS.as_uri()}"
        if master is not None and _local_cores(master) is not None:
            conf["spark.ui.enabled"] = "false"
    if temp_directory is not None:
        conf["spark.local.dir"] = temp_directory
    conf.update(extra)
    options = "spark.driver.extraJavaOptions"
    if not managed and options in extra:  # keep the quiet logs beside the caller's options
        conf[options] = f"-Dlog4j2.configurationFile={_QUIET_LOGS.as_uri()} {extra[options]}"
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j / JVM start-up errors come in many types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EngineError(f"could not start Spark on {master or 'its master'}: {first}") from exc
    session.sparkContext.setLogLevel("ERROR")
    # getOrCreate returns a running session as it is: apply the SQL settings to it as well.
    for key, value in sql.items():
        session.conf.set(key, extra.get(key, value))
    cores = _local_cores(str(session.sparkContext.master))
    if shuffle_partitions is not None or cores is not None:
        session.conf.set(
            "spark.sql.shuffle.partitions", str(shuffle_partitions or max(2, cores or 2))
        )
    if scratch is not None:
        session.conf.set(SCRATCH_CONF, scratch)
    return ibis.pyspark.connect(session)


def scratch_folder(con: BaseBackend) -> str:
    """The folder :mod:`couponlens.handoff` writes Parquet files to for ``con`` (Spark).

    ``spark.couponlens.scratch`` when set (by ``connect(scratch=...)``, ``--spark-scratch`` or
    ``spark-submit --conf``); otherwise a temporary folder made now, kept in that setting and
    removed when Python exits.
    """
    session = con._session  # type: ignore[attr-defined]
    folder = session.conf.get(SCRATCH_CONF, None)
    if folder:
        return str(folder)
    made = tempfile.mkdtemp(prefix="couponlens-spark-")
    atexit.register(shutil.rmtree, made, True)
    session.conf.set(SCRATCH_CONF, made)
    return made
