"""Share several coupon options among customer segments under an expected-cost budget (an LP).

Each segment ``s`` (``n_s`` customers) responds to option ``m`` with probability ``p_sm`` (a
visit, a purchase, a redemption). An option with face value ``f_m`` costs ``f_m`` only when
the customer responds, so its expected cost per customer is ``f_m * p_sm``. The decision is the
share ``x_sm`` of segment ``s`` given option ``m`` (the formulation of Kubo et al., *PyOptBook*,
chapter 4):

    maximise    sum_s n_s sum_m x_sm (p_sm - p_s,baseline)      extra responses over the baseline
    subject to  sum_m x_sm = 1                                  every customer gets one option
                sum_s n_s sum_m x_sm f_m p_sm <= budget         expected cost
                min_share <= x_sm <= 1                          every option is tried in every segment

The baseline is the option sent to nobody in particular (no coupon, face value 0). The
programme is solved by HiGHS (``scipy.optimize.linprog(method="highs")``); the budget's
shadow price says how many extra responses one more unit of budget would buy.

Example:
    >>> segments = pd.DataFrame({"segment": ["young", "old"], "n": [100, 100],
    ...                          "none": [0.1, 0.2], "coupon": [0.5, 0.25]})
    >>> options = [CouponOption("none", 0.0), CouponOption("coupon", 10.0)]
    >>> result = allocate_coupons(segments, options, budget=300.0, keys=["segment"])
    >>> result.status, round(result.extra_responses, 6)
    ('optimal', 24.0)
    >>> result.shares.pivot(index="segment", columns="option", values="share").loc["young"].tolist()
    [0.6, 0.4]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend
from scipy.optimize import linprog

from couponlens._results import Result
from couponlens.datasets.sources import read_table_file
from couponlens.engine import connect
from couponlens.errors import InputError

#: In the PyOptBook layout, response-probability columns are named ``prob_<option>``.
PROBABILITY_PREFIX = "prob_"


@dataclass(frozen=True)
class CouponOption:
    """An option to send: the column holding its response probability, and its face value."""

    name: str
    face_value: float


@dataclass(frozen=True, repr=False)
class Allocation(Result):
    """The optimal shares, with the totals they are expected to give.

    ``status`` is ``"optimal"``, or ``"infeasible: <reason>"`` (then the numbers are NaN and
    ``shares`` is empty). ``shares`` has one row per segment and option: the segment's key
    columns, ``n``, ``option``, ``share``, ``customers`` (``n * share``), ``expected_responses``
    and ``expected_cost``.
    """

    status: str
    baseline: str
    budget: float
    min_share: float
    extra_responses: float
    expected_responses: float
    baseline_responses: float
    expected_cost: float
    budget_shadow_price: float
    shares: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_frame(self) -> pd.DataFrame:
        return self.shares.copy()

    def share_table(self) -> pd.DataFrame:
        """Shares as a segments x options table."""
        keys = [c for c in self.shares.columns if c not in _SHARE_COLUMNS]
        return self.shares.pivot_table(index=keys, columns="option", values="share")


_SHARE_COLUMNS = ("n", "option", "share", "customers", "expected_responses", "expected_cost")


def _baseline(options: Sequence[CouponOption], baseline: str | None) -> str:
    names = [o.name for o in options]
    if baseline is not None:
        if baseline not in names:
            raise InputError(f"baseline option {baseline!r} is not among the options {names}")
        return baseline
    free = [o.name for o in options if o.face_value == 0]
    if not free:
        raise InputError(
            "no baseline option: name one (the option extra responses are counted from, "
            "usually 'no coupon'), or give one option a face value of 0"
        )
    return free[0]


def _check_inputs(
    segments: pd.DataFrame,
    options: Sequence[CouponOption],
    budget: float,
    size_column: str,
    min_share: float,
) -> None:
    if len(options) < 2:
        raise InputError(f"give at least two options to choose between, got {len(options)}")
    names = [o.name for o in options]
    if len(set(names)) != len(names):
        raise InputError(f"option names repeat: {names}")
    for o in options:
        if not np.isfinite(o.face_value) or o.face_value < 0:
            raise InputError(
                f"option {o.name!r}: face value must be at least 0, got {o.face_value}"
            )
    missing = [c for c in [size_column, *names] if c not in segments.columns]
    if missing:
        raise InputError(f"the segment table has no column(s) {missing}")
    if len(segments) == 0:
        raise InputError("the segment table has no rows")
    if not np.isfinite(budget) or budget < 0:
        raise InputError(f"budget must be a number at least 0, got {budget}")
    if not 0 <= min_share <= 1:
        raise InputError(f"min_share must be between 0 and 1, got {min_share}")
    sizes = pd.to_numeric(segments[size_column], errors="coerce")
    if sizes.isna().any() or (sizes < 0).any():
        row = int(np.flatnonzero((sizes.isna() | (sizes < 0)).to_numpy())[0])
        raise InputError(f"segment row {row + 1}: {size_column!r} must be a count at least 0")
    for name in names:
        p = pd.to_numeric(segments[name], errors="coerce")
        bad = p.isna() | (p < 0) | (p > 1)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"segment row {row + 1}, column {name!r}: expected a probability in [0, 1], got "
                f"{segments[name].iloc[row]!r}"
            )


def allocate_coupons(
    segments: pd.DataFrame,
    options: Sequence[CouponOption],
    budget: float,
    *,
    keys: Sequence[str] | None = None,
    size_column: str = "n",
    baseline: str | None = None,
    min_share: float = 0.0,
) -> Allocation:
    """Solve the allocation LP (see the module docstring).

    Args:
        segments: one row per segment: its size (``size_column``) and, per option, a column
            named like the option holding the response probability.
        options: the options, with face values (paid only on a response).
        budget: the expected-cost budget.
        keys: columns identifying a segment in the output (default: all columns that are
            neither the size nor an option).
        size_column: the segment-size column.
        baseline: the option extra responses are counted from (default: the first option with
            face value 0).
        min_share: the least share of every segment given each option (all options, baseline
            included).

    Example:
        >>> seg = pd.DataFrame({"segment": ["a", "b"], "n": [10, 10],
        ...                     "none": [0.1, 0.1], "coupon": [0.6, 0.2]})
        >>> opts = [CouponOption("none", 0), CouponOption("coupon", 1)]
        >>> round(allocate_coupons(seg, opts, budget=6.0).extra_responses, 6)
        5.0
    """
    _check_inputs(segments, options, budget, size_column, min_share)
    base = _baseline(options, baseline)
    names = [o.name for o in options]
    if keys is None:
        keys = [c for c in segments.columns if c != size_column and c not in names]
    n = segments[size_column].to_numpy(dtype=np.float64)
    p = segments[names].to_numpy(dtype=np.float64)
    face = np.array([o.face_value for o in options])
    base_index = names.index(base)
    n_seg, n_opt = p.shape

    gain = n[:, None] * (p - p[:, [base_index]])  # extra responses per unit of share
    cost = n[:, None] * face[None, :] * p  # expected cost per unit of share
    baseline_responses = float((n * p[:, base_index]).sum())
    if min_share * n_opt > 1 + 1e-12:
        return _infeasible(
            f"infeasible: {n_opt} options x min_share {min_share:g} exceed 100% of a segment",
            base,
            budget,
            min_share,
            baseline_responses,
        )
    cheapest = (min_share * cost.sum(axis=1) + (1 - min_share * n_opt) * cost.min(axis=1)).sum()
    if cheapest > budget * (1 + 1e-12) + 1e-9:
        return _infeasible(
            f"infeasible: the minimum shares alone are expected to cost {cheapest:,.2f}, over the "
            f"budget of {budget:,.2f}",
            base,
            budget,
            min_share,
            baseline_responses,
        )
    equal = np.zeros((n_seg, n_seg * n_opt))
    for s in range(n_seg):
        equal[s, s * n_opt : (s + 1) * n_opt] = 1.0
    solution = linprog(
        c=-gain.ravel(),
        A_ub=cost.ravel()[None, :],
        b_ub=[budget],
        A_eq=equal,
        b_eq=np.ones(n_seg),
        bounds=[(min_share, 1.0)] * (n_seg * n_opt),
        method="highs",
    )
    if solution.status != 0:
        return _infeasible(
            f"infeasible: the solver stopped: {solution.message}",
            base,
            budget,
            min_share,
            baseline_responses,
        )
    x = np.clip(solution.x.reshape(n_seg, n_opt), 0.0, 1.0) + 0.0  # no negative zeros
    rows = []
    key_frame = segments[list(keys)].reset_index(drop=True)
    for s in range(n_seg):
        for m, name in enumerate(names):
            row = {k: key_frame.iloc[s][k] for k in keys}
            row.update(
                {
                    "n": n[s],
                    "option": name,
                    "share": x[s, m],
                    "customers": n[s] * x[s, m],
                    "expected_responses": n[s] * x[s, m] * p[s, m],
                    "expected_cost": cost[s, m] * x[s, m],
                }
            )
            rows.append(row)
    shares = pd.DataFrame(rows)
    extra = float((gain * x).sum())
    # HiGHS reports d(objective)/d(b_ub); the objective was negated for minimisation.
    shadow = float(-solution.ineqlin.marginals[0])
    return Allocation(
        status="optimal",
        baseline=base,
        budget=float(budget),
        min_share=float(min_share),
        extra_responses=extra,
        expected_responses=baseline_responses + extra,
        baseline_responses=baseline_responses,
        expected_cost=float((cost * x).sum()),
        budget_shadow_price=shadow,
        shares=shares,
    )


def _infeasible(
    status: str, base: str, budget: float, min_share: float, baseline_responses: float
) -> Allocation:
    nan = float("nan")
    return Allocation(
        status=status,
        baseline=base,
        budget=float(budget),
        min_share=float(min_share),
        extra_responses=nan,
        expected_responses=nan,
        baseline_responses=baseline_responses,
        expected_cost=nan,
        budget_shadow_price=nan,
        shares=pd.DataFrame(),
    )


@dataclass(frozen=True, repr=False)
class AllocationInputs(Result):
    """Segments with their sizes and response probabilities, read from the two files."""

    keys: list[str]
    options: list[str]
    segments: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.segments.copy()


def _read_table(con: BaseBackend, path: Path) -> ibis.Table:
    return read_table_file(con, path)


def load_allocation_inputs(
    customers: str | Path,
    probabilities: str | Path,
    *,
    keys: Sequence[str] | None = None,
    con: BaseBackend | None = None,
) -> AllocationInputs:
    """Count customers per segment and attach each segment's response probabilities.

    The layout is PyOptBook's chapter 4: a customer file with segment columns (e.g. ``age_cat``,
    ``freq_cat``) and a probability file with the same segment columns plus ``prob_<option>``
    columns. ``keys`` defaults to the columns the two files share. Counting happens on the engine.

    Raises:
        InputError: a missing column or file, a segment without probabilities, a repeated segment.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "c.csv").write_text("id,age\\n1,young\\n2,young\\n3,old\\n")
        >>> _ = (d / "p.csv").write_text("age,prob_none,prob_dm\\nyoung,0.1,0.3\\nold,0.2,0.4\\n")
        >>> inputs = load_allocation_inputs(d / "c.csv", d / "p.csv")
        >>> inputs.keys, inputs.options, inputs.segments["n"].tolist()
        (['age'], ['none', 'dm'], [1, 2])
    """
    con = con if con is not None else connect()
    customers_path, probabilities_path = Path(customers), Path(probabilities)
    cust = _read_table(con, customers_path)
    prob = _read_table(con, probabilities_path)
    options = [
        c[len(PROBABILITY_PREFIX) :] for c in prob.columns if c.startswith(PROBABILITY_PREFIX)
    ]
    if len(options) < 2:
        raise InputError(
            f"{probabilities_path}: expected two or more '{PROBABILITY_PREFIX}<option>' columns, "
            f"found {options} among {list(prob.columns)}"
        )
    if keys is None:
        keys = [
            c for c in prob.columns if c in cust.columns and not c.startswith(PROBABILITY_PREFIX)
        ]
        if not keys:
            raise InputError(
                f"{customers_path} and {probabilities_path} share no segment column to join on"
            )
    keys = list(keys)
    for path, table in ((customers_path, cust), (probabilities_path, prob)):
        missing = [k for k in keys if k not in table.columns]
        if missing:
            raise InputError(
                f"{path}: no segment column(s) {missing}; columns: {list(table.columns)}"
            )

    counts = cust.group_by(keys).aggregate(n=cust.count())
    repeated = prob.group_by(keys).aggregate(rows=prob.count()).filter(lambda t: t.rows > 1)
    repeated_frame = repeated.limit(1).to_pandas()
    if len(repeated_frame):
        where = ", ".join(f"{k}={repeated_frame.iloc[0][k]!r}" for k in keys)
        raise InputError(f"{probabilities_path}: segment {where} appears more than once")
    unmatched = counts.anti_join(prob, keys).limit(1).to_pandas()
    if len(unmatched):
        where = ", ".join(f"{k}={unmatched.iloc[0][k]!r}" for k in keys)
        raise InputError(
            f"{customers_path}: customers in segment {where} have no row in {probabilities_path}"
        )
    prob_columns = [f"{PROBABILITY_PREFIX}{o}" for o in options]
    joined = prob.select(*keys, *prob_columns).left_join(counts, keys)
    joined = joined.select(
        *keys,
        n=joined["n"].fill_null(0),
        **{o: joined[c] for o, c in zip(options, prob_columns, strict=True)},
    ).order_by(keys)
    frame = joined.to_pandas()
    frame["n"] = frame["n"].astype(np.int64)
    return AllocationInputs(keys=keys, options=options, segments=frame)


def load_segment_table(
    path: str | Path,
    *,
    size_column: str = "n",
    con: BaseBackend | None = None,
) -> AllocationInputs:
    """Read one table of segments already counted: keys, a size column and ``prob_<option>`` columns.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "seg.csv"
        >>> _ = f.write_text("segment,n,prob_none,prob_coupon\\nyoung,100,0.1,0.5\\n")
        >>> inputs = load_segment_table(f)
        >>> inputs.keys, inputs.options, inputs.segments["n"].tolist()
        (['segment'], ['none', 'coupon'], [100])

    Raises:
        InputError: no size column, fewer than two probability columns, a repeated segment.
    """
    con = con if con is not None else connect()
    file = Path(path)
    table = _read_table(con, file)
    options = [
        c[len(PROBABILITY_PREFIX) :] for c in table.columns if c.startswith(PROBABILITY_PREFIX)
    ]
    if len(options) < 2:
        raise InputError(
            f"{file}: expected two or more '{PROBABILITY_PREFIX}<option>' columns, found "
            f"{options} among {list(table.columns)}"
        )
    if size_column not in table.columns:
        raise InputError(
            f"{file}: no segment-size column {size_column!r} (give a customer file as well, or "
            f"add the column); columns: {list(table.columns)}"
        )
    keys = [c for c in table.columns if c != size_column and not c.startswith(PROBABILITY_PREFIX)]
    frame = table.to_pandas().rename(
        columns={f"{PROBABILITY_PREFIX}{o}": o for o in options} | {size_column: "n"}
    )
    if keys and frame.duplicated(keys).any():
        row = int(np.flatnonzero(frame.duplicated(keys).to_numpy())[0])
        raise InputError(f"{file}: segment on row {row + 1} appears more than once")
    sizes = pd.to_numeric(frame["n"], errors="coerce")
    if sizes.isna().any() or (sizes < 0).any() or (sizes % 1 != 0).any():
        row = int(np.flatnonzero((sizes.isna() | (sizes < 0) | (sizes % 1 != 0)).to_numpy())[0])
        raise InputError(f"{file}, row {row + 1}: {size_column!r} must be a whole count at least 0")
    frame["n"] = sizes.astype(np.int64)
    if not keys:  # no segment column: segments are numbered by row
        frame.insert(0, "segment", np.arange(1, len(frame) + 1))
        keys = ["segment"]
    return AllocationInputs(keys=keys, options=options, segments=frame[[*keys, "n", *options]])
