"""engine.connect: the options each engine takes and the errors for the others."""

from __future__ import annotations

import pytest

from couponlens.engine import EngineError, _local_cores, connect, describe, engine_name


def test_duckdb_is_the_default_and_says_what_it_is() -> None:
    con = connect(threads=1)
    assert engine_name(con) == "duckdb" and set(describe(con)) == {"engine", "version"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "sqlite"}, "unknown engine 'sqlite': expected duckdb or spark"),
        ({"master": "local[2]"}, "master: Spark options, but the engine is DuckDB"),
        ({"kind": "spark", "memory_limit": "2GB"}, "give Spark driver_memory instead"),
        ({"kind": "spark", "threads": 0}, "threads must be at least 1"),
        ({"kind": "spark", "shuffle_partitions": 0}, "shuffle_partitions must be at least 1"),
    ],
)
def test_wrong_options_are_one_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(EngineError, match=message.replace("[", r"\[")):
        connect(**kwargs)


def test_local_masters_and_their_cores() -> None:
    assert _local_cores("local") == 1 and _local_cores("local[3]") == 3
    assert _local_cores("local[2, 4]") == 2 and (_local_cores("local[*]") or 0) >= 1
    assert _local_cores("spark://host:7077") is None and _local_cores("yarn") is None
