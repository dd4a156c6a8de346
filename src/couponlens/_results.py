"""A common base for result objects: ``to_dict()``, ``to_frame()`` and a readable repr.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, repr=False)
    ... class Share(Result):
    ...     part: int
    ...     whole: int
    >>> Share(1, 4).to_dict()
    {'part': 1, 'whole': 4}
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any) -> Any:
    """Convert a value to plain JSON types: NaN and NaT become None, dates become ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, Result):
            return value.to_dict()
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


class Result:
    """Mixin for frozen dataclasses that hold an analysis result."""

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready types (None for missing values)."""
        assert dataclasses.is_dataclass(self)
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_frame(self) -> pd.DataFrame:
        """The result as a table: one row per item for list-like results, else one row."""
        data = self.to_dict()
        return pd.json_normalize(data)

    def __repr__(self) -> str:
        assert dataclasses.is_dataclass(self)
        parts = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, pd.DataFrame):
                text = f"<{len(v)} rows x {v.shape[1]} columns>"
            elif isinstance(v, float):
                text = f"{v:.6g}"
            elif isinstance(v, list) and len(v) > 3:
                text = f"[{len(v)} items]"
            else:
                text = repr(v)
            parts.append(f"{f.name}={text}")
        return f"{type(self).__name__}(" + ", ".join(parts) + ")"
