"""Model directories: LightGBM text models plus a JSON manifest, checked on load. No pickle.

A model directory holds

- ``lightgbm.txt``: the LightGBM booster in LightGBM's own text format;
- ``logistic.json``: the logistic-regression baseline's numbers (only when the stack uses it);
- ``manifest.json``: feature names and types, the windows and label rule, whether leakage
  features were used, validation metrics, importance, library versions, and the SHA-256 of
  every other file plus a digest of the manifest's own content.

:func:`load_model` recomputes every checksum and refuses a directory whose files were changed,
removed or added to the manifest's list; :meth:`O2OModel.check_features` refuses a feature
table whose columns or types differ from the manifest's.

Example:
    >>> import tempfile, numpy as np, pandas as pd, lightgbm as lgb
    >>> x = pd.DataFrame({"a": np.arange(200.0), "b": np.arange(200.0) % 7})
    >>> booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1},
    ...                     lgb.Dataset(x, (x.a > 100).astype(int)), num_boost_round=5)
    >>> model = O2OModel(booster=booster, features=["a", "b"], info={"leakage_features": False})
    >>> folder = save_model(model, tempfile.mkdtemp())
    >>> load_model(folder).predict(x).shape
    (200,)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit

from couponlens._results import Result, jsonable
from couponlens.errors import CouponlensError, InputError
from couponlens.models.stack import StackParams

FORMAT = "couponlens-o2o-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LIGHTGBM_FILE = "lightgbm.txt"
LOGISTIC_FILE = "logistic.json"


class ModelFileError(CouponlensError):
    """A model directory is missing, damaged, tampered with, or from another format."""


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: tames the long tails of counts for a linear model; NaN stays NaN.

    ``log1p`` runs on the non-missing entries only (it is about twice as slow on NaN).

    Example:
        >>> signed_log1p(np.array([-np.e + 1, 0.0, np.nan])).tolist()
        [-1.0, 0.0, nan]
    """
    x = np.asarray(x, dtype=np.float64)
    logged = np.abs(x)
    np.log1p(logged, out=logged, where=~np.isnan(logged))  # NaN entries stay NaN
    logged *= np.sign(x)
    return logged


@dataclass(frozen=True, repr=False)
class LogisticParams(Result):
    """A fitted logistic regression on signed-log1p, median-imputed, standardised features."""

    features: list[str]
    medians: list[float]
    means: list[float]
    scales: list[float]
    coef: list[float]
    intercept: float

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of use for each row of ``frame``."""
        return self.predict_array(frame[self.features].to_numpy(dtype=np.float64))

    def predict_array(self, values: np.ndarray) -> np.ndarray:
        """Probability of use for each row of a matrix whose columns are ``features`` in order."""
        return self.predict_inputs(self.inputs(values))

    def inputs(self, values: np.ndarray, features: list[str] | None = None) -> np.ndarray:
        """The regression's inputs: signed log1p, the median where missing, standardised.

        Each column is transformed on its own, so the inputs of some columns (``features``,
        default all, in order) can be computed apart, e.g. once per entity of a feature
        snapshot, and put together later with the same bits.

        Example:
            >>> p = LogisticParams(["a", "b"], [0.0, 1.0], [0.0, 0.5], [1.0, 2.0], [1.0, 1.0], 0.0)
            >>> p.inputs(np.array([[np.e - 1, np.nan]])).tolist()
            [[1.0, 0.25]]
            >>> p.inputs(np.array([[np.nan]]), ["b"]).tolist()
            [[0.25]]
        """
        at = slice(None) if features is None else [self.features.index(f) for f in features]
        x = signed_log1p(np.asarray(values, dtype=np.float64))  # a new array: changed in place
        medians = np.asarray(self.medians)[at]
        np.copyto(x, np.broadcast_to(medians, x.shape), where=np.isnan(x))
        x -= np.asarray(self.means)[at]
        x /= np.asarray(self.scales)[at]
        return x

    def predict_inputs(self, inputs: np.ndarray) -> np.ndarray:
        """Probability of use from :meth:`inputs` (all ``features``, in order)."""
        z = np.asarray(inputs) @ np.asarray(self.coef) + self.intercept
        return np.asarray(expit(z))  # 1 / (1 + exp(-z)), without overflow for very negative z

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogisticParams:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            features=list(data["features"]),
            medians=[float(v) for v in data["medians"]],
            means=[float(v) for v in data["means"]],
            scales=[float(v) for v in data["scales"]],
            coef=[float(v) for v in data["coef"]],
            intercept=float(data["intercept"]),
        )


@dataclass
class O2OModel:
    """A trained redemption model: the booster, optional baseline and stack, and what it was trained on.

    ``info`` holds the manifest's descriptive content (windows, label rule, leakage flag,
    metrics, options, importance).
    """

    booster: lgb.Booster
    features: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    logistic: LogisticParams | None = None
    stack: StackParams | None = None
    path: Path | None = None

    @property
    def leakage_features(self) -> bool:
        """Whether the model reads label-window ("leakage") features."""
        return bool(self.info.get("leakage_features", False))

    def check_features(self, frame: pd.DataFrame) -> None:
        """Refuse a feature table that lacks a model feature or holds non-numeric values in one."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise InputError(
                f"the input lacks {len(missing)} feature(s) the model needs: {', '.join(missing[:8])}"
                + (
                    " (the model was trained with --leakage-features)"
                    if self.leakage_features
                    else ""
                )
            )
        bad = [f for f in self.features if not pd.api.types.is_numeric_dtype(frame[f])]
        if bad:
            raise InputError(f"feature(s) {', '.join(bad[:8])} are not numeric in the input")

    def predict_lightgbm(self, frame: pd.DataFrame) -> np.ndarray:
        """The LightGBM probability alone."""
        self.check_features(frame)
        return np.asarray(self.booster.predict(frame[self.features].astype(np.float64)))

    @property
    def chosen(self) -> str:
        """Which model scores: ``lightgbm``, ``logistic`` or ``stack`` (the validation winner)."""
        return str(self.info.get("chosen", "lightgbm"))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of use from the chosen model."""
        if self.chosen == "lightgbm":
            return self.predict_lightgbm(frame)
        if self.logistic is None:
            raise ModelFileError(
                f"the chosen model {self.chosen!r} needs the logistic baseline, which is missing"
            )
        self.check_features(frame)
        if self.chosen == "logistic":
            return self.logistic.predict(frame)
        if self.stack is None:
            raise ModelFileError("the chosen model 'stack' has no stack parameters")
        parts = {"lightgbm": self.predict_lightgbm(frame), "logistic": self.logistic.predict(frame)}
        return self.stack.predict([parts[m] for m in self.stack.models])

    def predict_matrix(
        self,
        values: np.ndarray,
        *,
        threads: int = 1,
        forest: Callable[[np.ndarray], np.ndarray] | None = None,
        logistic_inputs: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`predict` for a float matrix whose columns are :attr:`features` in order.

        The fast path for small batches (a scoring service): no pandas, and LightGBM on
        ``threads`` threads (one is fastest for a hundred rows). ``forest`` replaces LightGBM's
        predictor with one giving the same probabilities (a
        :class:`~couponlens.models.compiled.CompiledForest`'s ``predict``), and
        ``logistic_inputs`` the logistic baseline's :meth:`LogisticParams.inputs` of ``values``
        when they were assembled already (a feature snapshot keeps them per entity).
        """
        x = np.asarray(values, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise InputError(
                f"expected a matrix of {len(self.features)} feature columns, got shape {x.shape}"
            )

        def lightgbm() -> np.ndarray:
            if forest is not None:
                return forest(x)
            return np.asarray(self.booster.predict(x, num_threads=threads))

        if self.chosen == "lightgbm":
            return lightgbm()
        if self.logistic is None:
            raise ModelFileError(
                f"the chosen model {self.chosen!r} needs the logistic baseline, which is missing"
            )
        if logistic_inputs is not None:
            logistic = self.logistic.predict_inputs(logistic_inputs)
        else:
            columns = [self.features.index(f) for f in self.logistic.features]
            logistic = self.logistic.predict_array(x[:, columns])
        if self.chosen == "logistic":
            return logistic
        if self.stack is None:
            raise ModelFileError("the chosen model 'stack' has no stack parameters")
        parts = {"lightgbm": lightgbm(), "logistic": logistic}
        return self.stack.predict([parts[m] for m in self.stack.models])

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-row feature contributions in log-odds (LightGBM's SHAP values) plus ``bias``."""
        self.check_features(frame)
        values = self.booster.predict(frame[self.features].astype(np.float64), pred_contrib=True)
        return pd.DataFrame(np.asarray(values), columns=[*self.features, "bias"], index=frame.index)

    def importance(self) -> pd.DataFrame:
        """Global importance: total gain and split count per feature, largest gain first."""
        gain = self.booster.feature_importance("gain")
        split = self.booster.feature_importance("split")
        frame = pd.DataFrame({"feature": self.features, "gain": gain, "splits": split})
        frame["gain_share"] = frame["gain"] / max(float(frame["gain"].sum()), 1e-12)
        return frame.sort_values("gain", ascending=False).reset_index(drop=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _content_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on."""
    versions = {"python": platform.python_version()}
    for name in (
        "couponlens",
        "lightgbm",
        "scikit-learn",
        "numpy",
        "pandas",
        "ibis-framework",
        "duckdb",
    ):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def save_model(model: O2OModel, folder: str | Path) -> Path:
    """Write ``model`` to ``folder`` (created if needed) and return the folder."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    model.booster.save_model(str(folder / LIGHTGBM_FILE))
    files[LIGHTGBM_FILE] = _sha256(folder / LIGHTGBM_FILE)
    if model.logistic is not None:
        (folder / LOGISTIC_FILE).write_text(json.dumps(model.logistic.to_dict(), indent=1))
        files[LOGISTIC_FILE] = _sha256(folder / LOGISTIC_FILE)
    elif (folder / LOGISTIC_FILE).exists():
        (folder / LOGISTIC_FILE).unlink()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "features": [{"name": f, "type": "float64"} for f in model.features],
        **jsonable(model.info),
        "stack": model.stack.to_dict() if model.stack is not None else None,
        "libraries": library_versions(),
        "files": files,
    }
    manifest["manifest_sha256"] = _content_digest(manifest)
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=False))
    tmp.replace(folder / MANIFEST)
    model.path = folder
    return folder


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a model directory, after checking every checksum."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such model folder")
    if not path.exists():
        raise ModelFileError(f"{folder}: not a couponlens model folder ({MANIFEST} is missing)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {manifest.get('format_version')} is not supported "
            f"(this couponlens reads version {FORMAT_VERSION})"
        )
    if manifest.get("manifest_sha256") != _content_digest(manifest):
        raise ModelFileError(
            f"{path}: the manifest was edited after it was written (its digest does not match)"
        )
    files = manifest.get("files") or {}
    if LIGHTGBM_FILE not in files:
        raise ModelFileError(f"{path}: lists no {LIGHTGBM_FILE}")
    for name, expected in files.items():
        file = folder / name
        if Path(name).name != name:
            raise ModelFileError(f"{path}: file entry {name!r} is not a plain file name")
        if not file.exists():
            raise ModelFileError(f"{folder}: {name} is missing (listed in the manifest)")
        actual = _sha256(file)
        if actual != expected:
            raise ModelFileError(
                f"{file}: checksum mismatch (SHA-256 {actual[:12]}..., manifest says {expected[:12]}...); "
                "the file was changed after the model was saved"
            )
    return manifest


def load_model(folder: str | Path) -> O2OModel:
    """Load a model directory, refusing it when any checksum or the feature list does not match."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    features = [f["name"] for f in manifest["features"]]
    try:
        booster = lgb.Booster(model_str=(folder / LIGHTGBM_FILE).read_text())
    except lgb.basic.LightGBMError as exc:
        raise ModelFileError(f"{folder / LIGHTGBM_FILE}: not a LightGBM model ({exc})") from exc
    if booster.feature_name() != features:
        raise ModelFileError(
            f"{folder}: the LightGBM model's features differ from the manifest's feature list"
        )
    logistic = None
    if LOGISTIC_FILE in manifest["files"]:
        logistic = LogisticParams.from_dict(json.loads((folder / LOGISTIC_FILE).read_text()))
    stack = StackParams.from_dict(manifest["stack"]) if manifest.get("stack") else None
    chosen = manifest.get("chosen", "lightgbm")
    if chosen not in ("lightgbm", "logistic", "stack"):
        raise ModelFileError(f"{folder}: unknown chosen model {chosen!r} in the manifest")
    if chosen in ("logistic", "stack") and logistic is None:
        raise ModelFileError(
            f"{folder}: the chosen model {chosen!r} needs {LOGISTIC_FILE}, which is not listed"
        )
    if chosen == "stack" and stack is None:
        raise ModelFileError(
            f"{folder}: the chosen model is a stack but the manifest holds no stack"
        )
    skip = {"format", "format_version", "features", "stack", "files", "manifest_sha256"}
    info = {k: v for k, v in manifest.items() if k not in skip}
    return O2OModel(
        booster=booster, features=features, info=info, logistic=logistic, stack=stack, path=folder
    )
