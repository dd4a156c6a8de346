"""Adjusting p-values for many comparisons: Holm (family-wise) and Benjamini-Hochberg (FDR).

Holm's step-down keeps the family-wise error rate for the primary outcomes; Benjamini-Hochberg
controls the false discovery rate across the many segments. Missing p-values (``None``, from a
"not estimable" comparison) are left out of the family and stay ``None``.

Example:
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    >>> benjamini_hochberg([0.01, 0.04, 0.03, None])
    [0.03, 0.04, 0.04, None]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _split(p_values: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    index = np.array([i for i, p in enumerate(p_values) if p is not None], dtype=int)
    values = np.array([p_values[i] for i in index], dtype=float)
    return index, values


def _merge(n: int, index: np.ndarray, adjusted: np.ndarray) -> list[float | None]:
    out: list[float | None] = [None] * n
    for i, value in zip(index, adjusted, strict=True):
        out[int(i)] = float(f"{float(value):.15g}")
    return out


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (same order as given)."""
    index, p = _split(p_values)
    m = len(p)
    if m == 0:
        return [None] * len(p_values)
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return _merge(len(p_values), index, adjusted)


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg step-up adjusted p-values (same order as given)."""
    index, p = _split(p_values)
    m = len(p)
    if m == 0:
        return [None] * len(p_values)
    order = np.argsort(p, kind="stable")[::-1]
    scaled = p[order] * m / (m - np.arange(m))
    adjusted_sorted = np.minimum(np.minimum.accumulate(scaled), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return _merge(len(p_values), index, adjusted)
