"""Save and load a fitted uplift model as plain files: LightGBM text models plus a manifest.

A model folder holds

* ``models/arm<i>_<component>.txt``: each LightGBM booster in LightGBM's own text format;
* ``holdout.parquet``: the out-of-fold uplift and outcome predictions of the experiment rows,
  used to value targeting policies later;
* ``models/outcome_*.txt``: outcome models per arm (a T-learner), used to value a targeting
  policy doubly robustly on a new held-out experiment;
* ``manifest.json``: what the model is (learner, arms, control, outcome, features and their
  categories, each booster's coefficient), how it scored on held-out folds, the library
  versions, the SHA-256 of every file above, and the SHA-256 of its own content
  (``manifest_sha256``).

Loading recomputes every checksum and refuses a folder whose files differ from the manifest.
Nothing is pickled: a model file cannot run code when loaded.

Example:
    >>> import tempfile, numpy as np, pandas as pd
    >>> from couponlens.experiments.uplift_selection import fit_uplift
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.uniform(size=2000)})
    >>> t = rng.integers(0, 2, 2000)
    >>> y = (rng.uniform(size=2000) < 0.1 + 0.3 * t * X["x"]).astype(int)
    >>> fit = fit_uplift(X, t, y, control=0, learners=["t"], n_folds=2, n_bootstrap=20,
    ...                  n_estimators=20)
    >>> folder = save_uplift_model(fit, tempfile.mkdtemp(), outcome="y", treatment="t")
    >>> loaded = load_uplift_model(folder)
    >>> bool(np.allclose(loaded.model.predict(X), fit.model.predict(X)))
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import sklearn

from couponlens._results import jsonable
from couponlens.errors import InputError
from couponlens.experiments.uplift import Component, FeatureEncoder, UpliftModel
from couponlens.experiments.uplift_selection import UpliftFit

FORMAT = "couponlens-uplift"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
HOLDOUT = "holdout.parquet"


class ArtifactError(InputError):
    """A model folder is missing, incomplete, of another format, or its files were changed."""


@dataclass
class LoadedUpliftModel:
    """A model read back from its folder, with its manifest and held-out predictions."""

    model: UpliftModel
    manifest: dict[str, Any]
    holdout: pd.DataFrame
    path: Path
    outcome_model: UpliftModel | None = None

    @property
    def outcome(self) -> str:
        """The outcome column the model was trained on."""
        return str(self.manifest.get("outcome", ""))

    @property
    def treatment(self) -> str:
        """The treatment column of the training experiment."""
        return str(self.manifest.get("treatment", ""))

    @property
    def arms(self) -> list[str]:
        return list(self.model.arms_)

    @property
    def control(self) -> str:
        return str(self.model.control_)


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, as hex.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "a.txt"
        >>> _ = f.write_bytes(b"abc")
        >>> sha256_of(f)[:16]
        'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def save_uplift_model(
    fit: UpliftFit,
    folder: str | Path,
    *,
    outcome: str,
    treatment: str,
    source: str = "",
) -> Path:
    """Write the fitted model, its holdout table and a checksummed manifest into ``folder``.

    Example: see the module docstring (fit, save, load, predict the same).
    """
    from couponlens import __version__

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    model = fit.model
    files: dict[str, str] = {}
    components: dict[str, list[dict[str, Any]]] = {}
    for i, arm in enumerate(model.arms_):
        entries = []
        for component in model.components_[arm]:
            relative = f"models/arm{i}_{component.name}.txt"
            _write_bytes(out / relative, component.booster.model_to_string().encode("utf-8"))
            files[relative] = sha256_of(out / relative)
            entries.append(
                {"name": component.name, "coefficient": component.coefficient, "file": relative}
            )
        components[arm] = entries
    outcome_models: dict[str, str] = {}
    if fit.outcome_model is not None:
        predicted = fit.outcome_model
        for i, arm in enumerate(predicted.arms_):
            parts = {c.name: c.booster for c in predicted.components_[arm]}
            named = [(arm, f"models/outcome_arm{i}.txt", parts["mu_treated"])]
            if i == 0:
                named.append(
                    (predicted.control_, "models/outcome_control.txt", parts["mu_control"])
                )
            for label, relative, booster in named:
                _write_bytes(out / relative, booster.model_to_string().encode("utf-8"))
                files[relative] = sha256_of(out / relative)
                outcome_models[label] = relative
    holdout_tmp = out / f".{HOLDOUT}.tmp"
    fit.holdout.to_parquet(holdout_tmp, index=False)
    holdout_tmp.replace(out / HOLDOUT)
    files[HOLDOUT] = sha256_of(out / HOLDOUT)

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": source,
        "learner": model.learner,
        "params": model.get_params(),
        "outcome": outcome,
        "outcome_kind": model.outcome_kind_,
        "treatment": treatment,
        "control": model.control_,
        "arms": list(model.arms_),
        "treated_share": model.treated_share_,
        "features": model.encoder_.to_dict(),
        "components": components,
        "outcome_models": outcome_models,
        "holdout": HOLDOUT,
        "validation": fit.validation.to_dict(),
        "versions": {
            "couponlens": __version__,
            "lightgbm": lgb.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
        },
        "files": files,
    }
    for stale in (out / "models").glob("*.txt"):  # boosters of an earlier model in this folder
        if f"models/{stale.name}" not in files:
            stale.unlink()
    plain = jsonable(manifest)
    plain["manifest_sha256"] = manifest_checksum(plain)
    _write_bytes(
        out / MANIFEST,
        (json.dumps(plain, indent=2, allow_nan=False) + "\n").encode("utf-8"),
    )
    return out


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's content (canonical JSON, without this checksum itself).

    Example:
        >>> manifest_checksum({"b": 1, "a": [1.5]}) == manifest_checksum({"a": [1.5], "b": 1})
        True
    """
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a model folder, checked for format and its own checksum.

    The files it lists are not verified here (see :func:`verify_files`).

    Example:
        >>> import tempfile
        >>> read_manifest(tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        couponlens.experiments.uplift_artifact.ArtifactError: ...: not an uplift model folder (no manifest.json)
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{folder}: not an uplift model folder (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: format version {manifest.get('format_version')!r}; this couponlens reads "
            f"version {FORMAT_VERSION}"
        )
    for key in ("files", "components", "features", "arms", "control", "learner"):
        if key not in manifest:
            raise ArtifactError(f"{path}: the manifest has no {key!r}")
    recorded = manifest.get("manifest_sha256")
    if recorded != manifest_checksum(manifest):
        raise ArtifactError(
            f"{path}: the manifest does not match its own checksum (manifest_sha256); it was "
            "changed after saving"
        )
    return manifest


def verify_files(folder: str | Path, manifest: dict[str, Any]) -> None:
    """Refuse the folder unless every listed file exists and has its recorded SHA-256.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "m.txt").write_text("tree")
        >>> verify_files(folder, {"files": {"m.txt": sha256_of(folder / "m.txt")}})
        >>> _ = (folder / "m.txt").write_text("tree!")
        >>> verify_files(folder, {"files": {"m.txt": "0" * 64}})
        Traceback (most recent call last):
        ...
        couponlens.experiments.uplift_artifact.ArtifactError: ...: m.txt does not match its checksum in manifest.json (expected 000000000000..., found ...); the file was changed after saving
    """
    root = Path(folder).resolve()
    files = manifest["files"]
    if not isinstance(files, dict) or not files:
        raise ArtifactError(f"{folder}: the manifest lists no files")
    for relative, expected in files.items():
        path = (root / relative).resolve()
        if root not in path.parents:
            raise ArtifactError(
                f"{folder}: the manifest names a file outside the folder: {relative}"
            )
        if not path.is_file():
            raise ArtifactError(f"{folder}: {relative} is missing")
        actual = sha256_of(path)
        if actual != expected:
            raise ArtifactError(
                f"{folder}: {relative} does not match its checksum in {MANIFEST} (expected "
                f"{expected[:12]}..., found {actual[:12]}...); the file was changed after saving"
            )


def load_uplift_model(folder: str | Path) -> LoadedUpliftModel:
    """Read a model folder written by :func:`save_uplift_model`, verifying every checksum.

    Raises :class:`ArtifactError` (a one-line message) for a missing or changed file.

    Example: see the module docstring (fit, save, load, predict the same).
    """
    root = Path(folder)
    manifest = read_manifest(root)
    verify_files(root, manifest)
    listed = set(manifest["files"])
    params = dict(manifest.get("params", {}))
    params["learner"] = manifest["learner"]
    model = UpliftModel(**params)
    model.encoder_ = FeatureEncoder.from_dict(manifest["features"])
    model.control_ = str(manifest["control"])
    outcome_kind = str(manifest["outcome_kind"])
    if outcome_kind not in ("binary", "amount"):
        raise InputError(
            f"{root}: manifest outcome_kind {outcome_kind!r} is not 'binary' or 'amount'"
        )
    model.outcome_kind_ = outcome_kind  # type: ignore[assignment]
    model.arms_ = [str(a) for a in manifest["arms"]]
    model.treated_share_ = {str(k): float(v) for k, v in manifest.get("treated_share", {}).items()}
    model.components_ = {}
    for arm in model.arms_:
        entries = manifest["components"].get(arm)
        if not entries:
            raise ArtifactError(f"{root}: the manifest has no model for arm {arm!r}")
        model.components_[arm] = [
            Component(
                str(entry["name"]),
                float(entry["coefficient"]),
                _booster(root, str(entry["file"]), listed),
            )
            for entry in entries
        ]
    outcome_model = None
    outcome_files = manifest.get("outcome_models") or {}
    if outcome_files:
        labels = [model.control_, *model.arms_]
        missing = [label for label in labels if label not in outcome_files]
        if missing:
            raise ArtifactError(f"{root}: the manifest has no outcome model for {missing}")
        control_booster = _booster(root, outcome_files[model.control_], listed)
        outcome_model = UpliftModel("t", **{k: v for k, v in params.items() if k != "learner"})
        outcome_model.encoder_ = model.encoder_
        outcome_model.control_ = model.control_
        outcome_model.outcome_kind_ = model.outcome_kind_
        outcome_model.arms_ = list(model.arms_)
        outcome_model.treated_share_ = dict(model.treated_share_)
        outcome_model.components_ = {
            arm: [
                Component("mu_treated", 1.0, _booster(root, outcome_files[arm], listed)),
                Component("mu_control", -1.0, control_booster),
            ]
            for arm in model.arms_
        }
    holdout_name = manifest.get("holdout", HOLDOUT)
    if holdout_name not in listed:
        raise ArtifactError(f"{root}: {holdout_name} has no checksum in {MANIFEST}")
    holdout = pd.read_parquet(root / holdout_name)
    return LoadedUpliftModel(model, manifest, holdout, root, outcome_model)


def _booster(root: Path, relative: str, listed: set[str]) -> lgb.Booster:
    """A LightGBM booster from a checksummed text file of the folder."""
    if relative not in listed:
        raise ArtifactError(f"{root}: {relative} has no checksum in {MANIFEST}")
    text = (root / relative).read_text(encoding="utf-8")
    try:
        return lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise ArtifactError(f"{root}: {relative} is not a LightGBM model: {first}") from exc
