"""Compare two results (JSON-like values or frames) from two engines: same keys, exact
integers and texts, floats within a relative tolerance."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

#: Floats may differ by this much, relative (sums in another order); near 0, by ABS_TOL.
REL_TOL = 1e-9
ABS_TOL = 1e-12


def differences(
    left: Any, right: Any, path: str = "$", skip: frozenset[str] = frozenset()
) -> list[str]:
    """Every place ``left`` and ``right`` differ (empty when they agree)."""
    out: list[str] = []
    if isinstance(left, dict) and isinstance(right, dict):
        if set(left) != set(right):
            return [f"{path}: keys {sorted(set(left) ^ set(right))} on one side only"]
        for key in left:
            if key not in skip:
                out += differences(left[key], right[key], f"{path}.{key}", skip)
        return out
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return [f"{path}: {len(left)} vs {len(right)} items"]
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            out += differences(a, b, f"{path}[{i}]", skip)
        return out
    if type(left) is not type(right):
        return [f"{path}: {left!r} ({type(left).__name__}) vs {right!r} ({type(right).__name__})"]
    if isinstance(left, float):
        if math.isnan(left) and math.isnan(right):
            return []
        if not math.isclose(left, right, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            return [f"{path}: {left!r} vs {right!r}"]
        return []
    if left != right:
        return [f"{path}: {left!r} vs {right!r}"]
    return []


def frame_differences(left: pd.DataFrame, right: pd.DataFrame) -> list[str]:
    """Column by column: same names, dtypes of the same kind, integers and texts exact,
    floats within the tolerance (NaN matching NaN)."""
    if list(left.columns) != list(right.columns):
        return [f"columns differ: {sorted(set(left.columns) ^ set(right.columns))}"]
    if len(left) != len(right):
        return [f"{len(left)} vs {len(right)} rows"]
    out: list[str] = []
    for column in left.columns:
        a, b = left[column], right[column]
        if a.dtype.kind != b.dtype.kind:
            out.append(f"{column}: dtype {a.dtype} vs {b.dtype}")
        elif a.dtype.kind == "f":
            x, y = a.to_numpy(float), b.to_numpy(float)
            same = np.isclose(x, y, rtol=REL_TOL, atol=ABS_TOL, equal_nan=True)
            if not same.all():
                i = int(np.flatnonzero(~same)[0])
                out.append(f"{column}: row {i}: {x[i]!r} vs {y[i]!r} ({int((~same).sum())} rows)")
        elif a.dtype.kind in "iu":  # int8 on one side may be int32 on the other (Parquet)
            if not np.array_equal(a.to_numpy(), b.to_numpy()):
                out.append(f"{column}: values differ")
        elif not a.reset_index(drop=True).equals(b.reset_index(drop=True)):
            out.append(f"{column}: values differ")
    return out
