"""File-level uplift jobs behind the CLI: train and save a model, then target candidates.

* :func:`train_uplift_model` reads an experiment table (CSV/Parquet) on the engine, fits and
  compares the learners on held-out folds, saves the chosen model folder and writes the report.
* :func:`target_candidates` loads a model folder (verifying checksums), scores a candidate
  file, decides whom to send the coupon (net value positive, within a budget) and values that
  policy on the experiment's held-out rows against treat-all and treat-none.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.experiment_synthetic import generate_experiment
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> sim = generate_experiment(3000, seed=3)
    >>> _ = sim.write(d / "exp.csv")
    >>> job = train_uplift_model(d / "exp.csv", treatment="treatment", control="control",
    ...     outcome="converted", features=["channel_acq", "num_past_purch", "cart"],
    ...     model_dir=d / "model", learners=["t"], n_folds=2, n_bootstrap=20, n_estimators=20)
    >>> sorted(p.name for p in (d / "model").iterdir())
    ['holdout.parquet', 'manifest.json', 'models', 'report.html', 'results.json']
    >>> targets = target_candidates(d / "model", d / "exp.csv", value=10.0, cost=0.5, budget=100,
    ...                             out=d / "targets.csv")
    >>> int(targets.targets["send"].sum()) <= 100
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from couponlens._results import Result
from couponlens.datasets.experiment import ARM_COLUMN, load_experiment
from couponlens.datasets.sources import read_error, read_table_file
from couponlens.engine import connect
from couponlens.errors import InputError
from couponlens.experiments.policy import (
    DECISION_COLUMNS,
    PolicyComparison,
    decide_targets,
    evaluate_targeting,
)
from couponlens.experiments.uplift import LEARNERS
from couponlens.experiments.uplift_artifact import (
    LoadedUpliftModel,
    load_uplift_model,
    save_uplift_model,
)
from couponlens.experiments.uplift_metrics import DEFAULT_FRACTIONS
from couponlens.experiments.uplift_report import uplift_report, write_uplift_report
from couponlens.experiments.uplift_selection import (
    UpliftFit,
    fit_uplift,
    outcome_predictions,
    reference_qini,
)
from couponlens.table_output import write_frame


@dataclass
class UpliftJob:
    """What :func:`train_uplift_model` produced, and where."""

    fit: UpliftFit
    model_dir: Path
    report_dir: Path
    policy: PolicyComparison | None = None


@dataclass(frozen=True, repr=False)
class TargetingJob(Result):
    """Scored candidates and the policy's estimated value on held-out experiment rows.

    ``policy_source`` says which rows valued the policy: ``"candidates"`` (they carried the
    treatment and outcome columns) or ``"training holdout"`` (the training experiment's
    out-of-fold rows).
    """

    targets: pd.DataFrame
    policy: PolicyComparison
    policy_source: str
    n_candidates: int
    n_sent: int
    total_net_value: float
    out: str | None
    notes: tuple[str, ...] = ()


def train_uplift_model(
    data: str | Path,
    *,
    treatment: str,
    control: str,
    outcome: str,
    features: Sequence[str],
    model_dir: str | Path,
    report_dir: str | Path | None = None,
    model_label: str | None = None,
    arms: Sequence[str] | None = None,
    learners: Sequence[str] = LEARNERS,
    n_folds: int = 5,
    n_bootstrap: int = 200,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    value: float | None = None,
    cost: float | None = None,
    random_state: int = 0,
    con: BaseBackend | None = None,
    progress: Callable[[str], None] | None = None,
    oracle: Mapping[str, str] | None = None,
    **model_params: Any,
) -> UpliftJob:
    """Fit, compare and save an uplift model from an experiment file; write its report.

    ``arms`` restricts the treated arms used (default: every arm but the control). With
    ``value`` and ``cost`` the report also values the net-value targeting rule. ``oracle``
    maps a treated arm to a column holding each row's true effect (generated data): its Qini
    curve is drawn beside the learners' as the best achievable ranking (key ``""``: the one
    treated arm).

    Example: see the module docstring (train on a generated file, then target).
    """
    if not features:
        raise InputError("name at least one --feature column for the uplift model")
    if (value is None) != (cost is None):
        raise InputError("give both value and cost to value a targeting policy, or neither")
    path = Path(data)
    experiment = load_experiment(
        path, treatment=treatment, control=control, outcomes=[outcome], con=con
    )
    missing = [f for f in features if f not in experiment.table.columns]
    if missing:
        raise InputError(
            f"{path}: no feature column(s) {missing}; the columns are: "
            f"{', '.join(c for c in experiment.table.columns if c != ARM_COLUMN)}"
        )
    if outcome in features or treatment in features:
        raise InputError("the outcome and treatment columns cannot be features")
    table = experiment.table
    if arms:
        unknown = [a for a in arms if a not in experiment.arms or a == experiment.control]
        if unknown:
            raise InputError(
                f"{path}: unknown treated arm(s) {unknown}; the treated arms are "
                f"{experiment.treated_arms}"
            )
        table = table.filter(table[ARM_COLUMN].isin([experiment.control, *arms]))
    oracle = dict(oracle or {})
    bad = [c for c in oracle.values() if c not in experiment.table.columns]
    if bad:
        raise InputError(f"{path}: no oracle column(s) {bad}")
    if "" in oracle:  # a column without an arm: the one treated arm in use
        used = list(arms) if arms else experiment.treated_arms
        if len(used) != 1:
            raise InputError(
                f"name the arm of the oracle column {oracle['']!r} (ARM=COLUMN): the treated "
                f"arms are {used}"
            )
        oracle[used[0]] = oracle.pop("")
    unknown_arms = [a for a in oracle if a not in experiment.treated_arms]
    if unknown_arms:
        raise InputError(
            f"oracle for unknown arm(s) {unknown_arms}; the treated arms are "
            f"{experiment.treated_arms}"
        )
    extra = [c for c in dict.fromkeys(oracle.values()) if c not in (outcome, *features)]
    frame = table.select(ARM_COLUMN, outcome, *features, *extra).to_pandas()
    fit = fit_uplift(
        frame[list(features)],
        frame[ARM_COLUMN].astype(str),
        frame[outcome],
        control=experiment.control,
        learners=learners,
        n_folds=n_folds,
        fractions=fractions,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
        progress=progress,
        **model_params,
    )
    if progress is not None:
        progress(f"saving the model to {model_dir}")
    model_path = save_uplift_model(
        fit, model_dir, outcome=outcome, treatment=treatment, source=str(path)
    )
    policy = None
    if value is not None and cost is not None:
        policy = evaluate_targeting(fit.holdout, fit.model.arms_, experiment.control, value, cost)
    references = [
        reference_qini(frame[outcome], frame[column], frame[ARM_COLUMN], experiment.control, arm)
        for arm, column in oracle.items()
        if arm in fit.model.arms_  # arms left out by ``arms`` have no model to compare
    ]
    report, results = uplift_report(
        fit.validation,
        outcome=outcome,
        source=str(path),
        treatment=treatment,
        features=list(features),
        model_dir=model_label or str(model_path),
        options={
            "learners": list(learners),
            "n_folds": n_folds,
            "n_bootstrap": n_bootstrap,
            "fractions": list(fractions),
            "random_state": random_state,
            "value": value,
            "cost": cost,
            **model_params,
        },
        policy=policy,
        references=references,
    )
    report_path = Path(report_dir) if report_dir is not None else model_path
    if progress is not None:
        progress(f"writing the report to {report_path}")
    write_uplift_report(report, results, report_path)
    return UpliftJob(fit, model_path, report_path, policy)


def _read_candidates(path: Path, con: BaseBackend) -> pd.DataFrame:
    """The candidates (CSV, Parquet, or a folder of Parquet parts) as a pandas frame."""
    table = read_table_file(con, path, nulls=["", "NA", "null", "NaN"])
    try:
        return table.to_pandas()
    except Exception as exc:  # the engine's reader fails lazily on a bad row
        raise read_error(path, exc) from exc


def _arm_labels(column: pd.Series) -> pd.Series:
    """Arm values as text, whole-number floats without ``.0`` (as the experiment loader does)."""
    if pd.api.types.is_float_dtype(column):
        whole = column.notna() & (column == column.round())
        text = column.astype(str)
        text[whole] = column[whole].astype("int64").astype(str)
        return text
    return column.astype(str)


def _holdout_from_candidates(
    frame: pd.DataFrame, loaded: LoadedUpliftModel, uplift: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray] | None:
    """The candidates as a held-out experiment (``None`` if they lack treatment or outcome).

    Returns the holdout table (rows of the model's arms only) and the row mask it came from.
    """
    treatment, outcome = loaded.treatment, loaded.outcome
    if not treatment or not outcome or treatment not in frame or outcome not in frame:
        return None
    model = loaded.model
    labels = _arm_labels(frame[treatment])
    keep = labels.isin([model.control_, *model.arms_]).to_numpy()
    y = pd.to_numeric(frame[outcome], errors="coerce")
    bad = keep & y.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"candidates row {row + 1}: outcome {outcome!r} is not a number: "
            f"{frame[outcome].iloc[row]!r}"
        )
    present = set(labels[keep])
    if model.control_ not in present or not (present & set(model.arms_)):
        raise InputError(
            f"the candidates carry {treatment!r} and {outcome!r} but not both the control "
            f"{model.control_!r} and a treated arm {model.arms_}: cannot value the policy on them"
        )
    holdout = pd.DataFrame(
        {"treatment": labels[keep].to_numpy(), "outcome": y[keep].to_numpy(dtype=np.float64)}
    )
    for i, arm in enumerate(model.arms_):
        holdout[f"uplift_{i}"] = uplift[arm].to_numpy()[keep]
    if loaded.outcome_model is not None:
        mu = outcome_predictions(loaded.outcome_model, frame.loc[keep])
    else:  # an older folder without outcome models: DR reduces to a constant-mu estimate
        mean = float(holdout["outcome"].mean())
        mu = {label: np.full(int(keep.sum()), mean) for label in [model.control_, *model.arms_]}
    holdout["mu_control"] = mu[model.control_]
    for i, arm in enumerate(model.arms_):
        holdout[f"mu_{i}"] = mu[arm]
    return holdout, keep


def target_candidates(
    model_dir: str | Path | LoadedUpliftModel,
    candidates: str | Path | pd.DataFrame,
    *,
    value: float,
    cost: float | Mapping[str, float],
    budget: int | None = None,
    out: str | Path | None = None,
    confidence: float = 0.95,
    con: BaseBackend | None = None,
) -> TargetingJob:
    """Score candidates, choose whom to send (net value > 0, at most ``budget``), value the rule.

    The output has every candidate column plus ``uplift``, ``net_value`` and ``send`` (and
    ``arm`` when the model has several treated arms). ``cost`` is per coupon sent, one number
    or one per treated arm. When the candidates carry the
    experiment's treatment and outcome columns (a held-out experiment), the rule is valued on
    them (IPW and doubly robust, with the model's outcome predictions) against treat-all and
    treat-none; otherwise it is valued on the training experiment's out-of-fold rows, with the
    same value, cost and budget share.

    Example:
        >>> import tempfile, pathlib
        >>> from couponlens.datasets.experiment_synthetic import generate_experiment
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = generate_experiment(2000, seed=1).write(d / "train.csv")
        >>> _ = train_uplift_model(d / "train.csv", treatment="treatment", control="control",
        ...     outcome="trans_after", features=["channel_acq", "num_past_purch"],
        ...     model_dir=d / "m", learners=["t"], n_folds=2, n_bootstrap=10, n_estimators=10)
        >>> fresh = generate_experiment(500, seed=2).frame
        >>> job = target_candidates(d / "m", fresh, value=5.0, cost=0.5, budget=50)
        >>> job.n_sent <= 50, job.policy_source
        (True, 'candidates')
    """
    costs = dict(cost) if isinstance(cost, Mapping) else {"": float(cost)}
    if not math.isfinite(value) or not all(math.isfinite(c) for c in costs.values()):
        raise InputError(f"value and cost must be finite numbers, got {value} and {cost}")
    if any(c < 0 for c in costs.values()):
        raise InputError(f"cost must be at least 0, got {cost}")
    if budget is not None and budget < 0:
        raise InputError(f"budget must be at least 0 coupons, got {budget}")
    loaded = model_dir if isinstance(model_dir, LoadedUpliftModel) else load_uplift_model(model_dir)
    if isinstance(candidates, pd.DataFrame):
        frame = candidates.reset_index(drop=True)
    else:
        frame = _read_candidates(Path(candidates), con if con is not None else connect())
    if len(frame) == 0:
        raise InputError(f"{candidates}: no candidates to score")
    model = loaded.model
    if isinstance(cost, Mapping):
        unknown = sorted(set(cost) - set(model.arms_))
        missing = [a for a in model.arms_ if a not in cost]
        if unknown or missing:
            raise InputError(
                f"give a cost for every treated arm of the model {model.arms_}"
                + (f"; missing {missing}" if missing else "")
                + (f"; unknown {unknown}" if unknown else "")
            )
    uplift = model.predict_frame(frame)
    decision = decide_targets(uplift, value, cost, budget, model.arms_)
    added = [*DECISION_COLUMNS, "arm"] if len(model.arms_) > 1 else list(DECISION_COLUMNS)
    targets = frame.drop(columns=[c for c in added if c in frame.columns])
    if len(model.arms_) > 1:
        targets["arm"] = decision["arm"].to_numpy()
    for column in DECISION_COLUMNS:
        targets[column] = decision[column].to_numpy()
    notes: list[str] = []
    experiment = _holdout_from_candidates(frame, loaded, uplift)
    if experiment is not None:
        holdout, keep = experiment
        # The same budget share as the decision on all candidates, applied to the experiment rows.
        share = None if budget is None else min(1.0, budget / len(frame))
        row_budget = None if share is None else int(math.floor(share * int(keep.sum()) + 1e-9))
        policy = evaluate_targeting(
            holdout, model.arms_, model.control_, value, cost, share, confidence, row_budget
        )
        source = "candidates"
        trained_on = str(loaded.manifest.get("source", ""))
        if (
            trained_on
            and not isinstance(candidates, pd.DataFrame)
            and Path(trained_on).resolve() == Path(candidates).resolve()
        ):
            notes.append(
                "the candidates are the file the model was trained on: the policy value on them "
                "is optimistic; value it on a held-out experiment"
            )
    else:
        share = None if budget is None else min(1.0, budget / len(frame))
        policy = evaluate_targeting(
            loaded.holdout, model.arms_, model.control_, value, cost, share, confidence
        )
        source = "training holdout"
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        write_frame(targets, out_path, force=True)
    sent = targets["send"].to_numpy(dtype=bool)
    return TargetingJob(
        targets=targets,
        policy=policy,
        policy_source=source,
        n_candidates=len(targets),
        n_sent=int(sent.sum()),
        total_net_value=float(targets.loc[sent, "net_value"].sum()),
        out=None if out_path is None else str(out_path),
        notes=tuple(notes),
    )
