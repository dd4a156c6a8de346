"""The uplift model folder: round trip, checksums verified on load, tampering refused, no pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from couponlens.datasets.experiment_synthetic import generate_experiment
from couponlens.experiments.uplift_artifact import (
    ArtifactError,
    load_uplift_model,
    save_uplift_model,
)
from couponlens.experiments.uplift_selection import UpliftFit, fit_uplift, outcome_predictions

FEATURES = ["channel_acq", "num_past_purch", "cart", "browsing_minutes", "gender", "trans_before"]


@pytest.fixture(scope="module")
def fitted() -> tuple[UpliftFit, object]:
    sim = generate_experiment(2000, seed=4, arms=("control", "c10", "c20"))
    fit = fit_uplift(
        sim.frame[FEATURES],
        sim.frame["treatment"],
        sim.frame["trans_after"],
        control="control",
        learners=["x", "dr"],
        n_folds=2,
        n_bootstrap=10,
        n_estimators=15,
    )
    return fit, sim.frame


@pytest.fixture()
def folder(fitted: tuple[UpliftFit, object], tmp_path_factory: pytest.TempPathFactory) -> Path:
    fit, _ = fitted
    return save_uplift_model(
        fit, tmp_path_factory.mktemp("m") / "model", outcome="trans_after", treatment="treatment"
    )


def test_round_trip_predicts_the_same(fitted: tuple[UpliftFit, object], folder: Path) -> None:
    fit, frame = fitted
    loaded = load_uplift_model(folder)
    X = frame[FEATURES]  # type: ignore[index]
    assert np.allclose(loaded.model.predict(X), fit.model.predict(X), rtol=0, atol=1e-12)
    assert loaded.arms == ["c10", "c20"] and loaded.control == "control"
    assert loaded.outcome == "trans_after" and loaded.treatment == "treatment"
    assert loaded.model.learner == fit.validation.chosen
    assert loaded.holdout.equals(fit.holdout)
    assert fit.outcome_model is not None and loaded.outcome_model is not None
    before = outcome_predictions(fit.outcome_model, X)
    after = outcome_predictions(loaded.outcome_model, X)
    assert before.keys() == after.keys()
    assert all(np.allclose(before[k], after[k], atol=1e-12) for k in before)


def test_folder_is_text_models_plus_manifest(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = set(manifest["files"])
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert on_disk == listed | {"manifest.json"}
    for relative in listed - {"holdout.parquet"}:
        assert relative.endswith(".txt")
        assert (folder / relative).read_text().startswith("tree")  # LightGBM text format
    assert not any(p.suffix in (".pkl", ".pickle", ".joblib") for p in folder.rglob("*"))
    assert all(len(digest) == 64 for digest in manifest["files"].values())
    assert manifest["features"][4] == {
        "name": "gender",
        "kind": "categorical",
        "categories": ["F", "M"],
    }
    assert manifest["validation"]["chosen"] == manifest["learner"]
    assert {"lightgbm", "couponlens", "python"} <= set(manifest["versions"])


def test_a_changed_byte_in_a_model_is_refused(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    target = folder / next(f for f in manifest["files"] if f.endswith(".txt"))
    data = bytearray(target.read_bytes())
    position = data.index(b"leaf_value=") + len(b"leaf_value=")
    data[position] = ord("9") if data[position] != ord("9") else ord("8")
    target.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match its checksum") as info:
        load_uplift_model(folder)
    assert target.name in str(info.value) and "\n" not in str(info.value)


def test_a_changed_manifest_is_refused(folder: Path) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    entry = manifest["components"]["c10"][0]
    entry["coefficient"] = entry["coefficient"] * 2
    path.write_text(json.dumps(manifest, indent=2))
    with pytest.raises(ArtifactError, match="does not match its own checksum"):
        load_uplift_model(folder)


def test_a_changed_holdout_is_refused(folder: Path) -> None:
    path = folder / "holdout.parquet"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match="holdout.parquet does not match"):
        load_uplift_model(folder)


def test_missing_pieces_are_explained(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not an uplift model folder"):
        load_uplift_model(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / next(iter(manifest["files"]))).unlink()
    with pytest.raises(ArtifactError, match="is missing"):
        load_uplift_model(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_uplift_model(copy)
    (copy / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ArtifactError, match="not a couponlens-uplift manifest"):
        load_uplift_model(copy)


def test_target_with_a_cost_per_arm(
    fitted: tuple[UpliftFit, object], folder: Path, tmp_path: Path
) -> None:
    from couponlens.cli import main
    from couponlens.experiments.uplift_job import target_candidates

    _, frame = fitted
    candidates = frame.head(300)  # type: ignore[attr-defined]
    job = target_candidates(folder, candidates, value=2.0, cost={"c10": 0.1, "c20": 0.3})
    t = job.targets
    assert list(t.columns[-4:]) == ["arm", "uplift", "net_value", "send"]
    assert set(t["arm"]) <= {"c10", "c20"}
    cost = t["arm"].map({"c10": 0.1, "c20": 0.3})
    assert np.allclose(t["net_value"], 2.0 * t["uplift"] - cost)
    assert job.policy.differences and {d.baseline for d in job.policy.differences} == {
        "treat_none",
        "treat_all[c10]",
        "treat_all[c20]",
    }
    path = tmp_path / "candidates.csv"
    candidates.to_csv(path, index=False)
    args = ["experiment", "target", str(folder), str(path), "--value", "2", "--cost", "0.1"]
    assert main([*args, "--arm-cost", "c20=0.3", "--out", str(tmp_path / "t.csv")]) == 0
    assert main([*args, "--arm-cost", "c99=1", "--out", str(tmp_path / "t.csv")]) == 2


def test_saving_over_an_older_model_leaves_no_stale_boosters(folder: Path) -> None:
    sim = generate_experiment(600, seed=9)
    small = fit_uplift(
        sim.frame[FEATURES],
        sim.frame["treatment"],
        sim.frame["converted"],
        control="control",
        learners=["t"],
        n_folds=2,
        n_bootstrap=5,
        n_estimators=5,
    )
    save_uplift_model(small, folder, outcome="converted", treatment="treatment")
    manifest = json.loads((folder / "manifest.json").read_text())
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert on_disk == set(manifest["files"]) | {"manifest.json"}
    assert load_uplift_model(folder).arms == ["coupon"]
