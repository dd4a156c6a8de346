"""A LightGBM forest compiled to native code: LightGBM's own probabilities, faster on small batches.

LightGBM's predictor walks every tree through generic node arrays; for the scoring service's
batches of a few thousand rows that walk is most of the server's CPU. Here the booster's trees
(from ``dump_model``) become C: one function per tree of nested ``if``s with the thresholds
as constants, a driver that runs each tree over every row (its branches stay hot in the
predictor), and LightGBM's sigmoid. The system C compiler (``$CC``, ``cc`` or ``gcc``) builds a
shared library once; it is cached by the hash of its source under ``$COUPONLENS_CACHE_DIR``
(default ``~/.cache/couponlens``) and loaded with ctypes.

The code reproduces LightGBM's decisions exactly (``Tree::NumericalDecision``: NaN is 0 unless
the node's missing type is NaN, default directions for missing values, ``value <= threshold``
in double precision, values within 1e-35 of 0 read as 0 as LightGBM's dense-row reader does)
and sums the trees in LightGBM's order, so the probabilities are bit-for-bit LightGBM's; the
tests compare them with ``Booster.predict`` on data with NaN, zeros and tiny values. Forests it
cannot reproduce (categorical splits, linear trees, several classes, objectives other than
binary) raise :class:`ForestNotCompiled`, and callers keep LightGBM's predictor.

Example:
    >>> import lightgbm as lgb
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 3)); x[::7, 1] = np.nan
    >>> booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1},
    ...                     lgb.Dataset(x, (x[:, 0] > 0).astype(int)), num_boost_round=5)
    >>> import tempfile
    >>> forest = CompiledForest.compile(booster, cache=Path(tempfile.mkdtemp()))
    >>> bool((forest.predict(x) == booster.predict(x)).all())
    True
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from couponlens.errors import CouponlensError

#: Bumped whenever the generated code changes meaning (it is part of the cache key).
GENERATOR_VERSION = 3
_ENTRY = "couponlens_forest_predict"
_DRIVER_TEMPLATE = """
typedef struct {{ const double *X; int64_t n; int64_t k; double *out; }} part_t;

static void score_rows(const double *X, int64_t n, int64_t k, double *out) {{
    double *rows = (double *)malloc((size_t)(n * k) * sizeof(double));
    if (rows == NULL) {{ for (int64_t r = 0; r < n; r++) out[r] = NAN; return; }}
    for (int64_t i = 0; i < n * k; i++) {{  /* LightGBM's dense reader keeps |v| <= 1e-35f as 0 */
        double v = X[i];
        rows[i] = (fabs(v) <= (double)1e-35f) ? 0.0 : v;
    }}
    for (int64_t r = 0; r < n; r++) out[r] = 0.0;
{calls}
    for (int64_t r = 0; r < n; r++) out[r] = 1.0 / (1.0 + exp({minus_sigmoid} * out[r]));
    free(rows);
}}

static void *score_part(void *arg) {{
    part_t *p = (part_t *)arg;
    score_rows(p->X, p->n, p->k, p->out);
    return NULL;
}}

/* Rows are independent: up to 8 threads each score a contiguous share (same bits as one). */
void {entry}(const double *X, int64_t n, int64_t k, double *out, int64_t threads) {{
    if (threads > 8) threads = 8;
    if (threads < 2 || n < 256 * threads) {{ score_rows(X, n, k, out); return; }}
    pthread_t ids[8];
    part_t parts[8];
    int started[8] = {{0}};
    int64_t share = (n + threads - 1) / threads;
    for (int64_t t = 0; t < threads; t++) {{
        int64_t first = t * share, last = first + share < n ? first + share : n;
        parts[t].X = X + first * k; parts[t].n = last - first; parts[t].k = k;
        parts[t].out = out + first;
    }}
    for (int64_t t = 1; t < threads; t++)
        started[t] = pthread_create(&ids[t], NULL, score_part, &parts[t]) == 0;
    score_part(&parts[0]);
    for (int64_t t = 1; t < threads; t++) {{
        if (started[t]) pthread_join(ids[t], NULL);
        else score_part(&parts[t]);  /* no thread to be had: score that share here */
    }}
}}
"""


class ForestNotCompiled(CouponlensError):
    """The forest cannot be compiled here (an unsupported model, or no working C compiler)."""


def cache_dir() -> Path:
    """Where compiled forests are kept: ``$COUPONLENS_CACHE_DIR`` or ``~/.cache/couponlens``."""
    root = os.environ.get("COUPONLENS_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "couponlens") / "forests"


def _sigmoid(dump: dict[str, Any]) -> float:
    objective = str(dump.get("objective", ""))
    parts = objective.split()
    if not parts or parts[0] != "binary":
        raise ForestNotCompiled(f"only binary objectives are compiled, not {objective!r}")
    for part in parts[1:]:
        if part.startswith("sigmoid:"):
            return float(part.split(":", 1)[1])
    return 1.0


def _check(dump: dict[str, Any]) -> None:
    if dump.get("num_class", 1) != 1 or dump.get("num_tree_per_iteration", 1) != 1:
        raise ForestNotCompiled("only one-class (binary) forests are compiled")
    if dump.get("average_output"):
        raise ForestNotCompiled("random-forest (averaged) boosters are not compiled")
    for tree in dump["tree_info"]:
        if tree.get("num_cat", 0) or tree.get("is_linear", False):
            raise ForestNotCompiled("categorical splits and linear trees are not compiled")


def _go_left(node: dict[str, Any]) -> str:
    """The C condition under which LightGBM sends a row to the node's left child."""
    if node["decision_type"] != "<=":
        raise ForestNotCompiled(f"decision type {node['decision_type']!r} is not compiled")
    v = f"x[{int(node['split_feature'])}]"
    threshold = repr(float(node["threshold"]))
    default_left = "1" if node["default_left"] else "0"
    missing = node["missing_type"]
    if missing == "None":
        return f"(isnan({v}) ? 0.0 : {v}) <= {threshold}"
    if missing == "NaN":
        return f"isnan({v}) ? {default_left} : ({v} <= {threshold})"
    if missing == "Zero":
        zero = f"((isnan({v}) ? 0.0 : {v}) >= -(double)1e-35f && (isnan({v}) ? 0.0 : {v}) <= (double)1e-35f)"
        return f"{zero} ? {default_left} : ((isnan({v}) ? 0.0 : {v}) <= {threshold})"
    raise ForestNotCompiled(f"missing type {missing!r} is not compiled")


def _tree_body(node: dict[str, Any], indent: str, out: list[str]) -> None:
    if "split_index" not in node:
        out.append(f"{indent}return {float(node['leaf_value'])!r};\n")
        return
    out.append(f"{indent}if ({_go_left(node)}) {{\n")
    _tree_body(node["left_child"], indent + "  ", out)
    out.append(f"{indent}}} else {{\n")
    _tree_body(node["right_child"], indent + "  ", out)
    out.append(f"{indent}}}\n")


def c_source(dump: dict[str, Any]) -> str:
    """The C source of a forest from ``Booster.dump_model()``.

    Example:
        >>> dump = {"objective": "binary sigmoid:1", "tree_info": [{"tree_structure": {
        ...     "split_index": 0, "split_feature": 0, "threshold": 0.5, "decision_type": "<=",
        ...     "default_left": True, "missing_type": "NaN",
        ...     "left_child": {"leaf_value": -1.0}, "right_child": {"leaf_value": 1.0}}}]}
        >>> print(c_source(dump).split("static double tree_0")[1].split("\\n}")[0])
        (const double *x) {
          if (isnan(x[0]) ? 1 : (x[0] <= 0.5)) {
            return -1.0;
          } else {
            return 1.0;
          }
    """
    _check(dump)
    sigmoid = _sigmoid(dump)
    out = [
        f"/* couponlens compiled forest, generator {GENERATOR_VERSION} */\n",
        "#include <math.h>\n#include <pthread.h>\n#include <stdint.h>\n#include <stdlib.h>\n\n",
    ]
    trees = dump["tree_info"]
    for i, tree in enumerate(trees):
        out.append(f"static double tree_{i}(const double *x) {{\n")
        _tree_body(tree["tree_structure"], "  ", out)
        out.append("}\n\n")
    calls = "".join(
        f"    for (int64_t r = 0; r < n; r++) out[r] += tree_{i}(rows + r * k);\n"
        for i in range(len(trees))
    )
    # LightGBM: 1 / (1 + exp(-sigmoid * raw)), with (-sigmoid) formed first.
    out.append(_DRIVER_TEMPLATE.format(entry=_ENTRY, calls=calls, minus_sigmoid=repr(-sigmoid)))
    return "".join(out)


#: Batches of at least this many rows are put in order before the trees walk them.
SORT_FROM_ROWS = 512


def root_split_columns(dump: dict[str, Any], count: int = 3) -> tuple[int, ...]:
    """The ``count`` features the most trees split on at their root, most first.

    Example:
        >>> tree = lambda f: {"tree_structure": {"split_index": 0, "split_feature": f}}
        >>> root_split_columns({"tree_info": [tree(4), tree(2), tree(4), {"tree_structure": {}}]})
        (4, 2)
    """
    counts: dict[int, int] = {}
    for tree in dump["tree_info"]:
        root = tree["tree_structure"]
        if "split_index" in root:
            feature = int(root["split_feature"])
            counts[feature] = counts.get(feature, 0) + 1
    ranked = sorted(counts, key=lambda f: (-counts[f], f))
    return tuple(ranked[:count])


def _compiler() -> str:
    for candidate in (os.environ.get("CC"), "cc", "gcc"):
        if candidate and shutil.which(candidate):
            return candidate
    raise ForestNotCompiled("no C compiler found (set CC, or install gcc)")


def _build(source: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        c_file = Path(work) / "forest.c"
        c_file.write_text(source)
        library = Path(work) / target.name
        command = [
            _compiler(),
            "-O2",
            "-shared",
            "-fPIC",
            "-pthread",
            "-o",
            str(library),
            str(c_file),
            "-lm",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ForestNotCompiled(
                f"the C compiler failed ({' '.join(command[:2])}): {done.stderr.strip()[:300]}"
            )
        os.replace(library, target)  # atomic: concurrent workers never load a partial file


class CompiledForest:
    """A binary LightGBM forest as a native function; :meth:`predict` equals ``Booster.predict``."""

    def __init__(
        self, library: Path, features: int, trees: int, sort_columns: tuple[int, ...] = ()
    ) -> None:
        self.library = library
        self.features = features
        self.trees = trees
        #: Columns a big batch's rows are put in order by before the walk (see :meth:`predict`).
        self.sort_columns = sort_columns
        self._function = getattr(ctypes.CDLL(str(library)), _ENTRY)
        self._function.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_void_p,
            ctypes.c_int64,
        ]
        self._function.restype = None

    @classmethod
    def compile(cls, booster: lgb.Booster, *, cache: Path | None = None) -> CompiledForest:
        """Compile ``booster`` (or load it from the cache) and return the loaded forest.

        Raises:
            ForestNotCompiled: the forest has parts this compiler does not reproduce, or no C
                compiler works here.
        """
        dump = booster.dump_model()
        source = c_source(dump)
        digest = hashlib.sha256(source.encode()).hexdigest()[:32]
        target = (cache or cache_dir()) / f"forest-{digest}.so"
        if not target.exists():
            _build(source, target)
        return cls(target, booster.num_feature(), len(dump["tree_info"]), root_split_columns(dump))

    def predict(self, values: np.ndarray, *, threads: int = 1) -> np.ndarray:
        """Probabilities of a float matrix whose columns are the booster's features in order.

        With ``threads`` > 1 (at most 8), batches of 256 rows per thread or more are split
        between native threads; each row's probability is the same either way. The GIL is
        released meanwhile. A batch of :data:`SORT_FROM_ROWS` rows or more is walked in the
        order of its values in :attr:`sort_columns` (the features the most trees split on
        first), so that neighbouring rows take the same branches and the processor predicts
        them; each row's probability is the same in any order.
        """
        x = np.ascontiguousarray(values, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.features:
            raise ValueError(f"expected a matrix of {self.features} columns, got shape {x.shape}")
        out = np.empty(len(x), dtype=np.float64)
        if not len(x):
            return out
        if self.sort_columns and len(x) >= SORT_FROM_ROWS:
            order = np.lexsort([x[:, c] for c in reversed(self.sort_columns)])
            ordered = np.ascontiguousarray(x[order])
            scored = np.empty(len(x), dtype=np.float64)
            self._function(ordered.ctypes.data, len(x), self.features, scored.ctypes.data, threads)
            out[order] = scored
            return out
        self._function(x.ctypes.data, len(x), self.features, out.ctypes.data, threads)
        return out
