"""AmExpert on Spark: the point-in-time training features and the candidates equal DuckDB's.

The purchase-history families are left out here: they are the same kinds of expression (joins,
group-bys, windows) as the families compared, and on Spark they double the test's time (each
materialised step is a cached view, planned and filled on its own).
"""

from __future__ import annotations

from pathlib import Path

from ibis.backends import BaseBackend

from couponlens.datasets.amexpert import load_amexpert, load_candidates
from couponlens.datasets.amexpert_synthetic import write_amexpert
from couponlens.models.amexpert import training_frame

from .parity import frame_differences


def test_training_features_and_candidates_match(spark: BaseBackend, tmp_path: Path) -> None:
    write_amexpert(tmp_path, seed=1, customers=40)
    frames, candidates = [], []
    for con in (None, spark):
        data = load_amexpert(tmp_path, con)
        frames.append(training_frame(data, use_transactions=False))
        loaded = load_candidates(tmp_path / "test.csv", data)
        candidates.append(loaded.order_by("line_number").execute())
    assert len(frames[0]) > 500 and frames[0]["label"].sum() > 0
    assert frame_differences(*frames) == []
    assert frame_differences(*candidates) == []
