"""A feature snapshot for real-time scoring: every entity's history features, held in memory.

:func:`couponlens.models.train.score_o2o` builds features with one engine query per batch, which
is right for a file of candidates but far too slow for a request of 100. The snapshot computes,
once, the features every user, merchant, coupon, user x merchant, user x coupon, user x spend
threshold, offer, discount kind, rate, threshold and distance has in the feature window that ends
the day before ``as_of``: the very tables :func:`~couponlens.features.o2o.build_features` joins
to the candidates (:func:`~couponlens.features.o2o.family_tables`), fetched from the engine.
Scoring a request is then array look-ups plus the receipt's own features: no engine, no joins.
An entity the history never saw gets the values ``build_features`` gives an unseen entity
(zero counts, missing rates). A missing distance is its own bucket, -1, as in the features,
so a distance the window never saw is not confused with a missing one.

Scores from the snapshot equal ``score_o2o``'s for candidates received on ``as_of`` (the test
suite checks it), and for later candidates they use the same, slightly older, history.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.o2o_synthetic import generate_o2o
    >>> from couponlens.models.train import TrainOptions, train_o2o
    >>> from couponlens.datasets.o2o import load_o2o
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = generate_o2o(20_000, 3, d / "train.csv")
    >>> history = load_o2o(d / "train.csv").table
    >>> model = train_o2o(history, TrainOptions(n_estimators=30, threads=1)).model
    >>> snapshot = FeatureSnapshot.build(model, history)
    >>> frame = snapshot.features(pd.DataFrame({
    ...     "user_id": [1], "merchant_id": [2], "coupon_id": [3], "discount_text": ["150:20"],
    ...     "distance": [1], "date_received": [snapshot.as_of]}))
    >>> 0 < float(model.predict(frame)[0]) < 1
    True
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from couponlens.datasets.o2o import parse_discount
from couponlens.errors import InputError
from couponlens.features.o2o import (
    FAMILIES,
    ROW_FEATURES,
    Family,
    family_tables,
    feature_names,
    rate_buckets,
    threshold_buckets,
)
from couponlens.features.windows import WindowPair, WindowPlan, history_dates
from couponlens.models.artifact import LogisticParams, O2OModel

#: A bound on ids so that two ids pack into one int64 key.
_ID_LIMIT = 2**31


#: Largest span of integer keys looked up by direct addressing (an int32 array of that size).
_DIRECT_SPAN = 1 << 24


class _FamilyLookup:
    """One family's feature values by key; the last row holds an unseen entity's values.

    Integer keys spanning at most :data:`_DIRECT_SPAN` values (user, merchant and coupon ids,
    distances) are found by direct addressing: an int32 array from key to row, read with one
    ``np.take``. Other keys (id pairs packed into one int64, or ids spread wider) go through a
    hash index built once; texts through a dict. No per-request sorting or searching either
    way, and the values are one C-ordered float64 block, so a batch's rows come out in one
    ``np.take``.
    """

    def __init__(
        self, family: Family, columns: list[str], keys: np.ndarray, values: np.ndarray
    ) -> None:
        self.family = family
        self.columns = columns
        self.keys = keys  # int64 / float64 keys, or object texts
        self.values = np.ascontiguousarray(values, dtype=np.float64)  # (keys + 1, columns)
        self.unseen = len(self.values) - 1
        self._texts: dict[str, int] | None = None
        self._index: pd.Index | None = None
        self._direct: np.ndarray | None = None
        self._low = 0
        if keys.dtype == object:
            self._texts = {str(k): i for i, k in enumerate(keys)}
            return
        whole = keys.dtype.kind in "iu" or bool(
            np.all(np.isfinite(keys) & (keys == np.round(keys)))
        )
        if len(keys) and whole:
            low, high = int(keys.min()), int(keys.max())
            if high - low < _DIRECT_SPAN:
                self._low = low
                self._direct = np.full(high - low + 1, self.unseen, dtype=np.int32)
                self._direct[keys.astype(np.int64) - low] = np.arange(len(keys), dtype=np.int32)
                return
        self._index = pd.Index(keys)
        self._index.get_indexer(keys[:1])  # builds the hash table now, not on a request

    def positions(self, wanted: np.ndarray) -> np.ndarray:
        """Row of each wanted key in :attr:`values`; the unseen row for keys never seen."""
        if self._texts is not None:
            get, unseen = self._texts.get, self.unseen
            return np.fromiter((get(k, unseen) for k in wanted), np.intp, len(wanted))
        if self._direct is not None:
            if wanted.dtype.kind == "f":  # a distance: whole numbers only (NaN is mapped before)
                whole = np.isfinite(wanted) & (wanted == np.round(wanted))
                wanted = np.where(whole, wanted, self._low - 1).astype(np.int64)
            offset = wanted.astype(np.int64) - self._low
            inside = (offset >= 0) & (offset < len(self._direct))
            found = np.take(self._direct, np.where(inside, offset, 0))
            return np.where(inside, found, self.unseen)
        assert self._index is not None
        found = self._index.get_indexer(wanted)
        return np.where(found < 0, self.unseen, found)

    def rows(self, wanted: np.ndarray) -> np.ndarray:
        """The value rows of the wanted keys, ``(len(wanted), len(columns))``."""
        return np.take(self.values, self.positions(wanted), axis=0)


def _as_slice(positions: np.ndarray) -> slice | np.ndarray:
    """``positions`` as a slice when they are consecutive and ascending (a slice assignment
    copies blocks; an index array scatters element by element)."""
    if len(positions) and np.array_equal(
        positions, np.arange(positions[0], positions[0] + len(positions))
    ):
        return slice(int(positions[0]), int(positions[0]) + len(positions))
    return positions


@dataclass(frozen=True)
class _MatrixPlan:
    """For one list of model columns: (lookup, its columns used or all, their matrix positions)
    per family, and (feature, matrix position) per receipt feature."""

    families: list[tuple[_FamilyLookup, np.ndarray | None, slice | np.ndarray]]
    receipt: list[tuple[str, int]]


@dataclass(frozen=True)
class _LogisticPlan:
    """A logistic baseline's inputs: (family prefix, its transformed value block, their input
    positions) per family, and the receipt features transformed per call (names, positions in
    the model matrix, positions in the inputs)."""

    families: list[tuple[str, np.ndarray, slice | np.ndarray]]
    receipt_names: list[str]
    receipt_source: np.ndarray
    receipt_target: np.ndarray


def _pack(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return first.astype(np.int64) * _ID_LIMIT + second.astype(np.int64)


def _family_keys(family: Family, columns: Mapping[str, Any]) -> np.ndarray:
    """The family's key per row: an int64 (ids packed in pairs), a text, or a float distance."""
    keys = family.keys
    if keys == ("distance",):  # a missing distance is the bucket -1, as in the features
        distance = np.asarray(columns["distance"], dtype=np.float64)
        return np.where(np.isnan(distance), -1.0, distance)
    if keys in (("discount_text",), ("discount_kind",)):
        return np.asarray(columns[keys[0]], dtype=object)
    if len(keys) == 1:
        return np.asarray(columns[keys[0]], dtype=np.int64)
    if len(keys) == 2:
        return _pack(
            np.asarray(columns[keys[0]], dtype=np.int64),
            np.asarray(columns[keys[1]], dtype=np.int64),
        )
    raise AssertionError(f"unsupported family key {keys}")


@functools.lru_cache(maxsize=4096)
def parse_discount_cached(text: str) -> tuple[str, float, float | None, float | None]:
    """:func:`couponlens.datasets.o2o.parse_discount`, remembered per text (a service sees few)."""
    return parse_discount(text)


def _columns_of(family: Family, names: list[str]) -> list[str]:
    prefix = family.prefix + "_"
    return [n for n in names if n.startswith(prefix)]


@dataclass(frozen=True)
class FeatureSnapshot:
    """History features of every entity as of one day, for scoring requests without the engine."""

    as_of: dt.date
    window: WindowPair
    feature_columns: list[str]
    lookups: list[_FamilyLookup]
    entities: dict[str, int]
    seconds: float
    _plans: dict[tuple[str, ...], _MatrixPlan] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _logistic_plans: dict[
        tuple[int, tuple[str, ...]], tuple[LogisticParams, _LogisticPlan | None]
    ] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def build(
        cls, model: O2OModel, history: ir.Table, *, as_of: dt.date | None = None
    ) -> FeatureSnapshot:
        """Compute the snapshot from a canonical O2O history table.

        Args:
            model: the trained model (its feature-window length and label rule are used).
            history: the canonical history (:func:`couponlens.datasets.o2o.load_o2o`).
            as_of: the first day to score; the feature window ends the day before. Default: the
                day after the history's last receipt or purchase.

        Raises:
            InputError: the model uses label-window (leakage) features, which describe a whole
                month of candidates at once and cannot be computed for one request.
        """
        began = time.perf_counter()
        if model.leakage_features:
            raise InputError(
                "this model was trained with --leakage-features, which describe a whole month of "
                "candidates at once; a scoring service needs a point-in-time model (train without "
                "the flag)"
            )
        first, last, last_purchase = history_dates(history)
        if as_of is None:
            as_of = max(last, last_purchase or last) + dt.timedelta(days=1)
        plan = WindowPlan(
            pairs=[],
            label_days=int(model.info["label_rule"]["label_days"]),
            feature_days=int(model.info["windows"]["feature_days"]),
        )
        window = plan.prediction_pair(as_of, as_of)
        if window.feature_end < first:
            raise InputError(
                f"the history starts on {first}, after the feature window ({window.feature_start}.."
                f"{window.feature_end}) for scoring from {as_of}"
            )
        label_days = int(model.info["label_rule"]["label_days"])
        tables = family_tables(history, window, label_days=label_days)
        names = feature_names(False)
        lookups = []
        entities: dict[str, int] = {}
        for family in FAMILIES:
            columns = _columns_of(family, names)
            frame = tables[family.prefix].to_pyarrow().to_pandas()
            if family.keys != ("discount_text",) and family.keys != ("discount_kind",):
                frame = frame.sort_values(list(family.keys), kind="stable")
            keys = _family_keys(family, {k: frame[k].to_numpy() for k in family.keys})
            names_here = [c.removeprefix(family.prefix + "_") for c in columns]
            seen = frame[names_here].to_numpy(dtype=np.float64, na_value=np.nan)
            # an entity the window never saw: zero counts, missing values (as build_features)
            unseen = [0.0 if n in family.counts else np.nan for n in names_here]
            values = np.vstack([seen, np.array([unseen], dtype=np.float64)])
            lookups.append(_FamilyLookup(family, columns, keys, values))
            entities[family.prefix] = len(frame)
        return cls(
            as_of=as_of,
            window=window,
            feature_columns=names,
            lookups=lookups,
            entities=entities,
            seconds=round(time.perf_counter() - began, 3),
        )

    def features(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """The model's feature frame for candidate receipts.

        ``candidates`` holds ``user_id, merchant_id, coupon_id`` (ints), ``discount_text``
        (``0.95`` or ``150:20``), ``distance`` (0..10 or missing) and ``date_received`` (a date).
        """
        matrix = self.matrix(
            user_id=candidates["user_id"].to_numpy(np.int64),
            merchant_id=candidates["merchant_id"].to_numpy(np.int64),
            coupon_id=candidates["coupon_id"].to_numpy(np.int64),
            discount_text=[str(t) for t in candidates["discount_text"]],
            distance=pd.to_numeric(candidates["distance"], errors="coerce").to_numpy(np.float64),
            date_received=pd.to_datetime(candidates["date_received"])
            .to_numpy()
            .astype("datetime64[D]"),
            columns=self.feature_columns,
        )
        return pd.DataFrame(matrix, columns=self.feature_columns)

    def matrix(
        self,
        *,
        user_id: np.ndarray,
        merchant_id: np.ndarray,
        coupon_id: np.ndarray,
        discount_text: Sequence[str] | np.ndarray,
        distance: np.ndarray,
        date_received: np.ndarray,
        columns: list[str],
    ) -> np.ndarray:
        """The feature matrix (C-ordered float64, ``columns`` in order) from candidate arrays.

        The fast path: a hash look-up per family and key, one ``np.take`` of each family's value
        rows, and the receipt's own features computed once per distinct discount text.
        ``distance`` is float with NaN for unknown; ``date_received`` is ``datetime64[D]``.
        """
        return self.matrices(
            user_id=user_id,
            merchant_id=merchant_id,
            coupon_id=coupon_id,
            discount_text=discount_text,
            distance=distance,
            date_received=date_received,
            columns=columns,
        )[0]

    def matrices(
        self,
        *,
        user_id: np.ndarray,
        merchant_id: np.ndarray,
        coupon_id: np.ndarray,
        discount_text: Sequence[str] | np.ndarray,
        distance: np.ndarray,
        date_received: np.ndarray,
        columns: list[str],
        logistic: LogisticParams | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`matrix`, and with ``logistic`` also that baseline's inputs for the same rows.

        The inputs (:meth:`LogisticParams.inputs`, columns in ``logistic.features`` order) of
        the history features are taken from blocks transformed once per entity
        (:meth:`prepare_logistic`); only the receipt's own features are transformed per call.
        Each column is transformed on its own, so the result has the bits of
        ``logistic.inputs`` of the matrix's columns. None when the logistic reads a feature
        that is not among ``columns``.
        """
        plan = self._plan(tuple(columns))
        n = len(user_id)
        out = np.empty((n, len(columns)), dtype=np.float64)
        codes, texts = pd.factorize(np.asarray(discount_text, dtype=object))
        texts = np.array([str(t).strip() for t in texts], dtype=object)
        parsed = [parse_discount_cached(t) for t in texts]
        distance = np.asarray(distance, dtype=np.float64)
        days = np.asarray(date_received, dtype="datetime64[D]")
        day_of_week = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
        receipt: dict[str, Callable[[], np.ndarray]] = {
            "discount_rate": lambda: np.array([p[1] for p in parsed])[codes],
            "discount_is_spend_save": lambda: np.array(
                [p[0] == "spend_save" for p in parsed], dtype=np.float64
            )[codes],
            "discount_threshold": lambda: np.array(
                [np.nan if p[2] is None else p[2] for p in parsed]
            )[codes],
            "discount_amount": lambda: np.array([np.nan if p[3] is None else p[3] for p in parsed])[
                codes
            ],
            "distance": lambda: distance,
            "distance_missing": lambda: np.isnan(distance),
            "day_of_week": lambda: day_of_week,
            "day_of_month": lambda: (days - days.astype("datetime64[M]")).astype(np.int64) + 1,
            "is_weekend": lambda: day_of_week >= 5,
        }
        for name, j in plan.receipt:
            out[:, j] = receipt[name]()
        kinds = np.array([p[0] for p in parsed], dtype=object)
        keyed = {
            "user_id": np.asarray(user_id, dtype=np.int64),
            "merchant_id": np.asarray(merchant_id, dtype=np.int64),
            "coupon_id": np.asarray(coupon_id, dtype=np.int64),
            "distance": distance,
            "rate_bucket": rate_buckets(np.array([p[1] for p in parsed]))[codes],
            "threshold_bucket": threshold_buckets(
                np.array([np.nan if p[2] is None else p[2] for p in parsed])
            )[codes],
        }
        positions: dict[str, np.ndarray] = {}
        for lookup, source, target in plan.families:
            if lookup.family.keys == ("discount_text",):  # one look-up per distinct text
                at = lookup.positions(texts)[codes]
            elif lookup.family.keys == ("discount_kind",):
                at = lookup.positions(kinds)[codes]
            else:
                at = lookup.positions(_family_keys(lookup.family, keyed))
            positions[lookup.family.prefix] = at
            rows = np.take(lookup.values, at, axis=0)
            out[:, target] = rows if source is None else rows[:, source]
        if logistic is None:
            return out, None
        inputs_plan = self.prepare_logistic(logistic, columns)
        if inputs_plan is None:
            return out, None
        inputs = np.empty((n, len(logistic.features)), dtype=np.float64)
        for prefix, block, target in inputs_plan.families:
            inputs[:, target] = np.take(block, positions[prefix], axis=0)
        if inputs_plan.receipt_names:
            inputs[:, inputs_plan.receipt_target] = logistic.inputs(
                out[:, inputs_plan.receipt_source], inputs_plan.receipt_names
            )
        return out, inputs

    def prepare_logistic(
        self, logistic: LogisticParams, columns: list[str]
    ) -> _LogisticPlan | None:
        """Transform every entity's history features for ``logistic`` once (kept for later calls).

        None when the logistic reads a feature outside ``columns`` or the snapshot.
        """
        key = (id(logistic), tuple(columns))
        cached = self._logistic_plans.get(key)
        if cached is not None and cached[0] is logistic:
            return cached[1]
        where = {c: j for j, c in enumerate(logistic.features)}
        model_at = {c: j for j, c in enumerate(columns)}
        families = []
        covered: set[str] = set()
        for lookup in self.lookups:
            used = [c for c in lookup.columns if c in where]
            if not used or any(c not in model_at for c in used):
                continue  # the features come from the model matrix then (or not at all)
            source = [lookup.columns.index(c) for c in used]
            block = np.ascontiguousarray(logistic.inputs(lookup.values[:, source], used))
            target = _as_slice(np.array([where[c] for c in used]))
            families.append((lookup.family.prefix, block, target))
            covered.update(used)
        rest = [c for c in logistic.features if c not in covered]
        plan: _LogisticPlan | None = None
        if all(c in model_at for c in rest):
            plan = _LogisticPlan(
                families=families,
                receipt_names=rest,
                receipt_source=np.array([model_at[c] for c in rest], dtype=np.intp),
                receipt_target=np.array([where[c] for c in rest], dtype=np.intp),
            )
        self._logistic_plans[key] = (logistic, plan)
        return plan

    def _plan(self, columns: tuple[str, ...]) -> _MatrixPlan:
        """Where each family's and the receipt's features go in a matrix of ``columns``."""
        plan = self._plans.get(columns)
        if plan is not None:
            return plan
        where = {c: j for j, c in enumerate(columns)}
        families = []
        for lookup in self.lookups:
            wanted = [i for i, c in enumerate(lookup.columns) if c in where]
            if wanted:
                source = None if len(wanted) == len(lookup.columns) else np.array(wanted)
                target = _as_slice(np.array([where[lookup.columns[i]] for i in wanted]))
                families.append((lookup, source, target))
        receipt = [(c, where[c]) for c in ROW_FEATURES if c in where]
        covered = {c for lookup in self.lookups for c in lookup.columns} | set(ROW_FEATURES)
        missing = [c for c in columns if c not in covered]
        if missing:
            raise InputError(f"the snapshot cannot compute feature(s) {', '.join(missing)}")
        plan = _MatrixPlan(families, receipt)
        self._plans[columns] = plan
        return plan

    def describe(self) -> dict[str, object]:
        """What the snapshot holds (for ``GET /model`` and the start-up message)."""
        return {
            "as_of": self.as_of.isoformat(),
            "feature_window": self.window.to_dict(),
            "entities": dict(self.entities),
            "build_seconds": self.seconds,
        }
