"""The compiled forest gives LightGBM's probabilities bit for bit, or refuses the forest.

Boosters are trained here on data with every kind of value a decision can meet: NaN (for the
"NaN" missing type and for the "None" type, where NaN reads as 0), zeros (the "Zero" missing
type, with ``zero_as_missing``), values within 1e-35 of zero and -0.0 (LightGBM's dense reader
keeps them as 0), and values exactly on split thresholds.
"""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from couponlens.models.compiled import SORT_FROM_ROWS, CompiledForest, ForestNotCompiled, c_source


def _data(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[:, 1] = rng.integers(0, 4, n)  # many exact zeros
    x[rng.random(n) < 0.2, 2] = np.nan
    x[rng.random(n) < 0.1, 3] = np.nan
    logit = x[:, 0] + 0.7 * (x[:, 1] == 0) - 0.5 * np.nan_to_num(x[:, 2]) + 0.3 * x[:, 4]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def _awkward(x: np.ndarray, booster: lgb.Booster) -> np.ndarray:
    """Rows with NaN, +-0, tiny values and every split threshold placed in some feature."""
    rows = x[:400].copy()
    rows[::5, 0] = 1e-36
    rows[1::5, 0] = -0.0
    rows[2::5, 4] = -5e-324
    rows[3::5, 1] = np.nan
    rows[4::5, 5] = np.nan
    thresholds = [
        (node["split_feature"], node["threshold"])
        for tree in booster.dump_model()["tree_info"]
        for node in _nodes(tree["tree_structure"])
    ]
    for i, (feature, threshold) in enumerate(thresholds[: len(rows)]):
        rows[i, feature] = threshold
    return rows


def _nodes(node: dict[str, object]) -> list[dict[str, object]]:
    if "split_index" not in node:
        return []
    return [node, *_nodes(node["left_child"]), *_nodes(node["right_child"])]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"zero_as_missing": True},
        {"use_missing": False},
        {"sigmoid": 0.7, "num_leaves": 63, "min_data_in_leaf": 5},
    ],
    ids=["nan-missing", "zero-missing", "no-missing", "sigmoid-deep"],
)
def test_probabilities_equal_lightgbm_bit_for_bit(
    tmp_path: Path, params: dict[str, object]
) -> None:
    x, y = _data(3)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 1, **params},
        lgb.Dataset(x, y),
        num_boost_round=40,
    )
    kinds = {
        n["missing_type"]
        for t in booster.dump_model()["tree_info"]
        for n in _nodes(t["tree_structure"])
    }  # type: ignore[index]
    expected_kind = {"zero_as_missing": "Zero", "use_missing": "None"}
    for key, kind in expected_kind.items():
        if key in params:
            assert kind in kinds, kinds  # the test really covers that missing type
    forest = CompiledForest.compile(booster, cache=tmp_path)
    # x is walked in the order of its root-split columns, the smaller sets as they come
    assert forest.sort_columns and len(x) >= SORT_FROM_ROWS > len(_awkward(x, booster))
    big_awkward = np.concatenate([_awkward(x, booster)] * 2)  # the awkward rows, ordered too
    for rows in (x, _awkward(x, booster), big_awkward, x[:1], np.asfortranarray(x[:50])):
        expected = booster.predict(rows, num_threads=1)
        np.testing.assert_array_equal(forest.predict(rows), expected)
        np.testing.assert_array_equal(forest.predict(rows, threads=3), expected)
    assert forest.predict(np.empty((0, 6))).shape == (0,)
    with pytest.raises(ValueError, match="6 columns"):
        forest.predict(x[:, :5])


def test_compiled_library_is_cached_by_source(tmp_path: Path) -> None:
    x, y = _data(4, 500)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, y),
        num_boost_round=3,
    )
    first = CompiledForest.compile(booster, cache=tmp_path)
    again = CompiledForest.compile(booster, cache=tmp_path)
    assert first.library == again.library and len(list(tmp_path.glob("*.so"))) == 1
    np.testing.assert_array_equal(first.predict(x), again.predict(x))


def test_unsupported_forests_and_missing_compiler_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = _data(5, 600)
    regression = lgb.train(
        {"objective": "regression", "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, y.astype(float)),
        num_boost_round=2,
    )
    with pytest.raises(ForestNotCompiled, match="binary"):
        c_source(regression.dump_model())
    category = np.arange(len(x)) % 4
    categorical = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_per_group": 5},
        lgb.Dataset(
            np.column_stack([x[:, :5], category]),
            (category % 2 == 1).astype(int),
            categorical_feature=[5],
        ),
        num_boost_round=5,
    )
    assert any(t["num_cat"] for t in categorical.dump_model()["tree_info"])
    with pytest.raises(ForestNotCompiled, match="categorical"):
        c_source(categorical.dump_model())
    binary = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, y),
        num_boost_round=2,
    )
    monkeypatch.setenv("CC", "no-such-compiler-anywhere")
    monkeypatch.setenv("PATH", str(tmp_path))  # neither cc nor gcc to be found
    with pytest.raises(ForestNotCompiled, match="no C compiler"):
        CompiledForest.compile(binary, cache=tmp_path / "cache")
