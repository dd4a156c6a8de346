"""Composition: how a segment's covariate mix differs from everyone else's.

For each segment and covariate, all arms pooled (covariates are pre-treatment): a numeric
covariate's mean inside vs outside the segment with Welch's t-test; a categorical covariate's
share of each level inside vs outside with Pearson's chi-square on the in/out x level table
(one row per level, the same p on each).

Example:
    >>> import ibis
    >>> from couponlens.engine import connect
    >>> from couponlens.datasets.experiment import experiment_from_table
    >>> from couponlens.experiments.segments import parse_segment_rule
    >>> from couponlens.experiments.sufficient import aggregate_moments
    >>> con = connect()
    >>> t = con.create_table("c", ibis.memtable({"arm": ["a", "b"] * 50, "age": list(range(100)), "y": [0, 1] * 50}))
    >>> data = experiment_from_table(t, con, treatment="arm", control="a", outcomes=["y"], covariates=["age"])
    >>> rule = parse_segment_rule("old=age >= 50")
    >>> rows = segment_composition(data, aggregate_moments(data, [rule]), "old")
    >>> rows[0].segment_value, rows[0].rest_value, rows[0].p < 1e-10
    (74.5, 24.5, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from couponlens._results import Result
from couponlens.datasets.experiment import ExperimentData
from couponlens.experiments.checks import _chi_square_p, _welch_p
from couponlens.experiments.sufficient import MomentTable, dummy_name


@dataclass(frozen=True, repr=False)
class CompositionRow(Result):
    """One covariate (or one level of it) inside a segment vs the rest."""

    segment: str
    variable: str
    level: str | None
    segment_value: float | None
    rest_value: float | None
    p: float | None
    test: str
    status: str = "ok"


def segment_composition(
    data: ExperimentData, moments: MomentTable, segment: str
) -> list[CompositionRow]:
    """Composition rows of ``segment`` for every covariate and pre-period column."""
    inside = moments.select(segment=segment)
    outside = moments.select(segment=segment, rest=True)
    rows: list[CompositionRow] = []
    empty = None
    if inside.n == 0:
        empty = "not estimable: the segment is empty"
    elif outside.n == 0:
        empty = "not estimable: the segment holds everyone"
    for name in dict.fromkeys([*data.covariates, *data.pre_period]):
        if name in data.categorical:
            levels = data.categorical[name]
            dummies = [dummy_name(name, level) for level in levels]
            if empty:
                rows.extend(
                    CompositionRow(segment, name, lv, None, None, None, "chi-square", empty)
                    for lv in levels
                )
                continue
            table = np.array(
                [[inside.total(d) for d in dummies], [outside.total(d) for d in dummies]]
            )
            p = _chi_square_p(table)
            status = "ok" if p is not None else "not estimable: one level only"
            for level, d in zip(levels, dummies, strict=True):
                rows.append(
                    CompositionRow(
                        segment,
                        name,
                        level,
                        inside.mean(d),
                        outside.mean(d),
                        p,
                        "chi-square",
                        status,
                    )
                )
            continue
        if empty:
            rows.append(CompositionRow(segment, name, None, None, None, None, "Welch t", empty))
            continue
        n1, n0 = inside.count(name), outside.count(name)
        if n1 < 1 or n0 < 1:
            rows.append(
                CompositionRow(
                    segment,
                    name,
                    None,
                    None,
                    None,
                    None,
                    "Welch t",
                    "not estimable: no non-missing values on one side",
                )
            )
            continue
        m1, m0 = inside.mean(name), outside.mean(name)
        p = _welch_p(m1, inside.variance(name), n1, m0, outside.variance(name), n0)
        status = "ok"
        if p is None:
            status = (
                "not estimable: fewer than 2 values on one side"
                if min(n1, n0) < 2
                else "not estimable: the covariate is constant"
            )
        rows.append(CompositionRow(segment, name, None, m1, m0, p, "Welch t", status))
    return rows


__all__ = ["CompositionRow", "segment_composition", "stats"]
