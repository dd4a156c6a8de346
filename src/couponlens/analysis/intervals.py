"""Helpers every analysis family shares: Wilson intervals (statsmodels) and NaN-to-None.

Example:
    >>> low, high = wilson_interval([5], [10])
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.2366, 0.7634)
    >>> none_if_nan(float("nan")) is None
    True
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

#: Confidence level of every interval in the analyses.
CONFIDENCE = 0.95


def wilson_interval(
    successes: np.ndarray | pd.Series | int | float, trials: np.ndarray | pd.Series | int | float
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score 95% intervals (statsmodels), elementwise; NaN where ``trials`` is 0."""
    count = np.atleast_1d(np.asarray(successes, dtype=float))
    nobs = np.atleast_1d(np.asarray(trials, dtype=float))
    low = np.full(count.shape, np.nan)
    high = np.full(count.shape, np.nan)
    ok = nobs > 0
    if ok.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = proportion_confint(count[ok], nobs[ok], alpha=1 - CONFIDENCE, method="wilson")
        low[ok] = np.clip(lo, 0.0, 1.0)
        high[ok] = np.clip(hi, 0.0, 1.0)
    return low, high


def none_if_nan(value: object) -> float | None:
    """A float, or None for a missing value (NaN, None, NA)."""
    if value is None:
        return None
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return None
    except (TypeError, ValueError):
        return None
    return float(value)  # type: ignore[arg-type]
