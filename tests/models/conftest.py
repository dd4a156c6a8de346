"""A small generated history and candidate month, and one model trained on it (per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from couponlens.datasets.o2o import load_o2o
from couponlens.datasets.o2o_synthetic import generate_o2o
from couponlens.models.train import TrainOptions, TrainResult, train_o2o

ROWS = 12_000


@pytest.fixture(scope="session")
def o2o_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("o2o")
    generate_o2o(ROWS, seed=11, out=d / "history.csv", truth=d / "history_truth.csv")
    generate_o2o(
        1500,
        seed=11,
        out=d / "candidates.csv",
        truth=d / "truth.csv",
        layout="test",
        world_rows=ROWS,
    )
    return {
        "history": d / "history.csv",
        "candidates": d / "candidates.csv",
        "truth": d / "truth.csv",
        "dir": d,
    }


@pytest.fixture(scope="session")
def trained(o2o_files: dict[str, Path]) -> TrainResult:
    data = load_o2o(o2o_files["history"])
    return train_o2o(data.table, TrainOptions(n_estimators=40, learning_rate=0.1, threads=1))
