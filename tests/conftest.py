"""Shared fixtures: where the real data lives, and a fresh engine."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from ibis.backends import BaseBackend

from couponlens.engine import connect


def _require_data() -> bool:
    return os.environ.get("COUPONLENS_REQUIRE_DATA", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real-data folder from $COUPONLENS_DATA_DIR; skips (or fails under REQUIRE_DATA) if absent."""
    value = os.environ.get("COUPONLENS_DATA_DIR")
    if not value or not Path(value).is_dir():
        message = f"real data not found (COUPONLENS_DATA_DIR={value!r})"
        if _require_data():
            pytest.fail(message + " and COUPONLENS_REQUIRE_DATA is set")
        pytest.skip(message)
    return Path(value)


@pytest.fixture(scope="session")
def real_file(data_dir: Path) -> Callable[[str], Path]:
    """``real_file("o2o/x.csv")``: the path under the data folder; skips (or fails) if missing."""

    def find(relative: str) -> Path:
        path = data_dir / relative
        if not path.exists():
            message = f"real data file missing: {path}"
            if _require_data():
                pytest.fail(message + " and COUPONLENS_REQUIRE_DATA is set")
            pytest.skip(message)
        return path

    return find


@pytest.fixture()
def con() -> BaseBackend:
    """A fresh in-process DuckDB engine with two threads."""
    return connect(threads=2)
