"""One SparkSession for every Spark test of a pytest process, tuned for tiny tables.

The parity tests may not skip in CI: without pyspark or Java they fail there (``CI`` set)
and skip elsewhere. ``.ci/run`` installs Java when it is missing; pyspark comes with the
``dev`` extra.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator

import pytest
from ibis.backends import BaseBackend

from couponlens.engine import connect

#: Settings that only change speed, not results: on tables of a few thousand rows Spark spends
#: its time compiling generated code, re-planning and JIT-compiling itself; interpreted plans,
#: the JVM's quick compiler only (about half the time of a warm query here) and the serial
#: collector (two cores) are faster there.
SMALL_TABLES = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


def _missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[dev]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (apt-get install openjdk-17-jre-headless)"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[BaseBackend]:
    """Ibis's PySpark backend on ``local[2]`` with one shuffle partition."""
    reason = _missing()
    if reason:
        if os.environ.get("CI", "") not in ("", "0", "false"):
            pytest.fail(f"the Spark tests may not skip in CI: {reason}")
        pytest.skip(reason)
    con = connect(
        "spark",
        master="local[2]",
        driver_memory="1g",
        shuffle_partitions=1,
        spark_conf=SMALL_TABLES,
    )
    yield con
    con.disconnect()
