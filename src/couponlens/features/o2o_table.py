"""The O2O feature table of a history's training windows, built and written by the engine.

:func:`pair_features` is one (feature, label) pair's labelled feature rows;
:func:`window_features` stacks every pair of a plan into one engine table (column ``window``
first); :func:`o2o_feature_table` is the whole job behind ``couponlens o2o features``: load a
history, plan its windows, build the table on the engine (DuckDB or Spark) and write it as
CSV or Parquet (by the output's extension) without pulling it into pandas.

Example:
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> from couponlens.datasets.o2o_synthetic import generate_o2o
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = generate_o2o(4_000, seed=2, out=d / "history.csv")
    >>> outcome = o2o_feature_table(d / "history.csv", d / "features.parquet")
    >>> frame = pd.read_parquet(d / "features.parquet")
    >>> len(frame) == outcome.rows, list(frame.columns[:3])
    (True, ['window', 'line_number', 'user_id'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from couponlens._results import Result
from couponlens.datasets.o2o import load_o2o
from couponlens.engine import describe
from couponlens.errors import InputError
from couponlens.features.o2o import build_features
from couponlens.features.windows import (
    DEFAULT_LABEL_DAYS,
    DEFAULT_PAIRS,
    WindowPair,
    WindowPlan,
    label_rows,
    plan_for_history,
)
from couponlens.sampling import keep_share
from couponlens.table_output import write_table


def pair_features(
    history: ir.Table,
    pair: WindowPair,
    label_days: int,
    *,
    leakage: bool = False,
    fraction: float = 1.0,
    seed: int = 0,
) -> ir.Table:
    """The receipts of ``pair``'s label window with their features and ``label``.

    ``fraction`` below 1 keeps that share of them (:func:`~couponlens.sampling.keep_share` on
    ``line_number``: the same receipts on every engine), after the features are built.
    """
    candidates = label_rows(history, pair, label_days)
    features = build_features(
        history, candidates, pair, label_days=label_days, leakage=leakage, keep=["label"]
    )
    if fraction < 1:
        features = features.filter(keep_share(features.line_number, fraction, seed))
    return features


def window_parts(history: ir.Table, plan: WindowPlan, *, leakage: bool = False) -> list[ir.Table]:
    """Each pair's :func:`pair_features`, ``window`` (the pair's name) first: one table per pair."""
    return [
        pair_features(history, pair, plan.label_days, leakage=leakage)
        .mutate(window=ibis.literal(pair.name))
        .relocate("window")
        for pair in plan.pairs
    ]


def window_features(history: ir.Table, plan: WindowPlan, *, leakage: bool = False) -> ir.Table:
    """Every pair's :func:`pair_features` in one table (the union of :func:`window_parts`)."""
    return ibis.union(*window_parts(history, plan, leakage=leakage))


@dataclass(frozen=True, repr=False)
class FeatureTableOutcome(Result):
    """Where the feature table went, in which format, its size and the windows it covers."""

    path: str
    format: str
    rows: int
    columns: int
    plan: WindowPlan
    engine: dict[str, str] = field(default_factory=dict)


def o2o_feature_table(
    history_path: str | Path,
    out: str | Path,
    *,
    con: BaseBackend | None = None,
    pairs: int = DEFAULT_PAIRS,
    label_days: int = DEFAULT_LABEL_DAYS,
    leakage: bool = False,
    force: bool = False,
) -> FeatureTableOutcome:
    """Load ``history_path``, plan ``pairs`` windows, and write their labelled feature rows to
    ``out`` (Parquet for ``.parquet``/``.pq``, else CSV; see :mod:`couponlens.table_output`).

    ``con`` is the engine the features are built on (a new DuckDB by default).
    """
    data = load_o2o(history_path, con)
    if not data.has_purchase_dates:
        raise InputError(
            f"{history_path}: the feature table needs the train layout (with the Date column)"
        )
    plan = plan_for_history(data.table, pairs=pairs, label_days=label_days)
    # the windows as parts of one output: DuckDB writes them one after the other (see
    # write_table), Spark as one union
    parts = window_parts(data.table, plan, leakage=leakage)
    kind = write_table(parts, out, force=force)
    # One row per labelled receipt: counting the receipts is cheaper than the table again.
    rows = sum(int(label_rows(data.table, p, label_days).count().execute()) for p in plan.pairs)
    return FeatureTableOutcome(
        path=str(out),
        format=kind,
        rows=rows,
        columns=len(parts[0].columns),
        plan=plan,
        engine=describe(data.con),
    )


__all__ = [
    "FeatureTableOutcome",
    "o2o_feature_table",
    "pair_features",
    "window_features",
    "window_parts",
]
