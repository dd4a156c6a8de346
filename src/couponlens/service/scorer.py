"""Where the service's probabilities come from: a trained model over its feature snapshot.

A :class:`Scorer` turns validated candidates (:class:`~couponlens.service.wire.CandidateColumns`)
into probabilities of use and says what it scores with. :class:`LocalScorer` holds the model, the
snapshot and the compiled trees in the calling process; :class:`~couponlens.service.model_process.ModelProcess`
holds the same in a process of its own (the default of ``couponlens serve``), so that the
model's Python work does not share a GIL with the HTTP event loop.

Example:
    >>> scorer = load_local_scorer("model/", "history.csv")  # doctest: +SKIP
    >>> scorer.as_of, scorer.predictor  # doctest: +SKIP
    (datetime.date(2016, 7, 1), 'compiled')
    >>> scorer.probabilities(decode_score_body(body))  # doctest: +SKIP
    array([0.031, 0.402, ...])
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from couponlens.errors import CouponlensError
from couponlens.models.artifact import O2OModel
from couponlens.models.compiled import CompiledForest, ForestNotCompiled
from couponlens.service.snapshot import FeatureSnapshot
from couponlens.service.wire import CandidateColumns

log = logging.getLogger("couponlens.service")


class Scorer(Protocol):
    """What the service app needs from a model: probabilities and what they come from."""

    #: The model's kind (``lightgbm``, ``logistic``, ``stack`` or ``blend``).
    model_name: str
    #: Whether the model reads the label-window ("leakage") features.
    leakage_features: bool
    #: ``compiled`` (native trees) or ``lightgbm`` (LightGBM's predictor).
    predictor: str
    #: The first day scored: the day after the snapshot's history.
    as_of: dt.date

    def probabilities(self, candidates: CandidateColumns) -> np.ndarray:
        """Probability of use of each candidate, in order (float64)."""
        ...

    def describe(self) -> dict[str, object]:
        """The snapshot scored from (``GET /model``): :meth:`FeatureSnapshot.describe`."""
        ...

    def healthy(self) -> bool:
        """Whether the scorer can answer now."""
        ...

    def close(self) -> None:
        """Release what the scorer holds (a model process stops)."""
        ...


class LocalScorer:
    """The model, its snapshot and its compiled trees, in this process.

    Example:
        >>> scorer = LocalScorer(model, snapshot)  # doctest: +SKIP
        >>> scorer.probabilities(columns).round(3)  # doctest: +SKIP
        array([0.031, 0.402])
    """

    def __init__(
        self, model: O2OModel, snapshot: FeatureSnapshot, forest: CompiledForest | None = None
    ) -> None:
        self.model = model
        self.snapshot = snapshot
        self.forest = forest
        self.model_name = model.chosen
        self.leakage_features = model.leakage_features
        self.predictor = "lightgbm" if forest is None else "compiled"
        self.as_of = snapshot.as_of
        self._threads = min(2, os.cpu_count() or 1)  # a big batch's rows split over both cores
        self._uses_logistic = model.chosen != "lightgbm" and model.logistic is not None

    def _trees(self, values: np.ndarray) -> np.ndarray:
        assert self.forest is not None
        return self.forest.predict(values, threads=self._threads)

    def probabilities(self, candidates: CandidateColumns) -> np.ndarray:
        """Probability of use of each candidate, in order."""
        matrix, logistic_inputs = self.snapshot.matrices(
            user_id=candidates.user_id,
            merchant_id=candidates.merchant_id,
            coupon_id=candidates.coupon_id,
            discount_text=candidates.discount_text,
            distance=candidates.distance,
            date_received=candidates.date_received,
            columns=self.model.features,
            logistic=self.model.logistic if self._uses_logistic else None,
        )
        p = self.model.predict_matrix(
            matrix,
            threads=1,
            forest=None if self.forest is None else self._trees,
            logistic_inputs=logistic_inputs,
        )
        return np.asarray(p, dtype=np.float64)

    def describe(self) -> dict[str, object]:
        """What the snapshot holds."""
        return self.snapshot.describe()

    def healthy(self) -> bool:
        """Always: nothing here can stop."""
        return True

    def close(self) -> None:
        """Nothing to release: the objects go with the scorer."""


def load_local_scorer(
    model_dir: str | Path,
    history: str | Path,
    *,
    as_of: dt.date | None = None,
    compile_model: bool = True,
) -> LocalScorer:
    """Load the model (checksums verified), load the history and build the snapshot.

    With ``compile_model`` the model's trees are compiled to native code (cached; see
    :mod:`couponlens.models.compiled`) while the snapshot builds; when that is not possible the
    scorer uses LightGBM's predictor (``predictor`` says which).
    """
    from couponlens.datasets.o2o import load_o2o
    from couponlens.engine import connect
    from couponlens.models.artifact import load_model

    model = load_model(model_dir)
    with ThreadPoolExecutor(max_workers=1) as pool:
        compiling = pool.submit(CompiledForest.compile, model.booster) if compile_model else None
        data = load_o2o(history, connect())
        if not data.has_purchase_dates:
            raise CouponlensError(f"{history}: the history needs the train layout (with Date)")
        snapshot = FeatureSnapshot.build(model, data.table, as_of=as_of)
        if model.logistic is not None and model.chosen != "lightgbm":
            snapshot.prepare_logistic(model.logistic, model.features)  # now, not on a request
        forest = None
        if compiling is not None:
            try:
                forest = compiling.result()
            except ForestNotCompiled as exc:
                log.warning("scoring with LightGBM's predictor: %s", exc)
    return LocalScorer(model, snapshot, forest)
