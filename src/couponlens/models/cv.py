"""Validation splits: time windows (the default), stratified k-fold, group k-fold.

- ``time``: train on the older label windows, validate on the next one (an expanding window
  with more than two pairs). Nothing the model sees comes after the receipts it is judged on.
- ``stratified``: k folds pooled over all windows, stratified by the label. Optimistic when
  the same users appear in several folds; offered because seed 002 used it.
- ``group``: k folds that keep each coupon (or campaign) whole, so a coupon's receipts are
  never on both sides.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"window": ["w1"] * 4 + ["w2"] * 2, "label": [0, 1, 0, 1, 0, 1],
    ...                       "coupon_id": [1, 1, 2, 2, 3, 3]})
    >>> [(s.name, len(s.train), len(s.valid)) for s in make_splits(frame, "time")]
    [('w2', 4, 2)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, StratifiedKFold

from couponlens.errors import InputError

CVStrategy = Literal["time", "stratified", "group"]
STRATEGIES: tuple[str, ...] = ("time", "stratified", "group")


@dataclass(frozen=True)
class Split:
    """Row positions to train on and to validate on."""

    name: str
    train: np.ndarray
    valid: np.ndarray


def make_splits(
    frame: pd.DataFrame,
    strategy: str = "time",
    *,
    folds: int = 5,
    seed: int = 0,
    window_column: str = "window",
    group_column: str = "coupon_id",
) -> list[Split]:
    """Splits of ``frame`` (which has ``label``, the window column, and the group column)."""
    if strategy not in STRATEGIES:
        raise InputError(
            f"unknown CV strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}"
        )
    y = frame["label"].to_numpy()
    positions = np.arange(len(frame))
    if strategy == "time":
        windows = list(dict.fromkeys(frame[window_column]))  # oldest first, as built
        if len(windows) < 2:
            raise InputError("time-window validation needs at least two label windows")
        values = frame[window_column].to_numpy()
        return [
            Split(
                name=str(windows[k]),
                train=positions[np.isin(values, windows[:k])],
                valid=positions[values == windows[k]],
            )
            for k in range(1, len(windows))
        ]
    if strategy == "stratified":
        if min(np.bincount(y.astype(int), minlength=2)) < folds:
            raise InputError(
                f"stratified {folds}-fold CV needs at least {folds} receipts of each label"
            )
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return [
            Split(f"fold{i + 1}", tr, va) for i, (tr, va) in enumerate(splitter.split(positions, y))
        ]
    groups = frame[group_column].to_numpy()
    if len(np.unique(groups)) < folds:
        raise InputError(
            f"group {folds}-fold CV needs at least {folds} distinct {group_column} values"
        )
    splitter_g = GroupKFold(n_splits=folds)
    return [
        Split(f"fold{i + 1}", tr, va)
        for i, (tr, va) in enumerate(splitter_g.split(positions, y, groups))
    ]
