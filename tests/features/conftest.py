"""Small random Tianchi-layout O2O logs for the feature tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HEADER = "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date"


def random_o2o(rows: int, seed: int, start: str = "2016-01-01", days: int = 166) -> pd.DataFrame:
    """A random log with every record class, ties, nulls and uses across window edges."""
    rng = np.random.default_rng(seed)
    first = dt.date.fromisoformat(start)
    users = rng.integers(1, max(3, rows // 8), rows)
    merchants = rng.integers(1, 12, rows)
    has_coupon = rng.random(rows) < 0.65
    coupons = merchants * 10 + rng.integers(0, 3, rows)
    offers = np.array(["20:5", "100:10", "0.9", "50:20", "0.95", "200:30"])
    offer = offers[coupons % len(offers)]
    distance = rng.integers(0, 11, rows).astype(object)
    distance[rng.random(rows) < 0.15] = "null"
    received = np.array([first + dt.timedelta(days=int(d)) for d in rng.integers(0, days, rows)])
    used = rng.random(rows) < 0.3
    delay = rng.integers(0, 30, rows)
    records = []
    for i in range(rows):
        if has_coupon[i]:
            date = (received[i] + dt.timedelta(days=int(delay[i]))) if used[i] else None
            records.append(
                (
                    users[i],
                    merchants[i],
                    coupons[i],
                    offer[i],
                    distance[i],
                    received[i].strftime("%Y%m%d"),
                    date.strftime("%Y%m%d") if date else "null",
                )
            )
        else:
            records.append(
                (
                    users[i],
                    merchants[i],
                    "null",
                    "null",
                    distance[i],
                    "null",
                    received[i].strftime("%Y%m%d"),
                )
            )
    return pd.DataFrame(records, columns=HEADER.split(","))


@pytest.fixture()
def o2o_csv(tmp_path: Path) -> Callable[..., Path]:
    """``o2o_csv(rows, seed)``: write a random log and return its path."""

    def write(rows: int = 600, seed: int = 0, name: str = "log.csv", **kw: object) -> Path:
        path = tmp_path / name
        random_o2o(rows, seed, **kw).to_csv(path, index=False)  # type: ignore[arg-type]
        return path

    return write
