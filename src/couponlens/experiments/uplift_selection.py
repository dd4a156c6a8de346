"""Cross-fitted evaluation of uplift learners and the choice of one on held-out Qini.

Every customer is scored by a model that never saw them: the data are cut into ``n_folds``
folds (stratified by arm, and by outcome when it is binary); each learner is fitted on the
other folds and predicts the held-out one. Qini, AUUC and uplift at k% (with bootstrap CIs)
are computed on these out-of-fold scores, per treated arm; the learner with the highest
held-out Qini (averaged over arms) is chosen and refitted on all the data.

The out-of-fold uplift of the chosen learner and out-of-fold outcome predictions per arm
(``mu``) are kept as the *holdout* table; the policy module evaluates targeting rules on it
(IPW and doubly robust), so no customer's outcome is used to both fit and judge a policy.

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.uniform(size=3000)})
    >>> t = rng.integers(0, 2, 3000)
    >>> y = (rng.uniform(size=3000) < 0.1 + 0.3 * t * X["x"]).astype(int)
    >>> fit = fit_uplift(X, t, y, control=0, learners=["t"], n_folds=3, n_bootstrap=50,
    ...                  n_estimators=30)
    >>> fit.validation.chosen, bool(fit.validation.best().scores.qini > 0)
    ('t', True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from couponlens._results import Result
from couponlens.errors import InputError
from couponlens.experiments.uplift import (
    LEARNER_NAMES,
    LEARNERS,
    UpliftModel,
    check_uplift_inputs,
    outcome_kind_of,
)
from couponlens.experiments.uplift_metrics import (
    DEFAULT_FRACTIONS,
    UpliftScores,
    qini_coefficient,
    qini_curve,
    uplift_scores,
)

#: Points on the fraction axis at which curves are kept for charts.
CURVE_POINTS = 101


@dataclass(frozen=True, repr=False)
class LearnerArmScores(Result):
    """Held-out scores of one learner for one treated arm."""

    learner: str
    arm: str
    scores: UpliftScores
    fold_qini: list[float]


@dataclass(frozen=True, repr=False)
class CurveSeries(Result):
    """A Qini curve resampled on a fixed fraction grid, for charts."""

    learner: str
    arm: str
    fraction: list[float]
    qini: list[float]
    random: list[float]


@dataclass(frozen=True, repr=False)
class UpliftValidation(Result):
    """Held-out comparison of learners; ``chosen`` has the highest mean Qini over arms."""

    outcome_kind: str
    control: str
    arms: list[str]
    n_folds: int
    learners: list[str]
    chosen: str
    results: list[LearnerArmScores] = field(default_factory=list)
    curves: list[CurveSeries] = field(default_factory=list)

    def mean_qini(self, learner: str) -> float:
        values = [r.scores.qini for r in self.results if r.learner == learner]
        return float(np.mean(values))

    def get(self, learner: str, arm: str | None = None) -> LearnerArmScores:
        arm = arm if arm is not None else self.arms[0]
        for r in self.results:
            if r.learner == learner and r.arm == arm:
                return r
        raise KeyError(f"no scores for learner {learner!r}, arm {arm!r}")

    def best(self, arm: str | None = None) -> LearnerArmScores:
        return self.get(self.chosen, arm)

    def to_frame(self) -> pd.DataFrame:
        frames = []
        for r in self.results:
            frame = r.scores.to_frame()
            frame.insert(0, "arm", r.arm)
            frame.insert(0, "learner", r.learner)
            frame["chosen"] = r.learner == self.chosen
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


@dataclass
class UpliftFit:
    """The chosen model refitted on all rows, its validation, and the out-of-fold holdout.

    ``holdout`` columns: ``treatment`` (text), ``outcome``, ``fold``, ``uplift_<i>`` (the
    chosen learner's out-of-fold uplift for ``model.arms_[i]``), ``mu_control`` and
    ``mu_<i>`` (out-of-fold predicted outcome under control and under arm ``i``).
    """

    model: UpliftModel
    validation: UpliftValidation
    holdout: pd.DataFrame
    feature_names: list[str]
    outcome_model: UpliftModel | None = None


def _folds(t_labels: np.ndarray, y: np.ndarray, kind: str, n_folds: int, seed: int) -> np.ndarray:
    strata = pd.Series(t_labels).astype(str)
    if kind == "binary":
        strata = strata + "|" + pd.Series(y.astype(int)).astype(str)
    smallest = int(strata.value_counts().min())
    if smallest < n_folds:
        strata = pd.Series(t_labels).astype(str)
    fold = np.empty(len(y), dtype=np.int64)
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    for i, (_, test) in enumerate(splitter.split(np.zeros(len(y)), strata)):
        fold[test] = i
    return fold


def _resample(fraction: list[float], values: list[float], grid: np.ndarray) -> list[float]:
    return [float(v) for v in np.interp(grid, fraction, values)]


def fit_uplift(
    X: pd.DataFrame,
    treatment: Sequence[Any] | np.ndarray | pd.Series,
    y: Sequence[float] | np.ndarray | pd.Series,
    control: Any,
    learners: Sequence[str] = LEARNERS,
    n_folds: int = 5,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    random_state: int = 0,
    progress: Callable[[str], None] | None = None,
    **model_params: Any,
) -> UpliftFit:
    """Cross-fit each learner, score it on held-out folds, choose on Qini, refit the choice.

    ``model_params`` go to :class:`~couponlens.experiments.uplift.UpliftModel` (e.g.
    ``n_estimators``, ``outcome_kind``, ``min_child_samples``). ``progress`` is called with a
    short message before each step (the CLI shows it).

    Example:
        >>> rng = np.random.default_rng(2)
        >>> X = pd.DataFrame({"x": rng.uniform(size=2000)})
        >>> t = rng.integers(0, 2, 2000)
        >>> y = 1 + 2 * t * X["x"] + rng.normal(size=2000)
        >>> fit = fit_uplift(X, t, y, control=0, learners=["t", "dr"], n_folds=2,
        ...                  n_bootstrap=20, n_estimators=20)
        >>> fit.validation.outcome_kind, sorted(fit.validation.learners), len(fit.holdout)
        ('amount', ['dr', 't'], 2000)
    """
    say = progress if progress is not None else (lambda message: None)
    learners = list(dict.fromkeys(learners))
    unknown = [name for name in learners if name not in LEARNERS]
    if unknown or not learners:
        raise InputError(f"unknown learner(s) {unknown}: expected some of {list(LEARNERS)}")
    if n_folds < 2:
        raise InputError(f"n_folds must be at least 2, got {n_folds}")
    arms, t_labels, y_values = check_uplift_inputs(X, treatment, y, control)
    X = X.reset_index(drop=True)
    control_label = str(control)
    kind = model_params.get("outcome_kind", "auto")
    kind = outcome_kind_of(y_values) if kind == "auto" else kind
    params = {**model_params, "outcome_kind": kind, "random_state": random_state}
    fold = _folds(t_labels, y_values, kind, n_folds, random_state)

    n = len(y_values)
    oof = {name: np.full((n, len(arms)), np.nan) for name in learners}
    mu = np.full((n, len(arms) + 1), np.nan)  # column 0: control, then one per arm
    for k in range(n_folds):
        train, test = fold != k, fold == k
        X_train, X_test = X[train], X[test]
        for name in learners:
            say(f"fold {k + 1}/{n_folds}: {learner_name(name)}")
            model = UpliftModel(name, **params).fit(
                X_train, t_labels[train], y_values[train], control
            )
            if model.arms_ != arms:
                raise InputError(f"fold {k + 1} lost an arm: has {model.arms_}, expected {arms}")
            oof[name][test] = model.predict_frame(X_test).to_numpy()
            if name == "t":
                _fill_mu(mu, test, model, X_test)
        if "t" not in learners:
            t_model = UpliftModel("t", **params).fit(
                X_train, t_labels[train], y_values[train], control
            )
            _fill_mu(mu, test, t_model, X_test)

    results: list[LearnerArmScores] = []
    curves: list[CurveSeries] = []
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    say(f"scoring held-out predictions ({n_bootstrap} bootstrap resamples)")
    for name in learners:
        for i, arm in enumerate(arms):
            rows = (t_labels == arm) | (t_labels == control_label)
            t = (t_labels[rows] == arm).astype(int)
            score = oof[name][rows, i]
            scores = uplift_scores(
                y_values[rows], score, t, fractions, n_bootstrap, confidence, random_state
            )
            fold_qini = []
            for k in range(n_folds):
                in_fold = fold[rows] == k
                t_k = t[in_fold]
                if 0 < t_k.sum() < len(t_k):
                    fold_qini.append(qini_coefficient(y_values[rows][in_fold], score[in_fold], t_k))
            results.append(LearnerArmScores(name, arm, scores, fold_qini))
            curve = qini_curve(y_values[rows], score, t)
            curves.append(
                CurveSeries(
                    name,
                    arm,
                    [float(g) for g in grid],
                    _resample(curve.fraction, curve.value, grid),
                    _resample(curve.fraction, curve.random, grid),
                )
            )

    def mean_qini(name: str) -> float:
        return float(np.mean([r.scores.qini for r in results if r.learner == name]))

    chosen = max(learners, key=lambda name: (mean_qini(name), -learners.index(name)))
    validation = UpliftValidation(
        outcome_kind=kind,
        control=control_label,
        arms=arms,
        n_folds=n_folds,
        learners=learners,
        chosen=chosen,
        results=results,
        curves=curves,
    )
    say(f"refitting the {learner_name(chosen)} on all rows")
    final = UpliftModel(chosen, **params).fit(X, t_labels, y_values, control)
    # Outcome models per arm (a T-learner on every row) value policies doubly robustly later.
    outcome_model = (
        final if chosen == "t" else UpliftModel("t", **params).fit(X, t_labels, y_values, control)
    )
    holdout = pd.DataFrame({"treatment": t_labels.astype(str), "outcome": y_values, "fold": fold})
    for i in range(len(arms)):
        holdout[f"uplift_{i}"] = oof[chosen][:, i]
    holdout["mu_control"] = mu[:, 0]
    for i in range(len(arms)):
        holdout[f"mu_{i}"] = mu[:, i + 1]
    return UpliftFit(final, validation, holdout, list(X.columns.astype(str)), outcome_model)


def outcome_predictions(model: UpliftModel, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Predicted outcome under control and under each arm, from a fitted T-learner.

    Keys are the control's and the arms' labels.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"x": rng.uniform(size=400)})
        >>> t = rng.integers(0, 2, 400)
        >>> model = UpliftModel("t", n_estimators=5).fit(X, t, X["x"] + t, control=0)
        >>> mu = outcome_predictions(model, X)
        >>> sorted(mu), bool(abs((mu["1"] - mu["0"]).mean() - 1) < 0.2)
        (['0', '1'], True)
    """
    if model.learner != "t":
        raise InputError(f"outcome predictions need a T-learner, got {model.learner!r}")
    model._check_fitted()
    matrix = model.encoder_.transform(X)
    out: dict[str, np.ndarray] = {}
    for arm in model.arms_:
        parts = {c.name: c.booster for c in model.components_[arm]}
        out[arm] = np.asarray(parts["mu_treated"].predict(matrix), dtype=np.float64)
        if model.control_ not in out:
            out[model.control_] = np.asarray(parts["mu_control"].predict(matrix), dtype=np.float64)
    return out


def _fill_mu(mu: np.ndarray, test: np.ndarray, model: UpliftModel, X_test: pd.DataFrame) -> None:
    """Out-of-fold outcome predictions from a fitted T-learner's components."""
    predicted = outcome_predictions(model, X_test)
    mu[test, 0] = predicted[model.control_]
    for i, arm in enumerate(model.arms_):
        mu[test, i + 1] = predicted[arm]


@dataclass(frozen=True, repr=False)
class ReferenceQini(Result):
    """The Qini of a reference score (e.g. a generator's true effect: the oracle) for one arm."""

    name: str
    arm: str
    qini: float
    curve: CurveSeries


def reference_qini(
    y: Sequence[float] | np.ndarray | pd.Series,
    score: Sequence[float] | np.ndarray | pd.Series,
    treatment: Sequence[Any] | np.ndarray | pd.Series,
    control: Any,
    arm: Any,
    name: str = "oracle",
) -> ReferenceQini:
    """Qini coefficient and curve of ``score`` on the rows of ``arm`` and ``control``.

    Example:
        >>> ref = reference_qini([1, 0, 0, 1], [0.9, 0.8, 0.1, 0.0], ["t", "c", "t", "c"],
        ...                      control="c", arm="t")
        >>> ref.qini, len(ref.curve.qini)
        (0.375, 101)
    """
    labels = np.asarray([str(v) for v in np.asarray(treatment, dtype=object)], dtype=object)
    rows = (labels == str(arm)) | (labels == str(control))
    y_arr = np.asarray(y, dtype=np.float64)[rows]
    s_arr = np.asarray(score, dtype=np.float64)[rows]
    t = (labels[rows] == str(arm)).astype(int)
    curve = qini_curve(y_arr, s_arr, t)
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    series = CurveSeries(
        name,
        str(arm),
        [float(g) for g in grid],
        _resample(curve.fraction, curve.value, grid),
        _resample(curve.fraction, curve.random, grid),
    )
    return ReferenceQini(name, str(arm), qini_coefficient(y_arr, s_arr, t), series)


def learner_name(learner: str) -> str:
    """``"dr"`` -> ``"DR-learner"``.

    Example:
        >>> learner_name("dr"), learner_name("t")
        ('DR-learner', 'T-learner')
    """
    return LEARNER_NAMES.get(learner, learner)
