"""The uplift part of ``couponlens demo``: files, key figures, and its time budget."""

from __future__ import annotations

import json
from pathlib import Path

from couponlens.cli.experiment_uplift import demo_uplift
from couponlens.experiments.uplift_artifact import load_uplift_model
from couponlens.report.site import SiteEntry


def test_demo_uplift_writes_the_report_and_returns_figures(tmp_path: Path) -> None:
    entry = demo_uplift(tmp_path, seed=0)
    assert isinstance(entry, SiteEntry)
    assert entry.link == "uplift/report.html"
    assert (tmp_path / entry.link).is_file()
    assert (tmp_path / "data" / "uplift_experiment.csv").is_file()
    loaded = load_uplift_model(tmp_path / "uplift" / "model")
    assert loaded.outcome == "trans_after"
    assert all(isinstance(v, str) for v in entry.figures.values())
    assert {"chosen learner", "held-out Qini", "oracle Qini (true CATE)"} <= set(entry.figures)
    results = json.loads((tmp_path / "uplift" / "results.json").read_text())
    best = next(r for r in results["learners"] if r["learner"] == results["chosen_learner"])
    oracle = float(entry.figures["oracle Qini (true CATE)"])
    assert best["qini_ci_low"] > 0 and best["qini"] > 0.5 * oracle
    targets = (tmp_path / "uplift" / "targets.csv").read_text().splitlines()[0].split(",")
    assert targets[-3:] == ["uplift", "net_value", "send"]
