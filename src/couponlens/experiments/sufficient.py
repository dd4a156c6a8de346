"""Sufficient statistics of an experiment, aggregated on the engine in one group-by.

Every statistic couponlens reports about an experiment (means, variances, Welch tests, SMDs,
the Hotelling omnibus, composition tests, interaction tests and the Lin 2013 ANCOVA with HC1
standard errors) is a function of sums of products of columns ("moments") per arm and
segment. Segments may overlap, so the group-by keys are the arm and one true/false flag per
segment: each group is a cell of the segments' Venn diagram, at most ``arms x 2^k`` rows. A
segment's (or its complement's, or everyone's) moments are sums over cells, done in pandas on
that tiny frame. A 10 M-row table costs one scan.

Which moments are aggregated:

* per outcome ``y``: ``n``, ``sum y``, ``sum y^2``, min, max and the count of non-whole values
  (to tell binary, count and amount outcomes apart);
* per covariate (numeric, or one 0/1 indicator per level of a categorical): count, sum, sum of
  squares, and the cross-products of all complete covariates (for the omnibus test);
* with pre-period columns ``x``: every monomial of degree up to 4 in ``x``, ``y * x``-monomials
  of degree up to 3 and ``y^2 * x``-monomials of degree up to 2: exactly what the HC1
  sandwich of the per-arm regressions of ``y`` on ``(1, x)`` needs (see ``variance.py``).

Example:
    >>> import ibis
    >>> from couponlens.datasets.experiment import experiment_from_table
    >>> from couponlens.engine import connect
    >>> con = connect()
    >>> t = con.create_table("t", ibis.memtable({"arm": ["a", "b", "a", "b"], "y": [1.0, 2.0, 3.0, 5.0]}))
    >>> data = experiment_from_table(t, con, treatment="arm", control="a", outcomes=["y"])
    >>> moments = aggregate_moments(data, [])
    >>> m = moments.select(arm="b")
    >>> m.n, m.mean("y"), m.variance("y")
    (2.0, 3.5, 4.5)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from couponlens.datasets.experiment import ARM_COLUMN, ExperimentData
from couponlens.experiments.segments import SegmentRule

ALL = "all"


def dummy_name(column: str, level: str) -> str:
    """The name of the 0/1 indicator of ``level`` of a categorical covariate."""
    return f"{column}={level}"


@dataclass(frozen=True)
class Moments:
    """Summed moments of one group of rows (an arm within a segment, or its complement)."""

    n: float
    sums: dict[tuple[str, ...], float]
    counts: dict[str, float]
    minimum: dict[str, float]
    maximum: dict[str, float]
    non_whole: dict[str, float]

    def total(self, *names: str) -> float:
        """``sum(product of the named columns)``; ``total()`` is the row count."""
        if not names:
            return self.n
        return self.sums[tuple(sorted(names))]

    def count(self, name: str) -> float:
        """Rows where ``name`` is not missing."""
        return self.counts.get(name, self.n)

    def mean(self, name: str) -> float:
        """Mean of ``name`` (NaN when there are no rows)."""
        k = self.count(name)
        return self.total(name) / k if k > 0 else float("nan")

    def variance(self, name: str) -> float:
        """Sample variance (ddof 1) of ``name``; NaN below two rows. Never negative."""
        k = self.count(name)
        if k < 2:
            return float("nan")
        centred = self.total(name, name) - self.total(name) ** 2 / k
        return max(centred, 0.0) / (k - 1)


class MomentTable:
    """The cell frame of one aggregation and the way to sum it by arm and segment."""

    def __init__(
        self,
        cells: pd.DataFrame,
        aliases: dict[tuple[str, ...], str],
        segment_flags: dict[str, str],
        outcomes: Sequence[str],
        counted: Sequence[str],
    ) -> None:
        self.cells = cells
        self.aliases = aliases
        self.segment_flags = segment_flags
        self.outcomes = list(outcomes)
        self.counted = list(counted)
        summed = [
            c for c in cells.columns if c == "_n" or c.startswith(("_sum", "_count_", "_frac_"))
        ]
        self._columns = summed
        self._values = (
            cells[summed].to_numpy(dtype=float) if len(cells) else np.zeros((0, len(summed)))
        )
        self._arms = cells[ARM_COLUMN].astype(str).to_numpy()
        self._flags = {flag: cells[flag].to_numpy(dtype=bool) for flag in segment_flags.values()}
        self._extremes = {
            c: cells[c].to_numpy(dtype=float)
            for c in cells.columns
            if c.startswith(("_min_", "_max_"))
        }

    @property
    def segments(self) -> list[str]:
        """Segment names in the order given (without ``all``)."""
        return list(self.segment_flags)

    def select(
        self,
        arm: str | None = None,
        segment: str = ALL,
        rest: bool = False,
        where: dict[str, object] | None = None,
    ) -> Moments:
        """Moments of ``arm`` (all arms when ``None``) inside ``segment`` (or outside it, ``rest``).

        ``where`` restricts to cells with the given values of the extra ``by`` keys.
        """
        keep = np.ones(len(self.cells), dtype=bool)
        for column, value in (where or {}).items():
            keep &= self.cells[column].to_numpy() == value
        if arm is not None:
            keep &= self._arms == arm
        if segment != ALL:
            flag = self._flags[self.segment_flags[segment]]
            keep &= ~flag if rest else flag
        elif rest:
            keep[:] = False
        chosen = self._values[keep]
        total = dict(zip(self._columns, chosen.sum(axis=0), strict=True))
        sums = {key: float(total[alias]) for key, alias in self.aliases.items()}
        counts = {name: float(total[f"_count_{i}"]) for i, name in enumerate(self.counted)}
        minimum: dict[str, float] = {}
        maximum: dict[str, float] = {}
        non_whole: dict[str, float] = {}
        any_rows = bool(keep.any())
        for i, name in enumerate(self.outcomes):
            minimum[name] = (
                float(self._extremes[f"_min_{i}"][keep].min()) if any_rows else float("nan")
            )
            maximum[name] = (
                float(self._extremes[f"_max_{i}"][keep].max()) if any_rows else float("nan")
            )
            non_whole[name] = float(total[f"_frac_{i}"])
        return Moments(
            n=float(total["_n"]),
            sums=sums,
            counts=counts,
            minimum=minimum,
            maximum=maximum,
            non_whole=non_whole,
        )


def _monomials(names: Sequence[str], max_degree: int) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for degree in range(1, max_degree + 1):
        out.extend(itertools.combinations_with_replacement(names, degree))
    return out


def balance_variables(
    data: ExperimentData, table: ir.Table | None = None
) -> dict[str, ir.NumericValue]:
    """Covariates as numeric columns: numeric ones as they are, categoricals as 0/1 indicators."""
    table = data.table if table is None else table
    out: dict[str, ir.NumericValue] = {}
    for name in dict.fromkeys([*data.covariates, *data.pre_period]):
        if name in data.categorical:
            text = table[name].cast("string").fill_null("(missing)")
            for level in data.categorical[name]:
                out[dummy_name(name, level)] = (text == level).cast("float64")
        else:
            column = table[name]
            assert isinstance(column, ir.NumericValue | ir.BooleanValue)
            out[name] = column.cast("float64")
    return out


def required_monomials(
    outcomes: Sequence[str], pre_period: Sequence[str], balance: Sequence[str]
) -> set[tuple[str, ...]]:
    """Every sum of products the statistics need (keys are sorted name tuples)."""
    needed: set[tuple[str, ...]] = set()
    for y in outcomes:
        needed.update({(y,), (y, y)})
    for b in balance:
        needed.update({(b,), (b, b)})
    for a, b in itertools.combinations(balance, 2):
        needed.add(tuple(sorted((a, b))))
    if pre_period:
        needed.update(tuple(sorted(m)) for m in _monomials(pre_period, 4))
        for y in outcomes:
            for mono in [(), *_monomials(pre_period, 3)]:
                needed.add(tuple(sorted((y, *mono))))
            for mono in [(), *_monomials(pre_period, 2)]:
                needed.add(tuple(sorted((y, y, *mono))))
    return needed


def aggregate_moments(
    data: ExperimentData, segments: Sequence[SegmentRule], by: Sequence[str] = ()
) -> MomentTable:
    """Run the one group-by and return the cell frame (see the module docstring).

    ``by`` adds grouping columns (e.g. a replicate number in a simulation).
    """
    table = data.table
    flags = {rule.name: f"_s{i}" for i, rule in enumerate(segments)}
    keyed = table.mutate(**{flags[rule.name]: rule.to_ibis(table) for rule in segments})
    values: dict[str, ir.NumericValue] = {}
    for y in data.outcomes:
        column = keyed[y]
        assert isinstance(column, ir.NumericValue | ir.BooleanValue)
        values[y] = column.cast("float64")
    balance_exprs = balance_variables(data, keyed)
    for name, expr in balance_exprs.items():
        values.setdefault(name, expr)
    for x in data.pre_period:
        column = keyed[x]
        assert isinstance(column, ir.NumericValue | ir.BooleanValue)
        values[x] = column.cast("float64")

    nullable = [
        name
        for name in data.covariates
        if name not in data.categorical and name not in data.pre_period
    ]
    balance_names = list(balance_exprs)
    needed = required_monomials(data.outcomes, data.pre_period, balance_names)
    aliases: dict[tuple[str, ...], str] = {}
    metrics: dict[str, ir.Scalar] = {"_n": keyed.count()}
    for i, key in enumerate(sorted(needed)):
        alias = f"_sum{i}"
        aliases[key] = alias
        product = values[key[0]]
        for name in key[1:]:
            product = product * values[name]
        metrics[alias] = product.sum()
    for i, name in enumerate(nullable):
        metrics[f"_count_{i}"] = keyed[name].count()
    for i, y in enumerate(data.outcomes):
        metrics[f"_min_{i}"] = values[y].min()
        metrics[f"_max_{i}"] = values[y].max()
        metrics[f"_frac_{i}"] = (values[y] != values[y].floor()).cast("int64").sum()
    grouped = keyed.group_by([ARM_COLUMN, *by, *flags.values()]).aggregate(**metrics)
    cells = grouped.execute()
    for column in cells.columns:
        if column.startswith(("_sum", "_count_", "_frac_")):
            cells[column] = cells[column].astype("float64").fillna(0.0)
    cells["_n"] = cells["_n"].astype("float64")
    for flag in flags.values():
        cells[flag] = cells[flag].astype(bool)
    return MomentTable(cells, aliases, flags, data.outcomes, nullable)


def outcome_kind(m: Moments, name: str) -> str:
    """``binary`` (only 0 and 1), ``count`` (whole numbers) or ``amount``, from the moments."""
    lo, hi = m.minimum.get(name, np.nan), m.maximum.get(name, np.nan)
    if m.non_whole.get(name, 0.0) == 0 and lo >= 0 and hi <= 1:
        return "binary"
    if m.non_whole.get(name, 0.0) == 0:
        return "count"
    return "amount"


def segment_masks(table: ir.Table, segments: Sequence[SegmentRule]) -> dict[str, ir.BooleanValue]:
    """``{"all": True, name: condition, ...}`` over ``table``."""
    out: dict[str, ir.BooleanValue] = {ALL: ibis.literal(True)}
    for rule in segments:
        out[rule.name] = rule.to_ibis(table)
    return out
