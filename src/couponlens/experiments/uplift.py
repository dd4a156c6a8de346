"""Uplift (conditional average treatment effect) learners on LightGBM.

Three meta-learners estimate, for every customer, how much a coupon changes the outcome
(``uplift = E[Y | treated, x] - E[Y | control, x]``):

* **T-learner**: one outcome model per arm; uplift is the difference of their predictions.
* **X-learner** (Kunzel et al. 2019): the T-learner's models impute each customer's
  individual effect, two effect models learn those, and they are blended by the propensity.
* **DR-learner** (Kennedy 2023): cross-fitted outcome models (and, optionally, a propensity
  model) build the doubly robust pseudo-outcome, which a final model learns.

Several treated arms are handled one pair (arm vs control) at a time. Binary outcomes
(visit, redemption) use LightGBM's ``binary`` objective, amounts use ``regression``. The
estimator API follows scikit-learn / EconML: ``UpliftModel(...).fit(X, treatment, y,
control=...)`` then ``predict(X)``. A fitted model is a sum of LightGBM boosters with fixed
coefficients per arm, which is what :mod:`couponlens.experiments.uplift_artifact` saves as
LightGBM text files (no pickle).

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"age": rng.uniform(18, 70, 4000), "channel": rng.choice(["web", "app"], 4000)})
    >>> treatment = rng.choice(["coupon", "none"], 4000)
    >>> lift = np.where((treatment == "coupon") & (X["age"] < 40), 0.2, 0.0)
    >>> y = (rng.uniform(size=4000) < 0.1 + lift).astype(int)
    >>> model = UpliftModel("t", n_estimators=40).fit(X, treatment, y, control="none")
    >>> uplift = model.predict(X)
    >>> bool(uplift[X["age"] < 40].mean() > uplift[X["age"] >= 40].mean() + 0.1)
    True
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from couponlens.errors import InputError

Learner = Literal["t", "x", "dr"]
OutcomeKind = Literal["auto", "binary", "amount"]

#: The learners, in the order they are reported.
LEARNERS: tuple[str, ...] = ("t", "x", "dr")
LEARNER_NAMES: dict[str, str] = {"t": "T-learner", "x": "X-learner", "dr": "DR-learner"}

#: Propensities are clipped to this range wherever they divide (DR pseudo-outcomes).
PROPENSITY_CLIP = (0.01, 0.99)


# ----------------------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: a number, or a category with its known levels (codes are positions)."""

    name: str
    kind: Literal["numeric", "categorical"]
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "categories": list(self.categories)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        kind = data.get("kind")
        if kind not in ("numeric", "categorical"):
            raise InputError(f"feature {data.get('name')!r}: unknown kind {kind!r}")
        return cls(str(data["name"]), kind, tuple(str(c) for c in data.get("categories", ())))


class FeatureEncoder:
    """Turns a frame into the float matrix LightGBM sees: numbers as they are, categories as codes.

    A category unseen in training becomes missing (LightGBM sends it down the default branch).

    Example:
        >>> frame = pd.DataFrame({"n": [1, 2], "c": ["b", "a"]})
        >>> enc = FeatureEncoder.fit(frame)
        >>> enc.transform(pd.DataFrame({"n": [3], "c": ["z"]})).tolist()
        [[3.0, nan]]
        >>> enc.categorical_indices
        [1]
    """

    def __init__(self, specs: Sequence[FeatureSpec]) -> None:
        if not specs:
            raise InputError("an uplift model needs at least one feature")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise InputError(f"feature names repeat: {names}")
        self.specs = tuple(specs)

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> FeatureEncoder:
        specs = []
        for name in frame.columns:
            column = frame[name]
            if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
                specs.append(FeatureSpec(str(name), "numeric"))
            else:
                levels = sorted({str(v) for v in column.dropna().unique()})
                specs.append(FeatureSpec(str(name), "categorical", tuple(levels)))
        return cls(specs)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, s in enumerate(self.specs) if s.kind == "categorical"]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [s.name for s in self.specs if s.name not in frame.columns]
        if missing:
            raise InputError(
                f"missing feature column(s) {missing}: the model was trained on {self.names}"
            )
        out = np.empty((len(frame), len(self.specs)), dtype=np.float64)
        for i, spec in enumerate(self.specs):
            column = frame[spec.name]
            if spec.kind == "numeric":
                values = pd.to_numeric(column, errors="coerce")
                bad = values.isna() & column.notna()
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise InputError(
                        f"column {spec.name!r}, row {row + 1}: expected a number, got "
                        f"{column.iloc[row]!r}"
                    )
                out[:, i] = values.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                text = column.astype(str).where(column.notna())
                position = {level: code for code, level in enumerate(spec.categories)}
                codes = text.map(position)
                out[:, i] = pd.to_numeric(codes, errors="coerce").to_numpy(
                    dtype=np.float64, na_value=np.nan
                )
        return out

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.specs]

    @classmethod
    def from_dict(cls, data: Sequence[Mapping[str, Any]]) -> FeatureEncoder:
        return cls([FeatureSpec.from_dict(d) for d in data])


# ----------------------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """One term of a fitted uplift: ``coefficient * booster.predict(X)``."""

    name: str
    coefficient: float
    booster: lgb.Booster


def _label(value: Hashable) -> str:
    return str(value)


def outcome_kind_of(y: np.ndarray) -> Literal["binary", "amount"]:
    """``"binary"`` when every outcome is 0 or 1, else ``"amount"``.

    Example:
        >>> outcome_kind_of(np.array([0, 1, 1.0])), outcome_kind_of(np.array([0, 2.5]))
        ('binary', 'amount')
    """
    return "binary" if np.isin(y, (0, 1)).all() else "amount"


class UpliftModel:
    """A T-, X- or DR-learner on LightGBM for one control and one or more treated arms.

    Args:
        learner: ``"t"``, ``"x"`` or ``"dr"``.
        outcome_kind: ``"binary"``, ``"amount"`` or ``"auto"`` (binary when all outcomes are 0/1).
        n_estimators, learning_rate, num_leaves, min_child_samples: LightGBM settings shared
            by every model inside the learner. Uplift is a small signal in a noisy outcome,
            so the defaults are strongly regularised.
        cross_fit_folds: folds for the DR-learner's nuisance models.
        propensity: ``"share"`` (a randomized test: each arm's share of the pair, the default)
            or ``"model"`` (a cross-fitted LightGBM classifier, for observational data; DR only).
        n_jobs: LightGBM threads (1 by default: on small data, more threads mostly wait on
            each other, and badly so on a busy machine).
        random_state: seed for folds and LightGBM.

    After ``fit``: ``control_``, ``arms_`` (treated arms, as text), ``outcome_kind_``,
    ``encoder_``, ``treated_share_`` (share of each arm within its pair) and ``components_``.
    """

    def __init__(
        self,
        learner: Learner | str = "t",
        *,
        outcome_kind: OutcomeKind | str = "auto",
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 100,
        cross_fit_folds: int = 3,
        propensity: Literal["share", "model"] | str = "share",
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        if learner not in LEARNERS:
            raise InputError(f"unknown learner {learner!r}: expected one of {list(LEARNERS)}")
        if outcome_kind not in ("auto", "binary", "amount"):
            raise InputError(
                f"unknown outcome kind {outcome_kind!r}: expected auto, binary or amount"
            )
        if propensity not in ("share", "model"):
            raise InputError(f"unknown propensity {propensity!r}: expected share or model")
        if cross_fit_folds < 2:
            raise InputError(f"cross_fit_folds must be at least 2, got {cross_fit_folds}")
        self.learner = learner
        self.outcome_kind = outcome_kind
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.cross_fit_folds = cross_fit_folds
        self.propensity = propensity
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- public API ---------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (scikit-learn style)."""
        return {
            "learner": self.learner,
            "outcome_kind": self.outcome_kind,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "cross_fit_folds": self.cross_fit_folds,
            "propensity": self.propensity,
            "n_jobs": self.n_jobs,
            "random_state": self.random_state,
        }

    def fit(
        self,
        X: pd.DataFrame,
        treatment: Sequence[Any] | np.ndarray | pd.Series,
        y: Sequence[float] | np.ndarray | pd.Series,
        control: Any,
    ) -> Self:
        """Fit one uplift model per treated arm against ``control``; returns ``self``."""
        arms, t_labels, y_values = check_uplift_inputs(X, treatment, y, control)
        kind = outcome_kind_of(y_values) if self.outcome_kind == "auto" else self.outcome_kind
        if kind == "binary" and not np.isin(y_values, (0, 1)).all():
            raise InputError("outcome_kind='binary' but the outcome has values other than 0 and 1")
        self.encoder_ = FeatureEncoder.fit(X)
        matrix = self.encoder_.transform(X)
        self.control_ = _label(control)
        self.outcome_kind_ = kind
        self.arms_ = arms
        self.components_: dict[str, list[Component]] = {}
        self.treated_share_: dict[str, float] = {}
        for arm in arms:
            rows = (t_labels == arm) | (t_labels == self.control_)
            t = (t_labels[rows] == arm).astype(np.int8)
            _check_pair(arm, self.control_, t, y_values[rows], kind)
            self.treated_share_[arm] = float(t.mean())
            self.components_[arm] = self._fit_pair(matrix[rows], t, y_values[rows])
        return self

    def predict(self, X: pd.DataFrame, arm: Any = None) -> np.ndarray:
        """Predicted uplift of each treated arm over control.

        Returns a 1-d array when ``arm`` is given or the model has one treated arm, else an
        ``(n, len(arms_))`` array with columns in ``arms_`` order.
        """
        self._check_fitted()
        matrix = self.encoder_.transform(X)
        if arm is not None:
            return self._predict_arm(matrix, self._arm(arm))
        if len(self.arms_) == 1:
            return self._predict_arm(matrix, self.arms_[0])
        return np.column_stack([self._predict_arm(matrix, a) for a in self.arms_])

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Uplift per treated arm as a frame with one column per arm."""
        self._check_fitted()
        matrix = self.encoder_.transform(X)
        return pd.DataFrame(
            {a: self._predict_arm(matrix, a) for a in self.arms_}, index=X.index, columns=self.arms_
        )

    @property
    def feature_names_in_(self) -> list[str]:
        self._check_fitted()
        return self.encoder_.names

    # -- internals ----------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise InputError("this UpliftModel is not fitted yet: call fit() first")

    def _arm(self, arm: Any) -> str:
        label = _label(arm)
        if label not in self.arms_:
            raise InputError(f"unknown arm {arm!r}: the model knows {self.arms_}")
        return label

    def _predict_arm(self, matrix: np.ndarray, arm: str) -> np.ndarray:
        total = np.zeros(len(matrix))
        for component in self.components_[arm]:
            total += component.coefficient * np.asarray(component.booster.predict(matrix))
        return total

    def _params(self, objective: str) -> dict[str, Any]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "num_threads": self.n_jobs,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

    def _train(self, matrix: np.ndarray, target: np.ndarray, objective: str) -> lgb.Booster:
        cats = self.encoder_.categorical_indices
        data = lgb.Dataset(
            matrix,
            label=target,
            categorical_feature=cats if cats else "auto",
            params={"verbose": -1, "min_data_in_bin": 1},
            free_raw_data=True,
        )
        return lgb.train(self._params(objective), data, num_boost_round=self.n_estimators)

    def _outcome_objective(self) -> str:
        return "binary" if self.outcome_kind_ == "binary" else "regression"

    def _fit_pair(self, matrix: np.ndarray, t: np.ndarray, y: np.ndarray) -> list[Component]:
        objective = self._outcome_objective()
        if self.learner == "t":
            mu0 = self._train(matrix[t == 0], y[t == 0], objective)
            mu1 = self._train(matrix[t == 1], y[t == 1], objective)
            return [Component("mu_treated", 1.0, mu1), Component("mu_control", -1.0, mu0)]
        if self.learner == "x":
            mu0 = self._train(matrix[t == 0], y[t == 0], objective)
            mu1 = self._train(matrix[t == 1], y[t == 1], objective)
            effect_treated = y[t == 1] - mu0.predict(matrix[t == 1])
            effect_control = mu1.predict(matrix[t == 0]) - y[t == 0]
            tau1 = self._train(matrix[t == 1], effect_treated, "regression")
            tau0 = self._train(matrix[t == 0], effect_control, "regression")
            # Kunzel et al.: tau(x) = g(x) tau0(x) + (1 - g(x)) tau1(x) with g = propensity;
            # in a randomized test g is the treated share.
            share = float(t.mean())
            return [
                Component("tau_control", share, tau0),
                Component("tau_treated", 1.0 - share, tau1),
            ]
        pseudo = self._dr_pseudo_outcome(matrix, t, y)
        tau = self._train(matrix, pseudo, "regression")
        return [Component("tau", 1.0, tau)]

    def _dr_pseudo_outcome(self, matrix: np.ndarray, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The AIPW pseudo-outcome with cross-fitted nuisances (each row's from other folds)."""
        objective = self._outcome_objective()
        mu0 = np.empty(len(t))
        mu1 = np.empty(len(t))
        share = np.full(len(t), float(t.mean()))
        folds = StratifiedKFold(self.cross_fit_folds, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(matrix, t):
            tt = t[train]
            m0 = self._train(matrix[train][tt == 0], y[train][tt == 0], objective)
            m1 = self._train(matrix[train][tt == 1], y[train][tt == 1], objective)
            mu0[test] = m0.predict(matrix[test])
            mu1[test] = m1.predict(matrix[test])
            if self.propensity == "model":
                e = self._train(matrix[train], tt.astype(float), "binary")
                share[test] = e.predict(matrix[test])
        e = np.clip(share, *PROPENSITY_CLIP)
        return mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)


def check_uplift_inputs(
    X: pd.DataFrame,
    treatment: Sequence[Any] | np.ndarray | pd.Series,
    y: Sequence[float] | np.ndarray | pd.Series,
    control: Any,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Validate inputs; return (treated arms as text, treatment labels as text, outcomes).

    Example:
        >>> arms, labels, y = check_uplift_inputs(
        ...     pd.DataFrame({"x": [1, 2, 3]}), ["b", "a", "c"], [0, 1, 1], control="a")
        >>> arms, labels.tolist(), y.tolist()
        (['b', 'c'], ['b', 'a', 'c'], [0.0, 1.0, 1.0])
    """
    if not isinstance(X, pd.DataFrame):
        raise InputError(f"X must be a pandas DataFrame of features, got {type(X).__name__}")
    t_series = pd.Series(np.asarray(treatment, dtype=object))
    y_series = pd.Series(np.asarray(y))
    if not (len(X) == len(t_series) == len(y_series)):
        raise InputError(
            f"X, treatment and y differ in length: {len(X)}, {len(t_series)}, {len(y_series)}"
        )
    if t_series.isna().any():
        row = int(np.flatnonzero(t_series.isna().to_numpy())[0])
        raise InputError(f"treatment is missing at row {row + 1}")
    y_numeric = pd.to_numeric(y_series, errors="coerce")
    if y_numeric.isna().any():
        row = int(np.flatnonzero(y_numeric.isna().to_numpy())[0])
        raise InputError(f"outcome at row {row + 1} is not a number: {y_series.iloc[row]!r}")
    labels = t_series.map(_label).to_numpy(dtype=object)
    control_label = _label(control)
    present = sorted(set(labels))
    if control_label not in present:
        raise InputError(
            f"not estimable: control {control!r} does not occur in the treatment column "
            f"(values: {present[:10]})"
        )
    arms = [a for a in present if a != control_label]
    if not arms:
        raise InputError(f"not estimable: only the control arm {control!r} is present")
    return arms, labels, y_numeric.to_numpy(dtype=np.float64)


def _check_pair(arm: str, control: str, t: np.ndarray, y: np.ndarray, kind: str) -> None:
    for flag, name in ((1, arm), (0, control)):
        part = y[t == flag]
        if len(part) < 10:
            raise InputError(
                f"not estimable: arm {name!r} has {len(part)} rows (at least 10 are needed)"
            )
        if kind == "binary" and (part.min() == part.max()):
            raise InputError(
                f"not estimable: the outcome is always {part[0]:g} in arm {name!r}, so no model "
                "of it can be fitted"
            )
